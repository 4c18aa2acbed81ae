package bridgestore

import (
	"context"
	"fmt"
	"time"

	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

var _ bridge.CaptureStore = (*Store)(nil)

// AddCapture implements bridge.CaptureStore.
func (s *Store) AddCapture(ctx context.Context, c bridge.Capture, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO bridge_captures
		(invoice_id, invoice_increment_id, magento_order_id, payment_id, capture_id, gateway, amount, currency, step, reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?)`,
		c.InvoiceID, c.InvoiceIncrementID, c.OrderID, c.PaymentID, c.CaptureID, c.Gateway, c.Amount, c.Currency, c.Step,
		truncate(c.Reason, 4000), now, now)
	if err != nil {
		return false, fmt.Errorf("add capture: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const captureColumns = `invoice_id, invoice_increment_id, magento_order_id, payment_id, capture_id, gateway, amount, currency, step,
	COALESCE(reason, ''), attempts`

func (s *Store) captures(ctx context.Context, where string, args ...any) ([]bridge.Capture, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+captureColumns+` FROM bridge_captures `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("captures: %w", err)
	}
	defer rows.Close()
	var out []bridge.Capture
	for rows.Next() {
		var c bridge.Capture
		if err := rows.Scan(&c.InvoiceID, &c.InvoiceIncrementID, &c.OrderID, &c.PaymentID, &c.CaptureID, &c.Gateway, &c.Amount,
			&c.Currency, &c.Step, &c.Reason, &c.Attempts); err != nil {
			return nil, fmt.Errorf("captures: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("captures: %w", err)
	}
	return out, nil
}

// PendingCaptures implements bridge.CaptureStore.
func (s *Store) PendingCaptures(ctx context.Context, limit int) ([]bridge.Capture, error) {
	// Fewest attempts first: captures that keep failing must not hold
	// newer ones back.
	return s.captures(ctx, `WHERE step IN ('pending', 'captured', 'refused') ORDER BY attempts, invoice_id LIMIT ?`, limit)
}

// CaptureOwed implements bridge.RefundStore.
func (s *Store) CaptureOwed(ctx context.Context, orderID int64) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bridge_captures WHERE magento_order_id = ? AND step = 'pending'`,
		orderID).Scan(&n); err != nil {
		return false, fmt.Errorf("capture owed: %w", err)
	}
	return n > 0, nil
}

// SetCaptureStep implements bridge.CaptureStore.
func (s *Store) SetCaptureStep(ctx context.Context, invoiceID int64, step, reason, lastError string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE bridge_captures SET step = ?, reason = COALESCE(NULLIF(?, ''), reason),
		last_error = NULLIF(?, ''), attempts = attempts + 1, updated_at = ? WHERE invoice_id = ?`,
		step, truncate(reason, 4000), truncate(lastError, 4000), now, invoiceID)
	if err != nil {
		return fmt.Errorf("capture step: %w", err)
	}
	return nil
}

// Captures lists the recorded invoice captures, for tests and operators.
func (s *Store) Captures(ctx context.Context) ([]bridge.Capture, error) {
	return s.captures(ctx, `ORDER BY invoice_id`)
}
