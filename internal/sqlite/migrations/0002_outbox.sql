-- 0002: the delivery outbox (webhooks, pushes) and push targets.

-- Messages to deliver after their change committed (behaviour §9, §10). The id orders them in
-- commit order; AUTOINCREMENT never reuses one, so a worker's cursor stays valid.
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL,
	call_id    TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX outbox_kind ON outbox (kind, id);

-- Push registrations (§9): one owner per (provider, token).
CREATE TABLE push_targets (
	provider  TEXT    NOT NULL,
	token     TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	voip      INTEGER NOT NULL,
	bundle_id TEXT    NOT NULL,
	PRIMARY KEY (provider, token)
) WITHOUT ROWID;
CREATE INDEX push_targets_user ON push_targets (user_id);
