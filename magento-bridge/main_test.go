package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/internal/paymentevent"
)

// TestServeEndToEnd runs the shipped wiring (program().Serve) against real
// MySQL and Redis, the sandbox Magento and a stand-in for checkout: captured
// payments become invoiced orders, GET /v1/status and /metrics report them,
// and the dead-letter API and commands work with the admin token.
func TestServeEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mcfg := databasetest.NewConfig(t)
	db, err := database.Open(ctx, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := database.Migrate(ctx, db, "checkout_service_migrations", os.DirFS(filepath.Join("..", "checkout-service", "migrations")), zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	sb := magentosandbox.New(magentosandbox.Options{})
	msrv := httptest.NewServer(sb.Handler())
	defer msrv.Close()
	var mu sync.Mutex
	var refunds []string
	csrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		refunds = append(refunds, r.URL.Path)
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	defer csrv.Close()

	cfg := DefaultConfig()
	cfg.Env = "development"
	cfg.Log.Level = "warn"
	cfg.MySQL = mcfg
	cfg.Redis = cachetest.NewConfig(t)
	cfg.Magento.BaseURL = msrv.URL
	cfg.Magento.Timeout = 5 * time.Second
	cfg.Checkout.BaseURL = csrv.URL
	cfg.Bridge.AdminToken = "admin-token-0123456789"
	cfg.Bridge.PollInterval = 20 * time.Millisecond
	cfg.Bridge.RetryBase = 50 * time.Millisecond
	cfg.Bridge.RetryMax = 200 * time.Millisecond
	cfg.Bridge.StatusInterval = 50 * time.Millisecond
	cfg.Bridge.RefundPollInterval = 100 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- program().Serve(ctx, cfg, ln, nil) }()

	quotes := []int64{capture(t, db, sb, "pay_e2e_1"), capture(t, db, sb, "pay_e2e_2")}
	// An event with no payment behind it: it must become a dead letter.
	insertEvent(t, db, paymentevent.Captured{PaymentID: "pay_ghost", QuoteID: 999, Amount: 100, Currency: "USD", Gateway: "stripe", TransactionID: "pi_x"})

	var st struct {
		Backlog     int64   `json:"backlog"`
		OldestAge   float64 `json:"oldest_age_seconds"`
		InFlight    int64   `json:"in_flight"`
		DeadLetters int64   `json:"dead_letters"`
		Synced      int64   `json:"synced_total"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		getJSON(t, base+"/v1/status", "", http.StatusOK, &st)
		if st.Synced == 2 && st.DeadLetters == 1 && st.Backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v; want 2 synced, 1 dead letter, no backlog", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	orders := sb.Orders()
	if len(orders) != 2 {
		t.Fatalf("%d orders; want 2", len(orders))
	}
	for _, o := range orders {
		if o.QuoteID != quotes[0] && o.QuoteID != quotes[1] || o.TotalInvoiced == 0 {
			t.Errorf("order %s (quote %d) invoiced %v", o.IncrementID, o.QuoteID, o.TotalInvoiced)
		}
	}
	var recorded int
	db.QueryRow(`SELECT COUNT(*) FROM payments WHERE magento_increment_id IS NOT NULL`).Scan(&recorded)
	if recorded != 2 {
		t.Errorf("%d payments record their order; want 2", recorded)
	}

	// The gauges follow the status refresh (StatusInterval), a tick or more
	// behind /v1/status: look until they have caught up.
	wantMetrics := []string{"bridge_orders_synced_total 2", "bridge_outbox_backlog 0", "bridge_magento_request_duration_seconds_bucket", "bridge_dead_letters_open 1"}
	deadline = time.Now().Add(10 * time.Second)
	for {
		metrics := getBody(t, base+"/metrics", "", http.StatusOK)
		var missing []string
		for _, want := range wantMetrics {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/metrics lacks %q; last body:\n%s", missing, metrics)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	getBody(t, base+"/v1/admin/dead-letters", "", http.StatusUnauthorized)
	getBody(t, base+"/v1/admin/dead-letters", "wrong", http.StatusUnauthorized)
	var list struct {
		DeadLetters []struct {
			ID      int64  `json:"id"`
			Reason  string `json:"reason"`
			Payment string `json:"payment_id"`
			History []any  `json:"history"`
		} `json:"dead_letters"`
	}
	getJSON(t, base+"/v1/admin/dead-letters", cfg.Bridge.AdminToken.Reveal(), http.StatusOK, &list)
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].Reason != "no_payment" || len(list.DeadLetters[0].History) == 0 {
		t.Fatalf("dead letters = %+v; want the ghost event with its history", list)
	}
	id := list.DeadLetters[0].ID
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/v1/admin/dead-letters/%d/replay", base, id), nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Bridge.AdminToken.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay over HTTP = %d; want 200", resp.StatusCode)
	}

	// The commands, with the configuration taken from the environment.
	env := map[string]string{
		"BRIDGE_MYSQL_DSN": mcfg.DSN.Reveal(), "BRIDGE_REDIS_ADDRS": strings.Join(cfg.Redis.Addrs, ","),
		"BRIDGE_REDIS_KEY_PREFIX": cfg.Redis.KeyPrefix, "BRIDGE_LOG_LEVEL": "error", "BRIDGE_ENV": "development",
	}
	getenv := func(k string) string { return env[k] }
	deadline = time.Now().Add(10 * time.Second)
	var out bytes.Buffer
	for {
		out.Reset()
		if err := program().Run(ctx, []string{"dead-letters"}, &out, getenv); err != nil {
			t.Fatalf("dead-letters: %v", err)
		}
		if strings.Contains(out.String(), "no_payment") && strings.Contains(out.String(), "open") {
			break // the replayed ghost is dead again, as it should be
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead-letters printed %q; want the ghost parked again", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	newID := strings.Fields(lines[1])[0]
	out.Reset()
	if err := program().Run(ctx, []string{"replay", newID}, &out, getenv); err != nil || !strings.Contains(out.String(), "replayed") {
		t.Fatalf("replay %s = %q, %v", newID, out.String(), err)
	}
	if err := program().Run(ctx, []string{"replay", newID}, &out, getenv); err == nil {
		t.Errorf("replaying twice succeeded; want a conflict")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// capture makes a sandbox cart and a captured payment with its outbox event
// in one transaction, as checkout-service does, and returns the quote id.
func capture(t *testing.T, db *sql.DB, sb *magentosandbox.Sandbox, paymentID string) int64 {
	t.Helper()
	cart, err := sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr := &paymentevent.Address{Firstname: "Jane", Lastname: "Doe", Street: []string{"1 Main St"}, City: "Austin",
		Region: "Texas", RegionID: 57, RegionCode: "TX", Postcode: "78701", CountryID: "US", Telephone: "5125550100"}
	c := paymentevent.Captured{Version: 1, PaymentID: paymentID, QuoteID: cart.QuoteID, CartKind: paymentevent.CartGuest,
		Email: "jane@example.com", Amount: 3900, Currency: "USD", Status: "captured", Gateway: "sandbox-a", TransactionID: "txn_" + paymentID,
		Method: "card", RoutingSummary: "routed to sandbox-a", Order: paymentevent.Snapshot{QuoteID: cart.QuoteID, CartKind: paymentevent.CartGuest,
			Email: "jane@example.com", ShippingAddress: addr, ShippingCarrier: "flatrate", ShippingMethod: "flatrate"}}
	now := time.Now().UTC()
	snap, _ := json.Marshal(c.Order)
	if _, err := db.Exec(`INSERT INTO payments (id, session_id, idempotency_key, request_hash, status, amount, currency, method,
		gateway, gateway_reference, cart_kind, quote_id, order_snapshot, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'captured', 3900, 'USD', 'card', 'sandbox-a', ?, 'guest', ?, ?, ?, ?)`,
		paymentID, "s_"+paymentID, "k_"+paymentID, strings.Repeat("0", 64), c.TransactionID, cart.QuoteID, string(snap), now, now); err != nil {
		t.Fatal(err)
	}
	insertEvent(t, db, c)
	return cart.QuoteID
}

func insertEvent(t *testing.T, db *sql.DB, c paymentevent.Captured) {
	t.Helper()
	body, _ := json.Marshal(c)
	now := time.Now().UTC()
	if _, err := db.Exec(`INSERT INTO outbox (event_id, topic, aggregate_id, payload, status, attempts, available_at, created_at)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)`, paymentevent.CapturedEventID(c.PaymentID), paymentevent.TopicCaptured, c.PaymentID, string(body), now, now); err != nil {
		t.Fatal(err)
	}
}

func getBody(t *testing.T, url, token string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d %s; want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

func getJSON(t *testing.T, url, token string, want int, dst any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getBody(t, url, token, want)), dst); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRefusesSandboxPasswordInProduction(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "magento.admin_password") {
		t.Errorf("Validate() = %v; want the sandbox password refused in production", err)
	}
	cfg.Env = "development"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() in development = %v", err)
	}
	cfg.Bridge.Lease = cfg.Magento.Timeout
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bridge.lease") {
		t.Errorf("Validate() with a lease shorter than 3 × magento.timeout = %v; want bridge.lease refused", err)
	}
}

func TestConfigForeignOrderAction(t *testing.T) {
	for _, tt := range []struct {
		action string
		ok     bool
	}{{"alert", true}, {"cancel", false}, {"", false}, {"ignore", false}} {
		cfg := DefaultConfig()
		cfg.Env = "development"
		cfg.Bridge.ForeignOrderAction = tt.action
		err := cfg.Validate()
		if ok := err == nil; ok != tt.ok || !ok && !strings.Contains(err.Error(), "bridge.foreign_order_action") {
			t.Errorf("Validate() with foreign_order_action %q = %v; want ok %v", tt.action, err, tt.ok)
		}
	}
	cfg := DefaultConfig()
	cfg.Env = "development"
	cfg.Bridge.ForeignOrderPollInterval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bridge.foreign_order_poll_interval") {
		t.Errorf("Validate() with foreign_order_poll_interval 0 = %v; want it refused", err)
	}
}
