-- Magento orders paid with the bridge's offline method that the bridge did not
-- place: someone used Magento's own checkout (storefront, REST or GraphQL)
-- with purchaseorder and paid nothing. Inserting the row is the claim that
-- reports the order once; commented_at records the warning comment on it.
-- No shopper data is kept: ids, store, amount.
CREATE TABLE IF NOT EXISTS bridge_foreign_orders (
  magento_order_id     BIGINT       NOT NULL PRIMARY KEY,
  magento_increment_id VARCHAR(64)  NOT NULL,
  quote_id             BIGINT       NOT NULL,
  store_id             INT          NOT NULL,
  payment_method       VARCHAR(64)  NOT NULL,
  amount               BIGINT       NOT NULL,
  currency             CHAR(3)      NOT NULL,
  order_created_at     DATETIME(6)  NULL,
  commented_at         DATETIME(6)  NULL,
  last_error           TEXT         NULL,
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  KEY ix_bridge_foreign_commented (commented_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
