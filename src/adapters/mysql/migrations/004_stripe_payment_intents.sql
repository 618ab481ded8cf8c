-- The Stripe adapter's own record: which PaymentIntent each of our payments
-- is. Written after the PaymentIntent is created and before it is confirmed,
-- so no money moves on an intent we could not find again (void, capture,
-- refund, reconciliation).
CREATE TABLE stripe_payment_intents (
  payment_key VARCHAR(128) NOT NULL,
  payment_intent_id VARCHAR(255) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (payment_key),
  UNIQUE KEY uq_stripe_payment_intents_id (payment_intent_id)
);

-- The simulator's scripted provider behaviour for one payment (test tokens):
-- VOIDED_BY_PROVIDER voids the authorization on the provider's side before
-- capture, as an expired or dashboard-cancelled authorization would.
ALTER TABLE simulated_payments ADD COLUMN scenario VARCHAR(32) NULL;
