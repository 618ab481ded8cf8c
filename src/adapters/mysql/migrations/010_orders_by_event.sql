-- ListEventOrders: an event's orders, newest first, paged by keyset on
-- (created_at, order_id). The index serves the range and the order, and
-- carries state and buyer_id so a page's ids (filtered or not) come from it
-- alone; OrderStore.list then reads those rows by primary key.
-- (uq_orders_hold starts with event_id but orders by hold.)
CREATE INDEX ix_orders_event_created ON orders (event_id, created_at, order_id, state, buyer_id);
