package magento

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/magefleet/platform/internal/errs"
)

// Order returns an order by entity id.
func (c *Client) Order(ctx context.Context, orderID int64) (*Order, error) {
	var out Order
	if err := c.do(ctx, call{method: http.MethodGet, path: "/orders/" + strconv.FormatInt(orderID, 10), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// SearchOrders runs GET /V1/orders with searchCriteria.
func (c *Client) SearchOrders(ctx context.Context, sc SearchCriteria) (*SearchResult[Order], error) {
	var out SearchResult[Order]
	if err := c.do(ctx, call{method: http.MethodGet, path: "/orders", query: sc.Query(), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// OrdersByQuoteID returns the orders placed from a cart: the look-before-retry
// step after a placement with an unknown outcome. Normally zero or one.
func (c *Client) OrdersByQuoteID(ctx context.Context, quoteID int64) ([]Order, error) {
	res, err := c.SearchOrders(ctx, Where("quote_id", "eq", strconv.FormatInt(quoteID, 10)))
	if err != nil {
		return nil, err
	}
	return res.Items, nil
}

// OrderByIncrementID returns the order with an increment id (the cart's
// reserved_order_id), or errs.NotFound.
func (c *Client) OrderByIncrementID(ctx context.Context, incrementID string) (*Order, error) {
	res, err := c.SearchOrders(ctx, Where("increment_id", "eq", incrementID).Page(2, 1))
	if err != nil {
		return nil, err
	}
	if len(res.Items) == 0 {
		return nil, errs.E(errs.NotFound, "no order with increment_id %s", incrementID)
	}
	return &res.Items[0], nil
}

// InvoiceOrder creates an invoice (POST /V1/order/{id}/invoice) and returns
// its id. Magento has no idempotency keys: read the order's total_invoiced
// first. A fully invoiced order is errs.Invalid ("The order does not allow an
// invoice to be created.").
func (c *Client) InvoiceOrder(ctx context.Context, orderID int64, req InvoiceRequest) (int64, error) {
	var id flexID
	err := c.do(ctx, call{method: http.MethodPost, path: "/order/" + strconv.FormatInt(orderID, 10) + "/invoice", body: req, auth: authAdmin, out: &id})
	return int64(id), err
}

// AddOrderComment adds a status history comment to an order.
func (c *Client) AddOrderComment(ctx context.Context, orderID int64, h OrderStatusHistory) error {
	if h.ParentID == 0 {
		h.ParentID = orderID
	}
	var ok bool
	body := struct {
		StatusHistory OrderStatusHistory `json:"statusHistory"`
	}{h}
	return c.do(ctx, call{method: http.MethodPost, path: "/orders/" + strconv.FormatInt(orderID, 10) + "/comments", body: body, auth: authAdmin, out: &ok})
}

// RefundOrderOffline creates a credit memo with an offline refund
// (POST /V1/order/{id}/refund) and returns its id. Read total_refunded and the
// order's credit memos before calling: Magento has no idempotency keys.
func (c *Client) RefundOrderOffline(ctx context.Context, orderID int64, req RefundRequest) (int64, error) {
	var id flexID
	err := c.do(ctx, call{method: http.MethodPost, path: "/order/" + strconv.FormatInt(orderID, 10) + "/refund", body: req, auth: authAdmin, out: &id})
	return int64(id), err
}

// SearchCreditMemos runs GET /V1/creditmemos with searchCriteria.
func (c *Client) SearchCreditMemos(ctx context.Context, sc SearchCriteria) (*SearchResult[CreditMemo], error) {
	var out SearchResult[CreditMemo]
	if err := c.do(ctx, call{method: http.MethodGet, path: "/creditmemos", query: sc.Query(), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreditMemosUpdatedSince pages through credit memos updated at or after
// since, oldest first (for polling refunds made in the Magento admin).
func (c *Client) CreditMemosUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*SearchResult[CreditMemo], error) {
	sc := Where("updated_at", "gteq", MagentoTime(since)).Sort("updated_at", "ASC").Page(pageSize, page)
	return c.SearchCreditMemos(ctx, sc)
}

// SearchInvoices runs GET /V1/invoices with searchCriteria.
func (c *Client) SearchInvoices(ctx context.Context, sc SearchCriteria) (*SearchResult[Invoice], error) {
	var out SearchResult[Invoice]
	if err := c.do(ctx, call{method: http.MethodGet, path: "/invoices", query: sc.Query(), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// InvoicesUpdatedSince pages through invoices updated at or after since,
// oldest first (for polling invoices made in the Magento admin).
func (c *Client) InvoicesUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*SearchResult[Invoice], error) {
	sc := Where("updated_at", "gteq", MagentoTime(since)).Sort("updated_at", "ASC").Page(pageSize, page)
	return c.SearchInvoices(ctx, sc)
}
