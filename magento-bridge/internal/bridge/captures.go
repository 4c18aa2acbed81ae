package bridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
)

// Capture is a Magento invoice on a platform order whose payment was only
// authorised, and its way to a capture at checkout (bridge_captures). It
// holds no shopper data; its JSON is the admin API's.
type Capture struct {
	InvoiceID          int64  `json:"invoice_id"`
	InvoiceIncrementID string `json:"invoice_increment_id"`
	OrderID            int64  `json:"order_id"` // Magento's order entity id
	PaymentID          string `json:"payment_id"`
	CaptureID          string `json:"capture_id"`
	Gateway            string `json:"gateway"`
	Amount             int64  `json:"amount"` // minor units of Currency
	Currency           string `json:"currency"`
	Step               string `json:"step"` // pending, captured, done, refused, failed
	// Reason is why the money was not captured (refused and failed); an
	// operator's retry adds who retried it and when, newest first.
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	// LastError, CreatedAt and UpdatedAt are read for operators; the
	// capture sync ignores them.
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Capture steps. pending → captured → done when checkout captures;
// pending → refused → failed when it refuses for good (or the invoice cannot
// be captured at all). captured and refused still owe their order comment.
//
// Only an operator moves a capture out of failed: RetryCapture (the admin
// API's POST /v1/admin/captures/{invoice_id}/retry, the retry-capture
// command) sets it back to pending, and the next poll asks checkout again
// with the same capture id.
const (
	CapturePending  = "pending"
	CaptureCaptured = "captured"
	CaptureDone     = "done"
	CaptureRefused  = "refused"
	CaptureFailed   = "failed"
)

// CaptureSteps are the steps a capture can be at, in their order.
var CaptureSteps = []string{CapturePending, CaptureCaptured, CaptureDone, CaptureRefused, CaptureFailed}

// ValidCaptureStep reports whether step is one of CaptureSteps.
func ValidCaptureStep(step string) bool { return slices.Contains(CaptureSteps, step) }

// CaptureStore persists what the capture sync needs.
type CaptureStore interface {
	// TryLock, Cursor, SetCursor, PlatformOrder, OldestUnfinished and Payment
	// are those of RefundStore.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
	Cursor(ctx context.Context, name string) (time.Time, bool, error)
	SetCursor(ctx context.Context, name string, pos, now time.Time) error
	PlatformOrder(ctx context.Context, orderID int64) (*Progress, error)
	OldestUnfinished(ctx context.Context, since time.Time) (time.Time, bool, error)
	Payment(ctx context.Context, id string) (*Payment, error)
	// AddCapture records an invoice once; added is false when it was
	// recorded before.
	AddCapture(ctx context.Context, c Capture, now time.Time) (added bool, err error)
	// PendingCaptures lists the captures that still owe a call or a comment
	// (pending, captured, refused), oldest invoice first.
	PendingCaptures(ctx context.Context, limit int) ([]Capture, error)
	// SetCaptureStep moves a capture to step, recording reason when it is
	// not empty (why the money was not captured; an operator's earlier retry
	// is kept after it) and lastError (empty clears it), and counts the
	// attempt.
	SetCaptureStep(ctx context.Context, invoiceID int64, step, reason, lastError string, now time.Time) error
}

// CaptureConfig tunes a CaptureSync.
type CaptureConfig = PollConfig

// CursorInvoices names the capture sync's cursor (invoices' updated_at).
const CursorInvoices = "invoices"

// CaptureSync captures, through checkout-service, the payment of a platform
// order that was only authorised (checkout.capture false) once a Magento
// admin invoices the order - Magento's own signal that the goods are going
// out. Each invoice is captured at most once: it is recorded in
// bridge_captures before checkout is called, the call carries the invoice's
// capture id, and its outcome is recorded before the order is commented. A
// capture checkout refuses for good raises an ALERT, counts in
// bridge_capture_failures_total and leaves a comment on the order saying the
// money was not captured and the order must not ship. Orders the bridge did
// not place and payments captured already (the bridge's own invoices of
// captured payments) are left alone.
//
// It is safe for concurrent use; across instances a MySQL named lock lets
// one poll at a time.
type CaptureSync struct {
	cfg      CaptureConfig
	store    CaptureStore
	magento  Magento
	payments Payments
	metrics  *Metrics
	log      *zap.Logger
	now      func() time.Time
}

// NewCaptureSync returns a CaptureSync.
func NewCaptureSync(cfg CaptureConfig, store CaptureStore, m Magento, payments Payments, metrics *Metrics, log *zap.Logger, now func() time.Time) *CaptureSync {
	if now == nil {
		now = time.Now
	}
	return &CaptureSync{cfg: cfg.withDefaults(), store: store, magento: m, payments: payments, metrics: metrics, log: log, now: now}
}

// Run polls until ctx ends.
func (c *CaptureSync) Run(ctx context.Context) error {
	return pollEvery(ctx, c.cfg.Interval, c.log, "capture", c.Poll)
}

// Poll runs one round: invoices updated since the cursor, then the captures
// and comments still owed.
func (c *CaptureSync) Poll(ctx context.Context) error {
	return pollRound(ctx, c.store, "bridge.capture_sync", pollStep{"invoices", c.scan}, pollStep{"captures", c.capturePending})
}

// scan records every invoice that needs a capture. The cursor moves only
// after each invoice read was recorded (or found to need nothing), so an
// invoice is never skipped; the captures themselves are retried from
// bridge_captures.
func (c *CaptureSync) scan(ctx context.Context) error {
	return updatedScan[magento.Invoice]{store: c.store, cursor: CursorInvoices, now: c.now, lookback: c.cfg.Lookback, overlap: c.cfg.Overlap,
		pageSize: c.cfg.PageSize, fetch: c.magento.InvoicesUpdatedSince, updatedAt: func(inv magento.Invoice) string { return inv.UpdatedAt },
		record: c.record}.run(ctx)
}

// CaptureAlertEvery is how many failed attempts of one capture raise an
// ALERT again (about 10 minutes at the default 30 s poll).
const CaptureAlertEvery = 20

// CaptureID is the idempotency key of an invoice's capture at checkout.
func CaptureID(invoiceID int64) string { return "magento-inv-" + strconv.FormatInt(invoiceID, 10) }

// capturedAlready reports whether a payment status means its money was taken.
func capturedAlready(status string) bool {
	switch status {
	case "captured", "partially_refunded", "refunded":
		return true
	}
	return false
}

func (c *CaptureSync) record(ctx context.Context, inv magento.Invoice) error {
	if inv.State == magento.InvoiceCanceled {
		return nil
	}
	p, err := c.store.PlatformOrder(ctx, inv.OrderID)
	if errs.Is(err, errs.NotFound) {
		return nil // not an order this platform placed
	}
	if err != nil {
		return err
	}
	pay, err := c.store.Payment(ctx, p.PaymentID)
	if errs.Is(err, errs.NotFound) {
		// Nothing to capture; the cursor must not stick on it either.
		c.log.Error("ALERT: invoice on a platform order whose payment row is gone; not captured",
			zap.Int64("invoice_id", inv.EntityID), zap.Int64("order_id", inv.OrderID), zap.String("payment_id", p.PaymentID))
		return nil
	}
	if err != nil {
		return err
	}
	if capturedAlready(pay.Status) {
		return nil // captured at checkout: the invoice is the bridge's own, or came after the money
	}
	currency := inv.OrderCurrencyCode
	if currency == "" {
		currency = p.Currency
	}
	cp := Capture{
		InvoiceID: inv.EntityID, InvoiceIncrementID: inv.IncrementID, OrderID: inv.OrderID, PaymentID: p.PaymentID,
		CaptureID: CaptureID(inv.EntityID), Gateway: p.Gateway, Amount: magento.MinorUnits(inv.GrandTotal, currency),
		Currency: strings.ToUpper(currency), Step: CapturePending,
	}
	switch {
	case pay.Status != "authorized":
		cp.Step, cp.Reason = CaptureRefused, fmt.Sprintf("the payment is %s, not authorised", pay.Status)
	case !strings.EqualFold(currency, p.Currency):
		cp.Step, cp.Reason = CaptureRefused, fmt.Sprintf("the invoice is in %s but the payment in %s", cp.Currency, p.Currency)
	case cp.Amount <= 0:
		cp.Step, cp.Reason = CaptureRefused, "the invoice total is not positive"
	}
	added, err := c.store.AddCapture(ctx, cp, c.now())
	if err != nil || !added {
		return err
	}
	log := c.captureLog(cp)
	if cp.Step == CaptureRefused {
		c.refused(log, cp, cp.Reason, nil)
		return nil
	}
	log.Info("invoice on an authorised platform order; capturing", zap.Int64("amount", cp.Amount), zap.String("currency", cp.Currency))
	return nil
}

func (c *CaptureSync) captureLog(cp Capture) *zap.Logger {
	return c.log.With(zap.Int64("invoice_id", cp.InvoiceID), zap.String("invoice_increment_id", cp.InvoiceIncrementID),
		zap.Int64("order_id", cp.OrderID), zap.String("payment_id", cp.PaymentID), zap.String("capture_id", cp.CaptureID))
}

// refused raises the alert of a capture that will not happen.
func (c *CaptureSync) refused(log *zap.Logger, cp Capture, reason string, err error) {
	c.metrics.CaptureFailures.Inc()
	log.Error("ALERT: the payment of an invoiced order was NOT captured; the order must not ship until resolved",
		zap.String("reason", reason), zap.Int64("amount", cp.Amount), zap.String("currency", cp.Currency), zap.Error(err))
}

func (c *CaptureSync) capturePending(ctx context.Context) error {
	pending, err := c.store.PendingCaptures(ctx, 100)
	if err != nil {
		return err
	}
	for _, cp := range pending {
		log := c.captureLog(cp)
		var order *magento.Order // read by the capture, reused by its comment
		if cp.Step == CapturePending {
			var step, reason string
			step, reason, order, err = c.capture(ctx, log, cp)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.metrics.Captures.WithLabelValues("retry").Inc()
				log.Warn("capture failed; will retry", zap.Error(err))
				if n := cp.Attempts + 1; n%CaptureAlertEvery == 0 {
					c.metrics.Captures.WithLabelValues("stuck").Inc()
					log.Error("ALERT: the capture of an invoiced order keeps failing; its money is not taken yet",
						zap.Int("attempts", n), zap.Int64("amount", cp.Amount), zap.String("currency", cp.Currency), zap.Error(err))
				}
				if err := c.store.SetCaptureStep(ctx, cp.InvoiceID, CapturePending, "", err.Error(), c.now()); err != nil {
					return err
				}
				continue
			}
			if err := c.store.SetCaptureStep(ctx, cp.InvoiceID, step, reason, "", c.now()); err != nil {
				return err
			}
			cp.Step, cp.Reason = step, reason
		}
		next := CaptureDone
		if cp.Step == CaptureRefused {
			next = CaptureFailed
		}
		if err := c.comment(ctx, cp, order); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("capture comment failed; will retry", zap.String("step", cp.Step), zap.Error(err))
			if err := c.store.SetCaptureStep(ctx, cp.InvoiceID, cp.Step, "", err.Error(), c.now()); err != nil {
				return err
			}
			continue
		}
		if err := c.store.SetCaptureStep(ctx, cp.InvoiceID, next, "", "", c.now()); err != nil {
			return err
		}
	}
	return nil
}

// capture asks checkout to capture a pending invoice's payment, unless the
// payment is captured already (an earlier call succeeded but its outcome
// was not recorded). It returns the step reached, captured or refused, or a
// retryable error, and the order when it read it (for the comment).
func (c *CaptureSync) capture(ctx context.Context, log *zap.Logger, cp Capture) (step, reason string, o *magento.Order, err error) {
	pay, err := c.store.Payment(ctx, cp.PaymentID)
	if err != nil {
		return "", "", nil, err
	}
	if capturedAlready(pay.Status) {
		log.Info("payment captured already; recording it", zap.String("payment_status", pay.Status))
		return CaptureCaptured, "", nil, nil
	}
	// A credit memo made before the capture: capturing now would take money
	// for a refunded order (its refund, seen before the money, was refused).
	if o, err = c.magento.Order(ctx, cp.OrderID); err != nil {
		return "", "", nil, err
	}
	if o.TotalRefunded > 0 {
		reason := "a credit memo was made before the capture, so nothing was captured (the authorisation lapses); capture and refund by hand if the shopper should pay part"
		c.refused(log, cp, reason, nil)
		return CaptureRefused, reason, o, nil
	}
	err = c.payments.Capture(ctx, cp.PaymentID, cp.Amount, cp.CaptureID)
	switch {
	case err == nil:
		c.metrics.Captures.WithLabelValues("captured").Inc()
		log.Info("captured through checkout", zap.Int64("amount", cp.Amount), zap.String("currency", cp.Currency))
		return CaptureCaptured, "", o, nil
	case permanent(err):
		reason := "checkout refused the capture"
		if e := errs.As(err); e != nil && e.Message != "" {
			reason += ": " + e.Message
		}
		c.refused(log, cp, reason, err)
		return CaptureRefused, reason, o, nil
	}
	return "", "", nil, err
}

// captureMarker and refusedMarker tag the bridge's comments on an invoice's
// capture so a retry can tell whether an earlier attempt added them.
func captureMarker(captureID string) string { return "[capture " + captureID + "]" }
func refusedMarker(captureID string) string { return "[capture " + captureID + ": not captured]" }

// comment adds the order comment a capture owes once: it looks for it in
// the order's history, read now unless the capture just read it (o; only
// this poller, under its lock, adds the bridge's capture comments).
func (c *CaptureSync) comment(ctx context.Context, cp Capture, o *magento.Order) error {
	if o == nil {
		var err error
		if o, err = c.magento.Order(ctx, cp.OrderID); err != nil {
			return err
		}
	}
	marker := captureMarker(cp.CaptureID)
	if cp.Step == CaptureRefused {
		marker = refusedMarker(cp.CaptureID)
	}
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, marker) {
			return nil
		}
	}
	amount := formatMinor(cp.Amount, cp.Currency) + " " + cp.Currency
	text := fmt.Sprintf("Captured %s through %s on secure checkout for invoice %s (capture %s). %s",
		amount, cp.Gateway, cp.InvoiceIncrementID, cp.CaptureID, marker)
	if cp.Step == CaptureRefused {
		reason := cp.Reason
		if len(reason) > 300 {
			reason = reason[:300] + "..."
		}
		text = fmt.Sprintf("NOT CAPTURED: secure checkout did not capture %s through %s for invoice %s (%s). "+
			"The money was NOT captured: do not ship this order until an operator has resolved it. %s",
			amount, cp.Gateway, cp.InvoiceIncrementID, reason, marker)
	}
	return c.magento.AddOrderComment(ctx, cp.OrderID, magento.OrderStatusHistory{Comment: text, ParentID: cp.OrderID, Status: o.Status})
}
