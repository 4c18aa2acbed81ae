package bridge

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/magento"
)

// ForeignOrder is a Magento order paid with the bridge's offline payment
// method that the bridge did not place (bridge_foreign_orders): nobody paid
// for it on secure checkout. It holds no shopper data.
type ForeignOrder struct {
	OrderID        int64     `json:"order_id"`
	IncrementID    string    `json:"increment_id"`
	QuoteID        int64     `json:"quote_id"`
	StoreID        int       `json:"store_id"`
	PaymentMethod  string    `json:"payment_method"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	OrderCreatedAt time.Time `json:"order_created_at"`
	Commented      bool      `json:"commented"`
	FlaggedAt      time.Time `json:"flagged_at"`
}

// ForeignOrderStore persists what the foreign-order watch needs.
type ForeignOrderStore interface {
	// TryLock, Cursor and SetCursor are those of RefundStore.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
	Cursor(ctx context.Context, name string) (time.Time, bool, error)
	SetCursor(ctx context.Context, name string, pos, now time.Time) error
	// PlacedByBridge reports whether an order of the given id, cart and
	// po_number (empty with checkmo) is the platform's: with a po_number, a
	// captured or authorised payment of that cart whose "<gateway>
	// <transaction id>" is poNumber, or the bridge's own record of that cart
	// and reference; without one, the bridge's record of the cart. Both exist
	// before the bridge sends the order to Magento, so an order being placed
	// right now is never mistaken for a foreign one.
	PlacedByBridge(ctx context.Context, orderID, quoteID int64, poNumber string) (bool, error)
	// AddForeignOrder records f once; added is false when it was recorded
	// before.
	AddForeignOrder(ctx context.Context, f ForeignOrder, now time.Time) (added bool, err error)
	// UncommentedForeignOrders lists recorded orders not commented yet.
	UncommentedForeignOrders(ctx context.Context, limit int) ([]ForeignOrder, error)
	// SetForeignOrderCommented records the comment on the order, or the
	// error that stopped it when lastError is not empty.
	SetForeignOrderCommented(ctx context.Context, orderID int64, lastError string, now time.Time) error
}

// ForeignConfig tunes a ForeignOrderWatch.
type ForeignConfig struct {
	// Interval between polls.
	Interval time.Duration
	// Lookback is where the first poll starts, before now.
	Lookback time.Duration
	// Overlap re-reads this much before the cursor on every poll, for orders
	// committed late with an earlier created_at.
	Overlap time.Duration
	// PaymentMethod is the bridge's offline method (purchaseorder or
	// checkmo): orders paid otherwise are none of the bridge's business.
	PaymentMethod string
	// PageSize of Magento searches.
	PageSize int
}

// CursorForeignOrders names the foreign-order watch's cursor (created_at).
const CursorForeignOrders = "foreign_orders"

// ForeignOrderComment is the comment added once to every foreign order.
const ForeignOrderComment = "NOT PAID ON SECURE CHECKOUT: this order was not placed by the platform; do not ship."

// foreignMarker tags the comment so a second poll can tell it is there.
const foreignMarker = "[bridge: foreign order]"

// ForeignOrderWatch finds Magento orders that carry the bridge's offline
// payment method but were not placed by the bridge - anyone can place one
// through Magento's own checkout once the method is active - and makes them
// impossible to miss: an ALERT log line, bridge_foreign_orders_total, a row
// in bridge_foreign_orders (counted in GET /v1/status) and one comment on the
// order telling the merchant not to ship. It is safe for concurrent use;
// across instances a MySQL named lock lets one poll at a time.
type ForeignOrderWatch struct {
	cfg     ForeignConfig
	store   ForeignOrderStore
	magento Magento
	metrics *Metrics
	log     *zap.Logger
	now     func() time.Time
}

// NewForeignOrderWatch returns a ForeignOrderWatch.
func NewForeignOrderWatch(cfg ForeignConfig, store ForeignOrderStore, m Magento, metrics *Metrics, log *zap.Logger, now func() time.Time) *ForeignOrderWatch {
	if now == nil {
		now = time.Now
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.PaymentMethod == "" {
		cfg.PaymentMethod = "purchaseorder"
	}
	return &ForeignOrderWatch{cfg: cfg, store: store, magento: m, metrics: metrics, log: log, now: now}
}

// Run polls until ctx ends.
func (w *ForeignOrderWatch) Run(ctx context.Context) error {
	return pollEvery(ctx, w.cfg.Interval, w.log, "foreign-order", w.Poll)
}

// Poll runs one round: orders created since the cursor, then the comments
// still owed to recorded foreign orders.
func (w *ForeignOrderWatch) Poll(ctx context.Context) error {
	return pollRound(ctx, w.store, "bridge.foreign_orders", pollStep{"foreign orders", w.scan}, pollStep{"foreign order comments", w.commentPending})
}

func (w *ForeignOrderWatch) scan(ctx context.Context) error {
	since := w.now().Add(-w.cfg.Lookback)
	if pos, ok, err := w.store.Cursor(ctx, CursorForeignOrders); err != nil {
		return err
	} else if ok {
		since = pos.Add(-w.cfg.Overlap)
	}
	var newest time.Time
	for page := 1; ; page++ {
		// Magento's order search cannot filter on the payment method (it
		// lives in sales_order_payment): every order since the cursor is read
		// and the method checked here.
		sc := magento.Where("created_at", "gteq", magento.MagentoTime(since)).Sort("created_at", "ASC").Page(w.cfg.PageSize, page)
		res, err := w.magento.SearchOrders(ctx, sc)
		if err != nil {
			return err
		}
		for _, o := range res.Items {
			if t, ok := parseMagentoTime(o.CreatedAt); ok && t.After(newest) {
				newest = t
			}
			if err := w.check(ctx, o); err != nil {
				return err
			}
		}
		if len(res.Items) < w.cfg.PageSize || page*w.cfg.PageSize >= res.TotalCount {
			break
		}
	}
	if !newest.IsZero() {
		return w.store.SetCursor(ctx, CursorForeignOrders, newest, w.now())
	}
	return nil
}

// check records o when it carries the bridge's method and the bridge did not
// place it.
func (w *ForeignOrderWatch) check(ctx context.Context, o magento.Order) error {
	if o.Payment == nil || o.Payment.Method != w.cfg.PaymentMethod {
		return nil
	}
	po := ""
	if w.cfg.PaymentMethod == "purchaseorder" {
		po = o.Payment.PONumber
	}
	// The bridge always sets a po_number with purchaseorder.
	if po != "" || w.cfg.PaymentMethod != "purchaseorder" {
		ours, err := w.store.PlacedByBridge(ctx, o.EntityID, o.QuoteID, po)
		if err != nil || ours {
			return err
		}
	}
	currency := strings.ToUpper(o.OrderCurrencyCode)
	f := ForeignOrder{
		OrderID: o.EntityID, IncrementID: o.IncrementID, QuoteID: o.QuoteID, StoreID: o.StoreID, PaymentMethod: o.Payment.Method,
		Amount: magento.MinorUnits(o.GrandTotal, currency), Currency: currency,
	}
	if t, ok := parseMagentoTime(o.CreatedAt); ok {
		f.OrderCreatedAt = t
	}
	added, err := w.store.AddForeignOrder(ctx, f, w.now())
	if err != nil || !added {
		return err
	}
	w.metrics.ForeignOrders.Inc()
	w.log.Error("ALERT: Magento order paid with the bridge's offline method was not placed by the platform: nobody paid for it, do not ship",
		zap.String("increment_id", o.IncrementID), zap.Int64("order_id", o.EntityID), zap.Int("store_id", o.StoreID),
		zap.Int64("amount", f.Amount), zap.String("currency", currency), zap.String("payment_method", o.Payment.Method))
	return nil
}

// commentPending adds the warning comment to each recorded order that lacks
// it, reading the order first so the comment is added once.
func (w *ForeignOrderWatch) commentPending(ctx context.Context) error {
	pending, err := w.store.UncommentedForeignOrders(ctx, 100)
	if err != nil {
		return err
	}
	for _, f := range pending {
		if err := w.comment(ctx, f); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.log.Warn("foreign order comment failed; will retry", zap.String("increment_id", f.IncrementID), zap.Error(err))
			if err := w.store.SetForeignOrderCommented(ctx, f.OrderID, err.Error(), w.now()); err != nil {
				return err
			}
			continue
		}
		if err := w.store.SetForeignOrderCommented(ctx, f.OrderID, "", w.now()); err != nil {
			return err
		}
	}
	return nil
}

func (w *ForeignOrderWatch) comment(ctx context.Context, f ForeignOrder) error {
	o, err := w.magento.Order(ctx, f.OrderID)
	if err != nil {
		return err
	}
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, foreignMarker) {
			return nil
		}
	}
	return w.magento.AddOrderComment(ctx, f.OrderID, magento.OrderStatusHistory{
		Comment: ForeignOrderComment + " " + foreignMarker, ParentID: f.OrderID, Status: o.Status,
	})
}
