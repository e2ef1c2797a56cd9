-- 0008: each call's oldest outbox record found by an index seek. Delivery workers read only
-- the head record of each call (a call's later records wait for it), so that calls whose
-- records keep failing never hide the others behind them.
CREATE INDEX outbox_call ON outbox (kind, call_id, id);
