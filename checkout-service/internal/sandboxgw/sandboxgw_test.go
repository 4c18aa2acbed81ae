package sandboxgw_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/errs"
)

var caps = gateway.Capabilities{Methods: []gateway.Method{gateway.Card}, Currencies: []string{"USD"}}

func pair(t *testing.T, cfg sandboxgw.Config, now func() time.Time) (*sandboxgw.Gateway, *sandboxgw.Gateway) {
	t.Helper()
	rdb, prefix := cachetest.New(t)
	cfg.Name, cfg.Capabilities = "sandbox-a", caps
	// two instances of the service: two Gateway values over one Redis
	return sandboxgw.New(cfg, rdb, prefix, now), sandboxgw.New(cfg, rdb, prefix, now)
}

func req(key, token string) gateway.ChargeRequest {
	return gateway.ChargeRequest{PaymentID: "pay_1", IdempotencyKey: key, Amount: 10000, Currency: "USD", Method: gateway.Card, Token: token, Capture: true}
}

func TestTokens(t *testing.T) {
	a, _ := pair(t, sandboxgw.Config{SuccessRate: 1, FeeBps: 290, FeeFixed: 30, ActionURL: "https://x/sandbox/3ds"}, nil)
	ctx := context.Background()
	cases := []struct {
		token  string
		status gateway.Status
		code   string
		bucket gateway.Bucket
	}{
		{sandboxgw.TokenOK, gateway.Captured, "", ""},
		{sandboxgw.Token3DS, gateway.RequiresAction, "", ""},
		{sandboxgw.TokenDeclineSoft, gateway.Failed, "generic_decline", gateway.Generic},
		{sandboxgw.TokenInsufficientFunds, gateway.Failed, "insufficient_funds", gateway.ShopperFixable},
		{sandboxgw.TokenStolen, gateway.Failed, "stolen_card", gateway.Hard},
		{"tok_unknown", gateway.Failed, "invalid_payment_token", gateway.ShopperFixable},
	}
	for _, c := range cases {
		r, err := a.Charge(ctx, req("k-"+c.token, c.token))
		if err != nil || r.Status != c.status {
			t.Fatalf("Charge(%s) = %+v, %v; want %s", c.token, r, err, c.status)
		}
		if c.code != "" && (r.Decline == nil || r.Decline.Code != c.code || r.Decline.Bucket != c.bucket) {
			t.Fatalf("Charge(%s) decline = %+v; want %s/%s", c.token, r.Decline, c.code, c.bucket)
		}
		if c.status == gateway.Captured && r.Fee != 290+30 {
			t.Errorf("fee = %d; want 320", r.Fee)
		}
		if c.status == gateway.RequiresAction && (r.NextAction == nil || r.NextAction.URL != "https://x/sandbox/3ds/"+r.Reference) {
			t.Errorf("next action = %+v", r.NextAction)
		}
	}
}

func TestIdempotentAndSharedAcrossInstances(t *testing.T) {
	a, b := pair(t, sandboxgw.Config{SuccessRate: 1}, nil)
	ctx := context.Background()
	r1, err := a.Charge(ctx, req("pay_1_att_1", sandboxgw.TokenOK))
	if err != nil {
		t.Fatal(err)
	}
	// the same key from the other instance replays, even with another token
	r2, err := b.Charge(ctx, req("pay_1_att_1", sandboxgw.TokenDeclineSoft))
	if err != nil || r2.Reference != r1.Reference || r2.Status != gateway.Captured {
		t.Fatalf("replay = %+v, %v; want %+v", r2, err, r1)
	}
	if l, err := b.Lookup(ctx, req("pay_1_att_1", ""), ""); err != nil || l.Status != gateway.Captured {
		t.Fatalf("Lookup from the other instance = %+v, %v", l, err)
	}
	if l, err := b.Lookup(ctx, gateway.ChargeRequest{}, r1.Reference); err != nil || l.Status != gateway.Captured {
		t.Fatalf("Lookup by reference = %+v, %v", l, err)
	}
	if l, _ := a.Lookup(ctx, req("never-sent", ""), ""); l.Status != gateway.NotFound {
		t.Fatalf("Lookup of an unknown key = %s; want not_found", l.Status)
	}
}

func TestTimeoutChargesButAnswersUnknown(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, b := pair(t, sandboxgw.Config{SuccessRate: 1, SettleAfter: 5 * time.Second}, clock)
	ctx := context.Background()
	_, err := a.Charge(ctx, req("k", sandboxgw.TokenTimeout))
	if errs.Code(err) != errs.OutcomeUnknown {
		t.Fatalf("Charge(timeout) error = %v; want outcome_unknown", err)
	}
	if l, _ := b.Lookup(ctx, req("k", ""), ""); l.Status != gateway.Processing {
		t.Fatalf("early Lookup = %s; want processing", l.Status)
	}
	now = now.Add(6 * time.Second)
	if l, _ := b.Lookup(ctx, req("k", ""), ""); l.Status != gateway.Captured {
		t.Fatalf("late Lookup = %s; want captured", l.Status)
	}
}

func TestSuccessRateOutagesRefunds(t *testing.T) {
	a, _ := pair(t, sandboxgw.Config{SuccessRate: 0.7}, nil)
	ctx := context.Background()
	ok := 0
	for i := range 2000 {
		r, _ := a.Charge(ctx, req("rate-"+string(rune(i))+time.Duration(i).String(), sandboxgw.TokenOK))
		if r.Status == gateway.Captured {
			ok++
		}
	}
	if rate := float64(ok) / 2000; rate < 0.66 || rate > 0.74 {
		t.Fatalf("success rate = %.3f; want 0.70 ± 0.04", rate)
	}
	// A fixed noon: on the real clock the window misses the day's last minute.
	noon := func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }
	down, _ := pair(t, sandboxgw.Config{SuccessRate: 1, Outages: []sandboxgw.Outage{{Start: "00:00", End: "23:59"}}}, noon)
	if _, err := down.Charge(ctx, req("x", sandboxgw.TokenOK)); errs.Code(err) != errs.Unavailable {
		t.Fatalf("Charge during an outage = %v; want unavailable", err)
	}
	r, _ := a.Charge(ctx, req("refund-me", sandboxgw.TokenOK))
	for r.Status != gateway.Captured {
		r, _ = a.Charge(ctx, req("refund-me-"+r.Reference, sandboxgw.TokenOK))
	}
	rr, err := a.Refund(ctx, gateway.RefundRequest{RefundID: "cm-1", Reference: r.Reference, Amount: 6000, Currency: "USD"})
	if err != nil || rr.Status != gateway.Captured {
		t.Fatalf("Refund = %+v, %v", rr, err)
	}
	again, _ := a.Refund(ctx, gateway.RefundRequest{RefundID: "cm-1", Reference: r.Reference, Amount: 6000, Currency: "USD"})
	if again.Reference != rr.Reference {
		t.Fatalf("repeated refund = %+v; want the first", again)
	}
	over, _ := a.Refund(ctx, gateway.RefundRequest{RefundID: "cm-2", Reference: r.Reference, Amount: 6000, Currency: "USD"})
	if over.Status != gateway.Failed {
		t.Fatalf("over-refund = %+v; want failed", over)
	}
}

func TestWebhookSignatures(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a, _ := pair(t, sandboxgw.Config{SuccessRate: 1, WebhookSecret: "whsec_x"}, func() time.Time { return now })
	ctx := context.Background()
	r, _ := a.Charge(ctx, req("k", sandboxgw.TokenOK))
	h, body, err := a.Webhook(ctx, "evt_1", r.Reference)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.ParseWebhook(ctx, h, body, now)
	if err != nil || ev.ID != "evt_1" || ev.Reference != r.Reference || ev.Result.Status != gateway.Captured || ev.PaymentID != "pay_1" {
		t.Fatalf("good webhook = %+v, %v", ev, err)
	}
	tampered := append([]byte{}, body...)
	tampered[5] ^= 1
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
		at   time.Time
	}{
		"tampered":     {h, tampered, now},
		"stale":        {h, body, now.Add(6 * time.Minute)},
		"future":       {h, body, now.Add(-6 * time.Minute)},
		"unsigned":     {http.Header{}, body, now},
		"wrong secret": {http.Header{sandboxgw.SignatureHeader: {sandboxgw.Sign("other", body, now)}}, body, now},
	} {
		if _, err := a.ParseWebhook(ctx, c.h, c.body, c.at); errs.Code(err) != errs.Unauthorized {
			t.Errorf("%s webhook = %v; want unauthorized", name, err)
		}
	}
}

func TestTimeoutNotChargedToken(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a, other := pair(t, sandboxgw.Config{SuccessRate: 1, SettleAfter: 10 * time.Second}, func() time.Time { return now })
	ctx := context.Background()
	r1 := req("pay_1_att_1", sandboxgw.TokenTimeoutNotCharged)
	r1.Attempt = 1
	if _, err := a.Charge(ctx, r1); !errs.Is(err, errs.OutcomeUnknown) {
		t.Fatalf("Charge(timeout_not_charged) error = %v; want outcome_unknown", err)
	}
	if r, err := other.Lookup(ctx, r1, ""); err != nil || r.Status != gateway.Processing || r.Decline != nil {
		t.Fatalf("Lookup before settling = %+v, %v; want processing", r, err)
	}
	now = now.Add(11 * time.Second)
	r, err := other.Lookup(ctx, r1, "")
	if err != nil || r.Status != gateway.Failed || r.Decline == nil || r.Decline.Code != "processing_error" || r.Decline.Bucket != gateway.Technical || r.Fee != 0 {
		t.Fatalf("Lookup after settling = %+v, %v; want failed processing_error (technical), no fee", r, err)
	}
	r2 := req("pay_1_att_2", sandboxgw.TokenTimeoutNotCharged)
	r2.Attempt = 2
	if r, err := a.Charge(ctx, r2); err != nil || r.Status != gateway.Captured {
		t.Fatalf("Charge(timeout_not_charged, attempt 2) = %+v, %v; want captured", r, err)
	}
}

func TestAuthRequiredToken(t *testing.T) {
	a, _ := pair(t, sandboxgw.Config{SuccessRate: 1, ActionURL: "https://x/sandbox/3ds"}, nil)
	ctx := context.Background()
	r, err := a.Charge(ctx, req("k1", sandboxgw.TokenAuthRequired))
	if err != nil || r.Status != gateway.Failed || r.Decline == nil || r.Decline.Code != "authentication_required" || r.Decline.Bucket != gateway.Authentication {
		t.Fatalf("Charge(auth_required) = %+v, %v; want failed authentication_required", r, err)
	}
	step := req("k2", sandboxgw.TokenAuthRequired)
	step.ThreeDS = true
	r, err = a.Charge(ctx, step)
	if err != nil || r.Status != gateway.RequiresAction || r.NextAction == nil || r.NextAction.URL != "https://x/sandbox/3ds/"+r.Reference {
		t.Fatalf("Charge(auth_required, ThreeDS) = %+v, %v; want requires_action with the 3-D Secure page", r, err)
	}
	if r, err := a.Complete(ctx, r.Reference, false); err != nil || r.Status != gateway.Failed || r.Decline.Code != "authentication_failed" {
		t.Fatalf("Complete(rejected) = %+v, %v; want failed authentication_failed", r, err)
	}
}
