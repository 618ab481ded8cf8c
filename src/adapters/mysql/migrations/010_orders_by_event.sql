-- ListEventOrders: an event's orders, newest first, paged by keyset on
-- (created_at, order_id). This index serves the range and the order, so a
-- page reads its rows and stops; a state or buyer filter is checked on the
-- rows it walks. (uq_orders_hold starts with event_id but orders by hold.)
CREATE INDEX ix_orders_event_created ON orders (event_id, created_at, order_id);
