package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/cache/cachetest"
)

// On a Redis Cluster each gateway's windows and breaker share its hash tag,
// so the record and trip scripts run in one slot, and Load's pipeline spans
// every node the gateways' slots live on. Two instances see the same breakers
// through trip, cooldown, failed and good probes.
func TestClusterBreakersAndWindows(t *testing.T) {
	rdb, prefix := cachetest.NewCluster(t)
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	cfg := routing.StatsConfig{TripRate: 0.5, MinSamples: 10, Cooldown: 30 * time.Second, ProbeSuccesses: 2}
	st := routing.NewStats(rdb, prefix, cfg, clk.Now)
	other := routing.NewStats(rdb, prefix, cfg, clk.Now)
	ctx := context.Background()

	var gws []string
	failing := map[string]bool{}
	for i := range 8 {
		gw := fmt.Sprintf("gw%d", i)
		gws = append(gws, gw)
		failing[gw] = i%2 == 1
		for k := range 12 {
			out := routing.OutcomeOK
			if failing[gw] && k%4 != 0 {
				out = routing.OutcomeTechnical
			}
			if err := st.Record(ctx, gw, gateway.Card, "USD", out); err != nil {
				t.Fatalf("Record(%s) = %v", gw, err)
			}
		}
	}
	states := func(s *routing.Stats, want func(gw string) string) *routing.Snapshot {
		t.Helper()
		snap, err := s.Load(ctx, gws)
		if err != nil {
			t.Fatalf("Load = %v", err)
		}
		for _, gw := range gws {
			if got := snap.Breaker(gw); got != want(gw) {
				t.Errorf("breaker of %s = %s; want %s", gw, got, want(gw))
			}
		}
		return snap
	}
	openIfFailing := func(other string) func(string) string {
		return func(gw string) string {
			if failing[gw] {
				return other
			}
			return routing.BreakerClosed
		}
	}
	snap := states(st, openIfFailing(routing.BreakerOpen))
	for i, gs := range snap.Gateways {
		want := routing.Counts{OK: 12}
		if failing[gws[i]] {
			want = routing.Counts{OK: 3, Technical: 9}
		}
		if gs.Window != want {
			t.Errorf("window of %s = %+v; want %+v", gs.Gateway, gs.Window, want)
		}
	}
	states(other, openIfFailing(routing.BreakerOpen))

	clk.Advance(31 * time.Second)
	states(other, openIfFailing(routing.BreakerHalfOpen))
	for _, gw := range gws { // a failed probe reopens
		if failing[gw] {
			st.Record(ctx, gw, gateway.Card, "USD", routing.OutcomeTechnical)
		}
	}
	states(other, openIfFailing(routing.BreakerOpen))

	clk.Advance(31 * time.Second)
	for _, gw := range gws { // good probes close, from either instance
		if failing[gw] {
			st.Record(ctx, gw, gateway.Card, "USD", routing.OutcomeOK)
			other.Record(ctx, gw, gateway.Card, "USD", routing.OutcomeOK)
		}
	}
	snap = states(st, func(string) string { return routing.BreakerClosed })
	for i, gs := range snap.Gateways {
		if failing[gws[i]] && gs.Window.Technical != 0 {
			t.Errorf("window of %s after reset = %+v; want no technical errors", gs.Gateway, gs.Window)
		}
	}
}
