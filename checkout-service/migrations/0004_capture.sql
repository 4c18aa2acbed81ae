-- Capture of authorised payments (POST /v1/payments/{id}/capture): the
-- caller's id for the capture (magento-bridge sends the Magento invoice).
-- payments.captured_at is now set only when money is captured, not at
-- authorisation.

ALTER TABLE payments
  ADD COLUMN capture_id VARCHAR(64) NULL;
