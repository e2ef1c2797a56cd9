package switchboard_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// alteredStore reads back what a database altered behind the store's back could hold, in
// values the store itself takes as its own: every idempotency reply replaced by reply (when
// set), every call's ring deadlines cleared (when noDeadlines).
type alteredStore struct {
	switchboard.Store
	sqlite      *sqlite.Store
	reply       []byte
	noDeadlines bool
}

func withAlterations(s *sqlite.Store) *alteredStore { return &alteredStore{Store: s, sqlite: s} }

func (a *alteredStore) Idempotency(ctx context.Context, userID, key string, since int64) (switchboard.IdempotencyRecord, bool, error) {
	rec, found, err := a.Store.Idempotency(ctx, userID, key, since)
	if found && a.reply != nil {
		rec.Reply = a.reply
	}
	return rec, found, err
}

func (a *alteredStore) Call(ctx context.Context, id string) (call.Call, error) {
	c, err := a.Store.Call(ctx, id)
	if a.noDeadlines {
		for i := range c.Users {
			c.Users[i].Deadline = 0
		}
	}
	return c, err
}

// wantDamage checks that err is a storage fault (6000270) and that the store took it for
// damage: not ready ("corrupt") from then on, as for a row it could not decode itself.
func wantDamage(t *testing.T, what string, err error, a *alteredStore) {
	t.Helper()
	if !errors.Is(err, switchboard.ErrStorageUnavailable) {
		t.Errorf("%s: %v, want storage unavailable", what, err)
	}
	var fault *sqlite.WriteFault
	if !errors.As(a.sqlite.Fault(), &fault) || fault.Reason != "corrupt" {
		t.Errorf("%s: the store's fault is %v, want corrupt", what, a.sqlite.Fault())
	}
}

// R7.3: an idempotency reply that is JSON but no reply the switchboard wrote (a value of
// another type, another shape, no call) is damage, as a reply that is no JSON is: the repeat
// fails with storage unavailable and the store is not ready, instead of an internal error
// that leaves the store ready.
func TestRememberedReplyThatDoesNotDecodeIsDamage(t *testing.T) {
	for _, reply := range []string{`{"c":5}`, `[1]`, `{}`, `null`, `{"c":"AQ=="}`} {
		t.Run(reply, func(t *testing.T) {
			sb, altered := startOver(t, switchboard.Config{}, withAlterations)
			const key = "damaged-reply-key-0123456789"
			in := call.Invite{Actor: actor("alice"), Invitees: []string{"bob"}}
			if _, err := sb.Invite(t.Context(), in, key); err != nil {
				t.Fatal(err)
			}
			altered.reply = []byte(reply)
			_, err := sb.Invite(t.Context(), in, key)
			wantDamage(t, "the repeated invite", err, altered)
			_, _, err = sb.Repeat(t.Context(), "alice", "", in, key)
			wantDamage(t, "the invite past the invite limit", err, altered)
		})
	}
}

// R3.5, §10b: a call in which a user rings without a ring deadline, which no rule leaves, is
// damage when a change is to be decided on it: the user would never time out, and the change
// would write the call back as it is.
func TestCallRingingWithoutADeadlineIsDamage(t *testing.T) {
	sb, altered := startOver(t, switchboard.Config{}, withAlterations)
	id := invite(t, sb, "alice", call.General, 60, "bob", "carol")
	altered.noDeadlines = true
	_, err := sb.Do(t.Context(), id, call.Reject{Actor: actor("bob")}, "")
	wantDamage(t, "bob's reject", err, altered)
}
