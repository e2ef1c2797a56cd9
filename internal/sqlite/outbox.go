package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// OutboxHeads returns the oldest outbox record of kind of each call, for the calls whose oldest
// record has an ID above afterID: up to limit records, oldest first.
func (s *Store) OutboxHeads(ctx context.Context, kind string, afterID int64, limit int) ([]switchboard.OutboxRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	recs, err := queryAll(ctx, s.r.outbox, func(rows *sql.Rows) (r switchboard.OutboxRecord, err error) {
		r.Kind = kind
		return r, scanStored(rows, &r.ID, &r.OrderKey, &r.Body, &r.CreatedAt)
	}, kind, afterID, limit)
	if err != nil {
		return nil, s.readFailed(fmt.Errorf("sqlite: read outbox: %w", err))
	}
	return recs, nil
}

// PushTargets returns userID's push registrations.
func (s *Store) PushTargets(ctx context.Context, userID string) ([]switchboard.PushTarget, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	ts, err := queryAll(ctx, s.r.pushTargets, func(rows *sql.Rows) (t switchboard.PushTarget, err error) {
		t.UserID = userID
		return t, scanStored(rows, &t.DeviceID, &t.Provider, &t.Token, &t.VoIP, &t.BundleID)
	}, userID)
	if err != nil {
		return nil, s.readFailed(fmt.Errorf("sqlite: read push targets of %s: %w", userID, err))
	}
	return ts, nil
}

// DeleteOutbox deletes outbox records; like Prune it runs on the writer.
func (s *Store) DeleteOutbox(ctx context.Context, ids []int64) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `DELETE FROM outbox WHERE id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	return s.maintain(ctx, "delete outbox", q, args...)
}

// PutPushTarget stores t, taking the (provider, token) over from any previous owner.
func (s *Store) PutPushTarget(ctx context.Context, t switchboard.PushTarget) error {
	return s.maintain(ctx, "put push target", `INSERT INTO push_targets (provider, token, user_id, device_id, voip, bundle_id)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, token) DO UPDATE SET user_id = excluded.user_id,
		device_id = excluded.device_id, voip = excluded.voip, bundle_id = excluded.bundle_id`,
		t.Provider, t.Token, t.UserID, t.DeviceID, t.VoIP, t.BundleID)
}

// DeletePushTarget removes a registration (only userID's when userID is not "").
func (s *Store) DeletePushTarget(ctx context.Context, userID, provider, token string) error {
	if userID == "" {
		return s.maintain(ctx, "delete push target", `DELETE FROM push_targets WHERE provider = ? AND token = ?`, provider, token)
	}
	return s.maintain(ctx, "delete push target", `DELETE FROM push_targets WHERE provider = ? AND token = ? AND user_id = ?`,
		provider, token, userID)
}

// DeletePushTargets removes userID's registrations from deviceID, or all when deviceID is "".
func (s *Store) DeletePushTargets(ctx context.Context, userID, deviceID string) error {
	if deviceID == "" {
		return s.maintain(ctx, "delete push targets", `DELETE FROM push_targets WHERE user_id = ?`, userID)
	}
	return s.maintain(ctx, "delete push targets", `DELETE FROM push_targets WHERE user_id = ? AND device_id = ?`, userID, deviceID)
}

// MarkInvitationPushed records that userID was sent an invitation push for callID.
func (s *Store) MarkInvitationPushed(ctx context.Context, callID, userID string, at int64) error {
	return s.maintain(ctx, "mark invitation pushed", `INSERT INTO push_marks (call_id, user_id, created_at)
		VALUES (?, ?, ?) ON CONFLICT (call_id, user_id) DO UPDATE SET created_at = excluded.created_at`, callID, userID, at)
}

// InvitationPushed reports whether userID has the mark of callID.
func (s *Store) InvitationPushed(ctx context.Context, callID, userID string) (bool, error) {
	if s.isClosed() {
		return false, ErrClosed
	}
	var marked bool
	if err := scanStored(s.r.pushMark.QueryRowContext(ctx, callID, userID), &marked); err != nil {
		return false, s.readFailed(fmt.Errorf("sqlite: read invitation push mark: %w", err))
	}
	return marked, nil
}

// ClearInvitationPushed removes userID's mark of callID, if any.
func (s *Store) ClearInvitationPushed(ctx context.Context, callID, userID string) error {
	return s.maintain(ctx, "clear invitation push mark", `DELETE FROM push_marks WHERE call_id = ? AND user_id = ?`, callID, userID)
}

// maintain runs one statement on the writer, in the batch transaction like a change.
func (s *Store) maintain(ctx context.Context, what, query string, args ...any) error {
	_, err := s.submit(ctx, &request{apply: func(w *writer) ([]int64, error) {
		if _, err := w.conn.ExecContext(context.Background(), query, args...); err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		return nil, nil
	}})
	return err
}
