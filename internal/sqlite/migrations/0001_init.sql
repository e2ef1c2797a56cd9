-- 0001: the initial schema. See the package documentation for what each table holds.

-- One row per call. data is the whole call.Call in the binary encoding of codec.go; version,
-- state, due_at (call.NextDue while Started, else 0) and ended_at (call.EndTime) are copied out
-- for the version check and the indexed queries.
CREATE TABLE calls (
	id       TEXT    NOT NULL PRIMARY KEY,
	version  INTEGER NOT NULL,
	state    INTEGER NOT NULL,
	due_at   INTEGER NOT NULL,
	ended_at INTEGER NOT NULL,
	data     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX calls_due ON calls (due_at) WHERE state = 1 AND due_at > 0;
CREATE INDEX calls_ended ON calls (ended_at) WHERE state = 2;

-- One row per user in a call's callUserList. The id (the rowid) orders a user's calls by when the user
-- entered them and is ListCalls' page cursor; AUTOINCREMENT never reuses one, even after Prune.
CREATE TABLE members (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id TEXT NOT NULL,
	call_id TEXT NOT NULL,
	UNIQUE (call_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- At most one busy record per user: the call in which it is "in a call".
CREATE TABLE busy (
	user_id TEXT NOT NULL PRIMARY KEY,
	call_id TEXT NOT NULL
) WITHOUT ROWID;

-- Each user's head sequence: the last sequence number given to its log; never pruned.
CREATE TABLE users (
	user_id  TEXT    NOT NULL PRIMARY KEY,
	head_seq INTEGER NOT NULL
) WITHOUT ROWID;

-- The per-user event logs (R7.2).
CREATE TABLE log (
	user_id    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	target     INTEGER NOT NULL,
	device_id  TEXT    NOT NULL,
	event      TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX log_created ON log (created_at);

-- Idempotency records (R7.3).
CREATE TABLE idem (
	user_id     TEXT    NOT NULL,
	key         TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	reply       BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE INDEX idem_created ON idem (created_at);
