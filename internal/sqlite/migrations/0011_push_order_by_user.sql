-- 0011: a push's records are delivered in order per call and user (switchboard.PushOrderKey,
-- "callID userID"), no longer per call, so that one user's failing push holds up no other's.
-- Records written before keep their user's order: they take the key that the user's later
-- records (a withdrawal after an invitation) are written with.
UPDATE outbox SET call_id = call_id || ' ' || json_extract(CAST(body AS TEXT), '$.userID')
	WHERE kind = 'push' AND instr(call_id, ' ') = 0 AND json_valid(CAST(body AS TEXT))
		AND json_type(CAST(body AS TEXT), '$.userID') = 'text';
