package sandboxgw_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
)

// clusterPair is pair on a Redis Cluster: two instances over one cluster.
func clusterPair(t *testing.T, cfg sandboxgw.Config) (*sandboxgw.Gateway, *sandboxgw.Gateway) {
	t.Helper()
	rdb, prefix := cachetest.NewCluster(t)
	cfg.Name, cfg.Capabilities = "sandbox-a", caps
	return sandboxgw.New(cfg, rdb, prefix, nil), sandboxgw.New(cfg, rdb, prefix, nil)
}

// On a Redis Cluster a charge's state (under its idempotency key) and its
// reference index live in different slots: charges, replays from the other
// instance, lookups by key and by reference, and the WATCHed updates
// (capture, 3-D Secure, refund) all work there.
func TestClusterChargesLookupsAndUpdates(t *testing.T) {
	a, b := clusterPair(t, sandboxgw.Config{SuccessRate: 1, ActionURL: "https://x/sandbox/3ds"})
	ctx := context.Background()
	for i, tc := range []struct {
		token   string
		capture bool
		want    gateway.Status
	}{
		{sandboxgw.TokenOK, true, gateway.Captured},
		{sandboxgw.TokenOK, false, gateway.Authorized},
		{sandboxgw.Token3DS, true, gateway.RequiresAction},
		{sandboxgw.TokenDeclineSoft, true, gateway.Failed},
	} {
		r := req(fmt.Sprintf("cluster-%d", i), tc.token)
		r.Capture = tc.capture
		res, err := a.Charge(ctx, r)
		if err != nil || res.Status != tc.want {
			t.Fatalf("Charge(%s) = %+v, %v; want %s", tc.token, res, err, tc.want)
		}
		replay, err := b.Charge(ctx, req(r.IdempotencyKey, sandboxgw.TokenStolen))
		if err != nil || replay.Reference != res.Reference || replay.Status != tc.want {
			t.Errorf("replay of %s from the other instance = %+v, %v; want %+v", r.IdempotencyKey, replay, err, res)
		}
		for name, l := range map[string]func() (gateway.Result, error){
			"key":       func() (gateway.Result, error) { return b.Lookup(ctx, req(r.IdempotencyKey, ""), "") },
			"reference": func() (gateway.Result, error) { return b.Lookup(ctx, gateway.ChargeRequest{}, res.Reference) },
		} {
			if got, err := l(); err != nil || got.Status != tc.want || got.Reference != res.Reference {
				t.Errorf("Lookup of %s by %s = %+v, %v; want %s", r.IdempotencyKey, name, got, err, tc.want)
			}
		}
	}

	// Two instances capture one authorisation at once: WATCH lets both
	// finish, and the charge ends captured.
	auth := req("cluster-auth", sandboxgw.TokenOK)
	auth.Capture = false
	res, err := a.Charge(ctx, auth)
	if err != nil || res.Status != gateway.Authorized {
		t.Fatalf("Charge(authorise) = %+v, %v", res, err)
	}
	var wg sync.WaitGroup
	for _, g := range []*sandboxgw.Gateway{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := g.Capture(ctx, res.Reference, auth.Amount, auth.Currency); err != nil || got.Status != gateway.Captured {
				t.Errorf("Capture = %+v, %v; want captured", got, err)
			}
		}()
	}
	wg.Wait()

	sca, err := a.Charge(ctx, req("cluster-3ds", sandboxgw.Token3DS))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Complete(ctx, sca.Reference, true); err != nil || got.Status != gateway.Captured {
		t.Fatalf("Complete(approved) = %+v, %v; want captured", got, err)
	}
	rr, err := b.Refund(ctx, gateway.RefundRequest{RefundID: "cm-1", Reference: sca.Reference, Amount: 4000, Currency: "USD"})
	if err != nil || rr.Status != gateway.Captured {
		t.Fatalf("Refund = %+v, %v", rr, err)
	}
	if again, err := a.Refund(ctx, gateway.RefundRequest{RefundID: "cm-1", Reference: sca.Reference, Amount: 4000, Currency: "USD"}); err != nil || again.Reference != rr.Reference {
		t.Errorf("repeated refund = %+v, %v; want %+v", again, err, rr)
	}
	if over, _ := a.Refund(ctx, gateway.RefundRequest{RefundID: "cm-2", Reference: sca.Reference, Amount: 7000, Currency: "USD"}); over.Status != gateway.Failed {
		t.Errorf("over-refund = %+v; want failed", over)
	}
}
