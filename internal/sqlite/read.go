package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// ringingQuery reads a user's Started calls (some of which ring for the user) in the order the
// user entered them, each row with the user's log bounds (boundsQuery's columns), in one
// statement: the calls are as the user's events up to that head left them. Without calls, one
// row carries the bounds and a NULL call.
const ringingQuery = `WITH b AS (` + boundsQuery + `)
	SELECT b.*, p.call_id, p.data, ` + callColumnsSQL + ` FROM b LEFT JOIN (
		SELECT m.id, m.call_id, c.data, ` + callColumnsSQL + `
		FROM members m JOIN calls c ON c.id = m.call_id WHERE m.user_id = ?1 AND c.state = 1) p ORDER BY p.id`

// readStmts are the read queries, prepared once on the read pool.
type readStmts struct {
	call, busyCall, idem, readLog, bounds, listCalls, ringing, due, busy *sql.Stmt
	outbox, pushTargets, pushMark                                        *sql.Stmt
}

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.call, `SELECT data, ` + callColumnsSQL + ` FROM calls WHERE id = ?`},
		{&r.busyCall, `SELECT call_id FROM busy WHERE user_id = ?`},
		{&r.idem, `SELECT fingerprint, reply, created_at FROM idem WHERE user_id = ? AND key = ? AND created_at >= ?`},
		{&r.readLog, readLogQuery},
		{&r.bounds, boundsQuery},
		{&r.listCalls, `SELECT m.id, m.call_id, c.data, ` + callColumnsSQL + ` FROM members m JOIN calls c ON c.id = m.call_id
			WHERE m.user_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`},
		{&r.ringing, ringingQuery},
		{&r.due, `SELECT id, due_at FROM calls WHERE state = 1 AND due_at > 0 ORDER BY due_at`},
		{&r.busy, `SELECT user_id, call_id FROM busy ORDER BY user_id`},
		{&r.outbox, `SELECT id, call_id, body, created_at FROM outbox o WHERE kind = ?1 AND id > ?2
			AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.kind = ?1 AND p.call_id = o.call_id AND p.id < o.id)
			ORDER BY id LIMIT ?3`},
		{&r.pushTargets, `SELECT device_id, provider, token, voip, bundle_id FROM push_targets
			WHERE user_id = ? ORDER BY provider, token`},
		{&r.pushMark, `SELECT EXISTS (SELECT 1 FROM push_marks WHERE call_id = ? AND user_id = ?)`},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return nil
}

func (r *readStmts) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{r.call, r.busyCall, r.idem, r.readLog, r.bounds, r.listCalls, r.ringing, r.due, r.busy,
		r.outbox, r.pushTargets, r.pushMark} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// Call returns the call with id, or switchboard.ErrNotFound.
func (s *Store) Call(ctx context.Context, id string) (call.Call, error) {
	if s.isClosed() {
		return call.Call{}, ErrClosed
	}
	if c, ok, err := s.memo.call(id); ok || err != nil {
		return c, err
	}
	var data []byte
	var cols storedColumns
	err := scanStored(s.r.call.QueryRowContext(ctx, id), append([]any{&data}, cols.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return call.Call{}, fmt.Errorf("call %s: %w", id, switchboard.ErrNotFound)
	}
	if err != nil {
		return call.Call{}, s.readFailed(fmt.Errorf("sqlite: read call %s: %w", id, err))
	}
	var c call.Call
	if err := decodeStored(&c, id, data, cols.columns()); err != nil {
		return call.Call{}, s.readFailed(fmt.Errorf("sqlite: call %s: %w", id, err))
	}
	return c, nil
}

// callColumnsSQL are the columns of a call's row that the writer copies out of its data
// (columnsOf), as a read takes them (storedColumns).
const callColumnsSQL = `version, state, due_at, ended_at`

// callColumns are the values of a call's row copied out of its data: its version for the
// version check, its state and deadline for the indexed queries (DueCalls, RingingCalls,
// retention) and its end for retention.
type callColumns struct{ version, state, due, ended int64 }

// columnsOf returns the columns the writer stores with c: its deadline (call.NextDue) while it
// is Started, else 0.
func columnsOf(c *call.Call) callColumns {
	cols := callColumns{version: c.Version, state: int64(c.State), ended: c.EndTime}
	if c.State == call.Started {
		cols.due = c.NextDue()
	}
	return cols
}

// storedColumns are callColumnsSQL's values as read: NULL only where ringingQuery's LEFT JOIN
// found no call, the columns being NOT NULL.
type storedColumns [4]sql.NullInt64

// dest returns the destinations of the values for scanStored.
func (v *storedColumns) dest() []any { return []any{&v[0], &v[1], &v[2], &v[3]} }

// columns returns the values read.
func (v *storedColumns) columns() callColumns {
	return callColumns{version: v[0].Int64, state: v[1].Int64, due: v[2].Int64, ended: v[3].Int64}
}

// decodeStored decodes into c the call read from the database row of id, whose copied
// columns are cols. The store wrote it encoded, so an error, which wraps errUndecodable, says
// its bytes were damaged on disk where SQLite could not tell (a row's payload carries no
// checksum), that they are another call's (a change decided on it would be written to that
// call), or that the columns no longer say what the data does: a call whose state column
// disagrees escapes DueCalls, RingingCalls or retention, one whose version column does fails
// every change to it.
func decodeStored(c *call.Call, id string, data []byte, cols callColumns) error {
	if err := c.UnmarshalBinary(data); err != nil {
		return fmt.Errorf("%w: %w", errUndecodable, err)
	}
	if c.ID != id {
		return fmt.Errorf("%w: the row of call %s holds call %s", errUndecodable, id, c.ID)
	}
	if want := columnsOf(c); cols != want {
		return fmt.Errorf("%w: the row of call %s has columns %+v, its data %+v", errUndecodable, id, cols, want)
	}
	return nil
}

// scanStored scans the current row of rows into dest, each a *int64, *sql.NullInt64, *bool
// (an INTEGER 0 or 1), *string, *sql.NullString or *[]byte, requiring each value to be of the
// type the store writes in its column (INTEGER, TEXT, BLOB; NULL only into a *sql.NullInt64,
// a *sql.NullString or a *[]byte): SQLite keeps whatever type a value was written with, and
// database/sql would convert many of them silently. A value of another type says the row was
// altered behind the store's back, and the error wraps errUndecodable; any other error is the
// read's own. Every read of a stored row goes through it.
func scanStored(rows interface{ Scan(dest ...any) error }, dest ...any) error {
	values := make([]any, len(dest))
	into := make([]any, len(dest))
	for i := range values {
		into[i] = &values[i]
	}
	if err := rows.Scan(into...); err != nil { // every value fits an any: not a conversion
		return err
	}
	for i, d := range dest {
		var ok bool
		switch d := d.(type) {
		case *int64:
			*d, ok = values[i].(int64)
		case *sql.NullInt64:
			d.Int64, d.Valid = values[i].(int64)
			ok = d.Valid || values[i] == nil
		case *bool:
			var n int64
			n, ok = values[i].(int64)
			*d = n != 0
		case *string:
			*d, ok = values[i].(string)
		case *sql.NullString:
			d.String, d.Valid = values[i].(string)
			ok = d.Valid || values[i] == nil
		case *[]byte:
			*d, ok = values[i].([]byte)
			ok = ok || values[i] == nil // an empty BLOB
		default:
			panic(fmt.Sprintf("sqlite: scanStored into %T", d))
		}
		if !ok {
			return fmt.Errorf("%w: column %d holds %T", errUndecodable, i, values[i])
		}
	}
	return nil
}

// checkEntry sets e.Target to target, e having been read from the log, and returns an error
// wrapping errUndecodable unless e is what the store could have written: a target that call
// knows, an event name that needs no escape in JSON (unescapedJSON), and data that is JSON
// (the wire's encoding of the event; never empty, see switchboard.LogEntry). A device catching
// up gets the event name and data as they are, inside a JSON frame of its own (R7.2): empty
// data would leave it a frame that is no JSON ("data":}).
func checkEntry(e *switchboard.LogEntry, target int64) error {
	switch {
	case target < int64(call.AllDevices) || target > int64(call.AllButDevice):
		return fmt.Errorf("%w: log entry %d of %s has target %d", errUndecodable, e.Seq, e.UserID, target)
	case !unescapedJSON(e.Event):
		return fmt.Errorf("%w: log entry %d of %s has event %q", errUndecodable, e.Seq, e.UserID, e.Event)
	case !json.Valid(e.Data): // also empty data
		return fmt.Errorf("%w: log entry %d of %s has data that is no JSON", errUndecodable, e.Seq, e.UserID)
	}
	e.Target = call.TargetKind(target)
	return nil
}

// unescapedJSON reports whether s is a non-empty string that a JSON string holds as it is:
// UTF-8 without a quote, a backslash or a control character. Every event name is.
func unescapedJSON(s string) bool {
	for _, b := range []byte(s) {
		if b < 0x20 || b == '"' || b == '\\' {
			return false
		}
	}
	return s != "" && utf8.ValidString(s)
}

// BusyCall returns the call in which userID is "in a call", or "".
func (s *Store) BusyCall(ctx context.Context, userID string) (string, error) {
	if s.isClosed() {
		return "", ErrClosed
	}
	if id, known := s.memo.busyCall(userID); known {
		return id, nil
	}
	var id string
	err := scanStored(s.r.busyCall.QueryRowContext(ctx, userID), &id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", s.readFailed(fmt.Errorf("sqlite: read busy record of %s: %w", userID, err))
	}
	return id, nil
}

// Idempotency returns the record of userID's key if it was committed at or after since.
func (s *Store) Idempotency(ctx context.Context, userID, key string, since int64) (switchboard.IdempotencyRecord, bool, error) {
	if s.isClosed() {
		return switchboard.IdempotencyRecord{}, false, ErrClosed
	}
	rec := switchboard.IdempotencyRecord{UserID: userID, Key: key}
	err := scanStored(s.r.idem.QueryRowContext(ctx, userID, key, since), &rec.Fingerprint, &rec.Reply, &rec.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return switchboard.IdempotencyRecord{}, false, nil
	}
	if err == nil && len(rec.Reply) > 0 && !json.Valid(rec.Reply) {
		err = fmt.Errorf("%w: the reply is no JSON", errUndecodable)
	}
	if err != nil {
		return switchboard.IdempotencyRecord{}, false, s.readFailed(fmt.Errorf("sqlite: read idempotency record: %w", err))
	}
	return rec, true, nil
}

// ReadLog returns up to limit entries of userID's log with seq > afterSeq, oldest first.
func (s *Store) ReadLog(ctx context.Context, userID string, afterSeq int64, limit int) ([]switchboard.LogEntry, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	out, err := queryAll(ctx, s.r.readLog, func(rows *sql.Rows) (switchboard.LogEntry, error) {
		e := switchboard.LogEntry{UserID: userID}
		var target int64
		var lost bool
		err := scanStored(rows, &e.Seq, &e.Prev, &target, &e.DeviceID, &e.Event, &e.Data, &e.CreatedAt, &lost)
		switch {
		case err != nil:
		case lost:
			err = fmt.Errorf("%w: log entry %d of %s names shared data that is gone", errUndecodable, e.Seq, userID)
		default:
			err = checkEntry(&e, target)
		}
		return e, err
	}, userID, afterSeq, limit)
	if err != nil {
		return nil, s.readFailed(fmt.Errorf("sqlite: read log of %s: %w", userID, err))
	}
	return out, nil
}

// LogBounds returns userID's oldest and head sequence numbers, from one statement
// (boundsQuery), so a concurrent commit, copy or prune cannot make them disagree.
//
// Every entry after oldest − 1 can be read (R7.2). Prune deletes entries by creation time,
// which concurrent decisions may commit out of seq order, so an older entry may outlive a
// newer one; the seq recorded in users is the greatest Prune deleted, and only the entries
// past it count as retained: oldest is one past it. A user's seqs jump at a start (nextSeq),
// so oldest need not be the seq of an entry.
func (s *Store) LogBounds(ctx context.Context, userID string) (oldest, head int64, err error) {
	if s.isClosed() {
		return 0, 0, ErrClosed
	}
	var b bounds
	if err := scanStored(s.r.bounds.QueryRowContext(ctx, userID), b.columns()...); err != nil {
		return 0, 0, s.readFailed(fmt.Errorf("sqlite: log bounds of %s: %w", userID, err))
	}
	oldest, head = b.values()
	return oldest, head, nil
}

// bounds is a row of boundsQuery.
type bounds struct{ recorded, indexMax, tailMax sql.NullInt64 }

func (b *bounds) columns() []any {
	return []any{&b.recorded, &b.indexMax, &b.tailMax}
}

// values returns the oldest and the head sequence numbers the row makes (see LogBounds).
func (b *bounds) values() (oldest, head int64) {
	return b.recorded.Int64 + 1, max(b.recorded.Int64, b.indexMax.Int64, b.tailMax.Int64)
}

// ListCalls pages userID's calls newest first; the cursor is the members row id.
func (s *Store) ListCalls(ctx context.Context, userID string, before int64, count int) ([]call.Call, int64, error) {
	if s.isClosed() {
		return nil, 0, ErrClosed
	}
	if count <= 0 {
		return nil, 0, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	type row struct {
		id int64
		c  call.Call
	}
	// One row more than asked tells whether an older page exists.
	rows, err := queryAll(ctx, s.r.listCalls, func(rows *sql.Rows) (r row, err error) {
		var id string
		var data []byte
		var cols storedColumns
		if err = scanStored(rows, append([]any{&r.id, &id, &data}, cols.dest()...)...); err == nil {
			err = decodeStored(&r.c, id, data, cols.columns())
		}
		return r, err
	}, userID, before, int64(count)+1)
	if err != nil {
		return nil, 0, s.readFailed(fmt.Errorf("sqlite: list calls of %s: %w", userID, err))
	}
	var next int64
	if len(rows) > count {
		rows = rows[:count]
		next = rows[count-1].id
	}
	calls := make([]call.Call, len(rows))
	for i, r := range rows {
		calls[i] = r.c
	}
	return calls, next, nil
}

// RingingCalls returns the Started calls in which userID is pending, in the order the user
// entered them, and the head of userID's log, from one statement (ringingQuery) and so one
// snapshot.
func (s *Store) RingingCalls(ctx context.Context, userID string) (calls []call.Call, head int64, err error) {
	if s.isClosed() {
		return nil, 0, ErrClosed
	}
	rows, err := s.r.ringing.QueryContext(ctx, userID)
	if err != nil {
		return nil, 0, s.readFailed(fmt.Errorf("sqlite: ringing calls of %s: %w", userID, err))
	}
	defer rows.Close()
	for rows.Next() {
		var b bounds
		var id sql.NullString
		var data []byte
		var cols storedColumns
		if err = scanStored(rows, append(b.columns(), append([]any{&id, &data}, cols.dest()...)...)...); err != nil {
			break
		}
		_, head = b.values()
		if !id.Valid { // no call: the row only carries the bounds
			continue
		}
		var c call.Call
		if err = decodeStored(&c, id.String, data, cols.columns()); err != nil {
			break
		}
		calls = append(calls, c)
	}
	if err = cmp.Or(err, rows.Err()); err != nil {
		return nil, 0, s.readFailed(fmt.Errorf("sqlite: ringing calls of %s: %w", userID, err))
	}
	return slices.DeleteFunc(calls, func(c call.Call) bool {
		u := c.User(userID)
		return u == nil || !u.State.Pending()
	}), head, nil
}

// DueCalls returns every Started call with a deadline, earliest first.
func (s *Store) DueCalls(ctx context.Context) ([]switchboard.Due, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	dues, err := queryAll(ctx, s.r.due, func(rows *sql.Rows) (d switchboard.Due, err error) {
		return d, scanStored(rows, &d.CallID, &d.At)
	})
	if err != nil {
		return nil, s.readFailed(fmt.Errorf("sqlite: due calls: %w", err))
	}
	return dues, nil
}

// BusyRecords returns every busy record, by user.
func (s *Store) BusyRecords(ctx context.Context) ([]switchboard.BusyWrite, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	recs, err := queryAll(ctx, s.r.busy, func(rows *sql.Rows) (b switchboard.BusyWrite, err error) {
		b.InCall = true
		return b, scanStored(rows, &b.UserID, &b.CallID)
	})
	if err != nil {
		return nil, s.readFailed(fmt.Errorf("sqlite: busy records: %w", err))
	}
	return recs, nil
}

// queryAll runs stmt and returns every row as scan reads it.
func queryAll[T any](ctx context.Context, stmt *sql.Stmt, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// pruneChunk bounds the rows of each kind one Prune step deletes: a step runs on the writer,
// so commits queued behind it wait for at most one chunk (measured: one unbounded step took
// 340 ms and made deadlines that much late).
const pruneChunk = 1000

// pruneSteps are the statements of one Prune step. Each ?1 is a cutoff and ?2 is pruneChunk;
// the subqueries name the chunk through an index (log_created, idem_created, calls_ended), so
// a step with nothing to delete reads nothing, and the statements of a step pick their rows
// from the same chunk: nothing else writes between them. Their arguments are (logBefore, idemBefore,
// endedBefore)[arg].
var pruneSteps = []struct {
	sql string
	arg int
}{
	// The greatest seq deleted of each user is kept in users: its head once its newest
	// entries go, and the end of what LogBounds counts as retained.
	{`INSERT INTO users (user_id, head_seq)
		SELECT user_id, MAX(seq) FROM (` + oldLog + `) GROUP BY user_id
		ON CONFLICT (user_id) DO UPDATE SET head_seq = MAX(head_seq, excluded.head_seq)`, 0},
	{`DELETE FROM log_by_user WHERE (user_id, seq) IN (SELECT user_id, seq FROM (` + oldLog + `))`, 0},
	{`DELETE FROM log WHERE id IN (SELECT id FROM (` + oldLog + `))`, 0},
	{`DELETE FROM idem WHERE (key, user_id) IN (SELECT key, user_id FROM idem INDEXED BY idem_created
		WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)`, 1},
	// A call may list up to call.MaxListedUsers users, each with a member row and a push mark:
	// those go pruneChunk rows at a time, and a call once none is left, so a step deletes at
	// most pruneChunk rows of each kind however many users the calls list. A call whose member
	// rows are partly deleted is still read by those who list it (ListCalls joins calls).
	{`DELETE FROM members WHERE id IN (SELECT m.id FROM (` + oldCalls + `) c
		JOIN members m ON m.call_id = c.id LIMIT ?2)`, 2},
	{`DELETE FROM push_marks WHERE (call_id, user_id) IN (SELECT p.call_id, p.user_id FROM (` + oldCalls + `) c
		JOIN push_marks p ON p.call_id = c.id LIMIT ?2)`, 2},
	{`DELETE FROM calls WHERE id IN (SELECT id FROM (` + oldCalls + `) c
		WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.call_id = c.id)
		AND NOT EXISTS (SELECT 1 FROM push_marks p WHERE p.call_id = c.id))`, 2},
}

const (
	oldLog   = `SELECT id, user_id, seq FROM log INDEXED BY log_created WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2`
	oldCalls = `SELECT id FROM calls INDEXED BY calls_ended WHERE state = 2 AND ended_at < ?1 ORDER BY ended_at, id LIMIT ?2`
)

// Prune deletes what retention allows (see switchboard.Store). It runs on the writer, in
// steps of at most pruneChunk rows of each kind, each in a batch transaction like a change,
// so it never contends with commits for SQLite's write lock nor holds them up for long. Once
// done, it looks for the rows it can never delete (findUndatable): damage.
func (s *Store) Prune(ctx context.Context, logBefore, idemBefore, endedBefore int64) error {
	if err := s.pruneByAge(ctx, [3]int64{logBefore, idemBefore, endedBefore}); err != nil {
		return err
	}
	return s.findUndatable(ctx)
}

// pruneByAge runs Prune's steps (pruneSteps) until one leaves nothing to delete.
func (s *Store) pruneByAge(ctx context.Context, cutoffs [3]int64) error {
	for {
		var more bool
		_, err := s.submit(ctx, &request{apply: func(w *writer) ([]int64, error) {
			more = false
			for _, q := range pruneSteps {
				res, err := w.conn.ExecContext(context.Background(), q.sql, cutoffs[q.arg], pruneChunk)
				if err != nil {
					return nil, fmt.Errorf("sqlite: prune: %w", err)
				}
				if n, _ := res.RowsAffected(); n >= pruneChunk {
					more = true
				}
			}
			for _, q := range []string{lowerMarkSQL, dropUnsharedData} {
				if _, err := w.conn.ExecContext(context.Background(), q); err != nil {
					return nil, fmt.Errorf("sqlite: prune: %w", err)
				}
			}
			return nil, nil
		}})
		if err != nil || !more {
			return err
		}
	}
}

// undatedRows are the places retention deletes from, each with a query that finds a row there
// whose date is no integer: text or a blob (which SQLite orders after every number) or a real
// past the greatest integer. The store never writes one, and such a row is never older than
// a cutoff: retention would keep it for good, a log entry, an idempotency record whose key
// stays taken, an ended call (whose end no read takes) listed for ever. Each query is one
// seek to the end of the index retention deletes by (TestUndatedRowsAreFoundBySeeks).
var undatedRows = []struct{ what, query string }{
	{"log entry", `SELECT 1 FROM log INDEXED BY log_created WHERE created_at > 9223372036854775807 LIMIT 1`},
	{"idempotency record", `SELECT 1 FROM idem INDEXED BY idem_created WHERE created_at > 9223372036854775807 LIMIT 1`},
	{"ended call", `SELECT 1 FROM calls INDEXED BY calls_ended WHERE state = 2 AND ended_at > 9223372036854775807 LIMIT 1`},
}

// findUndatable returns an error wrapping errUndecodable, recorded as the store's fault
// (readFailed), when a row of undatedRows is found; it reads on the read pool, never holding
// up the writer.
func (s *Store) findUndatable(ctx context.Context) error {
	for _, u := range undatedRows {
		err := s.rdb.QueryRowContext(ctx, u.query).Scan(new(int64))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err == nil:
			err = fmt.Errorf("%w: a %s is dated by no integer, so retention never deletes it", errUndecodable, u.what)
		}
		return s.readFailed(fmt.Errorf("sqlite: prune: %w", err))
	}
	return nil
}
