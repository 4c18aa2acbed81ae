-- Verified destinations linked to Magento customers. A destination is linked
-- only after its code was verified; phones are never matched to customers by
-- an address phone.
CREATE TABLE IF NOT EXISTS otp_identities (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind VARCHAR(8) NOT NULL,
  value VARCHAR(254) NOT NULL,
  magento_customer_id BIGINT UNSIGNED NOT NULL,
  magento_email VARCHAR(254) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_otp_identities_dest (kind, value),
  KEY ix_otp_identities_customer (magento_customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Refresh tokens, stored as SHA-256 hashes. A family is one login session;
-- each rotation spends a token (used_at) and adds the next. A spent token
-- presented again revokes every token of its family.
CREATE TABLE IF NOT EXISTS otp_refresh_tokens (
  token_hash BINARY(32) NOT NULL PRIMARY KEY,
  family_id VARCHAR(32) NOT NULL,
  identity_id BIGINT UNSIGNED NOT NULL,
  issued_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  family_expires_at DATETIME(6) NOT NULL,
  used_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  revoke_reason VARCHAR(32) NULL,
  KEY ix_otp_refresh_family (family_id),
  KEY ix_otp_refresh_expires (expires_at)
) ENGINE=InnoDB;

-- Security audit trail: starts, verifies, failures, lock-outs, refreshes,
-- reuse and revocations. Phones and emails are masked; codes and tokens are
-- never written.
CREATE TABLE IF NOT EXISTS otp_audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(6) NOT NULL,
  event VARCHAR(32) NOT NULL,
  subject VARCHAR(64) NOT NULL,
  identity_id BIGINT UNSIGNED NULL,
  channel VARCHAR(16) NOT NULL DEFAULT '',
  country VARCHAR(8) NOT NULL DEFAULT '',
  ip VARCHAR(45) NOT NULL DEFAULT '',
  client_id VARCHAR(64) NOT NULL DEFAULT '',
  request_id VARCHAR(128) NOT NULL DEFAULT '',
  detail VARCHAR(255) NOT NULL DEFAULT '',
  KEY ix_otp_audit_at (at),
  KEY ix_otp_audit_identity (identity_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
