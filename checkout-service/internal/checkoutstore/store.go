// Package checkoutstore keeps checkout-service's state: payments, attempts,
// refunds, webhooks, routing rules and the outbox in MySQL (Store), and
// checkout sessions in Redis (Sessions). Both are safe for concurrent use.
// Driver errors become errs codes here: a missing row is errs.NotFound, the
// unique guards are checkout.ErrDuplicateKey and checkout.ErrCartBusy.
package checkoutstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/errs"
)

// Store is the MySQL store.
type Store struct {
	db *sql.DB
}

var _ checkout.Store = (*Store)(nil)

// New returns a Store over db, whose schema the service's migrations made.
func New(db *sql.DB) *Store { return &Store{db: db} }

const paymentCols = `id, session_id, idempotency_key, request_hash, status, amount, currency, method,
	gateway, gateway_reference, cart_kind, quote_id, customer_id, order_snapshot, routing, decline_code,
	error_message, magento_order_id, magento_increment_id, refunded_amount, next_action, reconcile_at,
	card_fp, captured_at, capture_id, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanPayment(r scanner) (*checkout.Payment, error) {
	var (
		p                                  checkout.Payment
		gw, ref, decline, errMsg, incr, fp sql.NullString
		captureID                          sql.NullString
		customer, orderID                  sql.NullInt64
		snap, routing, next                []byte
		reconcile, captured                sql.NullTime
	)
	err := r.Scan(&p.ID, &p.SessionID, &p.IdempotencyKey, &p.RequestHash, &p.Status, &p.Amount, &p.Currency, &p.Method,
		&gw, &ref, &p.CartKind, &p.QuoteID, &customer, &snap, &routing, &decline, &errMsg, &orderID, &incr,
		&p.RefundedAmount, &next, &reconcile, &fp, &captured, &captureID, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return nil, err
	}
	p.Gateway, p.GatewayReference, p.DeclineCode, p.ErrorMessage = gw.String, ref.String, decline.String, errMsg.String
	p.CustomerID, p.MagentoOrderID, p.MagentoIncrementID, p.CardFingerprint = customer.Int64, orderID.Int64, incr.String, fp.String
	p.CaptureID = captureID.String
	if err := json.Unmarshal(snap, &p.Snapshot); err != nil {
		return nil, fmt.Errorf("payment %s snapshot: %w", p.ID, err)
	}
	if len(routing) > 0 && string(routing) != "null" {
		if err := json.Unmarshal(routing, &p.Routing); err != nil {
			return nil, fmt.Errorf("payment %s routing: %w", p.ID, err)
		}
	}
	if len(next) > 0 && string(next) != "null" {
		p.NextAction = &gateway.NextAction{}
		if err := json.Unmarshal(next, p.NextAction); err != nil {
			return nil, fmt.Errorf("payment %s next action: %w", p.ID, err)
		}
	}
	if reconcile.Valid {
		t := reconcile.Time
		p.ReconcileAt = &t
	}
	if captured.Valid {
		t := captured.Time
		p.CapturedAt = &t
	}
	return &p, nil
}

func nullStr(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
func nullInt(n int64) sql.NullInt64   { return sql.NullInt64{Int64: n, Valid: n != 0} }
func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

func jsonOrNull(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

func activeQuote(p *checkout.Payment) sql.NullInt64 {
	if p.Live() {
		return sql.NullInt64{Int64: p.QuoteID, Valid: true}
	}
	return sql.NullInt64{}
}

func dupKeyName(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == database.ErDupEntry {
		return me.Message
	}
	return ""
}

// CreatePayment inserts a new payment.
func (s *Store) CreatePayment(ctx context.Context, p *checkout.Payment) error {
	snap, err := json.Marshal(p.Snapshot)
	if err != nil {
		return err
	}
	rt, err := jsonOrNull(p.Routing)
	if err != nil {
		return err
	}
	next, err := jsonOrNull(p.NextAction)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO payments (`+paymentCols+`, active_quote) VALUES
		(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		p.ID, p.SessionID, p.IdempotencyKey, p.RequestHash, p.Status, p.Amount, p.Currency, p.Method,
		nullStr(p.Gateway), nullStr(p.GatewayReference), p.CartKind, p.QuoteID, nullInt(p.CustomerID), snap, rt,
		nullStr(p.DeclineCode), nullStr(p.ErrorMessage), nullInt(p.MagentoOrderID), nullStr(p.MagentoIncrementID),
		p.RefundedAmount, next, nullTime(p.ReconcileAt), nullStr(p.CardFingerprint), nullTime(p.CapturedAt),
		nullStr(p.CaptureID), p.CreatedAt, p.UpdatedAt, activeQuote(p))
	if msg := dupKeyName(err); msg != "" {
		if strings.Contains(msg, "uq_payments_active_quote") {
			return checkout.ErrCartBusy
		}
		return checkout.ErrDuplicateKey
	}
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

// Payment returns a payment with its attempts.
func (s *Store) Payment(ctx context.Context, id string) (*checkout.Payment, error) {
	return s.paymentWhere(ctx, s.db, "id = ?", id)
}

// PaymentByIdempotency finds a session's payment by idempotency key.
func (s *Store) PaymentByIdempotency(ctx context.Context, sessionID, key string) (*checkout.Payment, error) {
	return s.paymentWhere(ctx, s.db, "session_id = ? AND idempotency_key = ?", sessionID, key)
}

// PaymentByReference finds the payment one of whose attempts has reference.
func (s *Store) PaymentByReference(ctx context.Context, gatewayName, reference string) (*checkout.Payment, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT payment_id FROM payment_attempts WHERE gateway = ? AND gateway_reference = ?
		ORDER BY id DESC LIMIT 1`, gatewayName, reference).Scan(&id)
	if err != nil {
		return nil, database.NotFound(err, "No payment for %s reference %s.", gatewayName, reference)
	}
	return s.Payment(ctx, id)
}

// LivePayment returns the payment holding the quote.
func (s *Store) LivePayment(ctx context.Context, quoteID int64) (*checkout.Payment, error) {
	return s.paymentWhere(ctx, s.db, "active_quote = ?", quoteID)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) paymentWhere(ctx context.Context, q querier, where string, args ...any) (*checkout.Payment, error) {
	p, err := scanPayment(q.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE `+where, args...))
	if err != nil {
		return nil, database.NotFound(err, "No such payment.")
	}
	if p.Attempts, err = attempts(ctx, q, p.ID); err != nil {
		return nil, err
	}
	return p, nil
}

func attempts(ctx context.Context, q querier, id string) ([]checkout.Attempt, error) {
	rows, err := q.QueryContext(ctx, `SELECT attempt_no, gateway, idempotency_key, status, gateway_reference,
		decline_code, decline_bucket, error_message, fee, latency_ms, created_at, updated_at
		FROM payment_attempts WHERE payment_id = ? ORDER BY attempt_no`, id)
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	defer rows.Close()
	out := []checkout.Attempt{}
	for rows.Next() {
		var a checkout.Attempt
		var ref, code, bucket, msg sql.NullString
		if err := rows.Scan(&a.No, &a.Gateway, &a.IdempotencyKey, &a.Status, &ref, &code, &bucket, &msg, &a.Fee,
			&a.LatencyMS, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, fmt.Errorf("attempts: %w", err)
		}
		a.GatewayReference, a.DeclineCode, a.DeclineBucket, a.ErrorMessage = ref.String, code.String, bucket.String, msg.String
		out = append(out, a)
	}
	return out, rows.Err()
}

// InsertAttempt writes an attempt before its gateway call.
func (s *Store) InsertAttempt(ctx context.Context, paymentID string, a checkout.Attempt) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO payment_attempts (payment_id, attempt_no, gateway, idempotency_key,
		status, gateway_reference, decline_code, decline_bucket, error_message, fee, latency_ms, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`, paymentID, a.No, a.Gateway, a.IdempotencyKey, a.Status,
		nullStr(a.GatewayReference), nullStr(a.DeclineCode), nullStr(a.DeclineBucket), nullStr(a.ErrorMessage),
		a.Fee, a.LatencyMS, a.CreatedAt, a.UpdatedAt)
	if database.IsDuplicate(err) {
		return errs.Wrap(errs.Conflict, err, "Attempt %d of payment %s exists.", a.No, paymentID)
	}
	if err != nil {
		return fmt.Errorf("insert attempt: %w", err)
	}
	return nil
}

// Update changes a payment under a row lock, with an attempt and outbox
// events, in one transaction.
func (s *Store) Update(ctx context.Context, id string, fn func(p *checkout.Payment) (*checkout.Attempt, []checkout.Event, error)) (*checkout.Payment, error) {
	var out *checkout.Payment
	err := retry(ctx, func() error {
		return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
			p, err := s.paymentWhere(ctx, tx, "id = ? FOR UPDATE", id)
			if err != nil {
				return err
			}
			a, events, err := fn(p)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			p.UpdatedAt = now
			next, err := jsonOrNull(p.NextAction)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE payments SET status=?, gateway=?, gateway_reference=?, decline_code=?,
				error_message=?, next_action=?, reconcile_at=?, captured_at=?, capture_id=?, active_quote=?, updated_at=? WHERE id=?`,
				p.Status, nullStr(p.Gateway), nullStr(p.GatewayReference), nullStr(p.DeclineCode), nullStr(p.ErrorMessage),
				next, nullTime(p.ReconcileAt), nullTime(p.CapturedAt), nullStr(p.CaptureID), activeQuote(p), now, p.ID)
			if msg := dupKeyName(err); msg != "" && strings.Contains(msg, "uq_payments_active_quote") {
				// a late success while another payment holds the cart: record it anyway
				_, err = tx.ExecContext(ctx, `UPDATE payments SET status=?, gateway=?, gateway_reference=?, decline_code=?,
					error_message=?, next_action=?, reconcile_at=?, captured_at=?, capture_id=?, active_quote=NULL, updated_at=? WHERE id=?`,
					p.Status, nullStr(p.Gateway), nullStr(p.GatewayReference), nullStr(p.DeclineCode), nullStr(p.ErrorMessage),
					next, nullTime(p.ReconcileAt), nullTime(p.CapturedAt), nullStr(p.CaptureID), now, p.ID)
			}
			if err != nil {
				return fmt.Errorf("update payment: %w", err)
			}
			if a != nil {
				if _, err := tx.ExecContext(ctx, `UPDATE payment_attempts SET status=?, gateway_reference=?, decline_code=?,
					decline_bucket=?, error_message=?, fee=?, latency_ms=?, updated_at=? WHERE payment_id=? AND attempt_no=?`,
					a.Status, nullStr(a.GatewayReference), nullStr(a.DeclineCode), nullStr(a.DeclineBucket), nullStr(a.ErrorMessage),
					a.Fee, a.LatencyMS, now, p.ID, a.No); err != nil {
					return fmt.Errorf("update attempt: %w", err)
				}
				for i := range p.Attempts {
					if p.Attempts[i].No == a.No {
						p.Attempts[i] = *a
					}
				}
			}
			for _, e := range events {
				_, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, topic, aggregate_id, payload, status,
					available_at, created_at) VALUES (?,?,?,?, 'pending', ?, ?)`, e.EventID, e.Topic, e.AggregateID, []byte(e.Payload), now, now)
				if err != nil && !database.IsDuplicate(err) {
					return fmt.Errorf("insert outbox: %w", err)
				}
			}
			out = p
			return nil
		})
	})
	return out, err
}

func retry(ctx context.Context, fn func() error) error {
	var err error
	for i := range 5 {
		if err = fn(); !database.IsRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 10 * time.Millisecond):
		}
	}
	return err
}

// DueForReconcile claims due payments by moving their reconcile_at forward.
func (s *Store) DueForReconcile(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, reconcile_at FROM payments WHERE reconcile_at <= ? ORDER BY reconcile_at LIMIT ?`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("due payments: %w", err)
	}
	type due struct {
		id string
		at time.Time
	}
	var cands []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.at); err != nil {
			rows.Close()
			return nil, err
		}
		cands = append(cands, d)
	}
	rows.Close()
	var ids []string
	for _, d := range cands {
		res, err := s.db.ExecContext(ctx, `UPDATE payments SET reconcile_at = ? WHERE id = ? AND reconcile_at = ?`, now.Add(lease), d.id, d.at)
		if err != nil {
			return ids, fmt.Errorf("claim payment: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			ids = append(ids, d.id)
		}
	}
	return ids, nil
}

// Recent returns the newest payments (without attempts).
func (s *Store) Recent(ctx context.Context, limit int) ([]*checkout.Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentCols+` FROM payments ORDER BY created_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent payments: %w", err)
	}
	defer rows.Close()
	var out []*checkout.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CreateRefund reserves the amount and inserts a pending refund.
func (s *Store) CreateRefund(ctx context.Context, r *checkout.Refund) (*checkout.Refund, bool, error) {
	var (
		out     *checkout.Refund
		created bool
	)
	err := retry(ctx, func() error {
		return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
			if prev, err := refundWhere(ctx, tx, "id = ?", r.ID); err == nil {
				out, created = prev, false
				return nil
			} else if !errs.Is(err, errs.NotFound) {
				return err
			}
			var status string
			var amount, refunded int64
			var gw sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT status, amount, refunded_amount, gateway FROM payments WHERE id = ? FOR UPDATE`, r.PaymentID).
				Scan(&status, &amount, &refunded, &gw)
			if err != nil {
				return database.NotFound(err, "No such payment.")
			}
			if status != checkout.StatusCaptured {
				return errs.E(errs.Conflict, "The payment is %s; only captured payments are refunded.", status)
			}
			if r.Amount > amount-refunded {
				return errs.E(errs.Unprocessable, "The refund of %d exceeds the refundable balance of %d.", r.Amount, amount-refunded)
			}
			r.Gateway = gw.String
			if _, err := tx.ExecContext(ctx, `UPDATE payments SET refunded_amount = refunded_amount + ?, updated_at = ? WHERE id = ?`,
				r.Amount, r.UpdatedAt, r.PaymentID); err != nil {
				return fmt.Errorf("reserve refund: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, amount, currency, status, gateway,
				gateway_reference, error_message, request_hash, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
				r.ID, r.PaymentID, r.Amount, r.Currency, r.Status, r.Gateway, nullStr(r.GatewayReference),
				nullStr(r.ErrorMessage), r.RequestHash, r.CreatedAt, r.UpdatedAt); err != nil {
				return fmt.Errorf("insert refund: %w", err)
			}
			c := *r
			out, created = &c, true
			return nil
		})
	})
	if database.IsDuplicate(err) { // a concurrent insert of the same id won
		prev, perr := refundWhere(ctx, s.db, "id = ?", r.ID)
		return prev, false, perr
	}
	return out, created, err
}

// FinishRefund records the gateway's answer.
func (s *Store) FinishRefund(ctx context.Context, r *checkout.Refund) error {
	return retry(ctx, func() error {
		return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
			var status string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM refunds WHERE id = ? FOR UPDATE`, r.ID).Scan(&status); err != nil {
				return database.NotFound(err, "No such refund.")
			}
			if status != checkout.RefundPending {
				return nil
			}
			if r.Status == checkout.RefundFailed {
				if _, err := tx.ExecContext(ctx, `UPDATE payments SET refunded_amount = refunded_amount - ? WHERE id = ?`, r.Amount, r.PaymentID); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE refunds SET status=?, gateway_reference=?, error_message=?, updated_at=? WHERE id=?`,
				r.Status, nullStr(r.GatewayReference), nullStr(r.ErrorMessage), r.UpdatedAt, r.ID)
			return err
		})
	})
}

// Refunds lists a payment's refunds.
func (s *Store) Refunds(ctx context.Context, paymentID string) ([]checkout.Refund, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE payment_id = ? ORDER BY created_at`, paymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []checkout.Refund{}
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

const refundCols = `id, payment_id, amount, currency, status, gateway, gateway_reference, error_message, request_hash, created_at, updated_at`

func scanRefund(r scanner) (*checkout.Refund, error) {
	var out checkout.Refund
	var ref, msg, hash sql.NullString
	if err := r.Scan(&out.ID, &out.PaymentID, &out.Amount, &out.Currency, &out.Status, &out.Gateway, &ref, &msg, &hash,
		&out.CreatedAt, &out.UpdatedAt); err != nil {
		return nil, err
	}
	out.GatewayReference, out.ErrorMessage, out.RequestHash = ref.String, msg.String, hash.String
	return &out, nil
}

func refundWhere(ctx context.Context, q querier, where string, args ...any) (*checkout.Refund, error) {
	r, err := scanRefund(q.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE `+where, args...))
	if err != nil {
		return nil, database.NotFound(err, "No such refund.")
	}
	return r, nil
}

// InsertWebhook stores a verified event once.
func (s *Store) InsertWebhook(ctx context.Context, e checkout.WebhookEvent, now time.Time) (bool, error) {
	payload, err := json.Marshal(struct {
		Event gateway.Event   `json:"event"`
		Raw   json.RawMessage `json:"raw,omitempty"`
	}{e.Event, rawJSON(e.Raw)})
	if err != nil {
		return false, err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_events (gateway, event_id, event_type, payload, status, received_at)
		VALUES (?,?,?,?, 'received', ?)`, e.Gateway, e.EventID, e.Type, payload, now)
	if database.IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert webhook: %w", err)
	}
	return true, nil
}

func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

const maxWebhookAttempts = 10

// ClaimWebhooks leases received events: processed_at holds the lease end
// while status is 'received'.
func (s *Store) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]checkout.WebhookEvent, error) {
	var out []checkout.WebhookEvent
	err := database.Transact(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT gateway, event_id, event_type, payload, attempts FROM webhook_events
			WHERE status = 'received' AND (processed_at IS NULL OR processed_at <= ?) ORDER BY received_at LIMIT ?
			FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e checkout.WebhookEvent
			var payload []byte
			if err := rows.Scan(&e.Gateway, &e.EventID, &e.Type, &payload, &e.Attempts); err != nil {
				rows.Close()
				return err
			}
			var body struct {
				Event gateway.Event `json:"event"`
			}
			if err := json.Unmarshal(payload, &body); err != nil {
				rows.Close()
				return fmt.Errorf("webhook %s payload: %w", e.EventID, err)
			}
			e.Event = body.Event
			out = append(out, e)
		}
		rows.Close()
		for _, e := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_events SET processed_at = ?, attempts = attempts + 1 WHERE gateway = ? AND event_id = ?`,
				now.Add(lease), e.Gateway, e.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhooks: %w", err)
	}
	return out, nil
}

// FinishWebhook records the application's result; a failed event is retried
// with backoff up to a limit, then parked as failed.
func (s *Store) FinishWebhook(ctx context.Context, gatewayName, eventID string, now time.Time, applyErr error) error {
	if applyErr == nil {
		_, err := s.db.ExecContext(ctx, `UPDATE webhook_events SET status = 'processed', processed_at = ?, last_error = NULL
			WHERE gateway = ? AND event_id = ?`, now, gatewayName, eventID)
		return err
	}
	msg := applyErr.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_events SET last_error = ?,
		status = IF(attempts >= ?, 'failed', 'received'),
		processed_at = DATE_ADD(?, INTERVAL LEAST(POW(2, attempts), 300) SECOND)
		WHERE gateway = ? AND event_id = ?`, msg, maxWebhookAttempts, now, gatewayName, eventID)
	return err
}

// SaveRules stores a rule document as the next version.
func (s *Store) SaveRules(ctx context.Context, doc json.RawMessage, by string, now time.Time) (int, error) {
	var v int
	err := retry(ctx, func() error {
		return database.Transact(ctx, s.db, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM routing_rules FOR UPDATE`).Scan(&v); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO routing_rules (version, document, created_by, created_at) VALUES (?,?,?,?)`, v, []byte(doc), by, now)
			return err
		})
	})
	if database.IsDuplicate(err) {
		return 0, errs.Wrap(errs.Conflict, err, "Another rule document was saved at the same time; try again.")
	}
	if err != nil {
		return 0, fmt.Errorf("save rules: %w", err)
	}
	return v, nil
}

// LatestRules returns the newest saved document.
func (s *Store) LatestRules(ctx context.Context) (*checkout.RulesVersion, error) {
	var rv checkout.RulesVersion
	var doc []byte
	err := s.db.QueryRowContext(ctx, `SELECT version, document, created_by, created_at FROM routing_rules ORDER BY version DESC LIMIT 1`).
		Scan(&rv.Version, &doc, &rv.CreatedBy, &rv.CreatedAt)
	if err != nil {
		return nil, database.NotFound(err, "No saved rules.")
	}
	rv.Document = doc
	return &rv, nil
}
