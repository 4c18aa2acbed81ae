package checkout_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
)

func TestPayCapturedWritesOutboxInSameTransaction(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-ok")
	p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK)
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if p.Status != checkout.StatusCaptured || p.Gateway != "sandbox-a" || p.Amount != 5700 || p.Currency != "USD" {
		t.Fatalf("Pay = %s via %s %d %s; want captured via sandbox-a 5700 USD", p.Status, p.Gateway, p.Amount, p.Currency)
	}
	var payload []byte
	var topic, eventID string
	if err := e.db.QueryRow(`SELECT topic, event_id, payload FROM outbox WHERE aggregate_id = ?`, p.ID).Scan(&topic, &eventID, &payload); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	var ev paymentevent.Captured
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if topic != paymentevent.TopicCaptured || eventID != paymentevent.CapturedEventID(p.ID) || ev.TransactionID != p.GatewayReference ||
		ev.Amount != 5700 || ev.Order.ShippingAddress == nil || ev.Order.ShippingCarrier != "flatrate" || ev.Email != "roni@example.com" {
		t.Fatalf("outbox event = %s %s %+v", topic, eventID, ev)
	}
	sess, _ := e.svc.Session(context.Background(), s.ID, "")
	if sess.Status != checkout.SessionPaid {
		t.Errorf("session status = %s; want paid", sess.Status)
	}
}

func TestDeclineBuckets(t *testing.T) {
	cases := []struct {
		name     string
		opts     envOpts
		token    string
		status   string
		attempts []string // gateway/status per attempt
		decline  string
	}{
		{"ok", envOpts{}, sandboxgw.TokenOK, "captured", []string{"sandbox-a/captured"}, ""},
		{"technical cascades after lookup", envOpts{aRate: -1}, sandboxgw.TokenOK, "captured",
			[]string{"sandbox-a/failed", "sandbox-b/captured"}, ""},
		{"outage cascades", envOpts{aOutage: true}, sandboxgw.TokenOK, "captured",
			[]string{"sandbox-a/not_charged", "sandbox-b/captured"}, ""},
		{"generic cascades once", envOpts{}, sandboxgw.TokenDeclineSoft, "failed",
			[]string{"sandbox-a/failed", "sandbox-b/failed"}, "generic_decline"},
		{"shopper-fixable does not cascade", envOpts{}, sandboxgw.TokenInsufficientFunds, "failed",
			[]string{"sandbox-a/failed"}, "insufficient_funds"},
		{"hard does not cascade", envOpts{}, sandboxgw.TokenStolen, "failed",
			[]string{"sandbox-a/failed"}, "stolen_card"},
		{"unknown outcome holds", envOpts{}, sandboxgw.TokenTimeout, "processing",
			[]string{"sandbox-a/processing"}, ""},
		{"3ds requires action", envOpts{}, sandboxgw.Token3DS, "requires_action",
			[]string{"sandbox-a/requires_action"}, ""},
		{"max attempts 1", envOpts{aRate: -1, maxTries: 1}, sandboxgw.TokenOK, "failed",
			[]string{"sandbox-a/failed"}, "processing_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			s := e.session(t, "cart-"+c.name)
			p, err := e.pay(t, s.ID, "k", c.token)
			if err != nil {
				t.Fatalf("Pay: %v", err)
			}
			var got []string
			for _, a := range p.Attempts {
				got = append(got, a.Gateway+"/"+a.Status)
			}
			if p.Status != c.status || p.DeclineCode != c.decline || len(got) != len(c.attempts) {
				t.Fatalf("Pay(%s) = %s %q %v; want %s %q %v", c.token, p.Status, p.DeclineCode, got, c.status, c.decline, c.attempts)
			}
			for i := range got {
				if got[i] != c.attempts[i] {
					t.Fatalf("attempts = %v; want %v", got, c.attempts)
				}
			}
			want := 0
			if c.status == "captured" {
				want = 1
			}
			if n := e.outboxCount(t, p.ID); n != want {
				t.Errorf("outbox rows = %d; want %d", n, want)
			}
		})
	}
}

func TestHardDeclineBlocksCard(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-stolen")
	if p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenStolen); err != nil || p.Status != "failed" {
		t.Fatalf("Pay = %v, %v", p, err)
	}
	_, err := e.pay(t, s.ID, "k2", sandboxgw.TokenStolen)
	if errs.Code(err) != "card_blocked" {
		t.Fatalf("second Pay error = %v; want card_blocked", err)
	}
}

func TestUnknownOutcomeNeverCascadesAndReconciles(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-timeout")
	p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenTimeout)
	if err != nil || p.Status != checkout.StatusProcessing || len(p.Attempts) != 1 {
		t.Fatalf("Pay = %+v, %v; want processing with one attempt", p, err)
	}
	// Another request for the same cart cannot start a second charge.
	if _, err := e.pay(t, s.ID, "k2", sandboxgw.TokenOK); !errors.Is(err, checkout.ErrCartBusy) {
		t.Fatalf("second Pay error = %v; want ErrCartBusy", err)
	}
	// Still processing at the gateway: the reconciler keeps holding.
	e.clock.Advance(6 * time.Second)
	if n := e.svc.ReconcileDue(context.Background()); n != 1 {
		t.Fatalf("ReconcileDue = %d; want 1", n)
	}
	p, _ = e.svc.Payment(context.Background(), p.ID)
	if p.Status != checkout.StatusProcessing {
		t.Fatalf("status after early reconcile = %s; want processing", p.Status)
	}
	e.clock.Advance(2 * time.Minute)
	e.svc.ReconcileDue(context.Background())
	p, _ = e.svc.Payment(context.Background(), p.ID)
	if p.Status != checkout.StatusCaptured || len(p.Attempts) != 1 || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("after settle: %s, %d attempts, %d outbox; want captured, 1, 1", p.Status, len(p.Attempts), e.outboxCount(t, p.ID))
	}
	// Reconciling again changes nothing.
	if _, err := e.svc.Reconcile(context.Background(), p.ID); err != nil || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("second reconcile: %v, outbox %d", err, e.outboxCount(t, p.ID))
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-idem")
	p1, err := e.pay(t, s.ID, "key-1", sandboxgw.TokenOK)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.pay(t, s.ID, "key-1", sandboxgw.TokenOK)
	if err != nil || p2.ID != p1.ID || p2.Status != p1.Status {
		t.Fatalf("replay = %v, %v; want payment %s", p2, err, p1.ID)
	}
	_, err = e.pay(t, s.ID, "key-1", sandboxgw.TokenDeclineSoft)
	if errs.Status(err) != 409 || errs.Code(err) != "idempotency_conflict" {
		t.Fatalf("other body error = %v; want 409 idempotency_conflict", err)
	}
	_, err = e.pay(t, s.ID, "key-2", sandboxgw.TokenOK)
	if !errors.Is(err, checkout.ErrCartBusy) {
		t.Fatalf("new key on a paid cart = %v; want ErrCartBusy", err)
	}
	var n int
	e.db.QueryRow(`SELECT COUNT(*) FROM payment_attempts`).Scan(&n)
	if n != 1 {
		t.Fatalf("attempts = %d; want 1", n)
	}
}

func TestConcurrentSameKeyChargesOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-conc")
	ids := make(chan string, 8)
	for range 8 {
		go func() {
			p, err := e.pay(t, s.ID, "same", sandboxgw.TokenOK)
			if err != nil {
				ids <- "error: " + err.Error()
				return
			}
			ids <- p.ID
		}()
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first {
			t.Fatalf("payment ids differ: %s vs %s", first, id)
		}
	}
	var n int
	e.db.QueryRow(`SELECT COUNT(*) FROM payment_attempts`).Scan(&n)
	if n != 1 {
		t.Fatalf("attempts = %d; want 1", n)
	}
}

func TestCrashAtEveryStepLosesNothingChargesOnce(t *testing.T) {
	for _, point := range []string{"payment_created", "attempt_written", "charged"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			s := e.session(t, "cart-crash")
			crash := errors.New("simulated crash")
			e.svc.SetHook(func(p string) error {
				if p == point {
					return crash
				}
				return nil
			})
			if _, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK); !errors.Is(err, crash) {
				t.Fatalf("Pay error = %v; want the crash", err)
			}
			e.svc.SetHook(nil)
			// A retry with the same key replays the held payment rather than charging again.
			p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK)
			if err != nil || p.Status != checkout.StatusProcessing {
				t.Fatalf("replay after crash = %v, %v; want processing", p, err)
			}
			e.clock.Advance(time.Minute)
			e.svc.ReconcileDue(context.Background())
			p, _ = e.svc.Payment(context.Background(), p.ID)
			wantStatus, wantOutbox := checkout.StatusFailed, 0
			if point == "charged" { // the gateway took the money: the payment must be captured
				wantStatus, wantOutbox = checkout.StatusCaptured, 1
			}
			if p.Status != wantStatus || e.outboxCount(t, p.ID) != wantOutbox {
				t.Fatalf("after reconcile: %s with %d outbox rows; want %s, %d", p.Status, e.outboxCount(t, p.ID), wantStatus, wantOutbox)
			}
			if wantStatus == checkout.StatusFailed {
				// nothing was charged, the cart is free: a new payment works
				p2, err := e.pay(t, s.ID, "k2", sandboxgw.TokenOK)
				if err != nil || p2.Status != checkout.StatusCaptured {
					t.Fatalf("new payment = %v, %v; want captured", p2, err)
				}
			}
		})
	}
}

func TestThreeDSecureAndWebhooks(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	s := e.session(t, "cart-3ds")
	p, err := e.pay(t, s.ID, "k1", sandboxgw.Token3DS)
	if err != nil || p.Status != checkout.StatusRequiresAction || p.NextAction == nil || p.NextAction.URL == "" {
		t.Fatalf("Pay = %+v, %v; want requires_action with a URL", p, err)
	}
	ref := p.Attempts[0].GatewayReference
	if _, err := e.a.Complete(ctx, ref, true); err != nil {
		t.Fatal(err)
	}
	h, body, err := e.a.Webhook(ctx, "evt_1", ref)
	if err != nil {
		t.Fatal(err)
	}
	// tampered
	bad := append([]byte{}, body...)
	bad[len(bad)-2] ^= 1
	if _, err := e.svc.ReceiveWebhook(ctx, "sandbox-a", h, bad); errs.Code(err) != errs.Unauthorized {
		t.Fatalf("tampered webhook error = %v; want unauthorized", err)
	}
	// signed with another gateway's secret
	if _, err := e.svc.ReceiveWebhook(ctx, "sandbox-b", h, body); errs.Code(err) != errs.Unauthorized {
		t.Fatalf("wrong secret error = %v; want unauthorized", err)
	}
	// stale
	old := h.Clone()
	old.Set(sandboxgw.SignatureHeader, sandboxgw.Sign("whsec_a", body, e.clock.Now().Add(-10*time.Minute)))
	if _, err := e.svc.ReceiveWebhook(ctx, "sandbox-a", old, body); errs.Code(err) != errs.Unauthorized {
		t.Fatalf("stale webhook error = %v; want unauthorized", err)
	}
	// good
	if dup, err := e.svc.ReceiveWebhook(ctx, "sandbox-a", h, body); err != nil || dup {
		t.Fatalf("good webhook = %v, %v", dup, err)
	}
	// replayed
	if dup, err := e.svc.ReceiveWebhook(ctx, "sandbox-a", h, body); err != nil || !dup {
		t.Fatalf("replayed webhook = %v, %v; want duplicate", dup, err)
	}
	if n := e.svc.ApplyWebhooks(ctx); n != 1 {
		t.Fatalf("ApplyWebhooks = %d; want 1", n)
	}
	p, _ = e.svc.Payment(ctx, p.ID)
	if p.Status != checkout.StatusCaptured || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("after webhook: %s, outbox %d", p.Status, e.outboxCount(t, p.ID))
	}
	// the 3-D Secure return path applies the same state again: no change
	if p2, err := e.svc.RefreshByReference(ctx, "sandbox-a", ref); err != nil || p2.Status != checkout.StatusCaptured || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("refresh = %v, %v", p2, err)
	}
}

func TestRefunds(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	s := e.session(t, "cart-refund")
	p, err := e.pay(t, s.ID, "k1", sandboxgw.TokenOK)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "magento-cm-1", Amount: 2000})
	if err != nil || r.Status != checkout.RefundSucceeded || r.Gateway != "sandbox-a" {
		t.Fatalf("Refund = %+v, %v", r, err)
	}
	r2, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "magento-cm-1", Amount: 2000})
	if err != nil || r2.ID != r.ID || r2.GatewayReference != r.GatewayReference {
		t.Fatalf("repeated refund = %+v, %v", r2, err)
	}
	if _, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "magento-cm-1", Amount: 100}); errs.Status(err) != 409 {
		t.Fatalf("refund id reuse error = %v; want 409", err)
	}
	if _, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "magento-cm-2", Amount: 3701}); errs.Code(err) != errs.Unprocessable {
		t.Fatalf("over-refund error = %v; want unprocessable", err)
	}
	if r3, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "magento-cm-3", Amount: 3700}); err != nil || r3.Status != checkout.RefundSucceeded {
		t.Fatalf("rest refund = %+v, %v", r3, err)
	}
	p, _ = e.svc.Payment(ctx, p.ID)
	if p.RefundedAmount != 5700 {
		t.Fatalf("refunded = %d; want 5700", p.RefundedAmount)
	}
}

func TestNoEligibleGateway(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.session(t, "cart-paypal")
	_, err := e.svc.Pay(context.Background(), checkout.PayParams{SessionID: s.ID, IdempotencyKey: "k", Method: gateway.PayPal, Token: "x"})
	if errs.Code(err) != "no_eligible_gateway" {
		t.Fatalf("Pay(paypal) error = %v; want no_eligible_gateway", err)
	}
}

func TestCardRetryBudgetCountsDeclines(t *testing.T) {
	e := newEnv(t, envOpts{})
	// generic declines cascade once: two declines per payment
	for i := range 5 {
		s := e.session(t, "cart-budget-"+string(rune('a'+i)))
		p, err := e.pay(t, s.ID, "k", sandboxgw.TokenDeclineSoft)
		if err != nil || p.DeclineCode != "generic_decline" {
			t.Fatalf("payment %d = %v, %v", i, p, err)
		}
	}
	s := e.session(t, "cart-budget-z")
	p, err := e.pay(t, s.ID, "k", sandboxgw.TokenDeclineSoft)
	if err != nil || p.DeclineCode != "retry_budget_exceeded" || len(p.Attempts) != 0 {
		t.Fatalf("11th try = %+v, %v; want retry_budget_exceeded without an attempt", p, err)
	}
	// successes never spend the budget
	for i := range 12 {
		s := e.session(t, "cart-ok-"+string(rune('a'+i)))
		if p, err := e.pay(t, s.ID, "k", sandboxgw.TokenOK); err != nil || p.Status != checkout.StatusCaptured {
			t.Fatalf("ok payment %d = %v, %v", i, p, err)
		}
	}
}

// TestClientGoneMidChargeStillSettles cancels the shopper's request while
// the gateway is answering: the charge's outcome is still recorded (the work
// runs on its own context), so a retry replays it instead of charging again.
// cancelOnCharge cancels the shopper's request the moment the gateway is
// called: the client is gone mid-charge.
type cancelOnCharge struct {
	gateway.Gateway
	cancel context.CancelFunc
}

func (c cancelOnCharge) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	c.cancel()
	return c.Gateway.Charge(ctx, req)
}

func TestClientGoneMidChargeStillSettles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envOpts{latency: 50 * time.Millisecond, aRate: 1, rules: `{"default_selection": {"type": "priority", "data": ["sandbox-a", "sandbox-b"]}}`,
		wrapA: func(g gateway.Gateway) gateway.Gateway { return cancelOnCharge{g, cancel} }})
	s := e.session(t, "cart-gone")
	p, err := e.svc.Pay(ctx, checkout.PayParams{SessionID: s.ID, IdempotencyKey: "k", Method: gateway.Card, Token: sandboxgw.TokenOK})
	if ctx.Err() == nil {
		t.Fatal("the gateway was never called")
	}
	if err != nil || p.Status != checkout.StatusCaptured {
		t.Fatalf("Pay with a client gone mid-charge = %v, %v; want captured", p, err)
	}
	again, err := e.pay(t, s.ID, "k", sandboxgw.TokenOK)
	if err != nil || again.ID != p.ID || len(again.Attempts) != 1 || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("retry = %+v, %v; want the same payment, one attempt, one outbox row", again, err)
	}
}

func TestExpiredActionIsVoidedAndFailed(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	s := e.session(t, "cart-3ds-expire")
	p, err := e.pay(t, s.ID, "k", sandboxgw.Token3DS)
	if err != nil || p.Status != checkout.StatusRequiresAction {
		t.Fatalf("Pay = %v, %v", p, err)
	}
	e.clock.Advance(16 * time.Minute)
	e.svc.ReconcileDue(ctx)
	p, _ = e.svc.Payment(ctx, p.ID)
	if p.Status != checkout.StatusFailed || p.DeclineCode != "action_expired" {
		t.Fatalf("after expiry = %s %s; want failed action_expired", p.Status, p.DeclineCode)
	}
	// the shopper can no longer complete the voided charge
	if r, _ := e.a.Complete(ctx, p.Attempts[0].GatewayReference, true); r.Status != gateway.Failed {
		t.Fatalf("completing a voided charge = %s; want failed", r.Status)
	}
	// and the cart is free for a new payment
	if p2, err := e.pay(t, s.ID, "k2", sandboxgw.TokenOK); err != nil || p2.Status != checkout.StatusCaptured {
		t.Fatalf("new payment = %v, %v", p2, err)
	}
}

func TestDryRunShowsDifferences(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	for i := range 3 {
		s := e.session(t, "cart-dry-"+string(rune('a'+i)))
		if _, err := e.pay(t, s.ID, "k", sandboxgw.TokenOK); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.svc.DryRun(ctx, []byte(`{"default_selection": {"type": "priority", "data": ["sandbox-a", "sandbox-b"]}}`), 100)
	if err != nil || rep.Evaluated != 3 || rep.Changed != 0 {
		t.Fatalf("same rules: %+v, %v; want 3 evaluated, none changed", rep, err)
	}
	draft := `
default_selection: {type: priority, data: [sandbox-a, sandbox-b]}
rules:
  - name: usd-to-b
    selection: {type: priority, data: [sandbox-b]}
    statements: [{condition: [{lhs: currency, comparison: equal, value: USD}]}]
`
	rep, err = e.svc.DryRun(ctx, []byte(draft), 100)
	if err != nil || rep.Changed != 3 || rep.DraftFirst["sandbox-b"] != 3 || rep.DraftRuleHits["usd-to-b"] != 3 ||
		rep.Differences[0].ActualGateway != "sandbox-a" || rep.Differences[0].DraftRoute[0] != "sandbox-b" {
		t.Fatalf("draft: %+v, %v", rep, err)
	}
	if _, err := e.svc.DryRun(ctx, []byte(`{"default_selection": {"type": "nope"}}`), 10); errs.Code(err) != errs.Invalid {
		t.Fatalf("invalid draft = %v; want invalid", err)
	}
	// saving it changes routing at once; an invalid document leaves it in force
	if _, err := e.svc.SaveRules(ctx, []byte(draft), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SaveRules(ctx, []byte(`{"default_selection": {"type": "priority", "data": ["ghost"]}}`), "test"); errs.Code(err) != errs.Invalid {
		t.Fatalf("invalid save = %v", err)
	}
	if v := e.svc.Rules().Doc.Version; v != 1 {
		t.Fatalf("rules version = %d; want 1", v)
	}
	s := e.session(t, "cart-dry-z")
	if p, _ := e.pay(t, s.ID, "k", sandboxgw.TokenOK); p.Gateway != "sandbox-b" || p.Routing.MatchedRule != "usd-to-b" {
		t.Fatalf("after save: %s by %q", p.Gateway, p.Routing.MatchedRule)
	}
}

// TestAbandonedActionIsSuperseded: a shopper who leaves the 3-D Secure page
// and pays with another card is not blocked until the action expires; the
// waiting charge is voided first. A completed one is never voided away.
func TestAbandonedActionIsSuperseded(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	s := e.session(t, "cart-supersede")
	first, err := e.pay(t, s.ID, "k1", sandboxgw.Token3DS)
	if err != nil || first.Status != checkout.StatusRequiresAction {
		t.Fatalf("Pay = %v, %v", first, err)
	}
	second, err := e.pay(t, s.ID, "k2", sandboxgw.TokenOK)
	if err != nil || second.Status != checkout.StatusCaptured {
		t.Fatalf("second Pay = %v, %v; want captured", second, err)
	}
	first, _ = e.svc.Payment(ctx, first.ID)
	if first.Status != checkout.StatusFailed || first.DeclineCode != "superseded" {
		t.Fatalf("first = %s %s; want failed superseded", first.Status, first.DeclineCode)
	}
	if r, _ := e.a.Complete(ctx, first.Attempts[0].GatewayReference, true); r.Status == gateway.Captured {
		t.Fatal("the voided charge could still be completed")
	}

	// completed on the gateway but not yet reported: the new payment is refused
	s2 := e.session(t, "cart-supersede-2")
	p, _ := e.pay(t, s2.ID, "k1", sandboxgw.Token3DS)
	e.a.Complete(ctx, p.Attempts[0].GatewayReference, true)
	if _, err := e.pay(t, s2.ID, "k2", sandboxgw.TokenOK); !errors.Is(err, checkout.ErrCartBusy) {
		t.Fatalf("second Pay after completion = %v; want ErrCartBusy", err)
	}
	p, _ = e.svc.Payment(ctx, p.ID)
	if p.Status != checkout.StatusCaptured || e.outboxCount(t, p.ID) != 1 {
		t.Fatalf("completed payment = %s, outbox %d; want captured, 1", p.Status, e.outboxCount(t, p.ID))
	}
}

func TestVoid(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpts{authorizeOnly: true})
	s := e.session(t, "cart-void")
	p, err := e.pay(t, s.ID, "k", sandboxgw.TokenOK)
	if err != nil || p.Status != checkout.StatusAuthorized {
		t.Fatalf("Pay = %v, %v; want authorized", p, err)
	}
	for i := 0; i < 2; i++ { // a repeated void answers the same
		v, err := e.svc.Void(ctx, p.ID, "order cancelled in Magento")
		if err != nil || v.Status != checkout.StatusVoided {
			t.Fatalf("Void #%d = %v, %v; want voided", i+1, v, err)
		}
	}
	if r, _ := e.a.Lookup(ctx, gateway.ChargeRequest{}, p.Attempts[0].GatewayReference); r.Status != gateway.Failed {
		t.Fatalf("the gateway reports the voided charge %s; want failed (cancelled)", r.Status)
	}
	if e.outboxCount(t, p.ID) != 0 {
		t.Fatal("an authorised payment without announce_authorized wrote an outbox event")
	}
	// The cart is free again.
	if p2, err := e.pay(t, s.ID, "k2", sandboxgw.TokenOK); err != nil || p2.Status != checkout.StatusAuthorized {
		t.Fatalf("new payment after the void = %v, %v", p2, err)
	}
	if _, err := e.svc.Void(ctx, "pay_nope", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Void(unknown) = %v; want not_found", err)
	}

	captured := newEnv(t, envOpts{})
	s = captured.session(t, "cart-void-captured")
	p, err = captured.pay(t, s.ID, "k", sandboxgw.TokenOK)
	if err != nil || p.Status != checkout.StatusCaptured {
		t.Fatalf("Pay = %v, %v", p, err)
	}
	if _, err := captured.svc.Void(ctx, p.ID, ""); !errs.Is(err, errs.Conflict) {
		t.Fatalf("Void(captured) = %v; want conflict (refund instead)", err)
	}
	if got, _ := captured.svc.Payment(ctx, p.ID); got.Status != checkout.StatusCaptured {
		t.Fatalf("after a refused void the payment is %s; want captured, unchanged", got.Status)
	}
}
