package checkout_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
)

// newClusterEnv is newEnv with its defaults, on the test Redis Cluster:
// sessions, card checks, held tokens, routing statistics and both sandbox
// gateways keep their keys there.
func newClusterEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, envOpts{cluster: true})
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
