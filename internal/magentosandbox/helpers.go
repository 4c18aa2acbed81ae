package magentosandbox

import (
	"fmt"
	"slices"

	"github.com/magefleet/platform/internal/magento"
)

// CartLine is a SKU and quantity for CreateGuestCartWithItems.
type CartLine struct {
	SKU string
	Qty float64
}

// GuestCartInfo identifies a cart made by a helper.
type GuestCartInfo struct {
	MaskedID string
	QuoteID  int64
}

// CreateGuestCartWithItems creates an active guest cart in the default store
// holding the given lines, with the same stock checks as the REST route. It is
// meant for tests and demos that start from a filled cart.
func (s *Sandbox) CreateGuestCartWithItems(lines ...CartLine) (GuestCartInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		p, ok := s.st.products[l.SKU]
		if !ok {
			return GuestCartInfo{}, fmt.Errorf("sandbox: unknown sku %q", l.SKU)
		}
		if err := checkQty(p, l.Qty); err != nil {
			return GuestCartInfo{}, fmt.Errorf("sandbox: %s: %w", l.SKU, err)
		}
	}
	q := s.st.newQuote(1, 0, s.opts.Now(), true)
	for _, l := range lines {
		p := s.st.products[l.SKU]
		s.st.nextItem++
		q.Items = append(q.Items, &quoteItem{ID: s.st.nextItem, ProductID: p.ID, SKU: p.SKU, Name: p.Name, Price: p.Price, Qty: l.Qty, Taxable: p.Taxable})
	}
	return GuestCartInfo{MaskedID: q.Masked, QuoteID: q.ID}, nil
}

// Orders returns a snapshot of every order, oldest first.
func (s *Sandbox) Orders() []magento.Order {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]magento.Order, 0, len(s.st.orderOrder))
	for _, id := range s.st.orderOrder {
		o := *s.st.orders[id]
		o.Items = slices.Clone(o.Items)
		o.StatusHistories = slices.Clone(o.StatusHistories)
		out = append(out, o)
	}
	return out
}

// Invoice is an invoice as the sandbox records it.
type Invoice struct {
	EntityID    int64             `json:"entity_id"`
	IncrementID string            `json:"increment_id"`
	OrderID     int64             `json:"order_id"`
	GrandTotal  float64           `json:"grand_total"`
	Subtotal    float64           `json:"subtotal"`
	TaxAmount   float64           `json:"tax_amount"`
	Shipping    float64           `json:"shipping_amount"`
	TotalQty    float64           `json:"total_qty"`
	Capture     bool              `json:"capture"`
	State       int               `json:"state"`
	Currency    string            `json:"order_currency_code"`
	CreatedAt   string            `json:"created_at"`
	UpdatedAt   string            `json:"updated_at"`
	Items       []magento.ItemQty `json:"items"`
}

// Invoices returns a snapshot of every invoice.
func (s *Sandbox) Invoices() []Invoice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Invoice, 0, len(s.st.invoices))
	for _, inv := range s.st.invoices {
		c := Invoice(*inv)
		c.Items = slices.Clone(c.Items)
		out = append(out, c)
	}
	return out
}

// CreditMemos returns a snapshot of every credit memo.
func (s *Sandbox) CreditMemos() []magento.CreditMemo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]magento.CreditMemo, 0, len(s.st.creditmemos))
	for _, cm := range s.st.creditmemos {
		out = append(out, *cm)
	}
	return out
}

// Stock returns a product's salable quantity and whether the SKU exists.
func (s *Sandbox) Stock(sku string) (float64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.st.products[sku]
	if !ok {
		return 0, false
	}
	return p.Qty, true
}

// SetStock sets a product's salable quantity.
func (s *Sandbox) SetStock(sku string, qty float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.products[sku]
	if !ok {
		return fmt.Errorf("sandbox: unknown sku %q", sku)
	}
	p.Qty = qty
	return nil
}

// SKUs returns every seeded SKU in catalog order.
func (s *Sandbox) SKUs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.st.productOrder)
}

// IssueAdminToken returns a fresh admin token without the login route.
func (s *Sandbox) IssueAdminToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue(token{admin: s.opts.AdminUsername, expires: s.opts.Now().Add(s.opts.AdminTokenLifetime)})
}

// RevokeTokens invalidates every admin and customer token, as Magento's
// "revoke all tokens" does; clients must log in again.
func (s *Sandbox) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tokens = map[string]token{}
}

// SetLoginAsCustomer turns the Login as Customer module on or off.
func (s *Sandbox) SetLoginAsCustomer(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.DisableLoginAsCustomer = !enabled
}
