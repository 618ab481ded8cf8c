-- Orders over several holds (CreateOrder with hold_ids): the holds of each
-- order, one row per hold. The primary key makes a hold part of at most one
-- order, whatever Redis says (Redis refuses first, when the checkout pins).
-- orders.hold_id keeps the order's first hold (UNIQUE (event_id, hold_id) as
-- before); orders.seat_ids, section_id and quantity are the whole order's.
CREATE TABLE order_holds (
  event_id VARCHAR(64) NOT NULL,
  hold_id VARCHAR(64) NOT NULL,
  order_id VARCHAR(64) NOT NULL,
  seat_ids TEXT NULL,
  section_id VARCHAR(16) NULL,
  quantity INT UNSIGNED NOT NULL,
  PRIMARY KEY (event_id, hold_id),
  KEY ix_order_holds_order (order_id),
  CONSTRAINT fk_order_holds_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
);

-- Every order made before had one hold.
INSERT INTO order_holds (event_id, hold_id, order_id, seat_ids, section_id, quantity)
  SELECT event_id, hold_id, order_id, seat_ids, section_id, quantity FROM orders;

-- The hold a reserved seat was held by, so a repair writes `S|<hold>` with the
-- right hold (lua/repair_seats.lua); NULL for general admission (one item per
-- section, whatever holds its places came from) and for items sold before
-- (their order's hold_id).
ALTER TABLE order_items ADD COLUMN hold_id VARCHAR(64) NULL;
