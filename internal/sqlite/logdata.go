package sqlite

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// An event sent to many users is stored once (migration 0007). The switchboard encodes each
// event once and gives every recipient its own log entry with the same data; a group call's
// invitation or state change, which carries the whole call, would otherwise be written once
// per participant. When at least minSharedRun consecutive entries of a change carry the same
// data of at least minSharedBytes, the writer stores it once in log_data and each entry's row
// names it in data_id, with an empty data of its own; other rows carry their data (data_id 0).
// Reads take COALESCE(log_data.data, log.data) (logData).
const (
	minSharedRun   = 3
	minSharedBytes = 256
)

const (
	// logData joins an entry's shared data; l is the log row.
	logData = `LEFT JOIN log_data d ON d.id = l.data_id`

	// sharedDataLost is 1 when the log row l names shared data that logData found no row of.
	sharedDataLost = `(l.data_id > 0 AND d.id IS NULL)`

	// dropUnsharedData deletes, after Prune deleted log rows, the shared data no remaining row
	// names. Data ids grow in commit order like the rows naming them, so these are the ids
	// below the lowest one named (log_data_ref indexes the rows that name one).
	dropUnsharedData = `DELETE FROM log_data WHERE id < COALESCE(
		(SELECT MIN(data_id) FROM log WHERE data_id > 0), (SELECT MAX(id) + 1 FROM log_data))`
)

// appendLog appends entries to the log inside the current savepoint and returns their
// sequence numbers and the seq each follows in its user's log. A row records the seq it
// follows (prev_seq) only where its user's seqs jump (nextSeq); NULL reads as seq - 1.
func (w *writer) appendLog(ctx context.Context, entries []switchboard.LogEntry) (seqs, prevs []int64, err error) {
	seqs, prevs = make([]int64, len(entries)), make([]int64, len(entries))
	var dataID int64 // the log_data row of the current run of equal data; 0: none
	for i := range entries {
		e := &entries[i]
		if seqs[i], prevs[i], err = w.nextSeq(ctx, e.UserID); err != nil {
			return nil, nil, fmt.Errorf("sqlite: next sequence of %s: %w", e.UserID, err)
		}
		if i == 0 || !bytes.Equal(entries[i-1].Data, e.Data) {
			dataID = 0
			if sharedRun(entries[i:]) {
				res, err := w.insertLogData.ExecContext(ctx, e.Data)
				if err == nil {
					dataID, err = res.LastInsertId()
				}
				if err != nil {
					return nil, nil, fmt.Errorf("sqlite: append shared log data: %w", err)
				}
			}
		}
		data := e.Data
		if dataID != 0 {
			data = nil
		}
		var prev any // NULL: seqs[i] - 1
		if prevs[i] != seqs[i]-1 {
			prev = prevs[i]
		}
		if _, err := w.insertLog.ExecContext(ctx, e.UserID, seqs[i], prev, int64(e.Target), e.DeviceID, e.Event, blob(data), dataID, e.CreatedAt); err != nil {
			return nil, nil, fmt.Errorf("sqlite: append log: %w", err)
		}
	}
	w.tailAppended(len(entries))
	return seqs, prevs, nil
}

// sharedRun reports whether entries begins with minSharedRun entries carrying the same data of
// at least minSharedBytes.
func sharedRun(entries []switchboard.LogEntry) bool {
	if len(entries) < minSharedRun || len(entries[0].Data) < minSharedBytes {
		return false
	}
	for _, e := range entries[1:minSharedRun] {
		if !bytes.Equal(e.Data, entries[0].Data) {
			return false
		}
	}
	return true
}
