-- 0003: which users were sent an invitation push for a call (behaviour §9), so that only they
-- get the withdrawal push, across restarts. A mark is removed by that withdrawal, or with the
-- call when it is pruned.
CREATE TABLE push_marks (
	call_id    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (call_id, user_id)
) WITHOUT ROWID;
