-- Adaptive admission (AIMD) of an event's waiting room, as the JSON of the
-- proto AdaptiveAdmission with its defaults applied; NULL while it is off,
-- as for every event made before it. Read with the rest of the settings,
-- never queried by its parts.
ALTER TABLE events ADD COLUMN adaptive_admission TEXT NULL;
-- The controller counts an event's checkouts in flight (orders
-- PENDING_PAYMENT) every interval: from this index alone.
ALTER TABLE orders ADD KEY ix_orders_event_state (event_id, state);
