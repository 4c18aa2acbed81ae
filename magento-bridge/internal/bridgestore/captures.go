package bridgestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/errs"
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
	COALESCE(reason, ''), attempts, COALESCE(last_error, ''), created_at, updated_at`

func scanCapture(row scanner) (*bridge.Capture, error) {
	var c bridge.Capture
	if err := row.Scan(&c.InvoiceID, &c.InvoiceIncrementID, &c.OrderID, &c.PaymentID, &c.CaptureID, &c.Gateway, &c.Amount,
		&c.Currency, &c.Step, &c.Reason, &c.Attempts, &c.LastError, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Store) captures(ctx context.Context, where string, args ...any) ([]bridge.Capture, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+captureColumns+` FROM bridge_captures `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("captures: %w", err)
	}
	defer rows.Close()
	out := []bridge.Capture{}
	for rows.Next() {
		c, err := scanCapture(rows)
		if err != nil {
			return nil, fmt.Errorf("captures: %w", err)
		}
		out = append(out, *c)
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

// SetCaptureStep implements bridge.CaptureStore. A new reason goes before
// the one recorded, which is there only after an operator's retry.
func (s *Store) SetCaptureStep(ctx context.Context, invoiceID int64, step, reason, lastError string, now time.Time) error {
	reason = truncate(reason, 4000)
	_, err := s.db.ExecContext(ctx, `UPDATE bridge_captures SET step = ?,
		reason = CASE WHEN ? = '' THEN reason WHEN COALESCE(reason, '') = '' THEN ? ELSE LEFT(CONCAT(?, '; ', reason), 4000) END,
		last_error = NULLIF(?, ''), attempts = attempts + 1, updated_at = ? WHERE invoice_id = ?`,
		step, reason, reason, reason, truncate(lastError, 4000), now, invoiceID)
	if err != nil {
		return fmt.Errorf("capture step: %w", err)
	}
	return nil
}

// Captures lists the recorded invoice captures, newest invoice first: those
// at step, or all when step is empty. It holds no shopper data.
func (s *Store) Captures(ctx context.Context, step string, limit int) ([]bridge.Capture, error) {
	if step == "" {
		return s.captures(ctx, `ORDER BY invoice_id DESC LIMIT ?`, limit)
	}
	return s.captures(ctx, `WHERE step = ? ORDER BY invoice_id DESC LIMIT ?`, step, limit)
}

// CaptureByInvoice returns the capture of a Magento invoice, or
// errs.NotFound.
func (s *Store) CaptureByInvoice(ctx context.Context, invoiceID int64) (*bridge.Capture, error) {
	c, err := scanCapture(s.db.QueryRowContext(ctx, `SELECT `+captureColumns+` FROM bridge_captures WHERE invoice_id = ?`, invoiceID))
	if err != nil {
		return nil, database.NotFound(err, "No capture for invoice %d.", invoiceID)
	}
	return c, nil
}

// RetryCapture sets a failed capture back to pending, with fresh attempts and
// no last error, so the next poll asks checkout again with the same capture
// id (checkout's capture is idempotent). Its reason records who retried it,
// when and after how many attempts, before what was refused. errs.NotFound
// for an unknown invoice; errs.Conflict when the capture is not failed.
func (s *Store) RetryCapture(ctx context.Context, invoiceID int64, by string, now time.Time) (*bridge.Capture, error) {
	err := database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		var step, reason string
		var attempts int
		err := tx.QueryRowContext(ctx, `SELECT step, COALESCE(reason, ''), attempts FROM bridge_captures WHERE invoice_id = ? FOR UPDATE`,
			invoiceID).Scan(&step, &reason, &attempts)
		if err != nil {
			return database.NotFound(err, "No capture for invoice %d.", invoiceID)
		}
		if step != bridge.CaptureFailed {
			return errs.E(errs.Conflict, "The capture of invoice %d is %s; only a failed capture can be retried.", invoiceID, step)
		}
		plural := "s"
		if attempts == 1 {
			plural = ""
		}
		note := fmt.Sprintf("retried by %s at %s after %d attempt%s", by, now.UTC().Format(time.RFC3339), attempts, plural)
		if reason != "" {
			note += "; before: " + reason
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bridge_captures SET step = ?, reason = ?, last_error = NULL, attempts = 0, updated_at = ?
			WHERE invoice_id = ?`, bridge.CapturePending, truncate(note, 4000), now, invoiceID); err != nil {
			return fmt.Errorf("retry capture: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.CaptureByInvoice(ctx, invoiceID)
}
