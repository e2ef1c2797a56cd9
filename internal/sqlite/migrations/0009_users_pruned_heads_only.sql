-- 0009: users holds only the greatest seq Prune deleted of each user (LogBounds counts the
-- entries past it as retained). Before Prune wrote it, every commit wrote each recipient's head
-- there; such a record names a seq still in the log, which records no deletion: it goes, and
-- the head stays the log's greatest seq.
DELETE FROM users WHERE EXISTS (SELECT 1 FROM log_by_user b WHERE b.user_id = users.user_id AND b.seq = users.head_seq)
	OR (user_id, head_seq) IN (SELECT user_id, seq FROM log WHERE id > (SELECT upto FROM log_indexed));
