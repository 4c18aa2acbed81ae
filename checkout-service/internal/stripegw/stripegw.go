// Package stripegw is the Stripe adapter of checkout-service: PaymentIntents
// created and confirmed in one call with the shopper's payment method, 3-D
// Secure next actions, manual capture, cancellation, refunds and signed
// webhooks, through stripe-go v76 with a per-instance client.
//
// The adapter never retries on its own (MaxNetworkRetries 0) and always sends
// the caller's idempotency key, so that a retry from any process is the same
// request to Stripe, which replays its first answer for 24 hours.
package stripegw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

var _ gateway.Gateway = (*Gateway)(nil)

// Metadata keys set on every PaymentIntent, so that Lookup and webhooks can
// tie it back to the payment and attempt.
const (
	MetaPaymentID = "payment_id"
	MetaAttempt   = "attempt"
	MetaRefundID  = "refund_id"
)

// Gateway is one Stripe account. Build it with New; it is safe for concurrent
// use.
type Gateway struct {
	cfg  Config
	api  *client.API
	log  *zap.Logger
	caps gateway.Capabilities
	// Now is the clock Lookup's recent-intent scan uses; time.Now by default.
	Now func() time.Time
}

// New returns a Gateway for cfg. hc carries the requests (nil: a client with
// cfg.Timeout); log receives debug lines only, never keys or tokens.
func New(cfg Config, hc *http.Client, log *zap.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stripe config: %w", err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("gateway", cfg.Name))
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(strings.TrimRight(cfg.BaseURL, "/")),
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     leveledLogger{log.Sugar()},
	})
	api := &client.API{}
	api.Init(cfg.SecretKey.Reveal(), &stripe.Backends{API: b, Uploads: b})
	return &Gateway{cfg: cfg, api: api, log: log, caps: cfg.Capabilities.Capabilities(), Now: time.Now}, nil
}

// Name returns the configured instance name.
func (g *Gateway) Name() string { return g.cfg.Name }

// Capabilities reports the configured capabilities.
func (g *Gateway) Capabilities() gateway.Capabilities { return g.caps }

// Charge creates and confirms a PaymentIntent with req.Token as its
// payment_method (a pm_... id from Stripe.js or the mobile SDKs), captured at
// once when req.Capture, else authorised (capture_method manual). The
// PaymentIntent carries req.IdempotencyKey as Stripe's Idempotency-Key and
// the payment id and attempt as metadata.
//
// A decline is a Failed Result (with the PaymentIntent's id when Stripe
// created one); 3-D Secure is a RequiresAction Result whose NextAction is a
// "redirect" (redirect_to_url) or a "client_secret" for Stripe.js or the SDKs
// (use_stripe_sdk). Errors: errs.Invalid for a malformed request,
// errs.Conflict when the idempotency key was used with other parameters,
// errs.Unavailable when Stripe refused or never got the request,
// errs.OutcomeUnknown on timeouts and 5xx.
func (g *Gateway) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	if err := validateCharge(req); err != nil {
		return gateway.Result{}, err
	}
	if req.Method != "" && req.Method != gateway.Card && req.Method != gateway.Wallet {
		return declines.Failed("", "method_not_supported", string(req.Method)), nil
	}
	amount, ok := toStripeAmount(req.Amount, req.Currency)
	if !ok {
		return declines.Failed("", "amount_not_supported", fmt.Sprintf("%d %s", req.Amount, req.Currency)), nil
	}
	captureMethod := "manual"
	if req.Capture {
		captureMethod = "automatic"
	}
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(amount),
		Currency:           stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod:      stripe.String(req.Token),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Confirm:            stripe.Bool(true),
		CaptureMethod:      stripe.String(captureMethod),
		Metadata:           metadata(req),
	}
	if req.ReturnURL != "" {
		params.ReturnURL = stripe.String(req.ReturnURL)
	}
	if req.ThreeDS {
		// The step-up after an authentication_required decline: ask for
		// 3-D Secure whenever the card supports it.
		params.PaymentMethodOptions = &stripe.PaymentIntentPaymentMethodOptionsParams{
			Card: &stripe.PaymentIntentPaymentMethodOptionsCardParams{RequestThreeDSecure: stripe.String("any")},
		}
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	params.Context = ctx
	params.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := g.api.PaymentIntents.New(params)
	if err != nil {
		return g.failure("stripe create payment intent", true, err)
	}
	return result(pi), nil
}

// Lookup reports the state of the PaymentIntent reference, or, when reference
// is empty, of the one created for req's payment and attempt: found through
// search on its metadata, then, because search lags writes by up to about a
// minute, by listing the PaymentIntents created in the last LookupWindow.
// NotFound means Stripe has no such PaymentIntent; Unknown means the scan hit
// LookupScanLimit before it could say so.
func (g *Gateway) Lookup(ctx context.Context, req gateway.ChargeRequest, reference string) (gateway.Result, error) {
	if reference != "" {
		params := &stripe.PaymentIntentParams{}
		params.Context = ctx
		pi, err := g.api.PaymentIntents.Get(reference, params)
		if err != nil {
			var se *stripe.Error
			if errors.As(err, &se) && (se.Code == stripe.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound) {
				return gateway.Result{Status: gateway.NotFound, Reference: reference}, nil
			}
			return g.failure("stripe get payment intent", false, err)
		}
		return result(pi), nil
	}
	if req.PaymentID == "" {
		return gateway.Result{}, errs.Invalidf("payment_id", "is required to look a charge up without a reference")
	}
	attempt := strconv.Itoa(req.Attempt)
	sp := &stripe.PaymentIntentSearchParams{}
	sp.Context = ctx
	sp.Query = fmt.Sprintf("metadata['%s']:'%s' AND metadata['%s']:'%s'",
		MetaPaymentID, quote(req.PaymentID), MetaAttempt, attempt)
	sp.Limit = stripe.Int64(10)
	sp.Single = true
	it := g.api.PaymentIntents.Search(sp)
	for it.Next() {
		if pi := it.PaymentIntent(); matches(pi, req.PaymentID, attempt) {
			return result(pi), nil
		}
	}
	if err := it.Err(); err != nil {
		return g.failure("stripe search payment intents", false, err)
	}

	lp := &stripe.PaymentIntentListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: g.Now().Add(-g.cfg.LookupWindow).Unix()},
	}
	lp.Context = ctx
	lp.Limit = stripe.Int64(100)
	li := g.api.PaymentIntents.List(lp)
	seen := 0
	for li.Next() {
		if pi := li.PaymentIntent(); matches(pi, req.PaymentID, attempt) {
			return result(pi), nil
		}
		if seen++; seen >= g.cfg.LookupScanLimit {
			g.log.Warn("stripe lookup scan limit reached", zap.String("payment_id", req.PaymentID), zap.Int("scanned", seen))
			return gateway.Result{Status: gateway.Unknown}, nil
		}
	}
	if err := li.Err(); err != nil {
		return g.failure("stripe list payment intents", false, err)
	}
	return gateway.Result{Status: gateway.NotFound}, nil
}

// Capture captures amount (minor units of currency; 0: all of it) of the
// authorised PaymentIntent reference. Its idempotency key is derived from
// the reference and amount, and an intent no longer capturable (captured or
// cancelled already) is answered with its state, so repeating a capture is
// safe.
func (g *Gateway) Capture(ctx context.Context, reference string, amount int64, currency string) (gateway.Result, error) {
	if reference == "" {
		return gateway.Result{}, errs.Invalidf("reference", "is required")
	}
	params := &stripe.PaymentIntentCaptureParams{}
	if amount > 0 {
		a, ok := toStripeAmount(amount, currency)
		if !ok {
			return gateway.Result{}, errs.Invalidf("amount", "%d cannot be expressed in %s at Stripe", amount, currency)
		}
		params.AmountToCapture = stripe.Int64(a)
	}
	params.Context = ctx
	params.SetIdempotencyKey(fmt.Sprintf("capture_%s_%d", reference, amount))
	pi, err := g.api.PaymentIntents.Capture(reference, params)
	if unexpectedState(err) {
		// Captured or cancelled already: answer the intent's state.
		return g.Lookup(ctx, gateway.ChargeRequest{}, reference)
	}
	if err != nil {
		return g.failure("stripe capture payment intent", true, err)
	}
	return result(pi), nil
}

// Void cancels the uncaptured PaymentIntent reference; the Result is Failed
// with the decline code "canceled". An intent that can no longer be
// cancelled is answered with its state (Captured if it was captured).
func (g *Gateway) Void(ctx context.Context, reference string) (gateway.Result, error) {
	if reference == "" {
		return gateway.Result{}, errs.Invalidf("reference", "is required")
	}
	params := &stripe.PaymentIntentCancelParams{}
	params.Context = ctx
	params.SetIdempotencyKey("void_" + reference)
	pi, err := g.api.PaymentIntents.Cancel(reference, params)
	if unexpectedState(err) {
		return g.Lookup(ctx, gateway.ChargeRequest{}, reference)
	}
	if err != nil {
		return g.failure("stripe cancel payment intent", true, err)
	}
	return result(pi), nil
}

// Refund refunds req.Amount (0: the rest) of the PaymentIntent
// req.Reference, with req.IdempotencyKey (or one derived from req.RefundID)
// as the idempotency key and the refund id as metadata.
func (g *Gateway) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	if req.Reference == "" {
		return gateway.RefundResult{}, errs.Invalidf("reference", "is required")
	}
	key := req.IdempotencyKey
	if key == "" {
		if req.RefundID == "" {
			return gateway.RefundResult{}, errs.Invalidf("refund_id", "is required without an idempotency key")
		}
		key = "refund_" + req.RefundID
	}
	if len(key) > 255 {
		return gateway.RefundResult{}, errs.Invalidf("idempotency_key", "must be at most 255 characters")
	}
	params := &stripe.RefundParams{PaymentIntent: stripe.String(req.Reference)}
	if req.Amount > 0 {
		a, ok := toStripeAmount(req.Amount, req.Currency)
		if !ok {
			return gateway.RefundResult{}, errs.Invalidf("amount", "%d cannot be expressed in %s at Stripe", req.Amount, req.Currency)
		}
		params.Amount = stripe.Int64(a)
	}
	if req.RefundID != "" {
		params.Metadata = map[string]string{MetaRefundID: req.RefundID}
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	r, err := g.api.Refunds.New(params)
	if err != nil {
		res, err := g.failure("stripe create refund", true, err)
		if err != nil {
			return gateway.RefundResult{}, err
		}
		return gateway.RefundResult{Status: gateway.Failed, Decline: res.Decline}, nil
	}
	return refundResult(r), nil
}

// failure turns a stripe-go error into a Failed Result (card declines and
// requests Stripe refused for a reason another gateway may not have) or an
// errs error.
func (g *Gateway) failure(op string, write bool, err error) (gateway.Result, error) {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return gateway.Result{}, declines.Transport(err, op, write)
	}
	ref := ""
	if se.PaymentIntent != nil {
		ref = se.PaymentIntent.ID
	}
	g.log.Debug("stripe error", zap.String("op", op), zap.Int("status", se.HTTPStatusCode),
		zap.String("type", string(se.Type)), zap.String("code", string(se.Code)),
		zap.String("decline_code", string(se.DeclineCode)), zap.String("request_id", se.RequestID))
	switch {
	case se.Type == stripe.ErrorTypeCard:
		return gateway.Result{Status: gateway.Failed, Reference: ref, Decline: declineOf(se)}, nil
	case se.Type == stripe.ErrorTypeIdempotency:
		return gateway.Result{}, errs.Wrap(errs.Conflict, se, "%s: idempotency key reused with other parameters", op)
	case se.HTTPStatusCode == http.StatusConflict && write:
		// lock_timeout or idempotency_key_in_use: another request with this
		// key or on this object is in flight.
		return gateway.Result{}, errs.Wrap(errs.OutcomeUnknown, se, "%s: a concurrent request is in flight; look the charge up", op)
	case se.HTTPStatusCode >= 500 || se.Type == stripe.ErrorTypeAPI:
		return gateway.Result{}, declines.Status(max(se.HTTPStatusCode, 500), op, write, se)
	case se.Code == "amount_too_small" || se.Code == "amount_too_large":
		return declines.Failed(ref, string(se.Code), string(se.Code)), nil
	case se.Code == stripe.ErrorCodeResourceMissing && se.Param == "payment_method":
		return declines.Failed(ref, "payment_method_invalid", string(se.Code)), nil
	case se.HTTPStatusCode == http.StatusPaymentRequired:
		return gateway.Result{Status: gateway.Failed, Reference: ref, Decline: declineOf(se)}, nil
	}
	return gateway.Result{}, declines.Status(se.HTTPStatusCode, op, write, se)
}

// unexpectedState reports whether err is Stripe refusing an action because
// of the PaymentIntent's state.
func unexpectedState(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState
}

// declineOf maps a Stripe error (a card error or a PaymentIntent's
// last_payment_error) to a Decline.
func declineOf(se *stripe.Error) *gateway.Decline {
	code := string(se.DeclineCode)
	raw := string(se.Code)
	if code != "" {
		raw += "/" + code
	} else {
		code = string(se.Code)
	}
	switch code {
	case string(stripe.ErrorCodePaymentIntentAuthenticationFailure), "setup_intent_authentication_failure":
		code = "authentication_failed"
	case string(stripe.ErrorCodeCardDeclined):
		code = "generic_decline"
	case "":
		code = "generic_decline"
	}
	return declines.New(code, raw)
}

// result maps a PaymentIntent to a Result.
func result(pi *stripe.PaymentIntent) gateway.Result {
	r := gateway.Result{Reference: pi.ID}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		r.Status = gateway.Captured
	case stripe.PaymentIntentStatusRequiresCapture:
		r.Status = gateway.Authorized
	case stripe.PaymentIntentStatusProcessing:
		r.Status = gateway.Processing
	case stripe.PaymentIntentStatusRequiresAction:
		r.Status = gateway.RequiresAction
		r.NextAction = nextAction(pi)
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		r.Status = gateway.Failed
		if pi.LastPaymentError != nil {
			r.Decline = declineOf(pi.LastPaymentError)
		} else {
			r.Decline = declines.New("not_confirmed", string(pi.Status))
		}
	case stripe.PaymentIntentStatusRequiresConfirmation:
		r.Status = gateway.Failed
		r.Decline = declines.New("not_confirmed", string(pi.Status))
	case stripe.PaymentIntentStatusCanceled:
		r.Status = gateway.Failed
		r.Decline = declines.New("canceled", string(pi.CancellationReason))
	default:
		r.Status = gateway.Unknown
	}
	return r
}

// nextAction maps a requires_action PaymentIntent's next_action.
func nextAction(pi *stripe.PaymentIntent) *gateway.NextAction {
	na := pi.NextAction
	if na != nil && na.Type == stripe.PaymentIntentNextActionTypeRedirectToURL && na.RedirectToURL != nil && na.RedirectToURL.URL != "" {
		return &gateway.NextAction{Type: "redirect", URL: na.RedirectToURL.URL, ClientSecret: pi.ClientSecret}
	}
	a := &gateway.NextAction{Type: "client_secret", ClientSecret: pi.ClientSecret}
	if na != nil {
		a.Data = map[string]any{"next_action_type": string(na.Type)}
	}
	return a
}

func refundResult(r *stripe.Refund) gateway.RefundResult {
	res := gateway.RefundResult{Reference: r.ID}
	switch r.Status {
	case stripe.RefundStatusSucceeded:
		res.Status = gateway.Captured
	case stripe.RefundStatusPending, stripe.RefundStatusRequiresAction:
		res.Status = gateway.Processing
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		res.Status = gateway.Failed
		res.Decline = declines.New("refund_failed", string(r.FailureReason))
	default:
		res.Status = gateway.Unknown
	}
	return res
}

func validateCharge(req gateway.ChargeRequest) error {
	switch {
	case req.PaymentID == "":
		return errs.Invalidf("payment_id", "is required")
	case req.IdempotencyKey == "":
		return errs.Invalidf("idempotency_key", "is required")
	case len(req.IdempotencyKey) > 255:
		return errs.Invalidf("idempotency_key", "must be at most 255 characters")
	case req.Amount <= 0:
		return errs.Invalidf("amount", "must be positive")
	case len(req.Currency) != 3:
		return errs.Invalidf("currency", "must be an ISO 4217 code")
	case req.Token == "":
		return errs.Invalidf("token", "is required: a Stripe payment method id")
	}
	return nil
}

// metadata returns the PaymentIntent's metadata: the caller's, within
// Stripe's limits (50 keys of at most 40 characters, values of at most 500),
// then the payment id and attempt, which win.
func metadata(req gateway.ChargeRequest) map[string]string {
	m := make(map[string]string, len(req.Metadata)+2)
	keys := make([]string, 0, len(req.Metadata))
	for k := range req.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(m) >= 48 || len(k) > 40 || k == "" {
			continue
		}
		v := req.Metadata[k]
		if len(v) > 500 {
			v = v[:500]
		}
		m[k] = v
	}
	m[MetaPaymentID] = req.PaymentID
	m[MetaAttempt] = strconv.Itoa(req.Attempt)
	return m
}

func matches(pi *stripe.PaymentIntent, paymentID, attempt string) bool {
	return pi != nil && pi.Metadata[MetaPaymentID] == paymentID && pi.Metadata[MetaAttempt] == attempt
}

// quote escapes a value for a single-quoted Stripe search string.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// leveledLogger sends stripe-go's own log lines to zap at debug level: the
// adapter returns every error it reports, so they must not be logged twice.
type leveledLogger struct{ s *zap.SugaredLogger }

func (l leveledLogger) Debugf(format string, v ...any) { l.s.Debugf(format, v...) }
func (l leveledLogger) Infof(format string, v ...any)  { l.s.Debugf(format, v...) }
func (l leveledLogger) Warnf(format string, v ...any)  { l.s.Debugf(format, v...) }
func (l leveledLogger) Errorf(format string, v ...any) { l.s.Debugf(format, v...) }
