-- Events, their seat maps, orders, payments, tickets, check-ins and
-- idempotency records. Runs on MySQL 8.4 and MariaDB 10.11.

CREATE TABLE events (
  event_id VARCHAR(64) NOT NULL,
  name VARCHAR(200) NOT NULL,
  venue VARCHAR(200) NOT NULL,
  start_time DATETIME(3) NULL,
  sale_open_time DATETIME(3) NULL,
  sale_close_time DATETIME(3) NULL,
  sale_state VARCHAR(16) NOT NULL,
  hold_ttl_seconds INT UNSIGNED NOT NULL,
  hold_max_extensions INT UNSIGNED NOT NULL,
  hold_max_lifetime_seconds INT UNSIGNED NOT NULL,
  max_tickets_per_buyer INT UNSIGNED NOT NULL,
  waiting_room_enabled BOOLEAN NOT NULL,
  admissions_per_second INT UNSIGNED NOT NULL,
  max_shopping INT UNSIGNED NOT NULL,
  session_seconds INT UNSIGNED NOT NULL,
  currency_code CHAR(3) NOT NULL,
  capacity INT UNSIGNED NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (event_id),
  KEY ix_events_created (created_at, event_id)
);

CREATE TABLE price_categories (
  event_id VARCHAR(64) NOT NULL,
  price_category_id VARCHAR(32) NOT NULL,
  name VARCHAR(200) NOT NULL,
  price_minor BIGINT NOT NULL,
  position INT UNSIGNED NOT NULL,
  PRIMARY KEY (event_id, price_category_id),
  CONSTRAINT fk_price_categories_event FOREIGN KEY (event_id) REFERENCES events (event_id)
);

-- kind: RESERVED (rows of seats) or GA (general admission, sold by quantity
-- up to capacity; `sold` is the confirmed count, guarded by a conditional
-- UPDATE so it never passes capacity).
CREATE TABLE sections (
  event_id VARCHAR(64) NOT NULL,
  section_id VARCHAR(16) NOT NULL,
  name VARCHAR(200) NOT NULL,
  kind VARCHAR(8) NOT NULL,
  capacity INT UNSIGNED NOT NULL,
  sold INT UNSIGNED NOT NULL DEFAULT 0,
  price_category_id VARCHAR(32) NULL,
  position INT UNSIGNED NOT NULL,
  PRIMARY KEY (event_id, section_id),
  CONSTRAINT fk_sections_event FOREIGN KEY (event_id) REFERENCES events (event_id),
  CONSTRAINT ck_sections_sold CHECK (sold <= capacity)
);

CREATE TABLE section_rows (
  event_id VARCHAR(64) NOT NULL,
  section_id VARCHAR(16) NOT NULL,
  row_id VARCHAR(16) NOT NULL,
  first_seat_number INT UNSIGNED NOT NULL,
  seat_count INT UNSIGNED NOT NULL,
  price_category_id VARCHAR(32) NOT NULL,
  position INT UNSIGNED NOT NULL,
  PRIMARY KEY (event_id, section_id, row_id),
  CONSTRAINT fk_rows_section FOREIGN KEY (event_id, section_id) REFERENCES sections (event_id, section_id)
);

-- One row per reserved seat; seat_id is `section-row-number`.
CREATE TABLE seats (
  event_id VARCHAR(64) NOT NULL,
  seat_id VARCHAR(64) NOT NULL,
  section_id VARCHAR(16) NOT NULL,
  row_id VARCHAR(16) NOT NULL,
  seat_number INT UNSIGNED NOT NULL,
  price_category_id VARCHAR(32) NOT NULL,
  PRIMARY KEY (event_id, seat_id),
  CONSTRAINT fk_seats_row FOREIGN KEY (event_id, section_id, row_id)
    REFERENCES section_rows (event_id, section_id, row_id)
);

CREATE TABLE orders (
  order_id VARCHAR(64) NOT NULL,
  event_id VARCHAR(64) NOT NULL,
  hold_id VARCHAR(64) NOT NULL,
  buyer_id VARCHAR(64) NOT NULL,
  state VARCHAR(24) NOT NULL,
  failure_reason VARCHAR(64) NULL,
  section_id VARCHAR(16) NULL,
  quantity INT UNSIGNED NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency_code CHAR(3) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (order_id),
  UNIQUE KEY uq_orders_hold (event_id, hold_id),
  KEY ix_orders_buyer (buyer_id, created_at),
  CONSTRAINT fk_orders_event FOREIGN KEY (event_id) REFERENCES events (event_id)
);

-- sold_seat_id equals seat_id while the item is sold and becomes NULL when
-- the order is refunded, so the UNIQUE key allows at most one sold item per
-- seat: a double sale is impossible even if Redis lies.
CREATE TABLE order_items (
  order_id VARCHAR(64) NOT NULL,
  event_id VARCHAR(64) NOT NULL,
  seat_id VARCHAR(64) NOT NULL,
  sold_seat_id VARCHAR(64) NULL,
  price_minor BIGINT NOT NULL,
  PRIMARY KEY (order_id, seat_id),
  UNIQUE KEY uq_order_items_sold_seat (event_id, sold_seat_id),
  CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
);

CREATE TABLE payments (
  payment_id VARCHAR(64) NOT NULL,
  order_id VARCHAR(64) NOT NULL,
  provider_reference VARCHAR(128) NOT NULL,
  state VARCHAR(16) NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency_code CHAR(3) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (payment_id),
  UNIQUE KEY uq_payments_order (order_id),
  CONSTRAINT fk_payments_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
);

CREATE TABLE tickets (
  ticket_id VARCHAR(64) NOT NULL,
  event_id VARCHAR(64) NOT NULL,
  order_id VARCHAR(64) NOT NULL,
  seat_id VARCHAR(64) NOT NULL,
  code VARCHAR(512) NOT NULL,
  state VARCHAR(16) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  revoked_at DATETIME(3) NULL,
  PRIMARY KEY (ticket_id),
  KEY ix_tickets_order (order_id),
  KEY ix_tickets_revoked (event_id, revoked_at),
  CONSTRAINT fk_tickets_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
);

-- The primary key admits a ticket once; a second scan finds this row.
CREATE TABLE check_ins (
  ticket_id VARCHAR(64) NOT NULL,
  gate_id VARCHAR(64) NOT NULL,
  request_id VARCHAR(64) NOT NULL,
  checked_in_at DATETIME(3) NOT NULL,
  PRIMARY KEY (ticket_id),
  CONSTRAINT fk_check_ins_ticket FOREIGN KEY (ticket_id) REFERENCES tickets (ticket_id)
);

-- Replies of idempotent calls, by scope (the RPC) and the caller's key.
CREATE TABLE idempotency_keys (
  scope VARCHAR(64) NOT NULL,
  idempotency_key VARCHAR(64) NOT NULL,
  resource_id VARCHAR(64) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (scope, idempotency_key)
);
