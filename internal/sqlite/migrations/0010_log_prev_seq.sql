-- 0010: a user's seqs jump at a start (each run gives seqs past the start time in
-- microseconds: writer.go, seqFloor), so a log row records the seq it follows where they jump.
-- NULL, every older row's value, reads as seq - 1.
ALTER TABLE log ADD COLUMN prev_seq INTEGER;

-- With jumps, a user's oldest retained seq no longer tells what retention deleted: users must
-- hold the greatest deleted seq of every user (LogBounds). Before 0009, commits wrote heads
-- there, which 0009 removed, also where retention had deleted a user's older entries. Seqs
-- had no jumps until now, so the greatest deleted is the oldest retained one - 1.
INSERT INTO users (user_id, head_seq)
	SELECT user_id, MIN(seq) - 1 FROM (
		SELECT user_id, seq FROM log_by_user
		UNION ALL SELECT user_id, seq FROM log WHERE id > (SELECT upto FROM log_indexed))
	GROUP BY user_id HAVING MIN(seq) > 1
	ON CONFLICT (user_id) DO UPDATE SET head_seq = MAX(head_seq, excluded.head_seq);
