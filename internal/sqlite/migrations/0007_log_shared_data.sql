-- 0007: an event sent to many users is stored once. When three or more log rows of one change
-- carry the same event data (a group call's invitation or state change goes to every
-- participant), the data is written once to log_data and each row names it in data_id, with an
-- empty data of its own. Rows with data_id 0 carry their data themselves. Prune deletes the
-- log_data rows below the lowest data_id still named (log_data_ref).
CREATE TABLE log_data (
	id   INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
ALTER TABLE log ADD COLUMN data_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX log_data_ref ON log (data_id) WHERE data_id > 0;
