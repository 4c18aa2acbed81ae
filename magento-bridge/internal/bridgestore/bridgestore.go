// Package bridgestore is magento-bridge's MySQL store: outbox claims with
// leases (SELECT ... FOR UPDATE SKIP LOCKED), the persisted progress of every
// payment's order, dead letters, credit-memo refunds, invoice captures and
// polling cursors.
//
// The outbox and payments tables belong to checkout-service (its migration
// 0002_payments.sql); the bridge writes only the outbox's claim columns and
// payments.magento_order_id / magento_increment_id. A Store is safe for
// concurrent use. Fenced writes return an errs.Error with code
// bridge.CodeLostLease when the caller no longer holds the lease; a missing
// row is errs.NotFound.
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

// maxHistory bounds the attempts kept with an event.
const maxHistory = 100

// Store implements bridge.Store and bridge.RefundStore on MySQL.
type Store struct {
	db *sql.DB
}

var (
	_ bridge.Store       = (*Store)(nil)
	_ bridge.RefundStore = (*Store)(nil)
)

// New returns a Store over db.
func New(db *sql.DB) *Store { return &Store{db: db} }

func lostLease(format string, args ...any) error {
	return errs.E(bridge.CodeLostLease, format, args...)
}

// readCommitted runs fn in a READ COMMITTED transaction, so claims lock only
// the rows they take and no gaps. A deadlock or lock wait timeout retries the
// whole transaction a few times.
func (s *Store) readCommitted(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for range 4 {
		if err = s.readCommittedOnce(ctx, fn); !database.IsRetryable(err) {
			return err
		}
	}
	return err
}

func (s *Store) readCommittedOnce(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Claim implements bridge.Store.
func (s *Store) Claim(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]bridge.Event, error) {
	var out []bridge.Event
	err := s.readCommitted(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, event_id, aggregate_id, topic, payload, attempts, created_at, history
			FROM outbox
			WHERE status = 'pending' AND topic = ? AND available_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED`, paymentevent.TopicCaptured, now, now, n)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ev bridge.Event
			var payload []byte
			var history sql.NullString
			if err := rows.Scan(&ev.OutboxID, &ev.EventID, &ev.PaymentID, &ev.Topic, &payload, &ev.Attempts, &ev.CreatedAt, &history); err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			ev.Payload = payload
			if history.Valid && history.String != "" {
				_ = json.Unmarshal([]byte(history.String), &ev.History) // a damaged history restarts empty
			}
			ev.Attempts++
			out = append(out, ev)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		rows.Close()
		for _, ev := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = ? WHERE id = ?`,
				owner, now.Add(lease), ev.Attempts, ev.OutboxID); err != nil {
				return fmt.Errorf("claim: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExtendLease implements bridge.Store.
func (s *Store) ExtendLease(ctx context.Context, ev bridge.Event, paymentID, owner string, until time.Time) error {
	return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		var cur sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT lease_owner FROM outbox WHERE id = ? AND status = 'pending' FOR UPDATE`, ev.OutboxID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) || err == nil && cur.String != owner {
			return lostLease("event %d is no longer leased to %s", ev.OutboxID, owner)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET lease_until = ? WHERE id = ?`, until, ev.OutboxID); err != nil {
			return err
		}
		if paymentID == "" {
			return nil
		}
		// The order's lease may not be taken yet (or was released): only
		// extend it when it is ours.
		_, err = tx.ExecContext(ctx, `UPDATE bridge_orders SET lease_until = ?, version = version + 1
			WHERE payment_id = ? AND lease_owner = ?`, until, paymentID, owner)
		return err
	})
}

// Payment implements bridge.Store.
func (s *Store) Payment(ctx context.Context, id string) (*bridge.Payment, error) {
	var p bridge.Payment
	err := s.db.QueryRowContext(ctx, `SELECT id, status, amount, currency, quote_id, refunded_amount FROM payments WHERE id = ?`, id).
		Scan(&p.ID, &p.Status, &p.Amount, &p.Currency, &p.QuoteID, &p.Refunded)
	if err != nil {
		return nil, database.NotFound(err, "no payment %s", id)
	}
	return &p, nil
}

const progressColumns = `payment_id, event_id, quote_id, step, gateway, transaction_id, amount, currency,
	COALESCE(magento_order_id, 0), COALESCE(magento_increment_id, ''), COALESCE(invoice_id, 0)`

type scanner interface{ Scan(dest ...any) error }

func scanProgress(row scanner, extra ...any) (*bridge.Progress, error) {
	var p bridge.Progress
	var step string
	dest := append([]any{&p.PaymentID, &p.EventID, &p.QuoteID, &step, &p.Gateway, &p.TransactionID, &p.Amount, &p.Currency,
		&p.OrderID, &p.IncrementID, &p.InvoiceID}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	p.Step = bridge.Step(step)
	return &p, nil
}

// BeginOrder implements bridge.Store.
func (s *Store) BeginOrder(ctx context.Context, p bridge.Progress, owner string, now time.Time, lease time.Duration) (*bridge.Progress, error) {
	var out *bridge.Progress
	err := s.readCommitted(ctx, func(tx *sql.Tx) error {
		var leaseOwner sql.NullString
		var leaseUntil sql.NullTime
		cur, err := scanProgress(tx.QueryRowContext(ctx, `SELECT `+progressColumns+`, lease_owner, lease_until
			FROM bridge_orders WHERE payment_id = ? FOR UPDATE`, p.PaymentID), &leaseOwner, &leaseUntil)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err := tx.ExecContext(ctx, `INSERT INTO bridge_orders
				(payment_id, event_id, quote_id, step, gateway, transaction_id, amount, currency, lease_owner, lease_until, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.PaymentID, p.EventID, p.QuoteID, string(bridge.StepNew), p.Gateway, p.TransactionID, p.Amount, p.Currency,
				owner, now.Add(lease), now, now)
			if database.IsDuplicate(err) {
				var other string
				if qerr := tx.QueryRowContext(ctx, `SELECT payment_id FROM bridge_orders WHERE quote_id = ?`, p.QuoteID).Scan(&other); qerr == nil && other != p.PaymentID {
					return errs.E(bridge.CodeCartTaken, "cart %d already belongs to payment %s", p.QuoteID, other)
				}
				return errs.E(bridge.CodeBusy, "payment %s is being started by another worker", p.PaymentID)
			}
			if err != nil {
				return fmt.Errorf("begin order: %w", err)
			}
			np := p
			np.Step = bridge.StepNew
			out = &np
			return nil
		case err != nil:
			return fmt.Errorf("begin order: %w", err)
		}
		if cur.Step == bridge.StepDone {
			out = cur
			return nil
		}
		if leaseOwner.Valid && leaseOwner.String != owner && leaseUntil.Valid && leaseUntil.Time.After(now) {
			return errs.E(bridge.CodeBusy, "payment %s is leased to %s until %s", p.PaymentID, leaseOwner.String, leaseUntil.Time.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bridge_orders SET lease_owner = ?, lease_until = ?, version = version + 1 WHERE payment_id = ?`,
			owner, now.Add(lease), p.PaymentID); err != nil {
			return fmt.Errorf("begin order: %w", err)
		}
		out = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveProgress implements bridge.Store.
func (s *Store) SaveProgress(ctx context.Context, p bridge.Progress, owner string, now time.Time, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE bridge_orders SET step = ?, magento_order_id = NULLIF(?, 0),
			magento_increment_id = NULLIF(?, ''), invoice_id = NULLIF(?, 0), lease_until = ?, updated_at = ?,
			placed_at = CASE WHEN placed_at IS NULL AND ? > 0 THEN ? ELSE placed_at END, version = version + 1
		WHERE payment_id = ? AND lease_owner = ?`,
		string(p.Step), p.OrderID, p.IncrementID, p.InvoiceID, now.Add(lease), now, p.OrderID, now, p.PaymentID, owner)
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return lostLease("payment %s is no longer leased to %s", p.PaymentID, owner)
	}
	return nil
}

func appendHistory(h []bridge.Attempt, a bridge.Attempt) []byte {
	h = append(h, a)
	if len(h) > maxHistory {
		h = append(h[:1], h[len(h)-maxHistory+1:]...) // keep the first attempt
	}
	b, _ := json.Marshal(h)
	return b
}

// Complete implements bridge.Store.
func (s *Store) Complete(ctx context.Context, ev bridge.Event, p bridge.Progress, owner string, entry bridge.Attempt, now time.Time) error {
	return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bridge_orders SET step = 'done', magento_order_id = ?, magento_increment_id = NULLIF(?, ''),
				invoice_id = NULLIF(?, 0), lease_owner = NULL, lease_until = NULL, updated_at = ?, done_at = ?, version = version + 1
			WHERE payment_id = ? AND lease_owner = ?`,
			p.OrderID, p.IncrementID, p.InvoiceID, now, now, p.PaymentID, owner)
		if err != nil {
			return fmt.Errorf("complete: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lostLease("payment %s is no longer leased to %s", p.PaymentID, owner)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payments SET magento_order_id = ?, magento_increment_id = NULLIF(?, ''), updated_at = ? WHERE id = ?`,
			p.OrderID, p.IncrementID, now, p.PaymentID); err != nil {
			return fmt.Errorf("complete: record order on payment: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'done', processed_at = ?, lease_owner = NULL, lease_until = NULL,
				last_error = NULL, history = ? WHERE id = ?`, now, appendHistory(ev.History, entry), ev.OutboxID); err != nil {
			return fmt.Errorf("complete: %w", err)
		}
		return nil
	})
}

// CompleteDuplicate implements bridge.Store.
func (s *Store) CompleteDuplicate(ctx context.Context, ev bridge.Event, owner string, entry bridge.Attempt, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET status = 'done', processed_at = ?, lease_owner = NULL, lease_until = NULL, history = ?
		WHERE id = ? AND lease_owner = ? AND status = 'pending'`, now, appendHistory(ev.History, entry), ev.OutboxID, owner)
	if err != nil {
		return fmt.Errorf("complete duplicate: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return lostLease("event %d is no longer leased to %s", ev.OutboxID, owner)
	}
	return nil
}

// Retry implements bridge.Store.
func (s *Store) Retry(ctx context.Context, ev bridge.Event, paymentID, owner string, entry bridge.Attempt, at time.Time) error {
	return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET available_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ?, history = ?
			WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
			at, truncate(entry.Error, 4000), appendHistory(ev.History, entry), ev.OutboxID, owner)
		if err != nil {
			return fmt.Errorf("retry: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lostLease("event %d is no longer leased to %s", ev.OutboxID, owner)
		}
		if paymentID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE bridge_orders SET lease_owner = NULL, lease_until = NULL, version = version + 1
				WHERE payment_id = ? AND lease_owner = ?`, paymentID, owner); err != nil {
				return fmt.Errorf("retry: %w", err)
			}
		}
		return nil
	})
}

// DeadLetter implements bridge.Store.
func (s *Store) DeadLetter(ctx context.Context, ev bridge.Event, paymentID, owner, reason string, entry bridge.Attempt, refunded bool, now time.Time) (int64, error) {
	var id int64
	if paymentID == "" {
		paymentID = ev.PaymentID
	}
	history := appendHistory(ev.History, entry)
	payload := redact(ev.Payload)
	err := database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'dead', lease_owner = NULL, lease_until = NULL, last_error = ?, history = ?,
				processed_at = ? WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
			truncate(entry.Error, 4000), history, now, ev.OutboxID, owner)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lostLease("event %d is no longer leased to %s", ev.OutboxID, owner)
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO bridge_dead_letters
			(outbox_id, event_id, payment_id, reason, error, attempts, history, payload, refunded, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
			ev.OutboxID, ev.EventID, paymentID, reason, truncate(entry.Error, 4000), ev.Attempts, history, payload, refunded, now)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		id, _ = res.LastInsertId()
		if _, err := tx.ExecContext(ctx, `UPDATE bridge_orders SET lease_owner = NULL, lease_until = NULL, version = version + 1
			WHERE payment_id = ? AND lease_owner = ?`, paymentID, owner); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		// An order placed before the event got stuck is shown on the payment,
		// so nobody looks for it in vain.
		if _, err := tx.ExecContext(ctx, `UPDATE payments p JOIN bridge_orders b ON b.payment_id = p.id
			SET p.magento_order_id = b.magento_order_id, p.magento_increment_id = b.magento_increment_id, p.updated_at = ?
			WHERE p.id = ? AND b.magento_order_id IS NOT NULL AND p.magento_order_id IS NULL`, now, paymentID); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		return nil
	})
	return id, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// redact returns the payload for an operator's eyes: the guest cart's masked
// id is a bearer secret and is replaced; an invalid payload is kept as a
// JSON string.
func redact(payload []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		b, _ := json.Marshal(string(payload))
		return b
	}
	if snap, ok := m["order_snapshot"].(map[string]any); ok {
		if _, ok := snap["masked_quote_id"]; ok {
			snap["masked_quote_id"] = "[redacted]"
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return payload
	}
	return b
}
