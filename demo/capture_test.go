package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/magento"
)

// TestDemoAuthoriseThenCaptureOnInvoice runs "authorise at checkout, capture
// when a Magento admin invoices" across the real services: checkout-service
// only authorises (checkout.capture false) and announces the authorised
// payment, magento-bridge places the Magento order un-invoiced, an admin
// invoices it in the sandbox Magento, and the bridge's invoice poller has
// checkout-service capture the payment once and comments on the order once.
func TestDemoAuthoriseThenCaptureOnInvoice(t *testing.T) {
	const pollInterval = time.Second
	d := startDemo(t,
		"CHECKOUT_CHECKOUT_CAPTURE=false",
		"CHECKOUT_CHECKOUT_ANNOUNCE_AUTHORIZED=true",
		"BRIDGE_BRIDGE_CAPTURE_POLL_INTERVAL="+pollInterval.String(),
	)
	l := d.l
	checkoutAddr, bridgeAddr := l.services[1].addr, l.services[2].addr

	// A guest checkout paid with tok_sandbox_ok: authorised, not captured.
	payment := payGuestSession(t, l, openGuestSession(t, l, d.out), "demo-authorise-1")
	if payment.Status != "authorized" || payment.Amount != demoCartTotal || payment.CaptureID != "" {
		t.Fatalf("payment = %+v; want authorized for %d with no capture id", payment, demoCartTotal)
	}

	// The bridge places the order and records it on the payment (its last
	// step) without invoicing it.
	placed := waitMagentoOrder(t, l, payment.ID, time.Minute)
	orderID := placed.MagentoOrder.ID
	if placed.Status != "authorized" {
		t.Fatalf("payment once its order is placed = %+v; want still authorized", placed)
	}
	order := sandboxOrder(t, l, orderID)
	if order.TotalInvoiced != 0 || len(sandboxInvoices(t, l, orderID)) != 0 {
		t.Fatalf("order %d placed for an authorised payment: total_invoiced %v, invoices %+v; want no invoice",
			orderID, order.TotalInvoiced, sandboxInvoices(t, l, orderID))
	}
	if n := countComments(order, "authorised only, not yet captured"); n != 1 {
		t.Errorf("order %d has %d comments saying the payment is authorised only; want 1: %+v", orderID, n, order.StatusHistories)
	}

	// An admin invoices the whole order, offline, as in the Magento admin.
	invoiceID := invoiceAsAdmin(t, l, orderID)
	captureID := "magento-inv-" + strconv.FormatInt(invoiceID, 10)
	marker := "[capture " + captureID + "]"

	// The bridge's invoice poller has checkout capture the payment with the
	// invoice's capture id, then comments on the order.
	var captured demoPayment
	waitFor(t, time.Minute, "checkout-service shows payment "+payment.ID+" captured", func() (bool, string) {
		captured = demoPayment{}
		apiCall(t, "GET", "http://"+l.edge+"/v1/payments/"+payment.ID, nil, nil, http.StatusOK, &captured)
		return captured.Status == "captured", captured.String()
	})
	if captured.CaptureID != captureID || captured.Amount != demoCartTotal || captured.RefundedAmount != 0 {
		t.Errorf("captured payment = %+v; want capture_id %s for %d, nothing refunded", captured, captureID, demoCartTotal)
	}
	waitFor(t, time.Minute, "magento-bridge comments "+marker+" on order "+strconv.FormatInt(orderID, 10), func() (bool, string) {
		o := sandboxOrder(t, l, orderID)
		return countComments(o, marker) > 0, fmt.Sprintf("%+v", o.StatusHistories)
	})

	// A few more polls change nothing: one capture, one comment, one invoice.
	polls := metricValue(t, bridgeAddr, "bridge_magento_request_duration_seconds_count", `op="invoices"`)
	waitFor(t, time.Minute, "three more invoice polls by magento-bridge", func() (bool, string) {
		n := metricValue(t, bridgeAddr, "bridge_magento_request_duration_seconds_count", `op="invoices"`)
		return n >= polls+3, fmt.Sprintf("%v invoice reads, from %v", n, polls)
	})
	order = sandboxOrder(t, l, orderID)
	if n := countComments(order, marker); n != 1 {
		t.Errorf("order %d has %d comments with %s; want 1: %+v", orderID, n, marker, order.StatusHistories)
	} else if c := commentWith(order, marker); !strings.Contains(c, "Captured 164.39 USD") {
		t.Errorf("capture comment = %q; want it to name the 164.39 USD captured", c)
	}
	if n := countComments(order, "NOT CAPTURED"); n != 0 {
		t.Errorf("order %d has %d NOT CAPTURED comments; want none: %+v", orderID, n, order.StatusHistories)
	}
	if inv := sandboxInvoices(t, l, orderID); len(inv) != 1 || inv[0].EntityID != invoiceID {
		t.Errorf("invoices of order %d = %+v; want only the admin's %d", orderID, inv, invoiceID)
	}
	var after demoPayment
	apiCall(t, "GET", "http://"+l.edge+"/v1/payments/"+payment.ID, nil, nil, http.StatusOK, &after)
	if after.Status != "captured" || after.CaptureID != captureID || after.RefundedAmount != 0 ||
		len(after.Attempts) != 1 || after.Attempts[0].Status != "captured" {
		t.Errorf("payment after more polls = %+v; want captured as %s through its one attempt", after, captureID)
	}
	for _, m := range []struct {
		addr, name, labels string
		want               float64
	}{
		{bridgeAddr, "bridge_captures_total", `outcome="captured"`, 1},
		{bridgeAddr, "bridge_capture_failures_total", "", 0},
	} {
		if got := metricValue(t, m.addr, m.name, m.labels); got != m.want {
			t.Errorf("%s{%s} = %v; want %v", m.name, m.labels, got, m.want)
		}
	}
	// checkout answers every capture request, a repeat included; the bridge
	// repeats one only after an error (a lost answer on a starved machine).
	retries := metricValue(t, bridgeAddr, "bridge_captures_total", `outcome="retry"`)
	if got := metricValue(t, checkoutAddr, "checkout_capture_requests_total", ""); got < 1 || got > 1+retries {
		t.Errorf("checkout_capture_requests_total = %v; want 1 (plus at most the bridge's %v retries)", got, retries)
	} else if retries > 0 {
		t.Logf("the bridge retried the capture %v times; checkout answered %v capture requests", retries, got)
	}
	if got := metricValue(t, checkoutAddr, "checkout_capture_requests_total", `status="captured"`); got != metricValue(t, checkoutAddr, "checkout_capture_requests_total", "") {
		t.Errorf("checkout_capture_requests_total{status=\"captured\"} = %v; want every capture request answered captured", got)
	}
	if n := countLogLines(d.out.String(), "checkout-service", "\tpayment captured\t", `"payment_id": "`+payment.ID+`"`); n != 1 {
		t.Errorf("checkout-service logged %d captures of payment %s; want 1", n, payment.ID)
	}
}

// sandboxOrder returns an order as the sandbox Magento holds it.
func sandboxOrder(t *testing.T, l layout, orderID int64) magento.Order {
	t.Helper()
	var orders []magento.Order
	apiCall(t, "GET", "http://"+l.magento+"/__sandbox/orders", nil, nil, http.StatusOK, &orders)
	for _, o := range orders {
		if o.EntityID == orderID {
			return o
		}
	}
	t.Fatalf("the sandbox Magento has no order %d among %d", orderID, len(orders))
	return magento.Order{}
}

// sandboxInvoice is an invoice as the sandbox Magento's /__sandbox/invoices
// shows it.
type sandboxInvoice struct {
	EntityID   int64   `json:"entity_id"`
	OrderID    int64   `json:"order_id"`
	GrandTotal float64 `json:"grand_total"`
	Capture    bool    `json:"capture"`
}

// sandboxInvoices returns the invoices of an order in the sandbox Magento.
func sandboxInvoices(t *testing.T, l layout, orderID int64) []sandboxInvoice {
	t.Helper()
	var all, out []sandboxInvoice
	apiCall(t, "GET", "http://"+l.magento+"/__sandbox/invoices", nil, nil, http.StatusOK, &all)
	for _, inv := range all {
		if inv.OrderID == orderID {
			out = append(out, inv)
		}
	}
	return out
}

// invoiceAsAdmin invoices the whole order offline (capture false) through
// the sandbox Magento's REST API as its admin, as an admin invoicing in the
// Magento back office does, and returns the invoice's entity id.
func invoiceAsAdmin(t *testing.T, l layout, orderID int64) int64 {
	t.Helper()
	cfg := magento.DefaultConfig()
	cfg.BaseURL = "http://" + l.magento
	cfg.AdminUsername = "admin"
	cfg.AdminPassword = sandboxAdminPassword
	mc, err := magento.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := mc.InvoiceOrder(ctx, orderID, magento.InvoiceRequest{Capture: false})
	if err != nil || id == 0 {
		t.Fatalf("InvoiceOrder(%d) as admin = %d, %v; want an invoice", orderID, id, err)
	}
	return id
}

// countLogLines counts the lines service logged in the demo's output that
// contain every one of parts.
func countLogLines(out, service string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, service+" ") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// countComments counts an order's status history comments containing s.
func countComments(o magento.Order, s string) int {
	n := 0
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, s) {
			n++
		}
	}
	return n
}

// commentWith returns an order's first comment containing s.
func commentWith(o magento.Order, s string) string {
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, s) {
			return h.Comment
		}
	}
	return ""
}

// metricValue returns the sum of a metric's samples on a service's /metrics
// whose labels contain labels (`name="value"` pairs, comma-separated; empty
// matches every sample), 0 when there is none.
func metricValue(t *testing.T, addr, name, labels string) float64 {
	t.Helper()
	resp, err := apiClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics = %d; want 200", addr, resp.StatusCode)
	}
	var want []string
	if labels != "" {
		want = strings.Split(labels, ",")
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for _, w := range want {
			if !strings.Contains(lbls, w) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			t.Fatalf("%s/metrics: %q: %v", addr, line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	return sum
}
