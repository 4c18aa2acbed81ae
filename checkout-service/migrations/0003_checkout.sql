-- checkout-service's own additions: the reconciler's schedule, the replayable
-- next action, the one-live-payment-per-cart guard, and versioned routing
-- rules. Columns magento-bridge reads (0002) are unchanged.

ALTER TABLE payments
  ADD COLUMN next_action   JSON         NULL,
  ADD COLUMN reconcile_at  DATETIME(6)  NULL,
  ADD COLUMN active_quote  BIGINT       NULL,
  ADD COLUMN card_fp       CHAR(32)     NULL,
  ADD COLUMN captured_at   DATETIME(6)  NULL,
  ADD UNIQUE KEY uq_payments_active_quote (active_quote),
  ADD KEY ix_payments_reconcile (reconcile_at),
  ADD KEY ix_payments_created (created_at);

ALTER TABLE payment_attempts
  ADD KEY ix_attempts_reference (gateway, gateway_reference);

ALTER TABLE refunds
  ADD COLUMN request_hash CHAR(64) NULL;

-- Each saved rule document gets the next version; instances poll MAX(version).
CREATE TABLE IF NOT EXISTS routing_rules (
  version     INT          NOT NULL PRIMARY KEY,
  document    JSON         NOT NULL,
  created_by  VARCHAR(128) NOT NULL,
  created_at  DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
