package bridge

import (
	"context"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
)

// Limit wraps m so that every request waits for a slot from l, reports its
// latency and outcome to l, and is measured in metrics.
func Limit(m Magento, l Limiter, metrics *Metrics) Magento {
	return &limited{m: m, l: l, metrics: metrics}
}

type limited struct {
	m       Magento
	l       Limiter
	metrics *Metrics
}

func call[T any](ctx context.Context, lm *limited, op string, fn func() (T, error)) (T, error) {
	var zero T
	release, err := lm.l.Acquire(ctx)
	if err != nil {
		return zero, errs.Wrap(errs.Unavailable, err, "waiting for a Magento slot")
	}
	start := time.Now()
	out, err := fn()
	d := time.Since(start)
	release()
	lm.l.Observe(d, err)
	lm.metrics.MagentoLatency.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		lm.metrics.MagentoErrors.WithLabelValues(op, errs.Code(err)).Inc()
	}
	return out, err
}

func (lm *limited) SetShippingInformation(ctx context.Context, ref magento.CartRef, info magento.ShippingInformation) (*magento.PaymentDetails, error) {
	return call(ctx, lm, "shipping_information", func() (*magento.PaymentDetails, error) {
		return lm.m.SetShippingInformation(ctx, ref, info)
	})
}

func (lm *limited) PlaceOrder(ctx context.Context, ref magento.CartRef, req magento.PlaceOrderRequest) (int64, error) {
	return call(ctx, lm, "place_order", func() (int64, error) { return lm.m.PlaceOrder(ctx, ref, req) })
}

func (lm *limited) OrdersByQuoteID(ctx context.Context, quoteID int64) ([]magento.Order, error) {
	return call(ctx, lm, "orders_by_quote", func() ([]magento.Order, error) { return lm.m.OrdersByQuoteID(ctx, quoteID) })
}

func (lm *limited) Order(ctx context.Context, orderID int64) (*magento.Order, error) {
	return call(ctx, lm, "order", func() (*magento.Order, error) { return lm.m.Order(ctx, orderID) })
}

func (lm *limited) InvoiceOrder(ctx context.Context, orderID int64, req magento.InvoiceRequest) (int64, error) {
	return call(ctx, lm, "invoice", func() (int64, error) { return lm.m.InvoiceOrder(ctx, orderID, req) })
}

func (lm *limited) AddOrderComment(ctx context.Context, orderID int64, h magento.OrderStatusHistory) error {
	_, err := call(ctx, lm, "comment", func() (struct{}, error) { return struct{}{}, lm.m.AddOrderComment(ctx, orderID, h) })
	return err
}

func (lm *limited) CreditMemosUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*magento.SearchResult[magento.CreditMemo], error) {
	return call(ctx, lm, "creditmemos", func() (*magento.SearchResult[magento.CreditMemo], error) {
		return lm.m.CreditMemosUpdatedSince(ctx, since, pageSize, page)
	})
}

func (lm *limited) SearchOrders(ctx context.Context, sc magento.SearchCriteria) (*magento.SearchResult[magento.Order], error) {
	return call(ctx, lm, "search_orders", func() (*magento.SearchResult[magento.Order], error) { return lm.m.SearchOrders(ctx, sc) })
}

func (lm *limited) InvoicesUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*magento.SearchResult[magento.Invoice], error) {
	return call(ctx, lm, "invoices", func() (*magento.SearchResult[magento.Invoice], error) {
		return lm.m.InvoicesUpdatedSince(ctx, since, pageSize, page)
	})
}
