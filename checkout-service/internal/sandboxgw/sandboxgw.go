// Package sandboxgw is a payment gateway for demos and tests: any number of
// named instances, each with its own latency, fee, success rate and outage
// windows, answering deterministic test tokens.
//
// Test tokens (ChargeRequest.Token):
//
//	tok_sandbox_ok                  captured (or authorized without Capture), subject to SuccessRate
//	tok_sandbox_3ds                 requires_action; the shopper completes it on the 3-D Secure page
//	tok_sandbox_decline_soft        failed, generic_decline (bucket generic)
//	tok_sandbox_insufficient_funds  failed, insufficient_funds (bucket shopper_fixable)
//	tok_sandbox_stolen              failed, stolen_card (bucket hard)
//	tok_sandbox_timeout             the charge is taken but the answer times out
//	                                (errs.OutcomeUnknown); Lookup reports processing
//	                                until SettleAfter has passed, then captured
//	tok_sandbox_timeout_not_charged on a payment's first attempt (ChargeRequest.Attempt 1)
//	                                the answer times out (errs.OutcomeUnknown) and Lookup
//	                                reports processing until SettleAfter has passed, then
//	                                failed with processing_error: nothing was charged; on
//	                                later attempts it is captured like tok_sandbox_ok
//	tok_sandbox_auth_required       failed, authentication_required (bucket authentication);
//	                                with ChargeRequest.ThreeDS (the step-up) requires_action,
//	                                completed on the 3-D Secure page like tok_sandbox_3ds
//
// Every charge's state is kept in Redis under the instance's name, so any
// checkout-service instance can look it up, also after a restart, and a
// repeated idempotency key replays the first answer instead of charging
// twice. A Gateway is safe for concurrent use.
package sandboxgw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/errs"
)

// Test tokens.
const (
	TokenOK                = "tok_sandbox_ok"
	Token3DS               = "tok_sandbox_3ds"
	TokenDeclineSoft       = "tok_sandbox_decline_soft"
	TokenInsufficientFunds = "tok_sandbox_insufficient_funds"
	TokenStolen            = "tok_sandbox_stolen"
	TokenTimeout           = "tok_sandbox_timeout"
	TokenTimeoutNotCharged = "tok_sandbox_timeout_not_charged"
	TokenAuthRequired      = "tok_sandbox_auth_required"
)

// SignatureHeader carries a sandbox webhook's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">".
const SignatureHeader = "Sandbox-Signature"

// Outage is a window during which the gateway cannot be reached. Daily
// windows ("13:00"-"13:05", UTC) repeat every day; absolute windows use
// RFC 3339 times.
type Outage struct {
	Start string `mapstructure:"start" desc:"outage start: HH:MM (daily, UTC) or an RFC 3339 time" json:"start"`
	End   string `mapstructure:"end" desc:"outage end: HH:MM (daily, UTC) or an RFC 3339 time" json:"end"`
}

// Config configures one sandbox instance.
type Config struct {
	Name         string
	Capabilities gateway.Capabilities
	// Latency is added to every Charge.
	Latency time.Duration
	// SuccessRate is the share of tok_sandbox_ok charges that succeed (0..1);
	// the others fail with FailureCode.
	SuccessRate float64
	// FailureCode is the decline of an unlucky tok_sandbox_ok; default
	// processing_error (technical: nothing charged).
	FailureCode string
	// FeeBps and FeeFixed are the fee the gateway reports (basis points of
	// the amount plus minor units).
	FeeBps   int64
	FeeFixed int64
	Outages  []Outage
	// SettleAfter is how long a tok_sandbox_timeout charge stays processing.
	SettleAfter time.Duration
	// ActionURL is the base of the 3-D Secure page, e.g.
	// https://secure.shop.example/sandbox/3ds; the reference is appended.
	ActionURL string
	// WebhookSecret signs and verifies webhooks.
	WebhookSecret string
	// WebhookTolerance bounds a webhook's age; default 5 minutes.
	WebhookTolerance time.Duration
}

// Gateway is one sandbox instance.
type Gateway struct {
	cfg  Config
	rdb  redis.UniversalClient
	keys cache.Keys
	now  func() time.Time
}

var _ gateway.Gateway = (*Gateway)(nil)

// New returns a sandbox gateway keeping its state in rdb under prefix.
func New(cfg Config, rdb redis.UniversalClient, prefix string, now func() time.Time) *Gateway {
	if cfg.FailureCode == "" {
		cfg.FailureCode = "processing_error"
	}
	if cfg.WebhookTolerance == 0 {
		cfg.WebhookTolerance = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Gateway{cfg: cfg, rdb: rdb, keys: cache.NewKeys(prefix + "sandboxgw:" + cfg.Name + ":"), now: now}
}

// Name returns the instance name.
func (g *Gateway) Name() string { return g.cfg.Name }

// Capabilities reports what the instance accepts.
func (g *Gateway) Capabilities() gateway.Capabilities { return g.cfg.Capabilities }

// charge is the stored state of one charge.
type charge struct {
	Reference string           `json:"reference"`
	Key       string           `json:"key"`
	PaymentID string           `json:"payment_id"`
	Status    gateway.Status   `json:"status"`
	Amount    int64            `json:"amount"`
	Currency  string           `json:"currency"`
	Capture   bool             `json:"capture"`
	Decline   *gateway.Decline `json:"decline,omitempty"`
	Fee       int64            `json:"fee"`
	SettleAt  time.Time        `json:"settle_at,omitzero"`
	Refunded  int64            `json:"refunded"`
	ReturnURL string           `json:"return_url,omitempty"`
}

const stateTTL = 30 * 24 * time.Hour

// Charge takes money according to the token. It never charges twice for one
// idempotency key.
func (g *Gateway) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	if g.cfg.Latency > 0 {
		t := time.NewTimer(g.cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return gateway.Result{}, errs.Wrap(errs.Unavailable, ctx.Err(), "sandbox %s: not sent", g.cfg.Name)
		case <-t.C:
		}
	}
	if g.inOutage(g.now()) {
		return gateway.Result{}, errs.E(errs.Unavailable, "sandbox %s is in an outage window", g.cfg.Name)
	}
	if req.IdempotencyKey == "" {
		return gateway.Result{}, errs.E(errs.Invalid, "sandbox %s: an idempotency key is required", g.cfg.Name)
	}
	ch := charge{
		Reference: "sbx_" + g.cfg.Name + "_" + shortHash(req.IdempotencyKey),
		Key:       req.IdempotencyKey, PaymentID: req.PaymentID,
		Amount: req.Amount, Currency: req.Currency, Capture: req.Capture, ReturnURL: req.ReturnURL,
	}
	success := gateway.Captured
	if !req.Capture {
		success = gateway.Authorized
	}
	timedOut := false
	switch req.Token {
	case TokenOK:
		if draw(req.IdempotencyKey) < g.cfg.SuccessRate {
			ch.Status = success
		} else {
			ch.Status, ch.Decline = gateway.Failed, Decline(g.cfg.FailureCode)
		}
	case Token3DS:
		ch.Status = gateway.RequiresAction
	case TokenDeclineSoft:
		ch.Status, ch.Decline = gateway.Failed, Decline("generic_decline")
	case TokenInsufficientFunds:
		ch.Status, ch.Decline = gateway.Failed, Decline("insufficient_funds")
	case TokenStolen:
		ch.Status, ch.Decline = gateway.Failed, Decline("stolen_card")
	case TokenTimeout:
		ch.Status, ch.SettleAt, timedOut = success, g.now().Add(g.cfg.SettleAfter), true
	case TokenTimeoutNotCharged:
		if req.Attempt <= 1 {
			ch.Status, ch.Decline = gateway.Failed, Decline("processing_error")
			ch.SettleAt, timedOut = g.now().Add(g.cfg.SettleAfter), true
		} else {
			ch.Status = success
		}
	case TokenAuthRequired:
		if req.ThreeDS {
			ch.Status = gateway.RequiresAction
		} else {
			ch.Status, ch.Decline = gateway.Failed, Decline("authentication_required")
		}
	default:
		ch.Status, ch.Decline = gateway.Failed, Decline("invalid_payment_token")
	}
	if ch.Status == gateway.Captured || ch.Status == gateway.Authorized {
		ch.Fee = req.Amount*g.cfg.FeeBps/10000 + g.cfg.FeeFixed
	}
	stored, err := g.create(ctx, ch)
	if err != nil {
		return gateway.Result{}, errs.Wrap(errs.Unavailable, err, "sandbox %s: state unavailable", g.cfg.Name)
	}
	if timedOut && stored.Key == ch.Key && stored.SettleAt.Equal(ch.SettleAt) {
		return gateway.Result{}, errs.E(errs.OutcomeUnknown, "sandbox %s: the answer timed out", g.cfg.Name)
	}
	return g.result(stored), nil
}

// Decline returns the sandbox's decline for a gateway-neutral code.
func Decline(code string) *gateway.Decline {
	d := &gateway.Decline{Code: code, Raw: code}
	switch code {
	case "processing_error", "issuer_not_available", "try_again_later":
		d.Bucket, d.Message = gateway.Technical, "The payment could not be processed. Please try again."
	case "authentication_required":
		d.Bucket, d.Message = gateway.Authentication, "The card needs authentication."
	case "authentication_failed":
		d.Bucket, d.Message = gateway.Authentication, "The card could not be authenticated (3-D Secure)."
	case "generic_decline", "do_not_honor", "call_issuer":
		d.Bucket, d.Message = gateway.Generic, "The card was declined. Please use another payment method."
	case "insufficient_funds", "incorrect_cvc", "expired_card", "card_velocity_exceeded", "invalid_payment_token":
		d.Bucket, d.Message = gateway.ShopperFixable, "The card was declined: "+strings.ReplaceAll(code, "_", " ")+"."
	case "card_not_supported", "currency_not_supported":
		d.Bucket, d.Message = gateway.Capability, "This payment method is not supported here."
	default:
		d.Bucket, d.Message = gateway.Hard, "The card was declined."
	}
	return d
}

// Lookup reports the state of the charge made with req's idempotency key, or
// with reference; NotFound when nothing was charged.
func (g *Gateway) Lookup(ctx context.Context, req gateway.ChargeRequest, reference string) (gateway.Result, error) {
	var (
		ch  charge
		err error
	)
	if req.IdempotencyKey != "" {
		ch, err = g.load(ctx, g.keys.Key("key", req.IdempotencyKey))
	} else {
		ch, err = g.byRef(ctx, reference)
	}
	if errs.Is(err, errs.NotFound) {
		return gateway.Result{Status: gateway.NotFound}, nil
	}
	if err != nil {
		return gateway.Result{}, errs.Wrap(errs.Unavailable, err, "sandbox %s: state unavailable", g.cfg.Name)
	}
	return g.result(ch), nil
}

// Capture captures an authorised charge.
func (g *Gateway) Capture(ctx context.Context, reference string, amount int64, currency string) (gateway.Result, error) {
	return g.update(ctx, reference, func(ch *charge) error {
		switch ch.Status {
		case gateway.Captured:
			return nil
		case gateway.Authorized:
			if amount > ch.Amount || currency != ch.Currency {
				return errs.E(errs.Invalid, "capture of %d %s exceeds the authorisation", amount, currency)
			}
			ch.Status, ch.Amount = gateway.Captured, amount
			return nil
		}
		return errs.E(errs.Conflict, "charge %s is %s", reference, ch.Status)
	})
}

// Void cancels an authorised charge.
func (g *Gateway) Void(ctx context.Context, reference string) (gateway.Result, error) {
	return g.update(ctx, reference, func(ch *charge) error {
		switch ch.Status {
		case gateway.Authorized, gateway.RequiresAction:
			ch.Status, ch.Decline = gateway.Failed, &gateway.Decline{Code: "canceled", Message: "The payment was cancelled.", Bucket: gateway.ShopperFixable}
			return nil
		case gateway.Failed:
			return nil
		}
		return errs.E(errs.Conflict, "charge %s is %s", reference, ch.Status)
	})
}

// Complete finishes a charge waiting for 3-D Secure: approved captures (or
// authorises) it, otherwise it fails with authentication_failed.
func (g *Gateway) Complete(ctx context.Context, reference string, approved bool) (gateway.Result, error) {
	return g.update(ctx, reference, func(ch *charge) error {
		if ch.Status != gateway.RequiresAction {
			return nil
		}
		if approved {
			ch.Status = gateway.Captured
			if !ch.Capture {
				ch.Status = gateway.Authorized
			}
			ch.Fee = ch.Amount*g.cfg.FeeBps/10000 + g.cfg.FeeFixed
		} else {
			ch.Status, ch.Decline = gateway.Failed, Decline("authentication_failed")
		}
		return nil
	})
}

// Refund returns money; one refund per RefundID.
func (g *Gateway) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = req.RefundID
	}
	done := g.keys.Key("refund", key)
	if ref, err := g.rdb.Get(ctx, done).Result(); err == nil {
		return gateway.RefundResult{Status: gateway.Captured, Reference: ref}, nil
	}
	refRef := "sbxre_" + shortHash(g.cfg.Name+key)
	_, err := g.update(ctx, req.Reference, func(ch *charge) error {
		if ch.Status != gateway.Captured {
			return errs.E(errs.Conflict, "charge %s is %s, not captured", req.Reference, ch.Status)
		}
		if req.Amount <= 0 || ch.Refunded+req.Amount > ch.Amount {
			return errs.E(errs.Unprocessable, "refund of %d exceeds the refundable %d", req.Amount, ch.Amount-ch.Refunded)
		}
		ch.Refunded += req.Amount
		return nil
	})
	if errs.Is(err, errs.Conflict) || errs.Is(err, errs.Unprocessable) {
		return gateway.RefundResult{Status: gateway.Failed, Decline: &gateway.Decline{Code: "refund_refused", Message: errs.As(err).Message, Bucket: gateway.Hard}}, nil
	}
	if err != nil {
		return gateway.RefundResult{}, err
	}
	if err := g.rdb.Set(ctx, done, refRef, stateTTL).Err(); err != nil {
		return gateway.RefundResult{}, errs.Wrap(errs.OutcomeUnknown, err, "sandbox %s: refund recorded but not its id", g.cfg.Name)
	}
	return gateway.RefundResult{Status: gateway.Captured, Reference: refRef}, nil
}

// WebhookPayload is the JSON body of a sandbox webhook.
type WebhookPayload struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"` // charge.updated, refund.succeeded
	Reference   string         `json:"reference"`
	PaymentID   string         `json:"payment_id,omitempty"`
	Status      gateway.Status `json:"status"`
	DeclineCode string         `json:"decline_code,omitempty"`
	Amount      int64          `json:"amount,omitempty"`
}

// Sign returns the Sandbox-Signature header value for body at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook builds a signed webhook announcing a charge's current state, the
// way the sandbox would send it.
func (g *Gateway) Webhook(ctx context.Context, eventID, reference string) (http.Header, []byte, error) {
	ch, err := g.byRef(ctx, reference)
	if err != nil {
		return nil, nil, err
	}
	r := g.result(ch)
	p := WebhookPayload{ID: eventID, Type: "charge.updated", Reference: reference, PaymentID: ch.PaymentID, Status: r.Status}
	if r.Decline != nil {
		p.DeclineCode = r.Decline.Code
	}
	body, _ := json.Marshal(p)
	h := http.Header{}
	h.Set(SignatureHeader, Sign(g.cfg.WebhookSecret, body, g.now()))
	h.Set("Content-Type", "application/json")
	return h, body, nil
}

// ParseWebhook verifies the Sandbox-Signature over the raw body and its age,
// then parses it. A missing, wrong or stale signature is errs.Unauthorized.
func (g *Gateway) ParseWebhook(_ context.Context, h http.Header, body []byte, now time.Time) (gateway.Event, error) {
	if g.cfg.WebhookSecret == "" {
		return gateway.Event{}, errs.E(errs.Unauthorized, "sandbox %s has no webhook secret", g.cfg.Name)
	}
	var ts int64
	var sigs []string
	for _, part := range strings.Split(h.Get(SignatureHeader), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == 0 || len(sigs) == 0 {
		return gateway.Event{}, errs.E(errs.Unauthorized, "The %s header is missing or malformed.", SignatureHeader)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > g.cfg.WebhookTolerance || d < -g.cfg.WebhookTolerance {
		return gateway.Event{}, errs.E(errs.Unauthorized, "The webhook's timestamp is outside the tolerance.")
	}
	want := Sign(g.cfg.WebhookSecret, body, time.Unix(ts, 0))
	_, wantSig, _ := strings.Cut(want, ",v1=")
	ok := false
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(wantSig)) {
			ok = true
		}
	}
	if !ok {
		return gateway.Event{}, errs.E(errs.Unauthorized, "The webhook's signature does not match.")
	}
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil || p.ID == "" {
		return gateway.Event{}, errs.E(errs.Invalid, "The webhook body is not a sandbox event.")
	}
	ev := gateway.Event{ID: p.ID, Type: p.Type, Reference: p.Reference, PaymentID: p.PaymentID, Raw: body,
		Result: gateway.Result{Status: p.Status, Reference: p.Reference}}
	if p.DeclineCode != "" {
		ev.Result.Decline = Decline(p.DeclineCode)
	}
	return ev, nil
}

func (g *Gateway) result(ch charge) gateway.Result {
	r := gateway.Result{Status: ch.Status, Reference: ch.Reference, Decline: ch.Decline, Fee: ch.Fee}
	if !ch.SettleAt.IsZero() && g.now().Before(ch.SettleAt) {
		r.Status, r.Decline = gateway.Processing, nil
	}
	if ch.Status == gateway.RequiresAction {
		r.NextAction = &gateway.NextAction{Type: "redirect", URL: strings.TrimSuffix(g.cfg.ActionURL, "/") + "/" + ch.Reference}
	}
	return r
}

// create stores a new charge unless its idempotency key was used before,
// in which case the first charge is returned (a replay, never a second
// charge). One round trip. The two keys lie in different Cluster slots, so
// it is a plain pipeline, not MULTI (CROSSSLOT on a Cluster): the reference
// index is a function of the key, so every create of the key writes the same
// value, and a retry after a partial failure writes it again.
func (g *Gateway) create(ctx context.Context, ch charge) (charge, error) {
	b, _ := json.Marshal(ch)
	var setnx *redis.BoolCmd
	_, err := g.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		setnx = p.SetNX(ctx, g.keys.Key("key", ch.Key), b, stateTTL)
		p.Set(ctx, g.keys.Key("ref", ch.Reference), ch.Key, stateTTL) // the reference derives from the key
		return nil
	})
	if err != nil {
		return charge{}, err
	}
	if !setnx.Val() {
		return g.load(ctx, g.keys.Key("key", ch.Key))
	}
	return ch, nil
}

func (g *Gateway) load(ctx context.Context, key string) (charge, error) {
	b, err := g.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return charge{}, cache.Missing(err, "no such charge")
	}
	var ch charge
	if err := json.Unmarshal(b, &ch); err != nil {
		return charge{}, fmt.Errorf("sandbox charge: %w", err)
	}
	return ch, nil
}

func (g *Gateway) byRef(ctx context.Context, reference string) (charge, error) {
	key, err := g.rdb.Get(ctx, g.keys.Key("ref", reference)).Result()
	if err != nil {
		return charge{}, cache.Missing(err, "no charge %s", reference)
	}
	return g.load(ctx, g.keys.Key("key", key))
}

// update applies fn to a charge under optimistic locking (WATCH).
func (g *Gateway) update(ctx context.Context, reference string, fn func(*charge) error) (gateway.Result, error) {
	key, err := g.rdb.Get(ctx, g.keys.Key("ref", reference)).Result()
	if err != nil {
		return gateway.Result{}, cache.Missing(err, "sandbox %s: no charge %s", g.cfg.Name, reference)
	}
	k := g.keys.Key("key", key)
	var out charge
	for range 10 {
		err = g.rdb.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, k).Bytes()
			if err != nil {
				return cache.Missing(err, "no charge %s", reference)
			}
			var ch charge
			if err := json.Unmarshal(b, &ch); err != nil {
				return err
			}
			if err := fn(&ch); err != nil {
				return err
			}
			nb, _ := json.Marshal(ch)
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k, nb, stateTTL)
				return nil
			})
			out = ch
			return err
		}, k)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return gateway.Result{}, err
	}
	return g.result(out), nil
}

func (g *Gateway) inOutage(now time.Time) bool {
	now = now.UTC()
	for _, o := range g.cfg.Outages {
		if s, err1 := time.Parse(time.RFC3339, o.Start); err1 == nil {
			if e, err2 := time.Parse(time.RFC3339, o.End); err2 == nil && !now.Before(s) && now.Before(e) {
				return true
			}
			continue
		}
		s, err1 := time.Parse("15:04", o.Start)
		e, err2 := time.Parse("15:04", o.End)
		if err1 != nil || err2 != nil {
			continue
		}
		m := now.Hour()*60 + now.Minute()
		sm, em := s.Hour()*60+s.Minute(), e.Hour()*60+e.Minute()
		if sm <= em && m >= sm && m < em || sm > em && (m >= sm || m < em) {
			return true
		}
	}
	return false
}

// ValidOutage reports whether o is a daily HH:MM window or an RFC 3339 one.
func ValidOutage(o Outage) bool {
	_, e1 := time.Parse(time.RFC3339, o.Start)
	_, e2 := time.Parse(time.RFC3339, o.End)
	if e1 == nil && e2 == nil {
		return true
	}
	_, e1 = time.Parse("15:04", o.Start)
	_, e2 = time.Parse("15:04", o.End)
	return e1 == nil && e2 == nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

// draw maps a key to [0,1) deterministically.
func draw(key string) float64 {
	h := sha256.Sum256([]byte("draw:" + key))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / float64(1<<53)
}
