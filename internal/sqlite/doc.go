// Package sqlite is the SQLite implementation of switchboard.Store, on modernc.org/sqlite (pure
// Go, so CGO_ENABLED=0 builds work everywhere).
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: every transaction's COMMIT fsyncs the
// write-ahead log, so a Commit that returned nil survives a crash (behaviour R7.1), and a crash
// before it leaves no part of the change.
//
// # Schema
//
// Migrations are the embedded files migrations/NNNN_name.sql, applied in order, each in its own
// transaction that also sets PRAGMA user_version to NNNN; reopening a database applies only the
// missing ones.
//
//	calls(id PK, version, state, due_at, ended_at, data BLOB)   WITHOUT ROWID
//	    data is the whole call.Call in its compact binary encoding (call.Call.AppendBinary); the other
//	    columns are copies for the version check and the indexes: due_at = call.NextDue()
//	    (partial index over Started calls with a deadline, for DueCalls) and ended_at = EndTime
//	    (partial index over Ended calls, for Prune).
//	members(id INTEGER PK AUTOINCREMENT, user_id, call_id, UNIQUE(call_id, user_id)), index (user_id)
//	    a user's place in a call's callUserList; id orders a user's calls by when the user
//	    entered them and is ListCalls' page cursor (never reused, so pages stay stable).
//	busy(user_id PK, call_id)                                      WITHOUT ROWID
//	    at most one record per user: the schema makes the busy rule's check-and-set atomic.
//	users(user_id PK, head_seq)                                    WITHOUT ROWID
//	    the greatest seq Prune deleted of a user: its head once Prune deleted the log rows
//	    that held it (otherwise the head is the log's greatest seq; the writer caches heads, so
//	    appending costs no read), and the seq after which its entries count as retained
//	    (LogBounds).
//	log(id INTEGER PK, user_id, seq, target, device_id, event, data, data_id, created_at, prev_seq),
//	    index (created_at), partial index (data_id) WHERE data_id > 0; rows in commit order,
//	    so a commit appends its events; prev_seq is the user's seq before this one where the
//	    seqs jump (see Sequence numbers), NULL where it is seq - 1
//	log_data(id INTEGER PK, data)
//	    event data that three or more entries of one change share, stored once and named by
//	    their data_id (their own data is then empty; logdata.go)
//	log_by_user(user_id, seq, log_id, PK(user_id, seq))            WITHOUT ROWID
//	log_indexed(upto)
//	    the per-user index of the log rows up to the mark upto, copied from the log in bulk
//	    a few times a second instead of at every commit; reads scan the rows past the mark
//	    (logindex.go)
//	idem(user_id, key, fingerprint, reply, created_at, PK(key, user_id)) WITHOUT ROWID,
//	    index (created_at); keyed by key first so that time-ordered keys (the SDKs') append
//	    records instead of dirtying a random page per request
//	outbox(id INTEGER PK AUTOINCREMENT, kind, call_id, body, created_at), indexes (kind, id)
//	    and (kind, call_id, id)
//	    webhooks and pushes to deliver after their change committed (internal/outbox), in
//	    commit order; a worker reads only each call's oldest record
//	push_targets(provider, token, user_id, device_id, voip, bundle_id, PK(provider, token))
//	    WITHOUT ROWID, index (user_id); one owner per (provider, token)
//	push_marks(call_id, user_id, created_at, PK(call_id, user_id))  WITHOUT ROWID
//	    the users sent an invitation push for a call, so only they get the withdrawal;
//	    deleted with their call by Prune
//
// # Sequence numbers
//
// Each user's events are numbered in its log, strictly increasing: the next is head + 1, but
// never less than the store's floor, the time of Open in Unix microseconds (capped below 2^53;
// writer.go, seqFloor). So a user's first event after a start jumps past every seq an earlier
// run gave, also one whose data was lost when an older backup was restored, and a device
// holding such a seq is not taken for one that saw the restored log's events up to it. Each
// entry records the seq it follows (switchboard.LogEntry.Prev), by which a resume tells a jump
// from events that retention deleted. A clock that stepped back lowers the floor, and head + 1
// wins.
//
// # Group commit
//
// One writer goroutine owns the only writing connection and its prepared statements. Commit
// queues its change and waits. The writer takes whatever is queued (up to Options.MaxBatch
// changes; it never waits for more, so an idle store adds no latency), runs them in one
// BEGIN IMMEDIATE … COMMIT transaction with each change inside its own SAVEPOINT, and pays one
// fsync for all of them. A change that conflicts (or fails in any other way) is rolled back to
// its savepoint alone and gets its error; the others commit. The exception is an error after
// which SQLite rolls the whole transaction back (SQLITE_FULL, SQLITE_IOERR): every change of
// the batch then fails with that error, and nothing of it is applied. A batch may end by
// copying the newest log rows into the per-user index, in a savepoint of its own
// (logindex.go). After the COMMIT returns, the writer hands the log entries of the committed
// changes to Options.Publish, in commit order, and then wakes every waiter. Reads use a
// separate small pool of connections, which WAL lets run concurrently with the writer; they
// see only committed data. Call and BusyCall are mostly answered from memory instead: the
// writer keeps what it committed (memo.go).
//
// # Write faults
//
// A batch that fails because the database cannot be written whatever the change (SQLITE_FULL,
// SQLITE_IOERR, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_CANTOPEN: a full disk, a failing disk,
// a file system remounted read-only), or because the database file is no longer at its path
// (errRemoved: its directory removed while in use) or was written by another program
// (errWrittenBehind: a backup copied over it; damage, which lasts), leaves a fault that Fault
// and Writable report, logged at ERROR once when it starts and at INFO once when it ends: when
// a later batch commits a write
// (a change, not maintenance such as a Prune with nothing to delete, which commits without
// writing). With no changes coming, Writable itself tries a one-page write once the last
// failure is ProbeAfter old, so the fault ends once the disk has room again even when no
// client sends anything. All the writer adds to a batch for this is a stat of the file before
// it and one after its COMMIT (stillThere, restamp) and one atomic load; the rest runs only
// when something failed (health.go). A read that fails for such a reason (damaged
// pages met before any change met them) leaves the same fault, and its error wraps
// switchboard.ErrStorageUnavailable as a failed change's does. Damaged pages (SQLITE_CORRUPT,
// SQLITE_NOTADB) leave a fault that lasts until Close, whatever commits meanwhile: they do not
// mend, and the next Open checks the file whole. So does a row read back holding what the
// store never writes (errUndecodable): a call that does not decode, a value of another type
// than its column's, a log entry or an idempotency reply that is no JSON (read.go), a date
// retention compares that is no integer (found by Prune, which would keep the row for good). SQLite
// cannot tell such a row from a good one, its payload having no checksum, and it is never
// handed on: a device catching up would get its bytes inside its event's frame.
//
// # Cancellation
//
// A Commit returns ctx.Err() only when its change was not applied: either ctx ended before
// the change was queued, or the writer found ctx ended when the change's turn came and skipped
// it. Once the writer starts applying a change, Commit waits for the outcome and reports it
// whatever ctx does meanwhile (at most one batch), so a caller never has to guess whether a
// change it was told failed was in fact written.
//
// # Closing
//
// Close stops accepting commits, lets the writer finish every change already queued, then
// closes the connections. After Close every method returns ErrClosed, except Fault and Stats,
// which report the store's last state.
package sqlite
