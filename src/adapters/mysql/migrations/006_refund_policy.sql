-- The event's refund policy: refunds (CancelOrder of a confirmed order) end
-- this many seconds before start_time; 0 means at the start. Events made
-- before it refund until the start, as they did.
ALTER TABLE events ADD COLUMN refund_cutoff_seconds INT UNSIGNED NOT NULL DEFAULT 0;
