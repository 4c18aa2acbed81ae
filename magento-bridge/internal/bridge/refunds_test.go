package bridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
)

func TestCreditMemoRefundedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(2)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)

	ctx := context.Background()
	orders := h.sb.Orders()
	// A partial credit memo on the first order, made in Magento's admin.
	memoID, err := h.mc.RefundOrderOffline(ctx, orders[0].EntityID, magento.RefundRequest{
		Items: []magento.ItemQty{{OrderItemID: orders[0].Items[0].ItemID, Qty: 1}}, Arguments: &magento.RefundArguments{ShippingAmount: new(float64)},
	})
	if err != nil {
		t.Fatalf("credit memo: %v", err)
	}
	// And an order the platform did not place, with its own credit memo.
	cart, _ := h.sb.CreateGuestCartWithItems(magentoLine())
	ref := magento.AdminCart(cart.QuoteID)
	if _, err := h.mc.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: addr(), BillingAddress: ptr(addr()),
		ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		t.Fatal(err)
	}
	foreign, err := h.mc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "checkmo"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mc.InvoiceOrder(ctx, foreign, magento.InvoiceRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mc.RefundOrderOffline(ctx, foreign, magento.RefundRequest{}); err != nil {
		t.Fatal(err)
	}

	pay := checkoutapi.New(checkoutapi.Config{BaseURL: h.checkout.srv.URL, ServiceToken: "svc-token", Timeout: 5 * time.Second})
	rs := bridge.NewRefundSync(bridge.RefundConfig{Interval: time.Hour, Lookback: time.Hour, Overlap: 10 * time.Minute},
		h.store, h.magentoFor("refunds"), pay, h.metrics, h.log, h.clock.Now)
	h.checkout.mu.Lock()
	h.checkout.failNext = 1 // the first refund attempt fails: retried with the same refund id
	h.checkout.mu.Unlock()
	for range 3 { // polled again and again: the memo stays refunded once
		if err := rs.Poll(ctx); err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	// A second instance polling from scratch changes nothing either.
	h.db.Exec(`DELETE FROM bridge_cursors`)
	if err := rs.Poll(ctx); err != nil {
		t.Fatalf("poll: %v", err)
	}
	calls := h.checkout.Calls()
	var paid fixture
	for _, f := range fx {
		if f.QuoteID == orders[0].QuoteID {
			paid = f
		}
	}
	want := refundCall{PaymentID: paid.PaymentID, Amount: 5200, RefundID: bridge.RefundID(memoID), Auth: "Bearer svc-token"}
	if len(calls) != 2 || calls[0] != want || calls[1] != want {
		t.Fatalf("refund calls = %+v; want %+v twice (a failed attempt, then its retry)", calls, want)
	}
	var comments int
	for _, o := range h.sb.Orders() {
		for _, c := range o.StatusHistories {
			if strings.Contains(c.Comment, want.RefundID) {
				comments++
				if o.EntityID != orders[0].EntityID {
					t.Errorf("refund comment on order %d", o.EntityID)
				}
			}
		}
	}
	if comments != 1 {
		t.Errorf("%d refund comments; want 1", comments)
	}
	refunds, _ := h.store.Refunds(ctx)
	if len(refunds) != 1 || refunds[0].Step != bridge.RefundDone {
		t.Errorf("refunds = %+v; want one done", refunds)
	}
}

func magentoLine() magentosandbox.CartLine { return magentosandbox.CartLine{SKU: testSKU, Qty: 1} }

func addr() magento.Address {
	return magento.Address{Firstname: "Ann", Lastname: "Other", Street: []string{"2 Side St"}, City: "Austin", Region: "Texas",
		RegionID: 57, RegionCode: "TX", Postcode: "78701", CountryID: "US", Telephone: "5125550101", Email: "ann@example.com"}
}

func ptr[T any](v T) *T { return &v }

// cancelling reports the given orders as cancelled in Magento, which the
// sandbox cannot do (it has no cancel route).
type cancelling struct {
	bridge.Magento
	cancelled []magento.Order
}

func (c *cancelling) SearchOrders(ctx context.Context, sc magento.SearchCriteria) (*magento.SearchResult[magento.Order], error) {
	if q := sc.Query().Encode(); strings.Contains(q, "canceled") {
		return &magento.SearchResult[magento.Order]{Items: c.cancelled, TotalCount: len(c.cancelled)}, nil
	}
	return c.Magento.SearchOrders(ctx, sc)
}

func TestAuthorisedOrderCancelledIsVoidedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	// This payment is only authorised: its order is placed but not invoiced.
	h.db.Exec(`UPDATE payments SET status = 'authorized'`)
	h.db.Exec(`UPDATE outbox SET payload = JSON_SET(payload, '$.status', 'authorized')`)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(10 * time.Second)
	stop()
	orders := h.sb.Orders()
	if len(orders) != 1 || orders[0].QuoteID != fx[0].QuoteID || len(h.sb.Invoices()) != 0 {
		t.Fatalf("orders = %d, invoices = %d; want one uninvoiced order", len(orders), len(h.sb.Invoices()))
	}
	o := orders[0]
	o.State, o.Status, o.UpdatedAt = "canceled", "canceled", magento.MagentoTime(h.clock.Now())
	m := &cancelling{Magento: h.magentoFor("refunds"), cancelled: []magento.Order{o}}
	pay := checkoutapi.New(checkoutapi.Config{BaseURL: h.checkout.srv.URL, ServiceToken: "svc-token", Timeout: 5 * time.Second})
	rs := bridge.NewRefundSync(bridge.RefundConfig{Interval: time.Hour, Lookback: time.Hour}, h.store, m, pay, h.metrics, h.log, h.clock.Now)
	for range 2 {
		if err := rs.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	h.checkout.mu.Lock()
	voids := append([]string(nil), h.checkout.voids...)
	h.checkout.mu.Unlock()
	if len(voids) != 1 || voids[0] != fx[0].PaymentID {
		t.Errorf("voids = %v; want exactly one for %s", voids, fx[0].PaymentID)
	}
}
