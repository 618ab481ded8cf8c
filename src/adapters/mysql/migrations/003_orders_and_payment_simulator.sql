-- Checkout bookkeeping, and the payment simulator's own ledger (the state a
-- real provider would keep on its side; the audit compares it with ours).

-- General-admission items carry no seat; released_at marks an item given back
-- (refund or compensation) so releasing twice changes nothing.
ALTER TABLE order_items ADD COLUMN quantity INT UNSIGNED NOT NULL DEFAULT 1;
ALTER TABLE order_items ADD COLUMN released_at DATETIME(3) NULL;

ALTER TABLE orders ADD COLUMN idempotency_key VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN seat_ids TEXT NULL;

CREATE TABLE simulated_payments (
  authorization_id VARCHAR(64) NOT NULL,
  idempotency_key VARCHAR(128) NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency_code CHAR(3) NOT NULL,
  state VARCHAR(16) NOT NULL,
  decline_reason VARCHAR(64) NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (authorization_id),
  UNIQUE KEY uq_simulated_payments_key (idempotency_key)
);

CREATE INDEX ix_orders_idempotency ON orders (buyer_id, idempotency_key);
