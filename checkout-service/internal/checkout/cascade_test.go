package checkout_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
)

// attempts lists a payment's attempts as gateway/status.
func attempts(p *checkout.Payment) string {
	var out []string
	for _, a := range p.Attempts {
		out = append(out, a.Gateway+"/"+a.Status)
	}
	return strings.Join(out, " ")
}

// held pays with tok_sandbox_timeout_not_charged: sandbox-a's answer times
// out and the payment is held; after SettleAfter, Lookup says failed with
// processing_error (nothing charged).
func (e *env) held(t *testing.T, cart string) *checkout.Payment {
	t.Helper()
	s := e.session(t, cart)
	p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenTimeoutNotCharged)
	if err != nil || p.Status != checkout.StatusProcessing || attempts(p) != "sandbox-a/processing" {
		t.Fatalf("Pay = %+v, %v; want processing with one attempt on sandbox-a", p, err)
	}
	return p
}

func (e *env) payment(t *testing.T, id string) *checkout.Payment {
	t.Helper()
	p, err := e.svc.Payment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantCascaded checks a payment captured on sandbox-b after its held attempt
// on sandbox-a, charged once and announced once.
func (e *env) wantCascaded(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	p := e.payment(t, id)
	if p.Status != checkout.StatusCaptured || p.Gateway != "sandbox-b" || attempts(p) != "sandbox-a/failed sandbox-b/captured" {
		t.Fatalf("payment = %s via %s, attempts %s; want captured via sandbox-b after sandbox-a/failed", p.Status, p.Gateway, attempts(p))
	}
	if n := e.outboxCount(t, id); n != 1 {
		t.Fatalf("outbox rows = %d; want 1", n)
	}
	if p.Attempts[1].IdempotencyKey == p.Attempts[0].IdempotencyKey {
		t.Fatal("the cascaded attempt reused the held attempt's idempotency key")
	}
	// exactly one charge: nothing at sandbox-a, one at sandbox-b, no third attempt key anywhere
	if r, _ := e.a.Lookup(ctx, gateway.ChargeRequest{IdempotencyKey: p.Attempts[0].IdempotencyKey}, ""); r.Status != gateway.Failed {
		t.Fatalf("sandbox-a reports the held attempt %s; want failed", r.Status)
	}
	if r, _ := e.b.Lookup(ctx, gateway.ChargeRequest{IdempotencyKey: p.Attempts[1].IdempotencyKey}, ""); r.Status != gateway.Captured || r.Reference != p.GatewayReference {
		t.Fatalf("sandbox-b reports %s %s; want captured %s", r.Status, r.Reference, p.GatewayReference)
	}
	third := "pay_" + strings.TrimPrefix(p.ID, "pay_") + "_att_3"
	for _, g := range []*sandboxgw.Gateway{e.a, e.b} {
		if r, _ := g.Lookup(ctx, gateway.ChargeRequest{IdempotencyKey: third}, ""); r.Status != gateway.NotFound {
			t.Fatalf("%s has a third attempt: %s", g.Name(), r.Status)
		}
	}
	if sess, _ := e.svc.Session(ctx, p.SessionID, ""); sess.Status != checkout.SessionPaid {
		t.Errorf("session = %s; want paid", sess.Status)
	}
}

func TestLateCascadeAfterHeldAttemptNotCharged(t *testing.T) {
	t.Run("reconciler", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		ctx := context.Background()
		p := e.held(t, "cart-late")
		// still processing at sandbox-a: nothing cascades
		e.clock.Advance(6 * time.Second)
		e.svc.ReconcileDue(ctx)
		if got := e.payment(t, p.ID); got.Status != checkout.StatusProcessing || attempts(got) != "sandbox-a/processing" {
			t.Fatalf("before settling: %s %s; want processing, one attempt", got.Status, attempts(got))
		}
		e.clock.Advance(10 * time.Second)
		if n := e.svc.ReconcileDue(ctx); n != 1 {
			t.Fatalf("ReconcileDue = %d; want 1", n)
		}
		e.wantCascaded(t, p.ID)
		got := e.payment(t, p.ID)
		if got.Routing == nil || got.Routing.Candidates[0].Gateway != "sandbox-a" || got.DeclineCode != "" {
			t.Fatalf("routing = %+v, decline %q; want the payment's own decision, no decline", got.Routing, got.DeclineCode)
		}
		// reconciling again changes nothing
		if _, err := e.svc.Reconcile(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		e.wantCascaded(t, p.ID)
	})
	t.Run("webhook", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		ctx := context.Background()
		p := e.held(t, "cart-late-webhook")
		e.clock.Advance(11 * time.Second)
		h, body, err := e.a.Webhook(ctx, "evt_failed", p.Attempts[0].GatewayReference)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ReceiveWebhook(ctx, "sandbox-a", h, body); err != nil {
			t.Fatal(err)
		}
		if n := e.svc.ApplyWebhooks(ctx); n != 1 {
			t.Fatalf("ApplyWebhooks = %d; want 1", n)
		}
		e.wantCascaded(t, p.ID)
	})
	t.Run("concurrent reconcilers", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		p := e.held(t, "cart-late-concurrent")
		e.clock.Advance(11 * time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.Reconcile(context.Background(), p.ID); err != nil {
					t.Errorf("Reconcile: %v", err)
				}
			}()
		}
		wg.Wait()
		e.wantCascaded(t, p.ID)
	})
}

// TestLateCascadeCrashChargesOnce stops the reconciler at each step of a late
// cascade, as a crash would, then lets it run again.
func TestLateCascadeCrashChargesOnce(t *testing.T) {
	cases := []struct {
		point string
		// after the crash and a prompt re-run (before charge_timeout)
		early string
		// final state after charge_timeout
		want string
	}{
		// the held attempt is recorded not charged; nothing else: the re-run resumes the cascade
		{"cascade_resolved", "sandbox-a/failed sandbox-b/captured", "captured"},
		// attempt 2 written, sandbox-b never called: looked up, not cascaded again; nothing left to try
		{"attempt_written", "sandbox-a/failed sandbox-b/pending", "failed"},
		// sandbox-b charged, the answer lost: the re-run finds the charge by its key
		{"charged", "sandbox-a/failed sandbox-b/captured", "captured"},
	}
	for _, c := range cases {
		t.Run(c.point, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			ctx := context.Background()
			p := e.held(t, "cart-late-crash")
			e.clock.Advance(11 * time.Second)
			crash := errors.New("simulated crash")
			e.svc.SetHook(func(point string) error {
				if point == c.point {
					return crash
				}
				return nil
			})
			if _, err := e.svc.Reconcile(ctx, p.ID); !errors.Is(err, crash) {
				t.Fatalf("Reconcile error = %v; want the crash", err)
			}
			e.svc.SetHook(nil)
			if got := e.payment(t, p.ID); got.Status != checkout.StatusProcessing || got.ReconcileAt == nil {
				t.Fatalf("after the crash: %s, reconcile_at %v; want processing and due again", got.Status, got.ReconcileAt)
			}
			e.clock.Advance(6 * time.Second)
			if n := e.svc.ReconcileDue(ctx); n != 1 {
				t.Fatalf("ReconcileDue = %d; want 1", n)
			}
			if got := e.payment(t, p.ID); attempts(got) != c.early {
				t.Fatalf("re-run: attempts %s; want %s", attempts(got), c.early)
			}
			e.clock.Advance(30 * time.Second)
			e.svc.ReconcileDue(ctx)
			if c.want == "captured" {
				e.wantCascaded(t, p.ID)
				return
			}
			got := e.payment(t, p.ID)
			if got.Status != checkout.StatusFailed || attempts(got) != "sandbox-a/failed sandbox-b/not_charged" || e.outboxCount(t, p.ID) != 0 {
				t.Fatalf("final: %s %s, outbox %d; want failed, sandbox-b not charged, no outbox", got.Status, attempts(got), e.outboxCount(t, p.ID))
			}
			if r, _ := e.b.Lookup(ctx, gateway.ChargeRequest{IdempotencyKey: got.Attempts[1].IdempotencyKey}, ""); r.Status != gateway.NotFound {
				t.Fatalf("sandbox-b reports %s; want nothing charged", r.Status)
			}
		})
	}
}

func TestLateCascadeRefused(t *testing.T) {
	cases := []struct {
		name   string
		opts   envOpts
		before func(e *env)
	}{
		{"max attempts reached", envOpts{maxTries: 1}, nil},
		{"no gateway left", envOpts{rules: `{"default_selection": {"type": "priority", "data": ["sandbox-a"]}}`}, nil},
		{"cart changed", envOpts{}, func(e *env) { e.carts.price = 6100 }},
		{"card retry budget spent", envOpts{}, func(e *env) {
			// meanwhile the card was declined ten times elsewhere (the budget's counter)
			sum := sha256.Sum256([]byte("card:" + sandboxgw.TokenTimeoutNotCharged))
			k := e.prefix + "checkout:card:" + hex.EncodeToString(sum[:16]) + ":declines"
			if err := e.rdb.Set(context.Background(), k, "10", time.Hour).Err(); err != nil {
				panic(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			ctx := context.Background()
			p := e.held(t, "cart-late-refused")
			if c.before != nil {
				c.before(e)
			}
			e.clock.Advance(11 * time.Second)
			if _, err := e.svc.Reconcile(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			got := e.payment(t, p.ID)
			if got.Status != checkout.StatusFailed || got.DeclineCode != "processing_error" || attempts(got) != "sandbox-a/failed" || e.outboxCount(t, p.ID) != 0 {
				t.Fatalf("payment = %s %q %s, outbox %d; want failed processing_error after the one attempt", got.Status, got.DeclineCode, attempts(got), e.outboxCount(t, p.ID))
			}
			if r, _ := e.b.Lookup(ctx, gateway.ChargeRequest{IdempotencyKey: "pay_" + strings.TrimPrefix(p.ID, "pay_") + "_att_2"}, ""); r.Status != gateway.NotFound {
				t.Fatalf("sandbox-b was charged: %s", r.Status)
			}
		})
	}
}

// authAlways declines every charge with authentication_required, step-up or
// not.
type authAlways struct{ gateway.Gateway }

func (g authAlways) Charge(_ context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	return gateway.Result{Status: gateway.Failed, Reference: "ref_" + req.IdempotencyKey, Decline: sandboxgw.Decline("authentication_required")}, nil
}

func TestStepUpToThreeDSecure(t *testing.T) {
	ctx := context.Background()
	t.Run("completed", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		s := e.session(t, "cart-stepup")
		p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenAuthRequired)
		if err != nil || p.Status != checkout.StatusRequiresAction || p.NextAction == nil || p.NextAction.URL == "" || p.DeclineCode != "" {
			t.Fatalf("Pay = %+v, %v; want requires_action with a 3-D Secure URL", p, err)
		}
		if got := attempts(p); got != "sandbox-a/failed sandbox-a/requires_action" || p.Attempts[0].DeclineCode != "authentication_required" {
			t.Fatalf("attempts = %s (%s); want the authentication_required decline, then the step-up on sandbox-a", got, p.Attempts[0].DeclineCode)
		}
		ref := p.Attempts[1].GatewayReference
		if p.NextAction.URL != "http://checkout.test/sandbox/3ds/"+ref {
			t.Fatalf("next action = %s; want the step-up's 3-D Secure page", p.NextAction.URL)
		}
		if _, err := e.a.Complete(ctx, ref, true); err != nil {
			t.Fatal(err)
		}
		p, err = e.svc.RefreshByReference(ctx, "sandbox-a", ref)
		if err != nil || p.Status != checkout.StatusCaptured || p.GatewayReference != ref || e.outboxCount(t, p.ID) != 1 {
			t.Fatalf("after 3-D Secure: %+v, %v, outbox %d; want captured once", p, err, e.outboxCount(t, p.ID))
		}
	})
	t.Run("authentication fails", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		s := e.session(t, "cart-stepup-fail")
		p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenAuthRequired)
		if err != nil || p.Status != checkout.StatusRequiresAction {
			t.Fatalf("Pay = %+v, %v", p, err)
		}
		ref := p.Attempts[1].GatewayReference
		if _, err := e.a.Complete(ctx, ref, false); err != nil {
			t.Fatal(err)
		}
		p, err = e.svc.RefreshByReference(ctx, "sandbox-a", ref)
		if err != nil || p.Status != checkout.StatusFailed || p.DeclineCode != "authentication_failed" || !strings.Contains(p.ErrorMessage, "3-D Secure") {
			t.Fatalf("after a failed 3-D Secure: %+v, %v; want failed authentication_failed", p, err)
		}
		e.clock.Advance(time.Hour)
		e.svc.ReconcileDue(ctx)
		if p = e.payment(t, p.ID); len(p.Attempts) != 2 || p.Status != checkout.StatusFailed || e.outboxCount(t, p.ID) != 0 {
			t.Fatalf("later: %s %s; want failed after two attempts, no further step-up", p.Status, attempts(p))
		}
	})
	t.Run("step-up declined again", func(t *testing.T) {
		e := newEnv(t, envOpts{wrapA: func(g gateway.Gateway) gateway.Gateway { return authAlways{g} }})
		s := e.session(t, "cart-stepup-again")
		p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenAuthRequired)
		if err != nil || p.Status != checkout.StatusFailed || p.DeclineCode != "authentication_failed" ||
			attempts(p) != "sandbox-a/failed sandbox-a/failed" {
			t.Fatalf("Pay = %s %q %s, %v; want failed authentication_failed after one step-up", p.Status, p.DeclineCode, attempts(p), err)
		}
	})
	t.Run("no attempt left", func(t *testing.T) {
		e := newEnv(t, envOpts{maxTries: 1})
		s := e.session(t, "cart-stepup-max")
		p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenAuthRequired)
		if err != nil || p.Status != checkout.StatusFailed || p.DeclineCode != "authentication_required" || len(p.Attempts) != 1 {
			t.Fatalf("Pay = %s %q %s, %v; want failed authentication_required, one attempt", p.Status, p.DeclineCode, attempts(p), err)
		}
	})
}
