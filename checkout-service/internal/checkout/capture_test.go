package checkout_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
)

// faults wraps sandbox-a as the service sees it: it counts Capture calls,
// can answer them otherwise (onCapture), can fail the next Lookups and can
// report the next Lookups as pendingLookups (a capture the gateway holds as
// pending, as PayPal's PENDING).
type faults struct {
	gateway.Gateway
	mu             sync.Mutex
	captures       int
	lookupFails    int
	pendingLookups int
	onCapture      func(ctx context.Context, g gateway.Gateway, ref string, amount int64, currency string) (gateway.Result, error)
}

func (f *faults) Capture(ctx context.Context, ref string, amount int64, currency string) (gateway.Result, error) {
	f.mu.Lock()
	f.captures++
	on := f.onCapture
	f.mu.Unlock()
	if on != nil {
		return on(ctx, f.Gateway, ref, amount, currency)
	}
	return f.Gateway.Capture(ctx, ref, amount, currency)
}

func (f *faults) Lookup(ctx context.Context, req gateway.ChargeRequest, ref string) (gateway.Result, error) {
	f.mu.Lock()
	fail, pending := f.lookupFails > 0, f.lookupFails == 0 && f.pendingLookups > 0
	if fail {
		f.lookupFails--
	}
	if pending {
		f.pendingLookups--
	}
	f.mu.Unlock()
	if fail {
		return gateway.Result{}, errs.E(errs.Unavailable, "sandbox lookup unavailable")
	}
	if pending {
		return gateway.Result{Status: gateway.Processing, Reference: ref}, nil
	}
	return f.Gateway.Lookup(ctx, req, ref)
}

func (f *faults) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captures
}

// Capture answers, as adapters may give them.
var (
	// lostAnswer captures, then the answer is lost (timeout after sending).
	lostAnswer = func(ctx context.Context, g gateway.Gateway, ref string, amount int64, cur string) (gateway.Result, error) {
		if _, err := g.Capture(ctx, ref, amount, cur); err != nil {
			return gateway.Result{}, err
		}
		return gateway.Result{}, errs.E(errs.OutcomeUnknown, "sandbox: the capture's answer timed out")
	}
	// timedOut never reaches the charge, but the caller cannot know.
	timedOut = func(context.Context, gateway.Gateway, string, int64, string) (gateway.Result, error) {
		return gateway.Result{}, errs.E(errs.OutcomeUnknown, "sandbox: the capture's answer timed out")
	}
	// declined is a capture the gateway refuses with a decline (PayPal's 422).
	declined = func(_ context.Context, _ gateway.Gateway, ref string, _ int64, _ string) (gateway.Result, error) {
		return gateway.Result{Status: gateway.Failed, Reference: ref, Decline: sandboxgw.Decline("do_not_honor")}, nil
	}
	// refused is a capture the gateway refuses with an error.
	refused = func(context.Context, gateway.Gateway, string, int64, string) (gateway.Result, error) {
		return gateway.Result{}, errs.E(errs.Conflict, "charge is locked by a dispute")
	}
	unreachable = func(context.Context, gateway.Gateway, string, int64, string) (gateway.Result, error) {
		return gateway.Result{}, errs.E(errs.Unavailable, "sandbox unreachable")
	}
	// repeatRefused answers a capture of a captured charge with an error, as
	// Razorpay's "already been captured" 400 could be.
	repeatRefused = func(ctx context.Context, g gateway.Gateway, ref string, amount int64, cur string) (gateway.Result, error) {
		if r, err := g.Lookup(ctx, gateway.ChargeRequest{}, ref); err == nil && r.Status == gateway.Captured {
			return gateway.Result{}, errs.E(errs.Unavailable, "gateway refused the request (400): already captured")
		}
		return g.Capture(ctx, ref, amount, cur)
	}
)

// authorised returns an environment whose sandbox-a is wrapped by a faults
// and a payment authorised there.
func authorised(t *testing.T, o envOpts, cart string) (*env, *faults, *checkout.Payment) {
	t.Helper()
	f := &faults{}
	o.authorizeOnly = true
	o.wrapA = func(g gateway.Gateway) gateway.Gateway { f.Gateway = g; return f }
	e := newEnv(t, o)
	s := e.session(t, cart)
	p, err := e.pay(t, s.ID, "k", sandboxgw.TokenOK)
	if err != nil || p.Status != checkout.StatusAuthorized || p.Gateway != "sandbox-a" {
		t.Fatalf("Pay = %+v, %v; want authorized at sandbox-a", p, err)
	}
	return e, f, p
}

func (e *env) atGateway(t *testing.T, p *checkout.Payment) gateway.Status {
	t.Helper()
	r, err := e.a.Lookup(context.Background(), gateway.ChargeRequest{}, p.GatewayReference)
	if err != nil {
		t.Fatalf("sandbox Lookup: %v", err)
	}
	return r.Status
}

func TestCapture(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		before      func(t *testing.T, e *env, f *faults, p *checkout.Payment)
		onCapture   func(context.Context, gateway.Gateway, string, int64, string) (gateway.Result, error)
		amountDelta int64
		wantErr     string // errs code; "" for success
		wantMsg     string
		wantStatus  string // the payment's afterwards
		wantCalls   int    // Capture calls reaching the adapter
		wantGateway gateway.Status
	}{
		{name: "authorised is captured", wantStatus: checkout.StatusCaptured, wantCalls: 1, wantGateway: gateway.Captured},
		{name: "another amount", amountDelta: -100, wantErr: errs.Conflict, wantMsg: "invoice the whole order",
			wantStatus: checkout.StatusAuthorized, wantGateway: gateway.Authorized},
		{name: "more than authorised", amountDelta: 1, wantErr: errs.Conflict, wantMsg: "partial capture is not supported",
			wantStatus: checkout.StatusAuthorized, wantGateway: gateway.Authorized},
		{name: "voided payment",
			before: func(t *testing.T, e *env, _ *faults, p *checkout.Payment) {
				if _, err := e.svc.Void(ctx, p.ID, "order cancelled"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: errs.Conflict, wantMsg: "is voided", wantStatus: checkout.StatusVoided, wantGateway: gateway.Failed},
		{name: "authorisation cancelled at the gateway",
			before: func(t *testing.T, e *env, _ *faults, p *checkout.Payment) {
				if _, err := e.a.Void(ctx, p.GatewayReference); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: errs.Conflict, wantMsg: "reports the authorisation canceled", wantStatus: checkout.StatusVoided, wantGateway: gateway.Failed},
		{name: "gateway declines the capture", onCapture: declined, wantErr: errs.Conflict, wantMsg: "refused the capture of payment",
			wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Authorized},
		{name: "gateway refuses with an error", onCapture: refused, wantErr: errs.Conflict, wantMsg: "locked by a dispute",
			wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Authorized},
		{name: "gateway unreachable", onCapture: unreachable, wantErr: errs.Unavailable,
			wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Authorized},
		{name: "answer lost, captured: the lookup tells", onCapture: lostAnswer,
			wantStatus: checkout.StatusCaptured, wantCalls: 1, wantGateway: gateway.Captured},
		{name: "answer lost, not captured", onCapture: timedOut, wantErr: errs.OutcomeUnknown, wantMsg: "stays authorised",
			wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Authorized},
		{name: "answer lost and no lookup", onCapture: lostAnswer,
			before:  func(_ *testing.T, _ *env, f *faults, _ *checkout.Payment) { f.lookupFails = 2 },
			wantErr: errs.OutcomeUnknown, wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Captured},
		{name: "capture pending at the gateway: no second capture, retry later",
			before:  func(_ *testing.T, _ *env, f *faults, _ *checkout.Payment) { f.pendingLookups = 1 },
			wantErr: errs.OutcomeUnknown, wantMsg: "still processing", wantStatus: checkout.StatusAuthorized, wantGateway: gateway.Authorized},
		{name: "capture held as pending, the repeat refused: not a refusal", onCapture: refused,
			before:  func(_ *testing.T, _ *env, f *faults, _ *checkout.Payment) { f.lookupFails, f.pendingLookups = 1, 1 },
			wantErr: errs.OutcomeUnknown, wantMsg: "still processing", wantStatus: checkout.StatusAuthorized, wantCalls: 1, wantGateway: gateway.Authorized},
		{name: "captured at the gateway already: no second capture",
			before: func(t *testing.T, e *env, _ *faults, p *checkout.Payment) {
				if _, err := e.a.Capture(ctx, p.GatewayReference, p.Amount, p.Currency); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: checkout.StatusCaptured, wantGateway: gateway.Captured},
		{name: "captured already, the repeat refused, the lookup tells", onCapture: repeatRefused,
			before: func(t *testing.T, e *env, f *faults, p *checkout.Payment) {
				if _, err := e.a.Capture(ctx, p.GatewayReference, p.Amount, p.Currency); err != nil {
					t.Fatal(err)
				}
				f.lookupFails = 1 // the first look misses it
			},
			wantStatus: checkout.StatusCaptured, wantCalls: 1, wantGateway: gateway.Captured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, f, p := authorised(t, envOpts{}, "cart-capture-"+tt.name)
			if tt.before != nil {
				tt.before(t, e, f, p)
			}
			f.onCapture = tt.onCapture
			got, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-1", Amount: p.Amount + tt.amountDelta})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Capture() = %v; want captured", err)
			}
			if tt.wantErr != "" && (!errs.Is(err, tt.wantErr) || !strings.Contains(errs.As(err).Message, tt.wantMsg)) {
				t.Fatalf("Capture() = %v, %v; want %s saying %q", got, err, tt.wantErr, tt.wantMsg)
			}
			if err == nil && (got.Status != checkout.StatusCaptured || got.CaptureID != "magento-inv-1" || got.CapturedAt == nil) {
				t.Fatalf("Capture() = %s %q %v; want captured, magento-inv-1, a capture time", got.Status, got.CaptureID, got.CapturedAt)
			}
			after, err := e.svc.Payment(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.Status != tt.wantStatus {
				t.Errorf("payment after Capture is %s; want %s", after.Status, tt.wantStatus)
			}
			if after.Status == checkout.StatusCaptured {
				if a := after.Attempts[len(after.Attempts)-1]; a.Status != string(gateway.Captured) || after.CaptureID != "magento-inv-1" {
					t.Errorf("stored: attempt %s, capture id %q; want captured, magento-inv-1", a.Status, after.CaptureID)
				}
			} else if after.CaptureID != "" || after.CapturedAt != nil {
				t.Errorf("a payment not captured has capture id %q, captured at %v", after.CaptureID, after.CapturedAt)
			}
			if n := f.calls(); n != tt.wantCalls {
				t.Errorf("Capture calls at the gateway = %d; want %d", n, tt.wantCalls)
			}
			if s := e.atGateway(t, p); s != tt.wantGateway {
				t.Errorf("the gateway reports the charge %s; want %s", s, tt.wantGateway)
			}
			if n := e.outboxCount(t, p.ID); n != 0 {
				t.Errorf("outbox rows = %d; want none (the order exists; capture announces nothing)", n)
			}
		})
	}
}

// TestCaptureOnce: repeated captures, with the same or another capture id,
// answer the captured payment and capture once; the authorised payment's
// announcement stays the only outbox event.
func TestCaptureOnce(t *testing.T) {
	ctx := context.Background()
	e, f, p := authorised(t, envOpts{announceAuthorized: true}, "cart-capture-once")
	if n := e.outboxCount(t, p.ID); n != 1 {
		t.Fatalf("outbox rows after authorisation = %d; want 1", n)
	}
	first, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-1", Amount: p.Amount})
	if err != nil || first.Status != checkout.StatusCaptured {
		t.Fatalf("Capture() = %v, %v; want captured", first, err)
	}
	for _, id := range []string{"magento-inv-1", "magento-inv-2"} {
		got, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: id, Amount: p.Amount})
		if err != nil || got.Status != checkout.StatusCaptured || got.CaptureID != "magento-inv-1" || !got.CapturedAt.Equal(*first.CapturedAt) {
			t.Fatalf("Capture(%s) again = %+v, %v; want the first capture", id, got, err)
		}
	}
	if _, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-3", Amount: p.Amount - 1}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("Capture(another amount) of a captured payment = %v; want conflict", err)
	}
	if n := f.calls(); n != 1 {
		t.Errorf("Capture calls at the gateway = %d; want 1", n)
	}
	if n := e.outboxCount(t, p.ID); n != 1 {
		t.Errorf("outbox rows after capture = %d; want 1 (no second payment.captured)", n)
	}
	if _, err := e.svc.Void(ctx, p.ID, ""); !errs.Is(err, errs.Conflict) {
		t.Errorf("Void(captured) = %v; want conflict", err)
	}

	// A payment captured at once answers the same, keeping the caller's id.
	c := newEnv(t, envOpts{})
	s := c.session(t, "cart-captured-at-once")
	p, err = c.pay(t, s.ID, "k", sandboxgw.TokenOK)
	if err != nil || p.Status != checkout.StatusCaptured || p.CapturedAt == nil {
		t.Fatalf("Pay = %+v, %v; want captured with a capture time", p, err)
	}
	got, err := c.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-9", Amount: p.Amount})
	if err != nil || got.Status != checkout.StatusCaptured || got.CaptureID != "magento-inv-9" || !got.CapturedAt.Equal(*p.CapturedAt) {
		t.Fatalf("Capture(captured at once) = %+v, %v; want it unchanged but for the capture id", got, err)
	}
}

// TestCaptureRetryAfterLostAnswer: the capture's answer is lost and the
// gateway cannot be asked; the payment stays authorised, and the retry finds
// the charge captured without capturing again.
func TestCaptureRetryAfterLostAnswer(t *testing.T) {
	ctx := context.Background()
	e, f, p := authorised(t, envOpts{}, "cart-capture-retry")
	f.onCapture, f.lookupFails = lostAnswer, 2
	cp := checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-1", Amount: p.Amount}
	if _, err := e.svc.Capture(ctx, cp); !errs.Is(err, errs.OutcomeUnknown) {
		t.Fatalf("Capture() = %v; want outcome_unknown", err)
	}
	if got, _ := e.svc.Payment(ctx, p.ID); got.Status != checkout.StatusAuthorized {
		t.Fatalf("after an unknown outcome the payment is %s; want authorized", got.Status)
	}
	f.onCapture = repeatRefused
	got, err := e.svc.Capture(ctx, cp)
	if err != nil || got.Status != checkout.StatusCaptured {
		t.Fatalf("retried Capture() = %v, %v; want captured", got, err)
	}
	if n := f.calls(); n != 1 {
		t.Errorf("Capture calls at the gateway = %d; want 1 (the retry looks up first)", n)
	}
}

// TestRefundAfterCapture: a captured authorisation refunds like any
// captured payment, up to the captured amount.
func TestRefundAfterCapture(t *testing.T) {
	ctx := context.Background()
	e, _, p := authorised(t, envOpts{}, "cart-capture-refund")
	if _, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "cm-0", Amount: 100}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("Refund(authorised) = %v; want conflict", err)
	}
	if _, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: p.ID, CaptureID: "magento-inv-1", Amount: p.Amount}); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "cm-1", Amount: p.Amount - 700})
	if err != nil || r.Status != checkout.RefundSucceeded {
		t.Fatalf("Refund() = %+v, %v; want succeeded", r, err)
	}
	if _, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "cm-2", Amount: 701}); !errs.Is(err, errs.Unprocessable) {
		t.Fatalf("Refund(beyond the balance) = %v; want unprocessable", err)
	}
	if r, err := e.svc.Refund(ctx, checkout.RefundParams{PaymentID: p.ID, RefundID: "cm-3", Amount: 700}); err != nil || r.Status != checkout.RefundSucceeded {
		t.Fatalf("Refund(the rest) = %+v, %v; want succeeded", r, err)
	}
	if got, _ := e.svc.Payment(ctx, p.ID); got.RefundedAmount != p.Amount {
		t.Errorf("refunded amount = %d; want %d", got.RefundedAmount, p.Amount)
	}
}

func TestCaptureValidates(t *testing.T) {
	ctx := context.Background()
	e, f, p := authorised(t, envOpts{}, "cart-capture-invalid")
	tests := []struct {
		name string
		cp   checkout.CaptureParams
		want string
	}{
		{"no capture id", checkout.CaptureParams{PaymentID: p.ID, Amount: p.Amount}, errs.Invalid},
		{"capture id too long", checkout.CaptureParams{PaymentID: p.ID, CaptureID: strings.Repeat("x", 65), Amount: p.Amount}, errs.Invalid},
		{"zero amount", checkout.CaptureParams{PaymentID: p.ID, CaptureID: "inv", Amount: 0}, errs.Invalid},
		{"negative amount", checkout.CaptureParams{PaymentID: p.ID, CaptureID: "inv", Amount: -5700}, errs.Invalid},
		{"unknown payment", checkout.CaptureParams{PaymentID: "pay_nope", CaptureID: "inv", Amount: 5700}, errs.NotFound},
	}
	for _, tt := range tests {
		if _, err := e.svc.Capture(ctx, tt.cp); !errs.Is(err, tt.want) {
			t.Errorf("Capture(%s) = %v; want %s", tt.name, err, tt.want)
		}
	}
	if got, _ := e.svc.Payment(ctx, p.ID); got.Status != checkout.StatusAuthorized || f.calls() != 0 {
		t.Errorf("after refused requests: %s, %d gateway captures; want authorized, none", got.Status, f.calls())
	}
	// A failed payment is not capturable.
	s := e.session(t, "cart-capture-failed")
	failed, err := e.pay(t, s.ID, "k", sandboxgw.TokenInsufficientFunds)
	if err != nil || failed.Status != checkout.StatusFailed {
		t.Fatalf("Pay = %v, %v; want failed", failed, err)
	}
	if _, err := e.svc.Capture(ctx, checkout.CaptureParams{PaymentID: failed.ID, CaptureID: "inv", Amount: failed.Amount}); !errs.Is(err, errs.Conflict) {
		t.Errorf("Capture(failed) = %v; want conflict", err)
	}
}
