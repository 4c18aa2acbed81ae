-- magento-bridge's own tables beside checkout-service's payments and outbox
-- (one shared database). Every table is bridge_*; the bridge only reads the
-- outbox's payload and writes its claim columns (status, attempts,
-- available_at, lease_owner, lease_until, last_error, history, processed_at),
-- and writes payments.magento_order_id / magento_increment_id.

-- One row per captured payment the bridge has started to turn into an order:
-- the persisted progress of the exactly-once protocol. quote_id is unique, so
-- one Magento cart can only ever be placed for one payment, and the row's
-- lease serialises work on the cart across workers and instances; version
-- changes on every write so a fenced UPDATE's row count is reliable.
CREATE TABLE IF NOT EXISTS bridge_orders (
  payment_id           VARCHAR(40)  NOT NULL PRIMARY KEY,
  event_id             VARCHAR(128) NOT NULL,
  quote_id             BIGINT       NOT NULL,
  step                 VARCHAR(16)  NOT NULL,
  gateway              VARCHAR(64)  NOT NULL,
  transaction_id       VARCHAR(255) NOT NULL,
  amount               BIGINT       NOT NULL,
  currency             CHAR(3)      NOT NULL,
  magento_order_id     BIGINT       NULL,
  magento_increment_id VARCHAR(64)  NULL,
  invoice_id           BIGINT       NULL,
  lease_owner          VARCHAR(128) NULL,
  lease_until          DATETIME(6)  NULL,
  version              BIGINT       NOT NULL DEFAULT 0,
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  placed_at            DATETIME(6)  NULL,
  done_at              DATETIME(6)  NULL,
  UNIQUE KEY uq_bridge_orders_quote (quote_id),
  KEY ix_bridge_orders_order (magento_order_id),
  KEY ix_bridge_orders_step (step)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events an operator must look at: poison events Magento will never accept,
-- events that ran out of attempts or time, and captured payments that cannot
-- become an order. The full history travels with them; replay puts the
-- outbox row back in the queue and keeps this row as a record.
CREATE TABLE IF NOT EXISTS bridge_dead_letters (
  id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  outbox_id   BIGINT       NOT NULL,
  event_id    VARCHAR(128) NOT NULL,
  payment_id  VARCHAR(64)  NOT NULL,
  reason      VARCHAR(32)  NOT NULL,
  error       TEXT         NOT NULL,
  attempts    INT          NOT NULL,
  history     JSON         NOT NULL,
  payload     JSON         NOT NULL,
  refunded    TINYINT(1)   NOT NULL DEFAULT 0,
  status      VARCHAR(16)  NOT NULL,
  created_at  DATETIME(6)  NOT NULL,
  replayed_at DATETIME(6)  NULL,
  replayed_by VARCHAR(128) NULL,
  KEY ix_bridge_dead_status (status, id),
  KEY ix_bridge_dead_outbox (outbox_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per Magento credit memo on a platform order: inserting it is the
-- claim that makes the refund happen once.
CREATE TABLE IF NOT EXISTS bridge_refunds (
  creditmemo_id    BIGINT       NOT NULL PRIMARY KEY,
  magento_order_id BIGINT       NOT NULL,
  payment_id       VARCHAR(40)  NOT NULL,
  refund_id        VARCHAR(64)  NOT NULL,
  amount           BIGINT       NOT NULL,
  currency         CHAR(3)      NOT NULL,
  step             VARCHAR(16)  NOT NULL,
  attempts         INT          NOT NULL DEFAULT 0,
  last_error       TEXT         NULL,
  created_at       DATETIME(6)  NOT NULL,
  updated_at       DATETIME(6)  NOT NULL,
  UNIQUE KEY uq_bridge_refunds_refund (refund_id),
  KEY ix_bridge_refunds_step (step)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Polling cursors (credit memos, cancelled orders): the last updated_at seen.
CREATE TABLE IF NOT EXISTS bridge_cursors (
  name       VARCHAR(64) NOT NULL PRIMARY KEY,
  position   DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Cancelled orders whose authorisation the bridge voided (or reported).
CREATE TABLE IF NOT EXISTS bridge_voids (
  magento_order_id BIGINT      NOT NULL PRIMARY KEY,
  payment_id       VARCHAR(40) NOT NULL,
  outcome          VARCHAR(32) NOT NULL,
  created_at       DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
