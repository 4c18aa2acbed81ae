package bridgestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

// Status returns the backlog and counters of GET /v1/status at now.
func (s *Store) Status(ctx context.Context, now time.Time) (bridge.Status, error) {
	var st bridge.Status
	var oldest sql.NullTime
	var inFlight sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at), SUM(lease_until IS NOT NULL AND lease_until > ?)
		FROM outbox WHERE status = 'pending' AND topic = ?`, now, paymentevent.TopicCaptured).Scan(&st.Backlog, &oldest, &inFlight); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if oldest.Valid {
		st.OldestAgeSeconds = max(0, now.Sub(oldest.Time).Seconds())
	}
	st.InFlight = inFlight.Int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bridge_dead_letters WHERE status = 'open'`).Scan(&st.DeadLetters); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bridge_orders WHERE step = 'done'`).Scan(&st.SyncedTotal); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bridge_foreign_orders`).Scan(&st.ForeignOrders); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(step = 'failed'), 0), COALESCE(SUM(step = 'pending'), 0)
		FROM bridge_captures WHERE step IN ('failed', 'pending')`).Scan(&st.CapturesFailed, &st.CapturesPending); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

const deadLetterColumns = `id, outbox_id, event_id, payment_id, reason, error, attempts, history, payload, refunded, status, created_at, replayed_at`

func scanDeadLetter(row scanner) (*bridge.DeadLetter, error) {
	var d bridge.DeadLetter
	var history, payload []byte
	var replayed sql.NullTime
	if err := row.Scan(&d.ID, &d.OutboxID, &d.EventID, &d.PaymentID, &d.Reason, &d.Error, &d.Attempts, &history, &payload,
		&d.Refunded, &d.Status, &d.CreatedAt, &replayed); err != nil {
		return nil, err
	}
	_ = json.Unmarshal(history, &d.History)
	d.Payload = payload
	if replayed.Valid {
		d.ReplayedAt = &replayed.Time
	}
	return &d, nil
}

// DeadLetters lists dead letters, newest first: only open ones unless all.
func (s *Store) DeadLetters(ctx context.Context, all bool, limit int) ([]bridge.DeadLetter, error) {
	q := `SELECT ` + deadLetterColumns + ` FROM bridge_dead_letters`
	if !all {
		q += ` WHERE status = 'open'`
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	out := []bridge.DeadLetter{}
	for rows.Next() {
		d, err := scanDeadLetter(rows)
		if err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// DeadLetter returns one dead letter, or errs.NotFound.
func (s *Store) DeadLetterByID(ctx context.Context, id int64) (*bridge.DeadLetter, error) {
	d, err := scanDeadLetter(s.db.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM bridge_dead_letters WHERE id = ?`, id))
	if err != nil {
		return nil, database.NotFound(err, "No dead letter %d.", id)
	}
	return d, nil
}

// Replay puts a dead letter's event back in the queue, with fresh attempts,
// and marks the dead letter replayed by whom. errs.NotFound for an unknown
// id; errs.Conflict when it was replayed already.
func (s *Store) Replay(ctx context.Context, id int64, by string, now time.Time) (*bridge.DeadLetter, error) {
	err := database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		var outboxID int64
		var status string
		err := tx.QueryRowContext(ctx, `SELECT outbox_id, status FROM bridge_dead_letters WHERE id = ? FOR UPDATE`, id).Scan(&outboxID, &status)
		if err != nil {
			return database.NotFound(err, "No dead letter %d.", id)
		}
		if status != "open" {
			return errs.E(errs.Conflict, "Dead letter %d was already replayed.", id)
		}
		var history sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT history FROM outbox WHERE id = ? FOR UPDATE`, outboxID).Scan(&history); err != nil {
			return database.NotFound(err, "The outbox row %d of dead letter %d is gone.", outboxID, id)
		}
		var h []bridge.Attempt
		if history.Valid {
			_ = json.Unmarshal([]byte(history.String), &h)
		}
		entry := bridge.Attempt{At: now, Worker: by, Outcome: "replayed", Error: fmt.Sprintf("dead letter %d replayed", id)}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, available_at = ?, lease_owner = NULL,
			lease_until = NULL, processed_at = NULL, history = ? WHERE id = ?`, now, appendHistory(h, entry), outboxID); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE bridge_dead_letters SET status = 'replayed', replayed_at = ?, replayed_by = ? WHERE id = ?`, now, by, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.DeadLetterByID(ctx, id)
}

// MarkRefunded implements bridge.Store.
func (s *Store) MarkRefunded(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE bridge_dead_letters SET refunded = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("mark refunded: %w", err)
	}
	return nil
}

// TryLock implements bridge.RefundStore with MySQL's GET_LOCK on a dedicated
// connection.
func (s *Store) TryLock(ctx context.Context, name string) (func(), bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), 0)`, name).Scan(&got); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))`, name)
		conn.Close()
	}, true, nil
}

// Cursor implements bridge.RefundStore.
func (s *Store) Cursor(ctx context.Context, name string) (time.Time, bool, error) {
	var t time.Time
	err := s.db.QueryRowContext(ctx, `SELECT position FROM bridge_cursors WHERE name = ?`, name).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("cursor %s: %w", name, err)
	}
	return t, true, nil
}

// SetCursor implements bridge.RefundStore. A cursor never moves back.
func (s *Store) SetCursor(ctx context.Context, name string, pos, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO bridge_cursors (name, position, updated_at) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE position = GREATEST(position, VALUES(position)), updated_at = VALUES(updated_at)`, name, pos, now)
	if err != nil {
		return fmt.Errorf("cursor %s: %w", name, err)
	}
	return nil
}

// OldestUnfinished implements bridge.RefundStore.
func (s *Store) OldestUnfinished(ctx context.Context, since time.Time) (time.Time, bool, error) {
	var t sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT MIN(created_at) FROM bridge_orders WHERE step IN ('new', 'placing') AND created_at >= ?`, since).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("oldest unfinished: %w", err)
	}
	return t.Time, t.Valid, nil
}

// PlatformOrder implements bridge.RefundStore.
func (s *Store) PlatformOrder(ctx context.Context, orderID int64) (*bridge.Progress, error) {
	p, err := scanProgress(s.db.QueryRowContext(ctx, `SELECT `+progressColumns+` FROM bridge_orders
		WHERE magento_order_id = ? AND step IN ('placed', 'invoiced', 'done') LIMIT 1`, orderID))
	if err != nil {
		return nil, database.NotFound(err, "order %d was not placed by the bridge", orderID)
	}
	return p, nil
}

// AddRefund implements bridge.RefundStore.
func (s *Store) AddRefund(ctx context.Context, r bridge.Refund, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO bridge_refunds
		(creditmemo_id, magento_order_id, payment_id, refund_id, amount, currency, step, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.CreditMemoID, r.OrderID, r.PaymentID, r.RefundID, r.Amount, r.Currency, r.Step, now, now)
	if err != nil {
		return false, fmt.Errorf("add refund: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PendingRefunds implements bridge.RefundStore.
func (s *Store) PendingRefunds(ctx context.Context, limit int) ([]bridge.Refund, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT creditmemo_id, magento_order_id, payment_id, refund_id, amount, currency, step, attempts
		FROM bridge_refunds WHERE step IN ('pending', 'refunded') ORDER BY attempts, creditmemo_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending refunds: %w", err)
	}
	defer rows.Close()
	var out []bridge.Refund
	for rows.Next() {
		var r bridge.Refund
		if err := rows.Scan(&r.CreditMemoID, &r.OrderID, &r.PaymentID, &r.RefundID, &r.Amount, &r.Currency, &r.Step, &r.Attempts); err != nil {
			return nil, fmt.Errorf("pending refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetRefundStep implements bridge.RefundStore.
func (s *Store) SetRefundStep(ctx context.Context, creditMemoID int64, step, lastError string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE bridge_refunds SET step = ?, last_error = NULLIF(?, ''),
		attempts = attempts + 1, updated_at = ? WHERE creditmemo_id = ?`, step, truncate(lastError, 4000), now, creditMemoID)
	if err != nil {
		return fmt.Errorf("refund step: %w", err)
	}
	return nil
}

// Refunds lists the recorded credit-memo refunds, for tests and operators.
func (s *Store) Refunds(ctx context.Context) ([]bridge.Refund, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT creditmemo_id, magento_order_id, payment_id, refund_id, amount, currency, step, attempts
		FROM bridge_refunds ORDER BY creditmemo_id`)
	if err != nil {
		return nil, fmt.Errorf("refunds: %w", err)
	}
	defer rows.Close()
	var out []bridge.Refund
	for rows.Next() {
		var r bridge.Refund
		if err := rows.Scan(&r.CreditMemoID, &r.OrderID, &r.PaymentID, &r.RefundID, &r.Amount, &r.Currency, &r.Step, &r.Attempts); err != nil {
			return nil, fmt.Errorf("refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Voided implements bridge.RefundStore.
func (s *Store) Voided(ctx context.Context, orderID int64) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bridge_voids WHERE magento_order_id = ?`, orderID).Scan(&n); err != nil {
		return false, fmt.Errorf("voided: %w", err)
	}
	return n > 0, nil
}

// RecordVoid implements bridge.RefundStore.
func (s *Store) RecordVoid(ctx context.Context, orderID int64, paymentID, outcome string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO bridge_voids (magento_order_id, payment_id, outcome, created_at) VALUES (?, ?, ?, ?)`,
		orderID, paymentID, outcome, now)
	if err != nil {
		return fmt.Errorf("record void: %w", err)
	}
	return nil
}
