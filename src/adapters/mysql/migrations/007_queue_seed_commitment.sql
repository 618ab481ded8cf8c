-- The SHA-256 of the seed that orders an event's pre-queue, recorded when a
-- waiting room first commits it (src/queue/seed-ledger.ts). Redis holds the
-- seed itself; if Redis loses the room, this record is how the service knows
-- a commitment was made, so it refuses (QUEUE_STATE_LOST) instead of
-- silently committing a new one. An operator who accepts a new seed sets it
-- back to NULL.
ALTER TABLE events ADD COLUMN queue_seed_sha256 CHAR(64) NULL;
