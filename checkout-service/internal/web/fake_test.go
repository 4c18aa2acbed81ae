package web

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
)

// fakeCore is an in-memory checkout domain with the sandbox tokens'
// behaviour, for handler tests. Totals come from its cart, never from a
// request, as in the real domain.
type fakeCore struct {
	mu       sync.Mutex
	carts    map[string]*checkout.CartView // by masked id
	sessions map[string]*checkout.Session
	payments map[string]*checkout.Payment
	byKey    map[string]string // session|key → payment id
	pays     []checkout.PayParams
	n        int
	now      func() time.Time
}

var _ interface {
	Sessions
	Payments
	Carts
	Actions
} = (*fakeCore)(nil)

func newFakeCore() *fakeCore {
	return &fakeCore{carts: map[string]*checkout.CartView{}, sessions: map[string]*checkout.Session{},
		payments: map[string]*checkout.Payment{}, byKey: map[string]string{}, now: time.Now}
}

// addCart adds a guest cart of two items in USD and returns its masked id.
func (f *fakeCore) addCart() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	masked := fmt.Sprintf("Mask%028d", f.n)
	f.carts[masked] = &checkout.CartView{QuoteID: int64(100 + f.n), Items: []checkout.Item{
		{SKU: "MH01-XS-Black", Name: "Chaz Kangeroo Hoodie", Qty: 1, Price: 5200, RowTotal: 5200},
		{SKU: "24-MB01", Name: "Joust Duffle Bag", Qty: 2, Price: 3400, RowTotal: 6800},
	}, Totals: checkout.Totals{Subtotal: 12000, GrandTotal: 12000, Currency: "USD"}}
	return masked
}

// addCustomerCart gives the customer with Magento token tok a cart.
func (f *fakeCore) addCustomerCart(tok string) {
	m := f.addCart()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.carts["customer:"+tok] = f.carts[m]
}

// fakeTokens accepts "good-<subject>" access tokens.
type fakeTokens struct{}

func (fakeTokens) Verify(_ context.Context, tok string) (accesstoken.Claims, error) {
	sub, ok := strings.CutPrefix(tok, "good-")
	if !ok {
		return accesstoken.Claims{}, errs.E(errs.Unauthorized, "bad token")
	}
	return accesstoken.Claims{Subject: sub, MagentoCustomerID: 7}, nil
}

func (f *fakeCore) setGrandTotal(masked string, shipping int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.carts[masked]
	c.Items = append(c.Items, checkout.Item{SKU: "24-WG01", Name: "Bolo Sport Watch", Qty: 1, Price: 4900, RowTotal: 4900})
	c.Totals.Subtotal += 4900
	c.Totals.GrandTotal = c.Totals.Subtotal + c.Totals.Shipping + c.Totals.Tax
}

func (f *fakeCore) StartSession(_ context.Context, p checkout.StartParams) (*checkout.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, ref := p.MaskedCartID, checkout.CartRef{Kind: checkout.KindGuest, MaskedID: p.MaskedCartID}
	if p.Customer != nil {
		key = "customer:" + p.Customer.CustomerToken
		ref = checkout.CartRef{Kind: checkout.KindCustomer, MaskedID: key, CustomerToken: p.Customer.CustomerToken, CustomerID: p.Customer.CustomerID}
	}
	cv, ok := f.carts[key]
	if !ok {
		return nil, errs.E(errs.NotFound, "No cart %s.", key) // like Magento, it names the id
	}
	ref.QuoteID = cv.QuoteID
	f.n++
	s := &checkout.Session{ID: fmt.Sprintf("cs_%024d", f.n), Status: checkout.SessionOpen, Subject: p.Subject, Cart: ref,
		Items: cv.Items, Totals: cv.Totals, CreatedAt: f.now(), ExpiresAt: f.now().Add(30 * time.Minute)}
	f.sessions[s.ID] = s
	c := *s
	return &c, nil
}

func (f *fakeCore) Session(_ context.Context, id, subject string) (*checkout.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok || s.Subject != "" && s.Subject != subject {
		return nil, errs.E(errs.NotFound, "No checkout session %s.", id)
	}
	c := *s
	return &c, nil
}

func (f *fakeCore) SetAddress(_ context.Context, id, _ string, p checkout.AddressParams) (*checkout.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[id]
	a := p.ShippingAddress
	s.Email, s.Phone, s.ShippingAddress, s.BillingAddress = p.Email, p.Phone, &a, &a
	s.ShippingMethods = []checkout.ShippingMethod{
		{CarrierCode: "flatrate", MethodCode: "flatrate", CarrierTitle: "Flat Rate", MethodTitle: "Fixed", Amount: 1500, Currency: "USD", Available: true},
		{CarrierCode: "tablerate", MethodCode: "bestway", CarrierTitle: "Best Way", MethodTitle: "Table Rate", Amount: 0, Currency: "USD", Available: true},
	}
	s.CarrierCode, s.MethodCode = "", ""
	c := *s
	return &c, nil
}

func (f *fakeCore) SetShippingMethod(_ context.Context, id, _, carrier, method string) (*checkout.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[id]
	for _, m := range s.ShippingMethods {
		if m.CarrierCode == carrier && m.MethodCode == method {
			s.CarrierCode, s.MethodCode = carrier, method
			cv := f.carts[s.Cart.MaskedID]
			cv.Totals.Shipping = m.Amount
			cv.Totals.GrandTotal = cv.Totals.Subtotal + m.Amount
			s.Totals = cv.Totals
			c := *s
			return &c, nil
		}
	}
	return nil, errs.Invalidf("method_code", "not offered")
}

func (f *fakeCore) Load(_ context.Context, ref checkout.CartRef) (checkout.CartView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cv, ok := f.carts[ref.MaskedID]
	if !ok {
		return checkout.CartView{}, errs.E(errs.NotFound, "no cart")
	}
	c := *cv
	c.Items = append([]checkout.Item(nil), cv.Items...)
	return c, nil
}

func (f *fakeCore) Pay(_ context.Context, p checkout.PayParams) (*checkout.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pays = append(f.pays, p)
	if id, ok := f.byKey[p.SessionID+"|"+p.IdempotencyKey]; ok {
		c := *f.payments[id]
		return &c, nil
	}
	s := f.sessions[p.SessionID]
	cv := f.carts[s.Cart.MaskedID]
	f.n++
	pay := &checkout.Payment{ID: fmt.Sprintf("pay_%024d", f.n), SessionID: s.ID, IdempotencyKey: p.IdempotencyKey,
		Amount: cv.Totals.GrandTotal, Currency: cv.Totals.Currency, Method: string(p.Method), Gateway: "sandbox-a",
		Snapshot: paymentevent.Snapshot{Items: cv.Items, Totals: cv.Totals}}
	switch p.Token {
	case sandboxgw.TokenOK:
		pay.Status = checkout.StatusCaptured
	case "widget:razorpay":
		pay.Status, pay.Gateway, pay.GatewayReference = checkout.StatusRequiresAction, "razorpay", "order_"+pay.ID
		pay.NextAction = &gateway.NextAction{Type: "sdk", Data: map[string]any{"key_id": "rzp_test_x", "order_id": "order_" + pay.ID,
			"amount": pay.Amount, "currency": pay.Currency}}
	case sandboxgw.Token3DS:
		pay.Status = checkout.StatusRequiresAction
		pay.GatewayReference = "sbx_sandbox-a_" + pay.ID
		pay.NextAction = &gateway.NextAction{Type: "redirect", URL: "/sandbox/3ds/" + pay.GatewayReference}
	default:
		d := sandboxgw.Decline(p.Token[len("tok_sandbox_"):])
		pay.Status, pay.DeclineCode, pay.ErrorMessage = checkout.StatusFailed, d.Code, d.Message
	}
	if pay.Status == checkout.StatusCaptured {
		s.Status, s.PaymentID = checkout.SessionPaid, pay.ID
	}
	f.payments[pay.ID] = pay
	f.byKey[p.SessionID+"|"+p.IdempotencyKey] = pay.ID
	c := *pay
	return &c, nil
}

func (f *fakeCore) Payment(_ context.Context, id string) (*checkout.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[id]
	if !ok {
		return nil, errs.E(errs.NotFound, "No payment %s.", id)
	}
	c := *p
	return &c, nil
}

func (f *fakeCore) Reconcile(ctx context.Context, id string) (*checkout.Payment, error) {
	return f.Payment(ctx, id)
}

func (f *fakeCore) CompleteAction(_ context.Context, ref string, approved bool) (*checkout.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.payments {
		if p.GatewayReference == ref && p.Status == checkout.StatusRequiresAction {
			if approved {
				p.Status = checkout.StatusCaptured
				f.sessions[p.SessionID].Status, f.sessions[p.SessionID].PaymentID = checkout.SessionPaid, p.ID
			} else {
				p.Status, p.DeclineCode = checkout.StatusFailed, "authentication_failed"
			}
			c := *p
			return &c, nil
		}
	}
	return nil, errs.E(errs.NotFound, "Unknown authentication request.")
}

// capture simulates the gateway taking a payment that waited for its widget.
func (f *fakeCore) capture(paymentID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.payments[paymentID]
	p.Status, p.NextAction = checkout.StatusCaptured, nil
	f.sessions[p.SessionID].Status, f.sessions[p.SessionID].PaymentID = checkout.SessionPaid, p.ID
}

// placeOrder simulates magento-bridge recording the Magento order.
func (f *fakeCore) placeOrder(paymentID, increment string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payments[paymentID].MagentoIncrementID = increment
}

func startParams(masked string) checkout.StartParams {
	return checkout.StartParams{MaskedCartID: masked}
}
