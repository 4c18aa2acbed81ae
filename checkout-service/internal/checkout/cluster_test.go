package checkout_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/checkoutstore"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
)

// newClusterEnv is newEnv with its defaults, on the test Redis Cluster:
// sessions, card checks, held tokens, routing statistics and both sandbox
// gateways keep their keys there.
func newClusterEnv(t *testing.T) *env {
	t.Helper()
	db := databasetest.New(t, migrations())
	rdb, prefix := cachetest.NewCluster(t)
	clk := newClock()
	caps := gateway.Capabilities{Methods: []gateway.Method{gateway.Card, gateway.UPI}, Currencies: []string{"USD", "INR"}}
	a := sandboxgw.New(sandboxgw.Config{Name: "sandbox-a", Capabilities: caps, SuccessRate: 1, FeeBps: 290, FeeFixed: 30,
		SettleAfter: 10 * time.Second, ActionURL: "http://checkout.test/sandbox/3ds", WebhookSecret: "whsec_a"}, rdb, prefix, clk.Now)
	b := sandboxgw.New(sandboxgw.Config{Name: "sandbox-b", Capabilities: caps, SuccessRate: 1, FeeBps: 250, FeeFixed: 25,
		SettleAfter: 10 * time.Second, ActionURL: "http://checkout.test/sandbox/3ds", WebhookSecret: "whsec_b"}, rdb, prefix, clk.Now)
	router, err := routing.NewRouter([]routing.Gateway{
		{Name: "sandbox-a", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 290, Fixed: 30}}},
		{Name: "sandbox-b", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 250, Fixed: 25}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := checkoutstore.New(db)
	carts := &fakeCarts{}
	svc, err := checkout.New(checkout.Config{Capture: true, DefaultRules: []byte(defaultRules), ReconcileAfter: 5 * time.Second,
		ChargeTimeout: 20 * time.Second, ActionTimeout: 15 * time.Minute, Country: "US"},
		checkout.Deps{Carts: carts, Sessions: checkoutstore.NewSessions(rdb, prefix), Store: store,
			Gateways: []gateway.Gateway{a, b}, Router: router,
			Stats: routing.NewStats(rdb, prefix, routing.StatsConfig{}, clk.Now),
			Redis: rdb, Prefix: prefix, Log: zaptest.NewLogger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Wait)
	return &env{svc: svc, store: store, db: db, rdb: rdb, prefix: prefix, a: a, b: b, clock: clk, carts: carts}
}

// Pay reads a card's block and decline counters before charging: on a
// Cluster those keys lie in different slots. A hard decline blocks the card
// and ten issuer declines spend its retry budget.
func TestClusterPayChecksTheCard(t *testing.T) {
	e := newClusterEnv(t)
	s := e.session(t, "cart-ok")
	if p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK); err != nil || p.Status != checkout.StatusCaptured || p.Gateway != "sandbox-a" {
		t.Fatalf("Pay(ok) = %+v, %v; want captured via sandbox-a", p, err)
	}
	if p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK); err != nil || p.Status != checkout.StatusCaptured {
		t.Fatalf("replayed Pay = %+v, %v; want the captured payment", p, err)
	}

	s = e.session(t, "cart-stolen")
	if p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenStolen); err != nil || p.Status != checkout.StatusFailed {
		t.Fatalf("Pay(stolen) = %+v, %v; want failed", p, err)
	}
	if _, err := e.pay(t, s.ID, "k2", sandboxgw.TokenStolen); errs.Code(err) != "card_blocked" {
		t.Fatalf("second Pay(stolen) error = %v; want card_blocked", err)
	}

	for i := range 5 { // generic declines cascade once: two per payment
		s := e.session(t, "cart-budget-"+string(rune('a'+i)))
		if p, err := e.pay(t, s.ID, "k", sandboxgw.TokenDeclineSoft); err != nil || p.DeclineCode != "generic_decline" {
			t.Fatalf("declined payment %d = %+v, %v", i, p, err)
		}
	}
	s = e.session(t, "cart-budget-z")
	if p, err := e.pay(t, s.ID, "k", sandboxgw.TokenDeclineSoft); err != nil || p.DeclineCode != "retry_budget_exceeded" || len(p.Attempts) != 0 {
		t.Fatalf("11th try = %+v, %v; want retry_budget_exceeded without an attempt", p, err)
	}
}

// A late cascade reads the held card token and the card's counters (three
// slots on a Cluster) before charging the next gateway; a spent budget
// refuses it.
func TestClusterLateCascade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spent bool
	}{
		{name: "cascades"},
		{name: "card retry budget spent", spent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newClusterEnv(t)
			ctx := context.Background()
			p := e.held(t, "cart-late")
			if tc.spent {
				sum := sha256.Sum256([]byte("card:" + sandboxgw.TokenTimeoutNotCharged))
				k := e.prefix + "checkout:card:" + hex.EncodeToString(sum[:16]) + ":declines"
				if err := e.rdb.Set(ctx, k, "10", time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(11 * time.Second)
			if _, err := e.svc.Reconcile(ctx, p.ID); err != nil {
				t.Fatalf("Reconcile = %v", err)
			}
			if !tc.spent {
				e.wantCascaded(t, p.ID)
				return
			}
			got := e.payment(t, p.ID)
			if got.Status != checkout.StatusFailed || attempts(got) != "sandbox-a/failed" {
				t.Fatalf("payment = %s %s; want failed after the one attempt", got.Status, attempts(got))
			}
		})
	}
}
