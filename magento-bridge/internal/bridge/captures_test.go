package bridge_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
)

// authorise makes fixtures' payments authorised only, as checkout announces
// them with checkout.capture false, and tells checkout's stand-in their
// authorised amounts. Call it before the syncer runs.
func (h *harness) authorise(fx ...fixture) {
	h.t.Helper()
	for _, f := range fx {
		if _, err := h.db.Exec(`UPDATE payments SET status = 'authorized' WHERE id = ?`, f.PaymentID); err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.db.Exec(`UPDATE outbox SET payload = JSON_SET(payload, '$.status', 'authorized') WHERE aggregate_id = ?`, f.PaymentID); err != nil {
			h.t.Fatal(err)
		}
		h.checkout.Authorise(f.PaymentID, f.Amount)
	}
}

// authorisedOrder returns a harness with one payment that checkout only
// authorised, whose order the bridge has placed un-invoiced, and that order.
func authorisedOrder(t *testing.T) (*harness, []fixture, magento.Order) {
	t.Helper()
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	h.authorise(fx...)
	h.sync()
	return h, fx, h.orderOf(fx[0])
}

// sync runs the order sync until the outbox is drained.
func (h *harness) sync() {
	h.t.Helper()
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
}

// captureSync returns a capture poller as one instance of the bridge runs
// it; log nil means the harness's logger.
func (h *harness) captureSync(owner string, log *zap.Logger) *bridge.CaptureSync {
	if log == nil {
		log = h.log
	}
	pay := checkoutapi.New(checkoutapi.Config{BaseURL: h.checkout.srv.URL, ServiceToken: "svc-token", Timeout: 5 * time.Second})
	return bridge.NewCaptureSync(bridge.CaptureConfig{Interval: time.Hour, Lookback: time.Hour, Overlap: 10 * time.Minute},
		h.store, h.magentoFor(owner), pay, h.metrics, log.With(zap.String("instance", owner)), h.clock.Now)
}

func (h *harness) poll(cs *bridge.CaptureSync) {
	h.t.Helper()
	if err := cs.Poll(context.Background()); err != nil {
		h.t.Fatalf("capture poll: %v", err)
	}
}

// orderOf returns the Magento order placed for a fixture.
func (h *harness) orderOf(f fixture) magento.Order {
	h.t.Helper()
	for _, o := range h.sb.Orders() {
		if o.QuoteID == f.QuoteID {
			return o
		}
	}
	h.t.Fatalf("no order for payment %s", f.PaymentID)
	return magento.Order{}
}

// adminInvoice invoices an order as an admin does in Magento's admin; qty 0
// invoices everything left.
func (h *harness) adminInvoice(o magento.Order, qty float64) int64 {
	h.t.Helper()
	req := magento.InvoiceRequest{Capture: false, Notify: true}
	if qty > 0 {
		req.Items = []magento.ItemQty{{OrderItemID: o.Items[0].ItemID, Qty: qty}}
	}
	id, err := h.mc.InvoiceOrder(context.Background(), o.EntityID, req)
	if err != nil {
		h.t.Fatalf("invoice order %s: %v", o.IncrementID, err)
	}
	return id
}

// comments counts the comments on an order that contain s.
func (h *harness) comments(orderID int64, s string) int {
	n := 0
	for _, o := range h.sb.Orders() {
		if o.EntityID != orderID {
			continue
		}
		for _, c := range o.StatusHistories {
			if strings.Contains(c.Comment, s) {
				n++
			}
		}
	}
	return n
}

// foreignInvoicedOrder places and invoices an order through Magento alone.
func (h *harness) foreignInvoicedOrder() int64 {
	h.t.Helper()
	ctx := context.Background()
	cart, _ := h.sb.CreateGuestCartWithItems(magentoLine())
	ref := magento.AdminCart(cart.QuoteID)
	if _, err := h.mc.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: addr(), BillingAddress: ptr(addr()),
		ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		h.t.Fatal(err)
	}
	id, err := h.mc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "checkmo"}})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.mc.InvoiceOrder(ctx, id, magento.InvoiceRequest{}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) captureRows() []bridge.Capture {
	h.t.Helper()
	rows, err := h.store.Captures(context.Background(), "", 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return rows
}

func TestInvoiceOfAuthorisedOrderCapturedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(3)
	authorised, waiting, paid := fx[0], fx[1], fx[2]
	h.authorise(authorised, waiting)
	h.sync()
	// The bridge placed all three orders and invoiced only the captured one.
	invoiced := map[int64]int{}
	for _, inv := range h.sb.Invoices() {
		invoiced[inv.OrderID]++
	}
	order, waitingOrder, paidOrder := h.orderOf(authorised), h.orderOf(waiting), h.orderOf(paid)
	if invoiced[order.EntityID] != 0 || invoiced[waitingOrder.EntityID] != 0 || invoiced[paidOrder.EntityID] != 1 {
		t.Fatalf("invoices by order = %v; want only the captured payment's order %d invoiced", invoiced, paidOrder.EntityID)
	}

	// An admin invoices the authorised order in Magento's admin; another
	// order, placed through Magento alone, is invoiced too.
	invoiceID := h.adminInvoice(order, 0)
	foreign := h.foreignInvoicedOrder()

	a, b := h.captureSync("a", nil), h.captureSync("b", nil)
	for range 3 { // polled again and again, two instances at once
		var wg sync.WaitGroup
		for _, cs := range []*bridge.CaptureSync{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.poll(cs)
			}()
		}
		wg.Wait()
	}
	// A third instance polling from scratch changes nothing either.
	h.db.Exec(`DELETE FROM bridge_cursors`)
	h.poll(h.captureSync("c", nil))
	// Nor does a crash between the comment and recording it: the order is
	// read before commenting.
	h.db.Exec(`UPDATE bridge_captures SET step = 'captured'`)
	h.poll(a)

	want := captureCall{PaymentID: authorised.PaymentID, Amount: 5700, CaptureID: bridge.CaptureID(invoiceID), Auth: "Bearer svc-token", Status: http.StatusOK}
	if calls := h.checkout.Captures(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("capture calls = %+v; want exactly %+v", calls, want)
	}
	marker := "[capture " + want.CaptureID + "]"
	if n := h.comments(order.EntityID, marker); n != 1 {
		t.Errorf("%d capture comments on order %s; want 1", n, order.IncrementID)
	}
	if n := h.comments(order.EntityID, "Captured 57.00 USD through stripe on secure checkout for invoice "); n != 1 {
		t.Errorf("capture comment on order %s lacks the amount and gateway: %+v", order.IncrementID, h.orderOf(authorised).StatusHistories)
	}
	for _, id := range []int64{waitingOrder.EntityID, paidOrder.EntityID, foreign} {
		if n := h.comments(id, "[capture "); n != 0 {
			t.Errorf("order %d has %d capture comments; want none", id, n)
		}
	}
	rows := h.captureRows()
	if len(rows) != 1 || rows[0].InvoiceID != invoiceID || rows[0].Step != bridge.CaptureDone || rows[0].PaymentID != authorised.PaymentID {
		t.Errorf("captures = %+v; want one done for invoice %d", rows, invoiceID)
	}
	if got := sum(h.metrics.Captures); got != 1 {
		t.Errorf("bridge_captures_total = %v; want 1 (captured)", got)
	}
	if got := sum(h.metrics.CaptureFailures); got != 0 {
		t.Errorf("bridge_capture_failures_total = %v; want 0", got)
	}
}

func TestCaptureRetriedUntilCheckoutAnswers(t *testing.T) {
	h, _, order := authorisedOrder(t)
	invoiceID := h.adminInvoice(order, 0)

	h.checkout.AnswerCaptures(http.StatusServiceUnavailable)
	cs := h.captureSync("a", nil)
	h.poll(cs)
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CapturePending {
		t.Fatalf("after a 503: captures = %+v; want one pending", rows)
	}
	if n := h.comments(order.EntityID, "[capture "); n != 0 {
		t.Errorf("after a 503: %d capture comments; want none", n)
	}
	for range 3 {
		h.poll(cs)
	}
	calls := h.checkout.Captures()
	if len(calls) != 2 || calls[0].Status != http.StatusServiceUnavailable || calls[1].Status != http.StatusOK ||
		calls[0].CaptureID != bridge.CaptureID(invoiceID) || calls[1].CaptureID != calls[0].CaptureID {
		t.Fatalf("capture calls = %+v; want a 503 then one 200, with the same capture id", calls)
	}
	if n := h.comments(order.EntityID, "[capture "+bridge.CaptureID(invoiceID)+"]"); n != 1 {
		t.Errorf("%d capture comments; want 1", n)
	}
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CaptureDone {
		t.Errorf("captures = %+v; want one done", rows)
	}
	if got := sum(h.metrics.CaptureFailures); got != 0 {
		t.Errorf("bridge_capture_failures_total = %v; want 0", got)
	}
}

// A capture whose success was never recorded (the bridge stopped after
// checkout captured) is not asked for again once checkout's payment row says
// captured.
func TestCaptureRecordedFromThePaymentAfterALostAnswer(t *testing.T) {
	h, fx, order := authorisedOrder(t)
	h.adminInvoice(order, 0)
	h.checkout.AnswerCaptures(http.StatusServiceUnavailable)
	cs := h.captureSync("a", nil)
	h.poll(cs)
	// Checkout captured it after all (its answer was lost).
	h.db.Exec(`UPDATE payments SET status = 'captured' WHERE id = ?`, fx[0].PaymentID)
	h.poll(cs)
	h.poll(cs)
	if calls := h.checkout.Captures(); len(calls) != 1 {
		t.Errorf("capture calls = %+v; want only the first", calls)
	}
	if n := h.comments(order.EntityID, "Captured 57.00 USD"); n != 1 {
		t.Errorf("%d capture comments; want 1", n)
	}
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CaptureDone {
		t.Errorf("captures = %+v; want one done", rows)
	}
}

func TestCaptureRefusedIsFinal(t *testing.T) {
	tests := []struct {
		name      string
		answer    int     // forced answer of the first capture call; 0: the stand-in decides
		qty       float64 // invoiced quantity; 0: everything
		status    string  // the payment's status when the admin invoices; empty: authorized
		wantCalls int
		reason    string
	}{
		{"gateway refused", http.StatusConflict, 0, "", 1, "authorisation expired"},
		// The fixtures' orders hold one item; the sandbox takes half of it
		// as a partial invoice (Magento would want a second line).
		{"partial invoice", 0, 0.5, "", 1, "invoice the whole order"},
		{"payment voided before the invoice", 0, 0, "voided", 0, "the payment is voided, not authorised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, fx, order := authorisedOrder(t)
			invoiceID := h.adminInvoice(order, tt.qty)
			if tt.status != "" {
				h.db.Exec(`UPDATE payments SET status = ? WHERE id = ?`, tt.status, fx[0].PaymentID)
			}
			if tt.answer != 0 {
				h.checkout.AnswerCaptures(tt.answer)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			cs := h.captureSync("a", zap.New(core))
			for range 3 {
				h.poll(cs)
			}
			if calls := h.checkout.Captures(); len(calls) != tt.wantCalls {
				t.Fatalf("capture calls = %+v; want %d, never retried", calls, tt.wantCalls)
			}
			alerts := logs.FilterMessageSnippet("ALERT").All()
			if len(alerts) != 1 || alerts[0].Level != zapcore.ErrorLevel || !strings.Contains(alerts[0].Message, "NOT captured") {
				t.Errorf("alerts = %+v; want one ALERT error line", alerts)
			}
			if got := sum(h.metrics.CaptureFailures); got != 1 {
				t.Errorf("bridge_capture_failures_total = %v; want 1", got)
			}
			marker := "[capture " + bridge.CaptureID(invoiceID) + ": not captured]"
			if n := h.comments(order.EntityID, marker); n != 1 {
				t.Fatalf("%d NOT-captured comments; want 1: %+v", n, h.orderOf(fx[0]).StatusHistories)
			}
			if n := h.comments(order.EntityID, "NOT CAPTURED"); n != 1 || h.comments(order.EntityID, "do not ship") != 1 || h.comments(order.EntityID, tt.reason) != 1 {
				t.Errorf("NOT-captured comment lacks the warning or reason %q: %+v", tt.reason, h.orderOf(fx[0]).StatusHistories)
			}
			if n := h.comments(order.EntityID, "Captured "); n != 0 {
				t.Errorf("%d capture comments on a refused capture; want none", n)
			}
			rows := h.captureRows()
			if len(rows) != 1 || rows[0].Step != bridge.CaptureFailed || !strings.Contains(rows[0].Reason, tt.reason) {
				t.Errorf("captures = %+v; want one failed with reason %q", rows, tt.reason)
			}
		})
	}
}

// A credit memo made in Magento before the bridge captured the invoice's
// payment must never end in money taken for a refunded order: the refund
// waits while a capture is owed, and the capture is refused once the order
// has a credit memo.
func TestCreditMemoBeforeCaptureTakesNoMoney(t *testing.T) {
	tests := []struct {
		name string
		// owed: the capture poll recorded the invoice (checkout answered
		// 503) before the credit memo was made.
		owed bool
	}{
		{name: "credit memo before the capture poll saw the invoice"},
		{name: "credit memo while the capture is owed", owed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h, _, order := authorisedOrder(t)
			invoiceID := h.adminInvoice(order, 0)
			core, logs := observer.New(zapcore.InfoLevel)
			cs := h.captureSync("a", zap.New(core))
			if tt.owed {
				h.checkout.AnswerCaptures(http.StatusServiceUnavailable)
				h.poll(cs)
			}
			if _, err := h.mc.RefundOrderOffline(ctx, order.EntityID, magento.RefundRequest{}); err != nil {
				t.Fatalf("credit memo: %v", err)
			}
			pay := checkoutapi.New(checkoutapi.Config{BaseURL: h.checkout.srv.URL, ServiceToken: "svc-token", Timeout: 5 * time.Second})
			rs := bridge.NewRefundSync(bridge.RefundConfig{Interval: time.Hour, Lookback: time.Hour, Overlap: 10 * time.Minute},
				h.store, h.magentoFor("refunds"), pay, h.metrics, zap.New(core), h.clock.Now)
			refundPoll := func() {
				t.Helper()
				if err := rs.Poll(ctx); err != nil {
					t.Fatalf("refund poll: %v", err)
				}
			}
			refundPoll()
			if tt.owed && len(h.checkout.Calls()) != 0 {
				t.Fatalf("refund calls while the capture is owed = %+v; want none (it waits)", h.checkout.Calls())
			}
			for range 2 {
				h.poll(cs)
				refundPoll()
			}
			for _, c := range h.checkout.Captures() {
				if c.Status == http.StatusOK {
					t.Fatalf("capture calls = %+v; money was taken for a refunded order", h.checkout.Captures())
				}
			}
			if n := len(h.checkout.Captures()); tt.owed && n != 1 || !tt.owed && n != 0 {
				t.Errorf("capture calls = %+v; want only the 503 made before the credit memo", h.checkout.Captures())
			}
			rows := h.captureRows()
			if len(rows) != 1 || rows[0].InvoiceID != invoiceID || rows[0].Step != bridge.CaptureFailed || !strings.Contains(rows[0].Reason, "credit memo") {
				t.Errorf("captures = %+v; want the invoice's capture failed for the credit memo", rows)
			}
			if n := h.comments(order.EntityID, "NOT CAPTURED"); n != 1 {
				t.Errorf("%d NOT-captured comments; want 1", n)
			}
			if n := len(logs.FilterMessageSnippet("ALERT: the payment of an invoiced order was NOT captured").All()); n != 1 {
				t.Errorf("%d capture ALERTs; want 1", n)
			}
			// The refund was tried once the capture was no longer owed, and
			// checkout refused it: nothing was taken, so nothing returns.
			if calls := h.checkout.Calls(); len(calls) != 1 {
				t.Errorf("refund calls = %+v; want one, refused", calls)
			}
		})
	}
}

// A capture that keeps failing is retried and raises an ALERT every
// CaptureAlertEvery attempts, so an invoiced order whose money is not taken
// does not wait unnoticed.
func TestStuckCaptureAlerts(t *testing.T) {
	h, _, order := authorisedOrder(t)
	h.adminInvoice(order, 0)
	answers := make([]int, bridge.CaptureAlertEvery+1)
	for i := range answers {
		answers[i] = http.StatusBadGateway
	}
	h.checkout.AnswerCaptures(answers...)
	core, logs := observer.New(zapcore.InfoLevel)
	cs := h.captureSync("a", zap.New(core))
	for range bridge.CaptureAlertEvery - 1 {
		h.poll(cs)
	}
	if n := len(logs.FilterMessageSnippet("ALERT").All()); n != 0 {
		t.Fatalf("%d ALERTs after %d failed attempts; want none yet", n, bridge.CaptureAlertEvery-1)
	}
	h.poll(cs)
	alerts := logs.FilterMessageSnippet("ALERT: the capture of an invoiced order keeps failing").All()
	if len(alerts) != 1 || alerts[0].Level != zapcore.ErrorLevel {
		t.Errorf("alerts after %d failed attempts = %+v; want one ALERT error line", bridge.CaptureAlertEvery, alerts)
	}
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CapturePending {
		t.Errorf("captures = %+v; want one still pending", rows)
	}
	h.poll(cs) // one more 502, then checkout answers
	h.poll(cs)
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CaptureDone {
		t.Errorf("captures = %+v; want done once checkout answered", rows)
	}
	if n := len(logs.FilterMessageSnippet("ALERT").All()); n != 1 {
		t.Errorf("%d ALERTs in all; want 1", n)
	}
}

// A capture checkout refused, retried by an operator once the cause is
// fixed, is asked for again with the same capture id and, captured, gets its
// "Captured" comment once next to the "NOT CAPTURED" one: the success
// marker "[capture ID]" is not found inside the refused marker
// "[capture ID: not captured]".
func TestRetriedCaptureCapturedAfterARefusal(t *testing.T) {
	ctx := context.Background()
	h, fx, order := authorisedOrder(t)
	invoiceID := h.adminInvoice(order, 0)
	captureID := bridge.CaptureID(invoiceID)

	h.checkout.AnswerCaptures(http.StatusConflict)
	cs := h.captureSync("a", nil)
	h.poll(cs)
	h.poll(cs)
	if rows := h.captureRows(); len(rows) != 1 || rows[0].Step != bridge.CaptureFailed {
		t.Fatalf("after a 409: captures = %+v; want one failed", rows)
	}
	refusedMarker, capturedMarker := "[capture "+captureID+": not captured]", "[capture "+captureID+"]"
	if n := h.comments(order.EntityID, refusedMarker); n != 1 {
		t.Fatalf("%d NOT-captured comments; want 1", n)
	}
	if n := h.comments(order.EntityID, capturedMarker); n != 0 {
		t.Fatalf("the refused comment counts as %d capture comments; want 0: %+v", n, h.orderOf(fx[0]).StatusHistories)
	}

	got, err := h.store.RetryCapture(ctx, invoiceID, "test", h.clock.Now())
	if err != nil || got.Step != bridge.CapturePending {
		t.Fatalf("RetryCapture = %+v, %v; want pending", got, err)
	}
	for range 3 {
		h.poll(cs)
	}

	calls := h.checkout.Captures()
	if len(calls) != 2 || calls[0].Status != http.StatusConflict || calls[1].Status != http.StatusOK ||
		calls[0].CaptureID != captureID || calls[1].CaptureID != captureID {
		t.Fatalf("capture calls = %+v; want a 409 then one 200, both with capture id %s", calls, captureID)
	}
	rows := h.captureRows()
	if len(rows) != 1 || rows[0].Step != bridge.CaptureDone || rows[0].LastError != "" || !strings.Contains(rows[0].Reason, "retried by test") {
		t.Errorf("captures = %+v; want one done, its retry on record", rows)
	}
	for _, s := range []string{"Captured 57.00 USD through stripe", capturedMarker, "NOT CAPTURED", refusedMarker} {
		if n := h.comments(order.EntityID, s); n != 1 {
			t.Errorf("%d comments with %q; want 1: %+v", n, s, h.orderOf(fx[0]).StatusHistories)
		}
	}
	if got := sum(h.metrics.CaptureFailures); got != 1 {
		t.Errorf("bridge_capture_failures_total = %v; want 1 (the first refusal)", got)
	}
}
