-- 0006: the log's per-user index, written in bulk. Commits append log rows only; the writer
-- copies the (user_id, seq) entries of the rows past log_indexed.upto into log_by_user, sorted,
-- a few times a second (logindex.go), so each active user's index page is written once per copy
-- instead of once per commit. Reads find a user's entries up to the mark through log_by_user
-- and the few newer ones by scanning the rows past it.
CREATE TABLE log_by_user (
	user_id TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	log_id  INTEGER NOT NULL,
	PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- One row: every log row with id <= upto has its entry in log_by_user; none past it has.
CREATE TABLE log_indexed (
	upto INTEGER NOT NULL
);

INSERT INTO log_by_user (user_id, seq, log_id) SELECT user_id, seq, id FROM log ORDER BY user_id, seq;
INSERT INTO log_indexed (upto) SELECT COALESCE(MAX(id), 0) FROM log;
DROP INDEX log_user_seq;
