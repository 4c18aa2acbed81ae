-- Payments, their gateway attempts, refunds, received webhooks and the
-- transactional outbox that magento-bridge consumes. Money is integer minor
-- units with an ISO 4217 currency. magento-bridge reads outbox and writes
-- payments.magento_order_id / magento_increment_id: keep those stable.

CREATE TABLE IF NOT EXISTS payments (
  id                   VARCHAR(40)  NOT NULL PRIMARY KEY,
  session_id           VARCHAR(40)  NOT NULL,
  idempotency_key      VARCHAR(255) NOT NULL,
  request_hash         CHAR(64)     NOT NULL,
  status               VARCHAR(32)  NOT NULL,
  amount               BIGINT       NOT NULL,
  currency             CHAR(3)      NOT NULL,
  method               VARCHAR(32)  NOT NULL,
  gateway              VARCHAR(64)  NULL,
  gateway_reference    VARCHAR(255) NULL,
  cart_kind            VARCHAR(16)  NOT NULL,
  quote_id             BIGINT       NOT NULL,
  customer_id          BIGINT       NULL,
  order_snapshot       JSON         NOT NULL,
  routing              JSON         NULL,
  decline_code         VARCHAR(64)  NULL,
  error_message        VARCHAR(512) NULL,
  magento_order_id     BIGINT       NULL,
  magento_increment_id VARCHAR(64)  NULL,
  refunded_amount      BIGINT       NOT NULL DEFAULT 0,
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  UNIQUE KEY uq_payments_idempotency (session_id, idempotency_key),
  KEY ix_payments_status_updated (status, updated_at),
  KEY ix_payments_quote (quote_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS payment_attempts (
  id                BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  payment_id        VARCHAR(40)  NOT NULL,
  attempt_no        INT          NOT NULL,
  gateway           VARCHAR(64)  NOT NULL,
  idempotency_key   VARCHAR(255) NOT NULL,
  status            VARCHAR(32)  NOT NULL,
  gateway_reference VARCHAR(255) NULL,
  decline_code      VARCHAR(64)  NULL,
  decline_bucket    VARCHAR(32)  NULL,
  error_message     VARCHAR(512) NULL,
  fee               BIGINT       NOT NULL DEFAULT 0,
  latency_ms        INT          NOT NULL DEFAULT 0,
  created_at        DATETIME(6)  NOT NULL,
  updated_at        DATETIME(6)  NOT NULL,
  UNIQUE KEY uq_attempts_payment_no (payment_id, attempt_no),
  UNIQUE KEY uq_attempts_idempotency (gateway, idempotency_key),
  KEY ix_attempts_status_updated (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS refunds (
  id                VARCHAR(64)  NOT NULL PRIMARY KEY,
  payment_id        VARCHAR(40)  NOT NULL,
  amount            BIGINT       NOT NULL,
  currency          CHAR(3)      NOT NULL,
  status            VARCHAR(32)  NOT NULL,
  gateway           VARCHAR(64)  NOT NULL,
  gateway_reference VARCHAR(255) NULL,
  error_message     VARCHAR(512) NULL,
  created_at        DATETIME(6)  NOT NULL,
  updated_at        DATETIME(6)  NOT NULL,
  KEY ix_refunds_payment (payment_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_events (
  gateway      VARCHAR(64)  NOT NULL,
  event_id     VARCHAR(255) NOT NULL,
  event_type   VARCHAR(128) NOT NULL,
  payload      MEDIUMBLOB   NOT NULL,
  status       VARCHAR(16)  NOT NULL,
  attempts     INT          NOT NULL DEFAULT 0,
  last_error   VARCHAR(512) NULL,
  received_at  DATETIME(6)  NOT NULL,
  processed_at DATETIME(6)  NULL,
  PRIMARY KEY (gateway, event_id),
  KEY ix_webhooks_status (status, received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The outbox: written in the same transaction as the state change it
-- announces. event_id is unique so announcing one change twice is refused.
-- Consumers claim rows with SELECT ... FOR UPDATE SKIP LOCKED and a lease.
CREATE TABLE IF NOT EXISTS outbox (
  id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id     VARCHAR(128) NOT NULL,
  topic        VARCHAR(64)  NOT NULL,
  aggregate_id VARCHAR(64)  NOT NULL,
  payload      JSON         NOT NULL,
  status       VARCHAR(16)  NOT NULL DEFAULT 'pending',
  attempts     INT          NOT NULL DEFAULT 0,
  available_at DATETIME(6)  NOT NULL,
  lease_owner  VARCHAR(128) NULL,
  lease_until  DATETIME(6)  NULL,
  last_error   TEXT         NULL,
  history      JSON         NULL,
  created_at   DATETIME(6)  NOT NULL,
  processed_at DATETIME(6)  NULL,
  UNIQUE KEY uq_outbox_event (event_id),
  KEY ix_outbox_claim (status, available_at),
  KEY ix_outbox_aggregate (aggregate_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
