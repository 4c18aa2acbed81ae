package bridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

// placeAsShopper places an order the way anyone can through Magento's own
// checkout: a guest cart over REST, no credentials, an offline method.
func (h *harness) placeAsShopper(method magento.Payment) magento.Order {
	h.t.Helper()
	ctx := context.Background()
	masked, err := h.mc.CreateGuestCart(ctx)
	if err != nil {
		h.t.Fatalf("guest cart: %v", err)
	}
	ref := magento.GuestCart(masked)
	if _, err := h.mc.AddItem(ctx, ref, testSKU, 1); err != nil {
		h.t.Fatalf("add item: %v", err)
	}
	if _, err := h.mc.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: addr(), BillingAddress: ptr(addr()),
		ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		h.t.Fatalf("shipping information: %v", err)
	}
	id, err := h.mc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "mallory@example.com", PaymentMethod: method})
	if err != nil {
		h.t.Fatalf("place %s order as a shopper: %v", method.Method, err)
	}
	o, err := h.mc.Order(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return *o
}

func (h *harness) foreignWatch(method string) *bridge.ForeignOrderWatch {
	return bridge.NewForeignOrderWatch(bridge.ForeignConfig{Interval: time.Hour, Lookback: time.Hour, Overlap: 10 * time.Minute, PaymentMethod: method},
		h.store, h.magentoFor("foreign"), h.metrics, h.log, h.clock.Now)
}

// warnings counts the foreign-order comments on each order.
func (h *harness) warnings() map[int64]int {
	out := map[int64]int{}
	for _, o := range h.sb.Orders() {
		for _, c := range o.StatusHistories {
			if strings.Contains(c.Comment, bridge.ForeignOrderComment) {
				out[o.EntityID]++
			}
		}
	}
	return out
}

func TestForeignOrdersFlaggedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{schema: true})
	fx := h.capture(2)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	bridgeOrders := h.sb.Orders()

	// Orders nobody paid for, placed through Magento's guest checkout with
	// the bridge's method: any reference, a forged one naming a transaction
	// that does not exist, and a real transaction of another cart.
	unpaid := []magento.Order{
		h.placeAsShopper(magento.Payment{Method: "purchaseorder", PONumber: "PO-4711"}),
		h.placeAsShopper(magento.Payment{Method: "purchaseorder", PONumber: "stripe pi_test_does_not_exist"}),
		h.placeAsShopper(magento.Payment{Method: "purchaseorder", PONumber: "stripe " + fx[0].TransactionID}),
	}
	// An order with another offline method is not the bridge's business.
	checkmo := h.placeAsShopper(magento.Payment{Method: "checkmo"})

	ctx := context.Background()
	w := h.foreignWatch("purchaseorder")
	for range 2 {
		if err := w.Poll(ctx); err != nil {
			t.Fatalf("Poll() = %v", err)
		}
	}
	// A second instance polling from scratch, after a comment whose record
	// was lost: the order is read first, so still one comment.
	h.db.Exec(`DELETE FROM bridge_cursors`)
	h.db.Exec(`UPDATE bridge_foreign_orders SET commented_at = NULL WHERE magento_order_id = ?`, unpaid[0].EntityID)
	if err := w.Poll(ctx); err != nil {
		t.Fatalf("Poll() = %v", err)
	}

	if got := sum(h.metrics.ForeignOrders); got != float64(len(unpaid)) {
		t.Errorf("bridge_foreign_orders_total = %v; want %d", got, len(unpaid))
	}
	warnings := h.warnings()
	for _, o := range unpaid {
		if warnings[o.EntityID] != 1 {
			t.Errorf("order %s (po_number %q): %d warning comments; want 1", o.IncrementID, o.Payment.PONumber, warnings[o.EntityID])
		}
	}
	for _, o := range append(bridgeOrders, checkmo) {
		if warnings[o.EntityID] != 0 {
			t.Errorf("order %s (%s, po_number %q) flagged; the bridge placed it or it is not purchaseorder", o.IncrementID, o.Payment.Method, o.Payment.PONumber)
		}
	}
	if st := h.status(); st.ForeignOrders != int64(len(unpaid)) {
		t.Errorf("status foreign_orders = %d; want %d", st.ForeignOrders, len(unpaid))
	}
	list, err := h.store.ForeignOrders(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(unpaid) {
		t.Fatalf("ForeignOrders() = %+v; want %d", list, len(unpaid))
	}
	for _, f := range list {
		if !f.Commented || f.Amount != 5700 || f.Currency != "USD" || f.IncrementID == "" || f.PaymentMethod != "purchaseorder" {
			t.Errorf("foreign order %+v; want commented, 57.00 USD, purchaseorder", f)
		}
	}
}

// pollOnPlace runs the foreign-order watch right after Magento created each
// order the bridge places and before the bridge recorded it anywhere.
type pollOnPlace struct {
	bridge.Magento
	watch *bridge.ForeignOrderWatch
	errs  []error
}

func (p *pollOnPlace) PlaceOrder(ctx context.Context, ref magento.CartRef, req magento.PlaceOrderRequest) (int64, error) {
	id, err := p.Magento.PlaceOrder(ctx, ref, req)
	p.errs = append(p.errs, p.watch.Poll(ctx))
	return id, err
}

func TestBridgeOrderBeingPlacedIsNotForeign(t *testing.T) {
	h := newHarness(t, harnessOptions{schema: true})
	fx := h.capture(3)
	cfg := h.config("a")
	cfg.Workers = 1 // pollOnPlace is not safe for concurrent use
	m := &pollOnPlace{Magento: h.magentoFor("a"), watch: h.foreignWatch("purchaseorder")}
	stop := run(h.syncer(cfg, nil, m))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	if err := m.watch.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(m.errs) != len(fx) {
		t.Fatalf("%d polls during placement; want %d", len(m.errs), len(fx))
	}
	for _, err := range m.errs {
		if err != nil {
			t.Errorf("Poll() during placement = %v", err)
		}
	}
	if got := sum(h.metrics.ForeignOrders); got != 0 {
		t.Errorf("bridge_foreign_orders_total = %v; want 0 (every order was the bridge's)", got)
	}
	if w := h.warnings(); len(w) != 0 {
		t.Errorf("warning comments %v on the bridge's own orders", w)
	}

	// The payments row alone vouches for an order (the bridge's own record
	// of the cart is not needed): a captured payment's cart placed with its
	// reference is not flagged; once the payment is not captured or
	// authorised, it is.
	ctx := context.Background()
	late := h.capture(1)[0]
	ref := magento.AdminCart(late.QuoteID)
	if _, err := h.mc.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: addr(), BillingAddress: ptr(addr()),
		ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		t.Fatal(err)
	}
	id, err := h.mc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "purchaseorder", PONumber: "stripe " + late.TransactionID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.watch.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sum(h.metrics.ForeignOrders); got != 0 {
		t.Errorf("bridge_foreign_orders_total = %v after an order with a captured payment's reference; want 0", got)
	}
	h.db.Exec(`UPDATE payments SET status = 'failed' WHERE id = ?`, late.PaymentID)
	if err := m.watch.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got, w := sum(h.metrics.ForeignOrders), h.warnings(); got != 1 || w[id] != 1 {
		t.Errorf("order of a failed payment: counter %v, warnings %v; want it flagged once", got, w)
	}
}

func TestForeignOrdersWithCheckmo(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cfg := h.config("a")
	cfg.PaymentMethod = "checkmo"
	fx := h.capture(1)
	stop := run(h.syncer(cfg, nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	mine := h.sb.Orders()
	unpaid := h.placeAsShopper(magento.Payment{Method: "checkmo"})
	if err := h.foreignWatch("checkmo").Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := h.warnings()
	if len(mine) != 1 || mine[0].QuoteID != fx[0].QuoteID || w[mine[0].EntityID] != 0 {
		t.Errorf("the bridge's checkmo order: %d orders, warnings %v; want one, not flagged", len(mine), w)
	}
	if w[unpaid.EntityID] != 1 || sum(h.metrics.ForeignOrders) != 1 {
		t.Errorf("a shopper's checkmo order: %d warnings, counter %v; want 1 and 1", w[unpaid.EntityID], sum(h.metrics.ForeignOrders))
	}
}
