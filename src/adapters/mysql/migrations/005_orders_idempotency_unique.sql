-- One order per buyer and idempotency key, enforced by MySQL: two concurrent
-- CreateOrder calls with the same key on two holds start two checkouts, and
-- only the first to record its order keeps the key (the other is refused with
-- IDEMPOTENCY_KEY_REUSED). request_hash is a SHA-256 of the whole CreateOrder
-- request (event, hold, payment method), so a reused key with another payload
-- is refused too; NULL for orders recorded before it existed.
-- A database that already holds duplicate keys refuses the UNIQUE index: find
-- them with SELECT buyer_id, idempotency_key, COUNT(*) FROM orders GROUP BY 1, 2 HAVING COUNT(*) > 1.
-- Orders without a key (none made by CreateOrder, which requires one) carry
-- NULL, which the UNIQUE index never compares.
ALTER TABLE orders MODIFY idempotency_key VARCHAR(64) NULL DEFAULT NULL;
UPDATE orders SET idempotency_key = NULL WHERE idempotency_key = '';
ALTER TABLE orders ADD COLUMN request_hash CHAR(64) NULL;
DROP INDEX ix_orders_idempotency ON orders;
CREATE UNIQUE INDEX uq_orders_idempotency ON orders (buyer_id, idempotency_key);
