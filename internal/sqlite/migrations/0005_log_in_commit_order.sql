-- 0005: the log in commit order. Rows are appended to the end of the table (a rowid table),
-- and only the small (user_id, seq) index entries land on a page per recipient user, instead
-- of whole events: a commit dirties far fewer pages.
CREATE TABLE log_by_commit (
	id         INTEGER PRIMARY KEY,
	user_id    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	target     INTEGER NOT NULL,
	device_id  TEXT    NOT NULL,
	event      TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);
INSERT INTO log_by_commit (user_id, seq, target, device_id, event, data, created_at)
	SELECT user_id, seq, target, device_id, event, data, created_at FROM log ORDER BY created_at, user_id, seq;
DROP TABLE log;
ALTER TABLE log_by_commit RENAME TO log;
CREATE UNIQUE INDEX log_user_seq ON log (user_id, seq);
CREATE INDEX log_created ON log (created_at);
