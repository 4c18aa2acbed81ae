package bridge_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/internal/magentosandbox/sandboxtest"
	"github.com/magefleet/platform/internal/paymentevent"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
	"github.com/magefleet/platform/magento-bridge/internal/throttle"
)

const testSKU = "MH01-XS-Black"

// repoRoot is the module root, three levels above this package.
var repoRoot = filepath.Join("..", "..", "..")

func checkoutMigrations() fs.FS {
	return os.DirFS(filepath.Join(repoRoot, "checkout-service", "migrations"))
}
func bridgeMigrations() fs.FS {
	return os.DirFS(filepath.Join(repoRoot, "magento-bridge", "migrations"))
}

// clock is a settable clock; the zero offset follows real time.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// refundCall is one request checkout's stand-in received.
type refundCall struct {
	PaymentID string
	Amount    int64  `json:"amount"`
	RefundID  string `json:"refund_id"`
	Auth      string
}

// captureCall is one capture request checkout's stand-in received, and the
// status it answered.
type captureCall struct {
	PaymentID string
	Amount    int64  `json:"amount"`
	CaptureID string `json:"capture_id"`
	Auth      string
	Status    int
}

// fakeCheckout stands in for checkout-service's refund, void and capture
// endpoints and records every call; like the real one it refunds each
// refund_id once and captures a payment once.
type fakeCheckout struct {
	srv      *httptest.Server // nil with harnessOptions.schema
	mu       sync.Mutex
	calls    []refundCall
	voids    []string
	failNext int           // answer this many refund calls with 503
	delay    time.Duration // answer refund calls this much later
	// Captures, as the capture contract has it: 200 with the payment
	// (also for a payment captured before, whatever the capture_id), 409
	// when the amount is not the authorised one (authorised, when it
	// holds the payment) or the gateway refuses, 503 to be retried.
	captures   []captureCall
	answers    []int            // the next capture calls' statuses (200, 409 or 503); then 200
	authorised map[string]int64 // payment id → authorised amount
	captured   map[string]bool
}

func newFakeCheckout(t testing.TB) *fakeCheckout {
	t.Helper()
	f := &fakeCheckout{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments/{id}/refunds", func(w http.ResponseWriter, r *http.Request) {
		var c refundCall
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &c); err != nil {
			http.Error(w, `{"error":{"code":"invalid","message":"bad json"}}`, http.StatusBadRequest)
			return
		}
		c.PaymentID, c.Auth = r.PathValue("id"), r.Header.Get("Authorization")
		f.mu.Lock()
		f.calls = append(f.calls, c)
		fail := f.failNext > 0
		if fail {
			f.failNext--
		}
		delay := f.delay
		_, authorisedOnly := f.authorised[c.PaymentID]
		uncaptured := authorisedOnly && !f.captured[c.PaymentID]
		f.mu.Unlock()
		time.Sleep(delay)
		if fail {
			http.Error(w, `{"error":{"code":"unavailable","message":"gateway down"}}`, http.StatusServiceUnavailable)
			return
		}
		if uncaptured { // as checkout: only money taken can be refunded
			http.Error(w, `{"error":{"code":"conflict","message":"The payment is authorized; only captured payments are refunded."}}`, http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"status":"succeeded"}`, c.RefundID)
	})
	mux.HandleFunc("POST /v1/payments/{id}/capture", func(w http.ResponseWriter, r *http.Request) {
		var c captureCall
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &c); err != nil || c.Amount <= 0 || c.CaptureID == "" {
			http.Error(w, `{"error":{"code":"invalid_request","message":"capture_id and a positive amount are required"}}`, http.StatusBadRequest)
			return
		}
		c.PaymentID, c.Auth = r.PathValue("id"), r.Header.Get("Authorization")
		f.mu.Lock()
		c.Status = http.StatusOK
		if len(f.answers) > 0 {
			c.Status, f.answers = f.answers[0], f.answers[1:]
		}
		msg := "the gateway refused the capture: authorisation expired"
		if want, ok := f.authorised[c.PaymentID]; ok && c.Status == http.StatusOK && !f.captured[c.PaymentID] && c.Amount != want {
			c.Status, msg = http.StatusConflict, fmt.Sprintf("partial capture is not supported (%d of %d): invoice the whole order", c.Amount, want)
		}
		if c.Status == http.StatusOK {
			if f.captured == nil {
				f.captured = map[string]bool{}
			}
			f.captured[c.PaymentID] = true
		}
		f.captures = append(f.captures, c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch c.Status {
		case http.StatusOK:
			fmt.Fprintf(w, `{"id":%q,"status":"captured","amount":%d,"currency":"USD"}`, c.PaymentID, c.Amount)
		case http.StatusConflict:
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"error":{"code":"conflict","message":%q}}`, msg)
		default:
			w.WriteHeader(c.Status)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"gateway down"}}`))
		}
	})
	mux.HandleFunc("POST /v1/payments/{id}/void", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.voids = append(f.voids, r.PathValue("id"))
		f.mu.Unlock()
		w.Write([]byte(`{"status":"voided"}`))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCheckout) Calls() []refundCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]refundCall(nil), f.calls...)
}

// Captures returns the capture calls received.
func (f *fakeCheckout) Captures() []captureCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captureCall(nil), f.captures...)
}

// AnswerCaptures sets the statuses of the next capture calls.
func (f *fakeCheckout) AnswerCaptures(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append([]int(nil), statuses...)
}

// Authorise tells the stand-in a payment's authorised amount.
func (f *fakeCheckout) Authorise(paymentID string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.authorised == nil {
		f.authorised = map[string]int64{}
	}
	f.authorised[paymentID] = amount
}

// harness is one test's world: a database holding checkout's and the
// bridge's tables, the sandbox Magento behind httptest, Redis, checkout's
// stand-in and a clock.
type harness struct {
	t        testing.TB
	db       *sql.DB // direct
	dsn      string
	store    *bridgestore.Store
	sb       *magentosandbox.Sandbox
	srv      *httptest.Server // nil with harnessOptions.schema
	mc       *magento.Client
	checkout *fakeCheckout
	clock    *clock
	redisKey string
	rdb      redis.UniversalClient
	limiters []*throttle.Limiter
	log      *zap.Logger
	metrics  *bridge.Metrics
	cap      int
	inFlight *inFlight
}

// inFlight counts the requests Magento is serving at once.
type inFlight struct {
	mu       sync.Mutex
	cur, max int
}

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/rest/") {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		f.cur++
		f.max = max(f.max, f.cur)
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.cur--
			f.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// Max returns the most requests Magento served at once.
func (f *inFlight) Max() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}

type harnessOptions struct {
	magentoTimeout time.Duration
	cap            int
	quiet          bool
	// schema serves the sandbox through sandboxtest, which validates every
	// exchange against Magento's schema (the in-flight count stays zero).
	schema bool
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	if o.magentoTimeout == 0 {
		o.magentoTimeout = 3 * time.Second
	}
	if o.cap == 0 {
		o.cap = 8
	}
	cfg := databasetest.NewConfig(t)
	ctx := context.Background()
	db, err := database.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := database.Migrate(ctx, db, "checkout_service_migrations", checkoutMigrations(), zap.NewNop()); err != nil {
		t.Fatalf("checkout migrations: %v", err)
	}
	if err := database.Migrate(ctx, db, "magento_bridge_migrations", bridgeMigrations(), zap.NewNop()); err != nil {
		t.Fatalf("bridge migrations: %v", err)
	}
	ifl := &inFlight{}
	var sb *magentosandbox.Sandbox
	var srv *httptest.Server
	var baseURL string
	if o.schema {
		s := sandboxtest.New(t, magentosandbox.Options{})
		sb, baseURL = s.Sandbox, s.URL
	} else {
		sb = magentosandbox.New(magentosandbox.Options{})
		srv = httptest.NewServer(ifl.wrap(sb.Handler()))
		t.Cleanup(srv.Close)
		baseURL = srv.URL
	}
	if err := sb.SetStock(testSKU, 1e7); err != nil {
		t.Fatalf("stock: %v", err)
	}
	mcfg := magento.DefaultConfig()
	mcfg.BaseURL = baseURL
	mcfg.AdminUsername, mcfg.AdminPassword = "admin", "admin123"
	mcfg.Timeout = o.magentoTimeout
	mcfg.MaxConcurrent = 64
	mcfg.RetryBaseDelay, mcfg.RetryMaxDelay = 5*time.Millisecond, 50*time.Millisecond
	mc, err := magento.New(mcfg)
	if err != nil {
		t.Fatalf("magento: %v", err)
	}
	rdb, prefix := cachetest.New(t)
	var log *zap.Logger
	if o.quiet {
		log = zap.NewNop()
	} else {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	h := &harness{
		t: t, db: db, dsn: cfg.DSN.Reveal(), store: bridgestore.New(db), sb: sb, srv: srv, mc: mc,
		checkout: newFakeCheckout(t), clock: &clock{}, redisKey: prefix + "{magento}:slots",
		log: log, metrics: bridge.NewMetrics(prometheus.NewRegistry()), cap: o.cap, inFlight: ifl,
	}
	h.rdb = rdb
	return h
}

// magentoFor returns the Magento the bridge sees: the client behind a
// Redis-shared limiter (one per simulated instance).
func (h *harness) magentoFor(owner string) bridge.Magento {
	l := throttle.New(h.rdb, throttle.Config{Key: h.redisKey, Max: h.cap, SlotTTL: time.Minute, Slow: 10 * time.Second, Owner: owner, Poll: 4 * time.Millisecond},
		nil, h.log)
	h.limiters = append(h.limiters, l)
	return bridge.Limit(h.mc, l, h.metrics)
}

func (h *harness) config(owner string) bridge.Config {
	return bridge.Config{
		Owner: owner, Workers: 4, Lease: 10 * time.Second, PollInterval: 20 * time.Millisecond,
		RetryBase: 50 * time.Millisecond, RetryMax: 400 * time.Millisecond, MaxAttempts: 60, MaxAge: time.Hour,
		PaymentMethod: "purchaseorder", ReleaseOnStop: true,
	}
}

func (h *harness) syncer(cfg bridge.Config, store bridge.Store, m bridge.Magento) *bridge.Syncer {
	if store == nil {
		store = h.store
	}
	if m == nil {
		m = h.magentoFor(cfg.Owner)
	}
	pay := checkoutapi.New(checkoutapi.Config{BaseURL: h.checkout.srv.URL, ServiceToken: "svc-token", Timeout: 5 * time.Second})
	return bridge.NewSyncer(cfg, store, m, pay, h.metrics, h.log.With(zap.String("instance", cfg.Owner)), h.clock.Now)
}

// fixture is one captured payment the test expects to become an order.
type fixture struct {
	PaymentID     string
	QuoteID       int64
	TransactionID string
	Amount        int64
}

// capture makes n carts in the sandbox and, for each, a captured payment and
// its outbox event in one transaction, as checkout-service does.
func (h *harness) capture(n int) []fixture {
	h.t.Helper()
	out := make([]fixture, 0, n)
	now := h.clock.Now()
	const batch = 500
	for start := 0; start < n; start += batch {
		end := min(n, start+batch)
		var pays, events []string
		var pargs, eargs []any
		for i := start; i < end; i++ {
			cart, err := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: testSKU, Qty: 1})
			if err != nil {
				h.t.Fatalf("cart: %v", err)
			}
			f := fixture{PaymentID: fmt.Sprintf("pay_%d_%d", cart.QuoteID, time.Now().UnixNano()%1e6), QuoteID: cart.QuoteID,
				TransactionID: fmt.Sprintf("pi_test_%d", cart.QuoteID), Amount: 5700}
			out = append(out, f)
			payload := h.payload(f, cart.MaskedID)
			snap, _ := json.Marshal(payload.Order)
			body, _ := json.Marshal(payload)
			pays = append(pays, "(?, ?, ?, ?, 'captured', ?, 'USD', 'card', 'stripe', ?, 'guest', ?, ?, ?, ?, ?)")
			pargs = append(pargs, f.PaymentID, "sess_"+f.PaymentID, "idem_"+f.PaymentID, strings.Repeat("a", 64), f.Amount,
				f.TransactionID, f.QuoteID, string(snap), `{"gateway":"stripe"}`, now, now)
			events = append(events, "(?, ?, ?, ?, 'pending', 0, ?, ?)")
			eargs = append(eargs, paymentevent.CapturedEventID(f.PaymentID), paymentevent.TopicCaptured, f.PaymentID, string(body), now, now)
		}
		err := database.Transact(context.Background(), h.db, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO payments (id, session_id, idempotency_key, request_hash, status, amount, currency, method,
				gateway, gateway_reference, cart_kind, quote_id, order_snapshot, routing, created_at, updated_at) VALUES `+strings.Join(pays, ","), pargs...); err != nil {
				return err
			}
			_, err := tx.Exec(`INSERT INTO outbox (event_id, topic, aggregate_id, payload, status, attempts, available_at, created_at) VALUES `+
				strings.Join(events, ","), eargs...)
			return err
		})
		if err != nil {
			h.t.Fatalf("insert fixtures: %v", err)
		}
	}
	return out
}

func (h *harness) payload(f fixture, masked string) paymentevent.Captured {
	addr := &paymentevent.Address{Firstname: "Jane", Lastname: "Doe", Street: []string{"1 Main St"}, City: "Austin",
		Region: "Texas", RegionID: 57, RegionCode: "TX", Postcode: "78701", CountryID: "US", Telephone: "5125550100"}
	return paymentevent.Captured{
		Version: paymentevent.Version, PaymentID: f.PaymentID, QuoteID: f.QuoteID, CartKind: paymentevent.CartGuest,
		Email: "jane@example.com", Amount: f.Amount, Currency: "USD", Status: "captured", Gateway: "stripe",
		TransactionID: f.TransactionID, Method: "card", RoutingSummary: `routed to stripe by rule "usd-card" (priority); 1 attempt`,
		Attempts: 1, CapturedAt: h.clock.Now().Format(time.RFC3339),
		Order: paymentevent.Snapshot{QuoteID: f.QuoteID, MaskedQuoteID: masked, CartKind: paymentevent.CartGuest, Email: "jane@example.com",
			ShippingAddress: addr, BillingAddress: addr, ShippingCarrier: "flatrate", ShippingMethod: "flatrate",
			Items:  []paymentevent.Item{{SKU: testSKU, Name: "Frankie Sweatshirt", Qty: 1, Price: 5200, RowTotal: 5200}},
			Totals: paymentevent.Totals{Subtotal: 5200, Shipping: 500, GrandTotal: 5700, Currency: "USD"}},
	}
}

// addEvent writes one more outbox row for an existing payment (a duplicate
// announcement under another event id).
func (h *harness) addEvent(f fixture, eventID string) {
	h.t.Helper()
	body, _ := json.Marshal(h.payload(f, ""))
	now := h.clock.Now()
	if _, err := h.db.Exec(`INSERT INTO outbox (event_id, topic, aggregate_id, payload, status, attempts, available_at, created_at)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)`, eventID, paymentevent.TopicCaptured, f.PaymentID, string(body), now, now); err != nil {
		h.t.Fatalf("add event: %v", err)
	}
}

// status reads the bridge's status.
func (h *harness) status() bridge.Status {
	h.t.Helper()
	st, err := h.store.Status(context.Background(), h.clock.Now())
	if err != nil {
		h.t.Fatalf("status: %v", err)
	}
	return st
}

// waitDrained waits until the outbox holds no pending event.
func (h *harness) waitDrained(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := h.store.Status(context.Background(), h.clock.Now())
		if err == nil && st.Backlog == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("backlog not drained after %s: %+v (err %v)", timeout, st, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// run starts syncers until the returned stop is called.
func run(ss ...*bridge.Syncer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// verify checks I1 for the fixtures: exactly one Magento order per captured
// payment, invoiced once with its transaction id, recorded on the payment,
// and no Magento order without a payment.
func (h *harness) verify(fixtures []fixture) {
	h.t.Helper()
	orders := h.sb.Orders()
	byQuote := map[int64][]magento.Order{}
	for _, o := range orders {
		byQuote[o.QuoteID] = append(byQuote[o.QuoteID], o)
	}
	invoices := map[int64]int{}
	for _, inv := range h.sb.Invoices() {
		invoices[inv.OrderID]++
	}
	want := map[int64]fixture{}
	for _, f := range fixtures {
		want[f.QuoteID] = f
	}
	for q, os := range byQuote {
		if _, ok := want[q]; !ok {
			h.t.Errorf("order(s) %v for quote %d without a captured payment", os[0].IncrementID, q)
		}
	}
	rows, err := h.db.Query(`SELECT id, COALESCE(magento_order_id, 0), COALESCE(magento_increment_id, '') FROM payments`)
	if err != nil {
		h.t.Fatalf("payments: %v", err)
	}
	recorded := map[string][2]any{}
	for rows.Next() {
		var id, inc string
		var oid int64
		if err := rows.Scan(&id, &oid, &inc); err != nil {
			h.t.Fatal(err)
		}
		recorded[id] = [2]any{oid, inc}
	}
	rows.Close()
	bad := 0
	for _, f := range fixtures {
		os := byQuote[f.QuoteID]
		if len(os) != 1 {
			h.t.Errorf("payment %s (quote %d): %d Magento orders; want exactly 1", f.PaymentID, f.QuoteID, len(os))
			bad++
			continue
		}
		o := os[0]
		if n := invoices[o.EntityID]; n != 1 {
			h.t.Errorf("order %s: %d invoices; want 1", o.IncrementID, n)
			bad++
		}
		if o.Payment == nil || o.Payment.Method != "purchaseorder" || o.Payment.PONumber != "stripe "+f.TransactionID {
			h.t.Errorf("order %s payment = %+v; want purchaseorder with po_number %q", o.IncrementID, o.Payment, "stripe "+f.TransactionID)
			bad++
		}
		var invoiceComment, orderComment int
		for _, c := range o.StatusHistories {
			if c.EntityName == "invoice" && strings.Contains(c.Comment, "Transaction ID: "+f.TransactionID) {
				invoiceComment++
			}
			if strings.Contains(c.Comment, "[secure-checkout payment "+f.PaymentID+"]") {
				orderComment++
				if !strings.Contains(c.Comment, f.TransactionID) || !strings.Contains(c.Comment, "usd-card") {
					h.t.Errorf("order %s comment %q lacks the transaction id or routing", o.IncrementID, c.Comment)
				}
			}
		}
		if invoiceComment != 1 || orderComment != 1 {
			h.t.Errorf("order %s: %d invoice comments with the transaction id and %d bridge comments; want 1 and 1", o.IncrementID, invoiceComment, orderComment)
			bad++
		}
		if r := recorded[f.PaymentID]; r[0] != o.EntityID || r[1] != o.IncrementID {
			h.t.Errorf("payment %s records order %v/%v; want %d/%s", f.PaymentID, r[0], r[1], o.EntityID, o.IncrementID)
			bad++
		}
		if bad > 10 {
			h.t.Fatalf("too many failures")
		}
	}
}

// tcpProxy forwards connections to a backend and can cut them all, the way
// a MySQL restart looks from the client.
type tcpProxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	down    bool
	conns   map[net.Conn]struct{}
}

func newTCPProxy(t testing.TB, backend string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { io.Copy(b, c); b.Close(); c.Close() }()
		go func() { io.Copy(c, b); b.Close(); c.Close() }()
	}
}

// Cut drops every connection and refuses new ones until Restore.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// Restore accepts connections again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// proxiedStore opens a second pool to the test database through a proxy.
func (h *harness) proxiedStore() (*bridgestore.Store, *tcpProxy) {
	h.t.Helper()
	mc, err := mysql.ParseDSN(h.dsn)
	if err != nil {
		h.t.Fatal(err)
	}
	p := newTCPProxy(h.t, mc.Addr)
	mc.Addr = p.Addr()
	mc.Timeout = time.Second
	mc.ReadTimeout, mc.WriteTimeout = 3*time.Second, 3*time.Second
	cfg := config.DefaultMySQL(mc.DBName)
	cfg.CreateDatabase = false
	cfg.DSN = config.Secret(mc.FormatDSN())
	db, err := database.Open(context.Background(), cfg)
	if err != nil {
		h.t.Fatalf("open via proxy: %v", err)
	}
	h.t.Cleanup(func() { db.Close() })
	return bridgestore.New(db), p
}

// sum adds up the values of a counter or gauge (all label values).
func sum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 256)
	c.Collect(ch)
	close(ch)
	var total float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		if d.Counter != nil {
			total += d.Counter.GetValue()
		}
		if d.Gauge != nil {
			total += d.Gauge.GetValue()
		}
	}
	return total
}
