-- Partial refunds (CancelOrder with ticket_ids): some tickets of a confirmed
-- order refunded, the rest kept.

-- General admission: places of the item given back so far; released_at is
-- set once every place is (a reserved item is one seat: released_at alone).
ALTER TABLE order_items ADD COLUMN released_quantity INT UNSIGNED NOT NULL DEFAULT 0;

-- Money refunded so far, in minor units (whole-order and partial refunds).
ALTER TABLE orders ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;

-- One row per partial refund, written with the decision (the tickets'
-- revocation) in one transaction: a retry reads its amount back.
-- refund_id: a hash of the order and its sorted ticket ids.
CREATE TABLE order_refunds (
  order_id VARCHAR(64) NOT NULL,
  refund_id VARCHAR(64) NOT NULL,
  ticket_ids TEXT NOT NULL,
  amount_minor BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (order_id, refund_id),
  CONSTRAINT fk_order_refunds_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
);

-- The simulator's ledger: what was refunded of a capture (never more than
-- it), and each partial refund once by its key.
ALTER TABLE simulated_payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
CREATE TABLE simulated_refunds (
  refund_key VARCHAR(160) NOT NULL,
  idempotency_key VARCHAR(128) NOT NULL,
  amount_minor BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (refund_key),
  KEY ix_simulated_refunds_payment (idempotency_key)
);
