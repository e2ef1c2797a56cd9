package sqlite

import (
	"context"
	"fmt"
	"time"
)

// The per-user log index is written in bulk (migration 0006). A commit appends its events to
// log, in commit order, and nothing else of the log: had each event also gone into a per-user
// index at once, every commit would dirty one index page per recipient user, which was most
// of what a commit wrote. Instead the log rows past the mark (log_indexed.upto) are "the
// tail": the writer copies their (user_id, seq) entries into log_by_user, sorted by user, and
// moves the mark, all inside the transaction of an ordinary batch, once the tail holds
// Options.LogIndexRows rows or its first row is Options.LogIndexEvery old. Each active user's
// index page is then written once per copy instead of once per commit.
//
// Nothing is lost or hidden meanwhile: the tail rows are durable log rows like any other, and
// every read of a user's log (ReadLog, LogBounds) reads log_by_user up to the mark and scans
// the tail past it in one statement, so it sees one consistent snapshot whatever the writer
// does. After a crash the tail is simply longer until the next copy.
//
// The writer's head cache (writer.heads) keeps an invariant that spares it that scan: every
// user with rows in the tail is in the cache. A user missing from it has its head in users or
// log_by_user (indexedHeadQuery). The cache is loaded from the tail whenever it is not known
// to hold (at Open, after a failed transaction), and emptied only right after a copy, when the
// tail is empty.

// Defaults of Options.LogIndexRows and Options.LogIndexEvery.
const (
	DefaultLogIndexRows  = 2048
	DefaultLogIndexEvery = time.Second
)

const (
	// copyTailSQL copies the tail's entries into the index, sorted so that each user's
	// entries are appended to its page together; moveMarkSQL then moves the mark past them.
	copyTailSQL = `INSERT INTO log_by_user (user_id, seq, log_id)
		SELECT user_id, seq, id FROM log WHERE id > (SELECT upto FROM log_indexed) ORDER BY user_id, seq`
	moveMarkSQL = `UPDATE log_indexed SET upto = COALESCE((SELECT MAX(id) FROM log), 0)`

	// lowerMarkSQL runs after Prune deleted log rows. SQLite numbers a new row MAX(id) + 1, so
	// when the newest rows went, the mark must come down to MAX(id) for new rows to be past
	// it; every row left is then below it, and indexed.
	lowerMarkSQL = `UPDATE log_indexed SET upto = MIN(upto, COALESCE((SELECT MAX(id) FROM log), 0))`

	// tailHeadsSQL lists each user with rows in the tail, its head, and how many rows. The head
	// is its greatest seq there, or the one recorded in users when Prune deleted the rows that
	// held it: log rows are pruned by creation time, which concurrent decisions may commit
	// out of seq order, so a user's newest seq may go while older ones stay.
	tailHeadsSQL = `SELECT user_id,
		MAX(MAX(seq), COALESCE((SELECT head_seq FROM users u WHERE u.user_id = log.user_id), 0)), COUNT(*)
		FROM log WHERE id > (SELECT upto FROM log_indexed) GROUP BY user_id`

	// indexedHeadQuery is the head of a user with no rows in the tail: the greatest seq in
	// log_by_user, or the one recorded in users when Prune deleted the rows that held it.
	indexedHeadQuery = `SELECT MAX(
		COALESCE((SELECT head_seq FROM users WHERE user_id = ?1), 0),
		COALESCE((SELECT MAX(seq) FROM log_by_user WHERE user_id = ?1), 0))`

	// boundsQuery reads what a user's head is made of, in one statement (one snapshot) and one
	// scan of the tail: the greatest seq recorded in users (the greatest Prune deleted), in the
	// index (a user's older entries) and in the tail (its newer ones).
	boundsQuery = `SELECT
		(SELECT head_seq FROM users WHERE user_id = ?1),
		(SELECT MAX(seq) FROM log_by_user WHERE user_id = ?1),
		MAX(seq)
		FROM log WHERE id > (SELECT upto FROM log_indexed) AND user_id = ?1`

	// readLogQuery reads a user's entries after a seq, from the index and the tail, each with
	// the seq it follows (prev_seq, NULL when that is seq - 1), and whether the shared data it
	// names is missing (lost: damage, since Prune keeps every row a retained entry names).
	readLogQuery = `SELECT seq, prev, target, device_id, event, data, created_at, lost FROM (
		SELECT i.seq, COALESCE(l.prev_seq, i.seq - 1) AS prev, l.target, l.device_id, l.event,
			COALESCE(d.data, l.data) AS data, l.created_at, ` + sharedDataLost + ` AS lost
			FROM log_by_user i JOIN log l ON l.id = i.log_id ` + logData + `
			WHERE i.user_id = ?1 AND i.seq > ?2
		UNION ALL
		SELECT l.seq, COALESCE(l.prev_seq, l.seq - 1), l.target, l.device_id, l.event, COALESCE(d.data, l.data), l.created_at,
			` + sharedDataLost + `
			FROM log l ` + logData + `
			WHERE l.id > (SELECT upto FROM log_indexed) AND l.user_id = ?1 AND l.seq > ?2)
		ORDER BY seq LIMIT ?3`
)

// tailAppended counts n log rows appended by the current change. The count is an upper bound
// (a change rolled back to its savepoint is still counted); it only decides when to copy.
func (w *writer) tailAppended(n int) {
	if n > 0 && w.tailRows == 0 {
		w.tailSince = time.Now()
	}
	w.tailRows += n
}

// copyDue reports whether the batch being committed should also copy the tail.
func (w *writer) copyDue() bool {
	return w.tailRows > 0 && (w.tailRows >= w.indexRows || time.Since(w.tailSince) >= w.indexEvery ||
		len(w.heads) > maxCachedHeads)
}

// copyTailToIndex copies the tail into the index and moves the mark, in a savepoint of its
// own at the end of the current transaction. When the copy fails (failed) its savepoint is
// rolled back and the tail stays as it was, where reads still find it; broken reports that
// the transaction itself can no longer be trusted.
func (w *writer) copyTailToIndex() (broken, failed error) {
	broken, failed = w.inSavepoint(func() error {
		if err := w.exec(w.copyTail); err != nil {
			return err
		}
		return w.exec(w.moveMark)
	})
	if failed != nil {
		failed = fmt.Errorf("sqlite: copy the log's tail into its index: %w", failed)
	}
	return broken, failed
}

// tailCopied records a committed copy: the tail is empty, so the head cache may be emptied.
func (w *writer) tailCopied() {
	w.tailRows = 0
	if len(w.heads) > maxCachedHeads {
		clear(w.heads) // bounded memory; the heads are read again as users come back
	}
}

// loadHeads makes the head cache hold exactly the heads of the users with rows in the tail,
// which restores its invariant, and counts the tail.
func (w *writer) loadHeads(ctx context.Context) error {
	rows, err := w.conn.QueryContext(ctx, tailHeadsSQL)
	if err != nil {
		return fmt.Errorf("sqlite: read the heads of the log's tail: %w", err)
	}
	defer rows.Close()
	heads := map[string]int64{}
	var count int64
	for rows.Next() {
		var user string
		var head, n int64
		if err := scanStored(rows, &user, &head, &n); err != nil {
			return fmt.Errorf("sqlite: read the heads of the log's tail: %w", err)
		}
		heads[user] = head
		count += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read the heads of the log's tail: %w", err)
	}
	w.heads, w.undo, w.headsKnown = heads, w.undo[:0], true
	w.tailRows = 0
	w.tailAppended(int(count))
	return nil
}
