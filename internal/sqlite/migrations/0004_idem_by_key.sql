-- 0004: idempotency records keyed by (key, user_id) instead of (user_id, key). Clients that put
-- the time first in their keys (the Dialtone SDKs do) then append records on the last pages of
-- the table instead of dirtying a random page per request; lookups by both columns are as fast.
CREATE TABLE idem_by_key (
	user_id     TEXT    NOT NULL,
	key         TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	reply       BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (key, user_id)
) WITHOUT ROWID;
INSERT INTO idem_by_key (user_id, key, fingerprint, reply, created_at)
	SELECT user_id, key, fingerprint, reply, created_at FROM idem;
DROP TABLE idem;
ALTER TABLE idem_by_key RENAME TO idem;
CREATE INDEX idem_created ON idem (created_at);
