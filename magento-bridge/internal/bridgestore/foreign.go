package bridgestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

var _ bridge.ForeignOrderStore = (*Store)(nil)

// PlacedByBridge implements bridge.ForeignOrderStore. References are compared
// byte for byte (the tables' collation would ignore case and trailing
// spaces).
func (s *Store) PlacedByBridge(ctx context.Context, orderID, quoteID int64, poNumber string) (bool, error) {
	var ours bool
	var err error
	if poNumber == "" {
		err = s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM bridge_orders
			WHERE quote_id = ? AND (magento_order_id IS NULL OR magento_order_id = ?))`, quoteID, orderID).Scan(&ours)
	} else {
		err = s.db.QueryRowContext(ctx, `SELECT
			EXISTS(SELECT 1 FROM payments WHERE quote_id = ? AND status IN ('captured', 'authorized')
				AND CAST(LEFT(CONCAT(gateway, ' ', gateway_reference), 255) AS BINARY) = CAST(? AS BINARY))
			OR EXISTS(SELECT 1 FROM bridge_orders WHERE quote_id = ? AND (magento_order_id IS NULL OR magento_order_id = ?)
				AND CAST(LEFT(CONCAT(gateway, ' ', transaction_id), 255) AS BINARY) = CAST(? AS BINARY))`,
			quoteID, poNumber, quoteID, orderID, poNumber).Scan(&ours)
	}
	if err != nil {
		return false, fmt.Errorf("placed by bridge: %w", err)
	}
	return ours, nil
}

// AddForeignOrder implements bridge.ForeignOrderStore.
func (s *Store) AddForeignOrder(ctx context.Context, f bridge.ForeignOrder, now time.Time) (bool, error) {
	var created sql.NullTime
	if !f.OrderCreatedAt.IsZero() {
		created = sql.NullTime{Time: f.OrderCreatedAt, Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO bridge_foreign_orders
		(magento_order_id, magento_increment_id, quote_id, store_id, payment_method, amount, currency, order_created_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.OrderID, truncate(f.IncrementID, 64), f.QuoteID, f.StoreID, truncate(f.PaymentMethod, 64), f.Amount, truncate(f.Currency, 3),
		created, now, now)
	if err != nil {
		return false, fmt.Errorf("add foreign order: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const foreignColumns = `magento_order_id, magento_increment_id, quote_id, store_id, payment_method, amount, currency,
	order_created_at, commented_at IS NOT NULL, created_at`

func (s *Store) foreignOrders(ctx context.Context, where string, limit int) ([]bridge.ForeignOrder, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+foreignColumns+` FROM bridge_foreign_orders `+where+` ORDER BY magento_order_id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("foreign orders: %w", err)
	}
	defer rows.Close()
	out := []bridge.ForeignOrder{}
	for rows.Next() {
		var f bridge.ForeignOrder
		var created sql.NullTime
		if err := rows.Scan(&f.OrderID, &f.IncrementID, &f.QuoteID, &f.StoreID, &f.PaymentMethod, &f.Amount, &f.Currency,
			&created, &f.Commented, &f.FlaggedAt); err != nil {
			return nil, fmt.Errorf("foreign orders: %w", err)
		}
		f.OrderCreatedAt = created.Time
		out = append(out, f)
	}
	return out, rows.Err()
}

// ForeignOrders lists the recorded foreign orders, newest first.
func (s *Store) ForeignOrders(ctx context.Context, limit int) ([]bridge.ForeignOrder, error) {
	return s.foreignOrders(ctx, "", limit)
}

// UncommentedForeignOrders implements bridge.ForeignOrderStore.
func (s *Store) UncommentedForeignOrders(ctx context.Context, limit int) ([]bridge.ForeignOrder, error) {
	return s.foreignOrders(ctx, "WHERE commented_at IS NULL", limit)
}

// SetForeignOrderCommented implements bridge.ForeignOrderStore.
func (s *Store) SetForeignOrderCommented(ctx context.Context, orderID int64, lastError string, now time.Time) error {
	var err error
	if lastError != "" {
		_, err = s.db.ExecContext(ctx, `UPDATE bridge_foreign_orders SET last_error = ?, updated_at = ? WHERE magento_order_id = ?`,
			truncate(lastError, 4000), now, orderID)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE bridge_foreign_orders SET commented_at = ?, last_error = NULL, updated_at = ?
			WHERE magento_order_id = ?`, now, now, orderID)
	}
	if err != nil {
		return fmt.Errorf("foreign order commented: %w", err)
	}
	return nil
}
