package checkout_test

import (
	"context"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"database/sql"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/checkoutstore"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/redis/go-redis/v9"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeCarts is Magento as checkout sees it: a 52.00 USD cart per masked id.
type fakeCarts struct {
	mu     sync.Mutex
	quotes map[string]int64
	next   int64
	price  int64
}

func (f *fakeCarts) quote(masked string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quotes == nil {
		f.quotes = map[string]int64{}
	}
	if q, ok := f.quotes[masked]; ok {
		return q
	}
	f.next++
	f.quotes[masked] = 1000 + f.next
	return f.quotes[masked]
}

func (f *fakeCarts) Resolve(_ context.Context, ref checkout.CartRef) (checkout.CartRef, error) {
	ref.QuoteID = 5000 + ref.CustomerID
	return ref, nil
}

func (f *fakeCarts) Load(_ context.Context, ref checkout.CartRef) (checkout.CartView, error) {
	if ref.MaskedID == "missing" {
		return checkout.CartView{}, errs.E(errs.NotFound, "No such cart.")
	}
	q := ref.QuoteID
	if ref.Kind == checkout.KindGuest {
		q = f.quote(ref.MaskedID)
	}
	price := f.price
	if price == 0 {
		price = 5200
	}
	return checkout.CartView{QuoteID: q, CustomerID: ref.CustomerID,
		Items:  []checkout.Item{{SKU: "MH01-XS-Black", Name: "Chaz Kangeroo Hoodie", Qty: 1, Price: price, RowTotal: price}},
		Totals: checkout.Totals{Subtotal: price, Shipping: 500, GrandTotal: price + 500, Currency: "USD"}}, nil
}

func (f *fakeCarts) EstimateShipping(context.Context, checkout.CartRef, checkout.Address) ([]checkout.ShippingMethod, error) {
	return []checkout.ShippingMethod{{CarrierCode: "flatrate", MethodCode: "flatrate", Amount: 500, Currency: "USD", Available: true}}, nil
}

func (f *fakeCarts) SetShipping(context.Context, checkout.CartRef, checkout.ShippingInfo) (checkout.Totals, error) {
	return checkout.Totals{Subtotal: 5200, Shipping: 500, GrandTotal: 5700, Currency: "USD"}, nil
}

type env struct {
	svc    *checkout.Service
	store  *checkoutstore.Store
	db     *sql.DB
	rdb    redis.UniversalClient
	prefix string
	a, b   *sandboxgw.Gateway
	clock  *clock
	carts  *fakeCarts
}

const defaultRules = `{"default_selection": {"type": "priority", "data": ["sandbox-a", "sandbox-b"]}, "rules": []}`

type envOpts struct {
	aRate         float64
	aOutage       bool
	rules         string
	maxTries      int
	latency       time.Duration
	authorizeOnly bool
	// announceAuthorized writes the outbox event for authorised payments.
	announceAuthorized bool
	// wrapA, when set, wraps sandbox-a as the service sees it.
	wrapA func(gateway.Gateway) gateway.Gateway
	// cluster puts every Redis key on the test Redis Cluster.
	cluster bool
}

func migrations() fs.FS { return os.DirFS("../../migrations") }

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	db := databasetest.New(t, migrations())
	openRedis := cachetest.New
	if o.cluster {
		openRedis = cachetest.NewCluster
	}
	rdb, prefix := openRedis(t)
	clk := newClock()
	caps := gateway.Capabilities{Methods: []gateway.Method{gateway.Card, gateway.UPI}, Currencies: []string{"USD", "INR"}}
	if o.aRate == 0 {
		o.aRate = 1
	}
	if o.aRate < 0 {
		o.aRate = 0
	}
	ca := sandboxgw.Config{Name: "sandbox-a", Capabilities: caps, SuccessRate: o.aRate, FeeBps: 290, FeeFixed: 30,
		SettleAfter: 10 * time.Second, ActionURL: "http://checkout.test/sandbox/3ds", WebhookSecret: "whsec_a", Latency: o.latency}
	if o.aOutage {
		ca.Outages = []sandboxgw.Outage{{Start: "00:00", End: "23:59"}}
	}
	cb := sandboxgw.Config{Name: "sandbox-b", Capabilities: caps, SuccessRate: 1, FeeBps: 250, FeeFixed: 25,
		SettleAfter: 10 * time.Second, ActionURL: "http://checkout.test/sandbox/3ds", WebhookSecret: "whsec_b"}
	a := sandboxgw.New(ca, rdb, prefix, clk.Now)
	b := sandboxgw.New(cb, rdb, prefix, clk.Now)
	var ga gateway.Gateway = a
	if o.wrapA != nil {
		ga = o.wrapA(a)
	}
	router, err := routing.NewRouter([]routing.Gateway{
		{Name: "sandbox-a", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 290, Fixed: 30}}},
		{Name: "sandbox-b", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 250, Fixed: 25}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rules := o.rules
	if rules == "" {
		rules = defaultRules
	}
	store := checkoutstore.New(db)
	carts := &fakeCarts{}
	svc, err := checkout.New(checkout.Config{Capture: !o.authorizeOnly, AnnounceAuthorized: o.announceAuthorized, MaxAttempts: o.maxTries, DefaultRules: []byte(rules), ReconcileAfter: 5 * time.Second,
		ChargeTimeout: 20 * time.Second, ActionTimeout: 15 * time.Minute, Country: "US"},
		checkout.Deps{Carts: carts, Sessions: checkoutstore.NewSessions(rdb, prefix), Store: store,
			Gateways: []gateway.Gateway{ga, b}, Router: router,
			Stats: routing.NewStats(rdb, prefix, routing.StatsConfig{}, clk.Now),
			Redis: rdb, Prefix: prefix, Log: zaptest.NewLogger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Wait)
	return &env{svc: svc, store: store, db: db, rdb: rdb, prefix: prefix, a: a, b: b, clock: clk, carts: carts}
}

// session opens a guest session with address and shipping method set.
func (e *env) session(t *testing.T, cart string) *checkout.Session {
	t.Helper()
	ctx := context.Background()
	s, err := e.svc.StartSession(ctx, checkout.StartParams{MaskedCartID: cart, Channel: "web"})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	addr := checkout.Address{Firstname: "Veronica", Lastname: "Costello", Street: []string{"6146 Honey Bluff Parkway"},
		City: "Calder", Region: "Michigan", RegionCode: "MI", RegionID: 33, Postcode: "49628-7978", CountryID: "US", Telephone: "5555550123"}
	if _, err := e.svc.SetAddress(ctx, s.ID, "", checkout.AddressParams{Email: "roni@example.com", Phone: "+15555550123", ShippingAddress: addr}); err != nil {
		t.Fatalf("SetAddress: %v", err)
	}
	s, err = e.svc.SetShippingMethod(ctx, s.ID, "", "flatrate", "flatrate")
	if err != nil {
		t.Fatalf("SetShippingMethod: %v", err)
	}
	return s
}

func (e *env) pay(t *testing.T, sessionID, key, token string) (*checkout.Payment, error) {
	t.Helper()
	return e.svc.Pay(context.Background(), checkout.PayParams{SessionID: sessionID, IdempotencyKey: key, Method: gateway.Card, Token: token})
}

func (e *env) outboxCount(t *testing.T, paymentID string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE aggregate_id = ?`, paymentID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
