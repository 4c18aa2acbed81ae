package routing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestBreakerTripsAndProbesBackIn(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	st := routing.NewStats(rdb, prefix, routing.StatsConfig{TripRate: 0.5, MinSamples: 10, Cooldown: 30 * time.Second, ProbeSuccesses: 2}, clk.Now)
	ctx := context.Background()
	for i := range 12 {
		out := routing.OutcomeTechnical
		if i%4 == 0 {
			out = routing.OutcomeOK
		}
		if err := st.Record(ctx, "a", gateway.Card, "USD", out); err != nil {
			t.Fatal(err)
		}
		st.Record(ctx, "b", gateway.Card, "USD", routing.OutcomeOK)
	}
	snap, err := st.Load(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Breaker("a") != routing.BreakerOpen || snap.Breaker("b") != routing.BreakerClosed {
		t.Fatalf("breakers = %s, %s; want open, closed", snap.Breaker("a"), snap.Breaker("b"))
	}
	// another instance sees the same state
	st2 := routing.NewStats(rdb, prefix, routing.StatsConfig{TripRate: 0.5, MinSamples: 10, Cooldown: 30 * time.Second, ProbeSuccesses: 2}, clk.Now)
	if s2, _ := st2.Load(ctx, []string{"a"}); s2.Breaker("a") != routing.BreakerOpen {
		t.Fatalf("second instance sees %s", s2.Breaker("a"))
	}
	clk.Advance(31 * time.Second)
	snap, _ = st.Load(ctx, []string{"a"})
	if snap.Breaker("a") != routing.BreakerHalfOpen {
		t.Fatalf("after cooldown = %s; want half_open", snap.Breaker("a"))
	}
	// a failed probe reopens
	st.Record(ctx, "a", gateway.Card, "USD", routing.OutcomeTechnical)
	if snap, _ = st.Load(ctx, []string{"a"}); snap.Breaker("a") != routing.BreakerOpen {
		t.Fatalf("after failed probe = %s; want open", snap.Breaker("a"))
	}
	clk.Advance(31 * time.Second)
	st.Record(ctx, "a", gateway.Card, "USD", routing.OutcomeOK)
	st.Record(ctx, "a", gateway.Card, "USD", routing.OutcomeOK)
	snap, _ = st.Load(ctx, []string{"a"})
	if snap.Breaker("a") != routing.BreakerClosed {
		t.Fatalf("after good probes = %s; want closed", snap.Breaker("a"))
	}
	// the old technical errors no longer count against it
	if snap.Gateways[0].Window.Technical != 0 {
		t.Fatalf("window after reset = %+v", snap.Gateways[0].Window)
	}
}

// TestBanditConverges routes through two sandbox gateways that succeed 95%
// and 60% of the time, learning from shared Redis windows: the better one
// ends up with most of the traffic while exploration keeps the other known.
func TestBanditConverges(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	caps := gateway.Capabilities{Methods: []gateway.Method{gateway.Card}, Currencies: []string{"USD"}}
	gws := map[string]*sandboxgw.Gateway{
		"good": sandboxgw.New(sandboxgw.Config{Name: "good", Capabilities: caps, SuccessRate: 0.95, FailureCode: "do_not_honor"}, rdb, prefix, clk.Now),
		"poor": sandboxgw.New(sandboxgw.Config{Name: "poor", Capabilities: caps, SuccessRate: 0.60, FailureCode: "do_not_honor"}, rdb, prefix, clk.Now),
	}
	r, _ := routing.NewRouter([]routing.Gateway{{Name: "poor", Enabled: true, Caps: caps}, {Name: "good", Enabled: true, Caps: caps}})
	r.Rand = rand.New(rand.NewPCG(7, 9)).Float64
	rs, err := routing.Parse([]byte(`{"default_selection": {"type": "success_rate"}, "success_rate": {"hedging_percent": 10, "min_samples": 10, "prior": 0.9}}`), r.Names())
	if err != nil {
		t.Fatal(err)
	}
	st := routing.NewStats(rdb, prefix, routing.StatsConfig{Window: 15 * time.Minute}, clk.Now)
	ctx := context.Background()
	snap := &routing.Snapshot{}
	const n = 1500
	late := map[string]int{}
	for i := range n {
		if i%25 == 0 {
			if snap, err = st.Load(ctx, r.Names()); err != nil {
				t.Fatal(err)
			}
		}
		d := r.Decide(rs, routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card}, snap)
		first := d.Gateways[0]
		res, err := gws[first].Charge(ctx, gateway.ChargeRequest{IdempotencyKey: fmt.Sprintf("bandit-%d", i), Amount: 5000, Currency: "USD",
			Method: gateway.Card, Token: sandboxgw.TokenOK, Capture: true})
		if err != nil {
			t.Fatal(err)
		}
		out := routing.OutcomeOK
		if res.Status == gateway.Failed {
			out = routing.OutcomeDecline
		}
		st.Record(ctx, first, gateway.Card, "USD", out)
		if i >= n-500 {
			late[first]++
		}
	}
	share := float64(late["good"]) / 500
	t.Logf("last 500 decisions: %v (good share %.2f)", late, share)
	if share < 0.85 || late["poor"] == 0 {
		t.Fatalf("good share = %.2f, poor = %d; want >= 0.85 and some exploration", share, late["poor"])
	}
}
