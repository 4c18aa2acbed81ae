-- One row per Magento invoice on a platform order whose payment was only
-- authorised (checkout.capture false): inserting it is the claim that makes
-- the capture at checkout happen once. step: pending (capture owed),
-- captured (comment owed), done; refused (checkout refused for good, comment
-- owed), failed (refused and commented: an operator must resolve it). reason
-- says why the money was not captured.
CREATE TABLE IF NOT EXISTS bridge_captures (
  invoice_id           BIGINT       NOT NULL PRIMARY KEY,
  invoice_increment_id VARCHAR(64)  NOT NULL,
  magento_order_id     BIGINT       NOT NULL,
  payment_id           VARCHAR(40)  NOT NULL,
  capture_id           VARCHAR(64)  NOT NULL,
  gateway              VARCHAR(64)  NOT NULL,
  amount               BIGINT       NOT NULL,
  currency             CHAR(3)      NOT NULL,
  step                 VARCHAR(16)  NOT NULL,
  reason               TEXT         NULL,
  attempts             INT          NOT NULL DEFAULT 0,
  last_error           TEXT         NULL,
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  UNIQUE KEY uq_bridge_captures_capture (capture_id),
  KEY ix_bridge_captures_step (step),
  KEY ix_bridge_captures_order (magento_order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
