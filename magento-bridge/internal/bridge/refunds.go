package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
)

// RefundStore persists what the refund and cancellation sync needs.
type RefundStore interface {
	// TryLock takes a named lock held until unlock is called (or the
	// connection dies), so one instance polls at a time; ok is false when
	// another holds it.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
	Cursor(ctx context.Context, name string) (time.Time, bool, error)
	SetCursor(ctx context.Context, name string, pos, now time.Time) error
	// PlatformOrder returns the progress of the payment whose order is
	// orderID, or errs.NotFound when the bridge did not place it.
	PlatformOrder(ctx context.Context, orderID int64) (*Progress, error)
	// OldestUnfinished returns when the oldest payment created since since
	// began its way to an order without its order being recorded yet.
	OldestUnfinished(ctx context.Context, since time.Time) (time.Time, bool, error)
	Payment(ctx context.Context, id string) (*Payment, error)
	// AddRefund records a credit memo once; added is false when it was
	// recorded before.
	AddRefund(ctx context.Context, r Refund, now time.Time) (added bool, err error)
	PendingRefunds(ctx context.Context, limit int) ([]Refund, error)
	// CaptureOwed reports whether a capture of the order's payment is
	// recorded and not yet made (see CaptureSync).
	CaptureOwed(ctx context.Context, orderID int64) (bool, error)
	SetRefundStep(ctx context.Context, creditMemoID int64, step, lastError string, now time.Time) error
	// Voided reports whether a cancelled order was handled; RecordVoid
	// records it.
	Voided(ctx context.Context, orderID int64) (bool, error)
	RecordVoid(ctx context.Context, orderID int64, paymentID, outcome string, now time.Time) error
}

// RefundConfig tunes a RefundSync.
type RefundConfig = PollConfig

// Cursor names.
const (
	CursorCreditMemos = "creditmemos"
	CursorCancelled   = "cancelled_orders"
)

// RefundSync refunds credit memos made in Magento's admin through
// checkout-service, once per credit memo, and voids the authorisation of
// platform orders cancelled before capture. It is safe for concurrent use;
// across instances a MySQL named lock lets one poll at a time.
type RefundSync struct {
	cfg      RefundConfig
	store    RefundStore
	magento  Magento
	payments Payments
	metrics  *Metrics
	log      *zap.Logger
	now      func() time.Time
}

// NewRefundSync returns a RefundSync.
func NewRefundSync(cfg RefundConfig, store RefundStore, m Magento, payments Payments, metrics *Metrics, log *zap.Logger, now func() time.Time) *RefundSync {
	if now == nil {
		now = time.Now
	}
	return &RefundSync{cfg: cfg.withDefaults(), store: store, magento: m, payments: payments, metrics: metrics, log: log, now: now}
}

// Run polls until ctx ends.
func (r *RefundSync) Run(ctx context.Context) error {
	return pollEvery(ctx, r.cfg.Interval, r.log, "refund", r.Poll)
}

// Poll runs one round: new credit memos, pending refunds, cancelled orders.
func (r *RefundSync) Poll(ctx context.Context) error {
	return pollRound(ctx, r.store, "bridge.refund_sync",
		pollStep{"credit memos", r.scanCreditMemos}, pollStep{"refunds", r.refundPending}, pollStep{"cancelled orders", r.scanCancelled})
}

func (r *RefundSync) since(ctx context.Context, name string) (time.Time, error) {
	pos, ok, err := r.store.Cursor(ctx, name)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return r.now().Add(-r.cfg.Lookback), nil
	}
	return pos.Add(-r.cfg.Overlap), nil
}

func parseMagentoTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateTime, s)
	return t, err == nil
}

func (r *RefundSync) scanCreditMemos(ctx context.Context) error {
	return updatedScan[magento.CreditMemo]{store: r.store, cursor: CursorCreditMemos, now: r.now, lookback: r.cfg.Lookback, overlap: r.cfg.Overlap,
		pageSize: r.cfg.PageSize, fetch: r.magento.CreditMemosUpdatedSince, updatedAt: func(cm magento.CreditMemo) string { return cm.UpdatedAt },
		record: r.record}.run(ctx)
}

// RefundID is the idempotency key of a credit memo's refund at checkout.
func RefundID(creditMemoID int64) string { return "magento-cm-" + strconv.FormatInt(creditMemoID, 10) }

func (r *RefundSync) record(ctx context.Context, cm magento.CreditMemo) error {
	p, err := r.store.PlatformOrder(ctx, cm.OrderID)
	if errs.Is(err, errs.NotFound) {
		return nil // not an order this platform placed
	}
	if err != nil {
		return err
	}
	currency := cm.OrderCurrencyCode
	if currency == "" {
		currency = p.Currency
	}
	ref := Refund{
		CreditMemoID: cm.EntityID, OrderID: cm.OrderID, PaymentID: p.PaymentID, RefundID: RefundID(cm.EntityID),
		Amount: magento.MinorUnits(cm.GrandTotal, currency), Currency: strings.ToUpper(currency), Step: RefundPending,
	}
	if !strings.EqualFold(currency, p.Currency) || ref.Amount <= 0 {
		ref.Step = RefundFailed
	}
	added, err := r.store.AddRefund(ctx, ref, r.now())
	if err != nil {
		return err
	}
	if added {
		log := r.log.With(zap.Int64("creditmemo_id", cm.EntityID), zap.Int64("order_id", cm.OrderID), zap.String("payment_id", p.PaymentID))
		if ref.Step == RefundFailed {
			r.metrics.Refunds.WithLabelValues("refused").Inc()
			log.Error("ALERT: credit memo cannot be refunded automatically", zap.String("currency", currency), zap.Int64("amount", ref.Amount))
		} else {
			log.Info("credit memo on a platform order; refunding", zap.Int64("amount", ref.Amount))
		}
	}
	return nil
}

func (r *RefundSync) refundPending(ctx context.Context) error {
	pending, err := r.store.PendingRefunds(ctx, 100)
	if err != nil {
		return err
	}
	for _, ref := range pending {
		log := r.log.With(zap.Int64("creditmemo_id", ref.CreditMemoID), zap.Int64("order_id", ref.OrderID),
			zap.String("payment_id", ref.PaymentID), zap.String("refund_id", ref.RefundID))
		if ref.Step == RefundPending {
			// A credit memo can come before the capture of an authorised
			// payment's invoice: refunding now would be refused, and the
			// capture would then take money for a refunded order. Wait for
			// the capture (checkout.capture false; see CaptureSync, which
			// refuses to capture an order with a credit memo it saw first).
			if wait, err := r.waitForCapture(ctx, ref); err != nil {
				return err
			} else if wait {
				log.Info("credit memo on an order whose capture is still owed; refunding after the capture")
				if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundPending, "waiting for the capture of the order's invoice", r.now()); err != nil {
					return err
				}
				continue
			}
			err := r.payments.Refund(ctx, ref.PaymentID, ref.Amount, ref.RefundID)
			switch {
			case err == nil:
				ref.Step = RefundRefunded
				if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundRefunded, "", r.now()); err != nil {
					return err
				}
				r.metrics.Refunds.WithLabelValues("refunded").Inc()
				log.Info("refunded through checkout", zap.Int64("amount", ref.Amount), zap.String("currency", ref.Currency))
			case permanent(err):
				r.metrics.Refunds.WithLabelValues("refused").Inc()
				log.Error("ALERT: checkout refused the refund of a credit memo", zap.Error(err))
				if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundFailed, err.Error(), r.now()); err != nil {
					return err
				}
				continue
			default:
				r.metrics.Refunds.WithLabelValues("retry").Inc()
				log.Warn("refund failed; will retry", zap.Error(err))
				if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundPending, err.Error(), r.now()); err != nil {
					return err
				}
				continue
			}
		}
		if ref.Step == RefundRefunded {
			if err := r.commentRefund(ctx, ref); err != nil {
				log.Warn("refund comment failed; will retry", zap.Error(err))
				if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundRefunded, err.Error(), r.now()); err != nil {
					return err
				}
				continue
			}
			if err := r.store.SetRefundStep(ctx, ref.CreditMemoID, RefundDone, "", r.now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitForCapture reports whether ref's payment is only authorised while a
// capture of its order is owed.
func (r *RefundSync) waitForCapture(ctx context.Context, ref Refund) (bool, error) {
	pay, err := r.store.Payment(ctx, ref.PaymentID)
	if errs.Is(err, errs.NotFound) {
		return false, nil // checkout answers for itself
	}
	if err != nil || pay.Status != "authorized" {
		return false, err
	}
	return r.store.CaptureOwed(ctx, ref.OrderID)
}

// permanent reports whether checkout refused a request for good.
func permanent(err error) bool {
	switch errs.Code(err) {
	case errs.Invalid, errs.Unprocessable, errs.Conflict, errs.NotFound, errs.Forbidden, errs.Gone:
		return true
	}
	return false
}

func (r *RefundSync) commentRefund(ctx context.Context, ref Refund) error {
	o, err := r.magento.Order(ctx, ref.OrderID)
	if err != nil {
		return err
	}
	marker := "[refund " + ref.RefundID + "]"
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, marker) {
			return nil
		}
	}
	return r.magento.AddOrderComment(ctx, ref.OrderID, magento.OrderStatusHistory{
		Comment: fmt.Sprintf("Refunded %s %s to the shopper through secure checkout for credit memo %d. Refund id %s. %s",
			formatMinor(ref.Amount, ref.Currency), ref.Currency, ref.CreditMemoID, ref.RefundID, marker),
		ParentID: ref.OrderID, Status: o.Status,
	})
}

// scanCancelled voids the authorisation of platform orders cancelled in
// Magento before their payment was captured.
func (r *RefundSync) scanCancelled(ctx context.Context) error {
	since, err := r.since(ctx, CursorCancelled)
	if err != nil {
		return err
	}
	var newest time.Time
	for page := 1; ; page++ {
		sc := magento.Where("state", "eq", "canceled").And("updated_at", "gteq", magento.MagentoTime(since)).
			Sort("updated_at", "ASC").Page(r.cfg.PageSize, page)
		res, err := r.magento.SearchOrders(ctx, sc)
		if err != nil {
			return err
		}
		for _, o := range res.Items {
			if t, ok := parseMagentoTime(o.UpdatedAt); ok && t.After(newest) {
				newest = t
			}
			if err := r.cancelled(ctx, o); err != nil {
				return err
			}
		}
		if len(res.Items) < r.cfg.PageSize || page*r.cfg.PageSize >= res.TotalCount {
			break
		}
	}
	if !newest.IsZero() {
		return r.store.SetCursor(ctx, CursorCancelled, newest, r.now())
	}
	return nil
}

func (r *RefundSync) cancelled(ctx context.Context, o magento.Order) error {
	p, err := r.store.PlatformOrder(ctx, o.EntityID)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	done, err := r.store.Voided(ctx, o.EntityID)
	if err != nil || done {
		return err
	}
	pay, err := r.store.Payment(ctx, p.PaymentID)
	if err != nil {
		return err
	}
	log := r.log.With(zap.Int64("order_id", o.EntityID), zap.String("payment_id", p.PaymentID))
	outcome := "captured"
	if pay.Status == "authorized" {
		err := r.payments.Void(ctx, p.PaymentID, "Magento order "+o.IncrementID+" cancelled")
		switch {
		case err == nil:
			outcome = "voided"
			log.Info("voided the authorisation of a cancelled order")
		case errs.Is(err, errs.NotFound):
			outcome = "void_unsupported"
			log.Error("ALERT: order cancelled before capture but checkout cannot void; release the authorisation at the gateway", zap.Error(err))
		case permanent(err):
			outcome = "void_refused"
			log.Error("ALERT: checkout refused to void a cancelled order's authorisation", zap.Error(err))
		default:
			return err // retried at the next poll
		}
	} else {
		log.Warn("platform order cancelled after capture: refund it with a credit memo", zap.String("payment_status", pay.Status))
	}
	r.metrics.Voids.WithLabelValues(outcome).Inc()
	return r.store.RecordVoid(ctx, o.EntityID, p.PaymentID, outcome, r.now())
}
