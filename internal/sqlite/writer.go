package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// request is one unit of work for the writer: a change (Commit) or maintenance (Prune). Its
// work (do) runs inside the request's own savepoint of the batch transaction.
type request struct {
	ctx context.Context
	// apply is maintenance's work; nil for a change, which do applies.
	apply  func(w *writer) ([]int64, error)
	change *switchboard.Change // for Publish; nil for maintenance
	writes bool                // its commit shows the database takes writes (a change, a probe)
	calls  [][]byte            // change.Calls as encoded and written, for the memo

	seqs  []int64
	prevs []int64 // each log entry's previous seq of its user (LogEntry.Prev)
	err   error
	done  chan struct{} // closed once seqs and err are final
}

// submit queues req and waits for its outcome (see the package doc: Cancellation).
func (s *Store) submit(ctx context.Context, req *request) ([]int64, error) {
	req.ctx = ctx
	req.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	s.mu.RUnlock()
	<-req.done
	if faultReason(req.err) != "" {
		return nil, fmt.Errorf("%w: %w", switchboard.ErrStorageUnavailable, req.err)
	}
	return req.seqs, req.err
}

// Commit applies change atomically and durably; see switchboard.Store and the package doc.
func (s *Store) Commit(ctx context.Context, change switchboard.Change) ([]int64, error) {
	return s.submit(ctx, &request{change: &change, writes: true})
}

// do carries out r on w: its maintenance work, or else its change.
func (r *request) do(w *writer) ([]int64, error) {
	if r.apply != nil {
		return r.apply(w)
	}
	return w.applyChange(r.change, &r.calls, &r.prevs)
}

// run is the writer goroutine: it commits batches until the queue is closed and drained.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*request, 0, s.max)
	for req := range s.queue {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < s.max {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch runs batch in one transaction, each request in its own savepoint, then publishes
// and wakes the waiters.
func (s *Store) commitBatch(batch []*request) {
	w := s.w
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if !s.memo.busyKnown() {
		if err := s.memo.reload(context.Background(), w.conn); err != nil {
			s.log.Error("sqlite: reload busy records", "err", err) // BusyCall reads the database meanwhile
		}
	}
	if !w.headsKnown {
		if err := w.loadHeads(context.Background()); err != nil {
			s.log.Error("sqlite: load heads", "err", err)
			s.recordFault(err)
			for _, r := range batch {
				r.err = err
			}
			return
		}
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if err := s.stillThere(); err != nil {
		s.log.Error("sqlite: begin batch", "err", err)
		s.recordFault(err)
		for _, r := range batch {
			r.err = err
		}
		return
	}
	defer s.restamp() // whatever the batch's outcome, the file is as the store left it
	if err := w.exec(w.begin); err != nil {
		s.log.Error("sqlite: begin batch", "err", err)
		s.recordFault(err)
		for _, r := range batch {
			r.err = fmt.Errorf("sqlite: begin: %w", err)
		}
		return
	}
	applied, changes := 0, 0 // requests applied; of them, changes (the rest is maintenance)
	var broken error         // set when the transaction can no longer be trusted
	faulted := false         // a change or the index copy failed because the database cannot be written
	for _, r := range batch {
		if broken != nil {
			r.err = broken
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		var failed error
		broken, failed = w.inSavepoint(func() (err error) {
			r.seqs, err = r.do(w)
			return err
		})
		switch {
		case failed != nil:
			r.seqs, r.err = nil, failed
			w.revertHeads()
			faulted = s.recordFault(failed) || faulted
		case broken != nil:
			r.seqs, r.err = nil, broken
		default:
			w.keepHeads()
			applied++
			if r.change != nil {
				changes++
			}
		}
	}
	copied := false
	if applied > 0 && broken == nil && w.copyDue() {
		var failed error
		broken, failed = w.copyTailToIndex()
		if failed != nil {
			s.log.Error("sqlite: log index", "err", failed) // reads still scan the tail
			faulted = s.recordFault(failed) || faulted
		}
		copied = broken == nil && failed == nil
	}
	end := w.commit
	if applied == 0 || broken != nil {
		end = w.rollback // with no change applied, each one's heads were reverted already
	}
	if err := w.exec(end); err != nil || broken != nil {
		w.forgetHeads()
		s.memo.forget()
		if broken != nil {
			err = broken // what broke it; SQLite may have ended the transaction, failing the ROLLBACK
		} else if end == w.commit {
			w.exec(w.rollback) // a failed COMMIT may leave the transaction open
		}
		s.log.Error("sqlite: commit batch", "changes", len(batch), "err", err)
		s.recordFault(err)
		for _, r := range batch {
			if r.err == nil {
				r.seqs, r.err = nil, fmt.Errorf("sqlite: commit: %w", err)
			}
		}
		return
	}
	if applied == 0 {
		return
	}
	if !faulted && s.fault.Load() != nil {
		s.wroteAgain(batch)
	}
	if copied {
		w.tailCopied()
	}
	s.batches.Add(1)
	s.changes.Add(int64(changes))
	s.observe(changes)
	s.memo.applied(batch)
	if s.publish == nil {
		return
	}
	for _, r := range batch {
		if r.err != nil || r.change == nil || len(r.change.Log) == 0 {
			continue
		}
		entries := make([]switchboard.LogEntry, len(r.change.Log))
		copy(entries, r.change.Log)
		for i := range entries {
			entries[i].Seq, entries[i].Prev = r.seqs[i], r.prevs[i]
		}
		s.publish(entries)
	}
}

// writer holds the writing connection and its prepared statements. Only the writer goroutine
// (and Open, before it starts) uses it.
type writer struct {
	conn *sql.Conn
	memo *memo // the Store's, told about stale calls

	// heads caches each user's last sequence number, as given in this process: the log's
	// greatest seq, or users.head_seq once the log was pruned (see indexedHeadQuery). It holds
	// every user with rows in the log's tail (logindex.go) while headsKnown. undo holds the
	// values the current change replaced, so a rolled-back change gives its numbers back.
	heads      map[string]int64
	undo       []headUndo
	headsKnown bool
	floor      int64 // the least seq this process gives (seqFloor)

	// The log's tail: about tailRows rows appended since the last copy into the index, the
	// first at tailSince; copied at indexRows rows or indexEvery after tailSince.
	tailRows   int
	tailSince  time.Time
	indexRows  int
	indexEvery time.Duration

	begin, commit, rollback, savepoint, release, rollbackTo *sql.Stmt

	insertCall, updateCall, insertMember *sql.Stmt
	setBusy, busyOf, clearBusy           *sql.Stmt
	headOf, insertLog, insertLogData     *sql.Stmt
	putIdem                              *sql.Stmt
	insertOutbox, dropOutbox             *sql.Stmt
	copyTail, moveMark                   *sql.Stmt
}

// maxCachedHeads bounds the writer's cache of head sequence numbers: past it, the cache is
// emptied after the next copy of the log's tail.
const maxCachedHeads = 100_000

// headUndo is a user's cached head before the current change moved it (known false: none).
type headUndo struct {
	userID string
	head   int64
	known  bool
}

// nextSeq returns userID's next sequence number, max(head + 1, floor), and the head it follows
// (the user's previous seq: prev), and remembers how to undo it. Seqs therefore only grow, and
// a user's first seq after a start is past every seq an earlier run gave (see seqFloor).
func (w *writer) nextSeq(ctx context.Context, userID string) (seq, prev int64, err error) {
	head, known := w.heads[userID]
	if !known {
		if err := scanStored(w.headOf.QueryRowContext(ctx, userID), &head); err != nil {
			return 0, 0, err
		}
	}
	w.undo = append(w.undo, headUndo{userID, head, known})
	seq = max(head+1, w.floor)
	w.heads[userID] = seq
	return seq, head, nil
}

// maxFloor caps seqFloor, so that seqs stay integers of the wire (at most protocol.MaxInteger)
// with about 10^12 of them to spare even once the clock reads past it (in the year 2255).
const maxFloor = protocol.MaxInteger - 1<<40

// seqFloor is the least seq a store opened at start gives: start in Unix microseconds, capped at
// maxFloor (0 before 1970). A later start has a greater floor, so the seqs of a run exceed
// every seq an earlier run gave, as long as no user got more than one event per microsecond
// of that run: also those of a run whose data a restored backup lost (docs/operations.md), so
// a device holding one of them never takes the restored log's new events for ones it has.
// A clock that stepped back gives a lower floor, and then each user's head + 1 wins.
func seqFloor(start time.Time) int64 {
	return min(max(start.UnixMicro(), 0), maxFloor)
}

// keepHeads forgets the undo list: the change's savepoint was released.
func (w *writer) keepHeads() { w.undo = w.undo[:0] }

// revertHeads restores the heads the current change moved: its savepoint was rolled back.
func (w *writer) revertHeads() {
	for i := len(w.undo) - 1; i >= 0; i-- {
		u := w.undo[i]
		if u.known {
			w.heads[u.userID] = u.head
		} else {
			delete(w.heads, u.userID)
		}
	}
	w.undo = w.undo[:0]
}

// forgetHeads drops the cache: a transaction failed, so the log's tail is in doubt. The next
// batch loads the cache again (loadHeads).
func (w *writer) forgetHeads() {
	clear(w.heads)
	w.undo = w.undo[:0]
	w.headsKnown = false
}

func newWriter(ctx context.Context, conn *sql.Conn, m *memo, opts Options) (*writer, error) {
	w := &writer{conn: conn, memo: m, heads: map[string]int64{}, floor: seqFloor(opts.Now()),
		indexRows: opts.LogIndexRows, indexEvery: opts.LogIndexEvery}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		{&w.savepoint, "SAVEPOINT change"},
		{&w.release, "RELEASE change"},
		{&w.rollbackTo, "ROLLBACK TO change"},
		{&w.insertCall, `INSERT INTO calls (id, version, state, due_at, ended_at, data) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`},
		{&w.updateCall, `UPDATE calls SET version = ?, state = ?, due_at = ?, ended_at = ?, data = ?
			WHERE id = ? AND version = ?`},
		{&w.insertMember, `INSERT INTO members (user_id, call_id) VALUES (?, ?) ON CONFLICT DO NOTHING`},
		{&w.setBusy, `INSERT INTO busy (user_id, call_id) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`},
		{&w.busyOf, `SELECT call_id FROM busy WHERE user_id = ?`},
		{&w.clearBusy, `DELETE FROM busy WHERE user_id = ? AND call_id = ?`},
		{&w.headOf, indexedHeadQuery},
		{&w.insertLog, `INSERT INTO log (user_id, seq, prev_seq, target, device_id, event, data, data_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.insertLogData, `INSERT INTO log_data (data) VALUES (?)`},
		{&w.putIdem, `INSERT INTO idem (user_id, key, fingerprint, reply, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key, user_id) DO UPDATE SET
				fingerprint = excluded.fingerprint, reply = excluded.reply, created_at = excluded.created_at
			WHERE idem.created_at < ?`},
		{&w.insertOutbox, `INSERT INTO outbox (kind, call_id, body, created_at) VALUES (?, ?, ?, ?)`},
		{&w.dropOutbox, `DELETE FROM outbox WHERE kind = ? AND call_id = ?`},
		{&w.copyTail, copyTailSQL},
		{&w.moveMark, moveMarkSQL},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return w, nil
}

// inSavepoint runs fn in a savepoint of the current transaction: released when fn succeeds,
// rolled back when fn fails (failed is fn's error). broken reports that a savepoint statement
// itself failed, so the transaction can no longer be trusted.
func (w *writer) inSavepoint(fn func() error) (broken, failed error) {
	if err := w.exec(w.savepoint); err != nil {
		return fmt.Errorf("sqlite: savepoint: %w", err), nil
	}
	if failed = fn(); failed == nil {
		if err := w.exec(w.release); err != nil {
			return fmt.Errorf("sqlite: release savepoint: %w", err), nil
		}
		return nil, nil
	}
	if err := errors.Join(w.exec(w.rollbackTo), w.exec(w.release)); err != nil {
		// Some errors (SQLITE_FULL, SQLITE_IOERR) make SQLite roll the whole transaction back:
		// failed is then what broke it.
		return fmt.Errorf("sqlite: roll back savepoint after %w: %w", failed, err), failed
	}
	return nil, failed
}

// exec runs a statement without arguments. The writer never passes a caller's context to
// SQLite: an interrupted statement would abort the whole batch.
func (w *writer) exec(stmt *sql.Stmt) error {
	_, err := stmt.ExecContext(context.Background())
	return err
}

// close releases the statements and the connection.
func (w *writer) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{w.begin, w.commit, w.rollback, w.savepoint, w.release, w.rollbackTo,
		w.insertCall, w.updateCall, w.insertMember, w.setBusy, w.busyOf, w.clearBusy,
		w.headOf, w.insertLog, w.insertLogData, w.putIdem, w.insertOutbox, w.dropOutbox, w.copyTail, w.moveMark} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(append(errs, w.conn.Close())...)
}

// applyChange writes one change inside the current savepoint and returns the sequence numbers
// of its log entries, sets *prevs to the seq each entry follows, and appends the encoding of
// each of its calls to encoded. On error the caller rolls the savepoint back.
func (w *writer) applyChange(ch *switchboard.Change, encoded *[][]byte, prevs *[]int64) ([]int64, error) {
	ctx := context.Background()
	for i := range ch.Calls {
		cw := &ch.Calls[i]
		c := &cw.Call
		cols := columnsOf(c)
		buf, _ := c.MarshalBinary() // never fails; the memo keeps it
		*encoded = append(*encoded, buf)
		var res sql.Result
		var err error
		if cw.PrevVersion == 0 {
			res, err = w.insertCall.ExecContext(ctx, c.ID, cols.version, cols.state, cols.due, cols.ended, buf)
		} else {
			res, err = w.updateCall.ExecContext(ctx, cols.version, cols.state, cols.due, cols.ended, buf, c.ID, cw.PrevVersion)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: write call %s: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			w.memo.forgetCall(c.ID) // the decision may have read a stale copy
			return nil, fmt.Errorf("call %s is not at version %d: %w", c.ID, cw.PrevVersion, switchboard.ErrConflict)
		}
	}
	for _, m := range ch.Members {
		if _, err := w.insertMember.ExecContext(ctx, m.UserID, m.CallID); err != nil {
			return nil, fmt.Errorf("sqlite: add member: %w", err)
		}
	}
	for _, b := range ch.Busy {
		if err := w.writeBusy(ctx, b); err != nil {
			return nil, err
		}
	}
	for _, c := range ch.Claims {
		if err := w.checkBusy(ctx, c.UserID, c.CallID); err != nil {
			return nil, err
		}
	}
	var seqs []int64
	if len(ch.Log) > 0 {
		var err error
		if seqs, *prevs, err = w.appendLog(ctx, ch.Log); err != nil {
			return nil, err
		}
	}
	for _, o := range ch.Outbox {
		if o.Supersedes {
			if _, err := w.dropOutbox.ExecContext(ctx, o.Kind, o.OrderKey); err != nil {
				return nil, fmt.Errorf("sqlite: drop superseded outbox records: %w", err)
			}
		}
		if _, err := w.insertOutbox.ExecContext(ctx, o.Kind, o.OrderKey, blob(o.Body), o.CreatedAt); err != nil {
			return nil, fmt.Errorf("sqlite: append outbox: %w", err)
		}
	}
	if r := ch.Idem; r != nil {
		res, err := w.putIdem.ExecContext(ctx, r.UserID, r.Key, r.Fingerprint, blob(r.Reply), r.CreatedAt, ch.IdemSince)
		if err != nil {
			return nil, fmt.Errorf("sqlite: idempotency record: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return nil, fmt.Errorf("user %s, key %s: %w", r.UserID, r.Key, switchboard.ErrKeyTaken)
		}
	}
	return seqs, nil
}

// writeBusy sets or clears one busy record; setting conflicts with a record for another call.
func (w *writer) writeBusy(ctx context.Context, b switchboard.BusyWrite) error {
	if !b.InCall {
		if _, err := w.clearBusy.ExecContext(ctx, b.UserID, b.CallID); err != nil {
			return fmt.Errorf("sqlite: clear busy: %w", err)
		}
		return nil
	}
	res, err := w.setBusy.ExecContext(ctx, b.UserID, b.CallID)
	if err != nil {
		return fmt.Errorf("sqlite: set busy: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	return w.checkBusy(ctx, b.UserID, b.CallID)
}

// checkBusy returns ErrConflict when userID has a busy record for a call other than callID.
func (w *writer) checkBusy(ctx context.Context, userID, callID string) error {
	var have string
	err := scanStored(w.busyOf.QueryRowContext(ctx, userID), &have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: read busy: %w", err)
	case have != callID:
		return fmt.Errorf("user %s is in call %s: %w", userID, have, switchboard.ErrConflict)
	}
	return nil
}

// blob stores a nil slice as an empty blob (the columns are NOT NULL).
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
