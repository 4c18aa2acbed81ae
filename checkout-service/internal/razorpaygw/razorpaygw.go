// Package razorpaygw is the Razorpay adapter of checkout-service: an order
// per attempt (Orders API), Razorpay Checkout in the shopper's browser or
// app, the Checkout callback verified by its signature, manual capture,
// refunds and signed webhooks, over plain net/http.
//
// The flow has two steps:
//
//  1. Charge with a ChargeRequest whose Token is empty creates the order
//     and answers RequiresAction with a NextAction of type "sdk" whose Data
//     (key_id, order_id, amount, currency, notes) opens Razorpay Checkout.
//  2. Checkout hands back razorpay_payment_id, razorpay_order_id and
//     razorpay_signature. Complete (or Charge with Token
//     "rzp:<razorpay_payment_id>:<razorpay_signature>" and the same payment
//     and attempt) verifies the signature against the order id the adapter
//     created, never the one sent back, checks the payment belongs to that
//     order with the expected amount, and captures it when the request says
//     so.
//
// Razorpay has no idempotency keys for orders: the adapter names each order
// with a receipt derived from the payment id and attempt, finds an existing
// order by receipt before creating one, and Lookup finds the attempt by the
// same receipt. Creating an order charges nobody, so an unknown outcome there
// is always safe to resolve.
package razorpaygw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
)

var _ gateway.Gateway = (*Gateway)(nil)

// minAmount is Razorpay's smallest order amount, in subunits.
const minAmount = 100

// Notes keys set on every order (and passed to Checkout for the payment).
const (
	NotePaymentID = "payment_id"
	NoteAttempt   = "attempt"
	NoteRefundID  = "refund_id"
)

// TokenPrefix starts a ChargeRequest.Token that completes a Checkout payment:
// "rzp:<razorpay_payment_id>:<razorpay_signature>".
const TokenPrefix = "rzp:"

// Gateway is one Razorpay account. Build it with New; it is safe for
// concurrent use.
type Gateway struct {
	cfg  Config
	hc   *http.Client
	log  *zap.Logger
	caps gateway.Capabilities
}

// New returns a Gateway for cfg. hc carries the requests (nil: a client with
// cfg.Timeout); log never receives keys, signatures or card data.
func New(cfg Config, hc *http.Client, log *zap.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("razorpay config: %w", err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Gateway{cfg: cfg, hc: hc, log: log.With(zap.String("gateway", cfg.Name)), caps: cfg.Capabilities.Capabilities()}, nil
}

// Name returns the configured instance name.
func (g *Gateway) Name() string { return g.cfg.Name }

// Capabilities reports the configured capabilities.
func (g *Gateway) Capabilities() gateway.Capabilities { return g.caps }

// Receipt returns the order receipt of a payment attempt: "<payment id>_<attempt>",
// or a digest of it when that is longer than Razorpay's 40 characters.
func Receipt(paymentID string, attempt int) string {
	r := paymentID + "_" + strconv.Itoa(attempt)
	if len(r) <= 40 {
		return r
	}
	sum := sha256.Sum256([]byte(r))
	return "h_" + hex.EncodeToString(sum[:])[:38]
}

// Charge creates the attempt's order (or finds the one already created for
// it) and answers RequiresAction with the Checkout data; with a Token of the
// form "rzp:<payment_id>:<signature>" it completes the Checkout payment
// instead (see Complete).
//
// Errors: errs.Invalid for a malformed request, errs.Conflict when an order
// with this attempt's receipt exists with another amount, errs.Unavailable
// when Razorpay refused or never got the request, errs.OutcomeUnknown on
// timeouts and 5xx.
func (g *Gateway) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	if err := validateCharge(req); err != nil {
		return gateway.Result{}, err
	}
	if rest, ok := strings.CutPrefix(req.Token, TokenPrefix); ok {
		paymentID, sig, ok := strings.Cut(rest, ":")
		if !ok || paymentID == "" || sig == "" {
			return gateway.Result{}, errs.Invalidf("token", "must be rzp:<razorpay_payment_id>:<razorpay_signature>")
		}
		o, err := g.findOrder(ctx, Receipt(req.PaymentID, req.Attempt))
		if err != nil {
			return gateway.Result{}, err
		}
		if o == nil {
			return gateway.Result{}, errs.E(errs.NotFound, "no Razorpay order for payment %s attempt %d", req.PaymentID, req.Attempt)
		}
		return g.Complete(ctx, req, o.ID, paymentID, sig)
	}
	if req.Token != "" {
		return gateway.Result{}, errs.Invalidf("token", "must be empty (create the order) or rzp:<payment_id>:<signature> (complete it)")
	}
	if req.Method != "" && !containsMethod(req.Method) {
		return declines.Failed("", "method_not_supported", string(req.Method)), nil
	}
	amount, ok := toRazorpayAmount(req.Amount, req.Currency)
	if !ok {
		return declines.Failed("", "amount_not_supported", fmt.Sprintf("%d %s", req.Amount, req.Currency)), nil
	}
	if amount < minAmount {
		return declines.Failed("", "amount_too_small", fmt.Sprintf("%d %s", req.Amount, req.Currency)), nil
	}
	receipt := Receipt(req.PaymentID, req.Attempt)
	o, err := g.findOrder(ctx, receipt)
	if err != nil {
		return gateway.Result{}, err
	}
	if o != nil {
		if o.Amount != amount || !strings.EqualFold(o.Currency, req.Currency) {
			return gateway.Result{}, errs.E(errs.Conflict, "Razorpay order %s for this attempt is for %d %s, not %d %s", o.ID, o.Amount, o.Currency, amount, req.Currency)
		}
		return g.orderResult(ctx, req, o)
	}
	n := notes{}
	for k, v := range req.Metadata {
		if len(n) < 13 {
			n[k] = truncate(v, 256)
		}
	}
	n[NotePaymentID] = req.PaymentID
	n[NoteAttempt] = strconv.Itoa(req.Attempt)
	body := map[string]any{
		"amount":          amount,
		"currency":        strings.ToUpper(req.Currency),
		"receipt":         receipt,
		"notes":           n,
		"payment_capture": req.Capture,
	}
	var created order
	if err := g.do(ctx, "razorpay create order", http.MethodPost, "/v1/orders", nil, body, &created, true); err != nil {
		return g.refused(err)
	}
	return g.pending(req, &created), nil
}

// Complete finishes a Checkout payment: it verifies signature over
// storedOrderID (the order this adapter created for req, never the order id
// the browser sent back) and paymentID, fetches the payment, checks it
// belongs to that order with req's amount and currency, and captures it when
// req.Capture (Razorpay captures it on its own when the order asked for
// automatic capture; a repeated capture is answered with the payment's
// state). The Result's Reference is the payment id.
//
// Errors: errs.Unauthorized for a bad signature, errs.Conflict for a payment
// of another order or amount, and those of Charge.
func (g *Gateway) Complete(ctx context.Context, req gateway.ChargeRequest, storedOrderID, paymentID, signature string) (gateway.Result, error) {
	if err := g.VerifyCheckout(storedOrderID, paymentID, signature); err != nil {
		return gateway.Result{}, err
	}
	p, err := g.payment(ctx, paymentID)
	if err != nil {
		return gateway.Result{}, err
	}
	amount, _ := toRazorpayAmount(req.Amount, req.Currency)
	if p.OrderID != storedOrderID || p.Amount != amount || !strings.EqualFold(p.Currency, req.Currency) {
		return gateway.Result{}, errs.E(errs.Conflict, "Razorpay payment %s does not match order %s and %d %s", paymentID, storedOrderID, amount, req.Currency)
	}
	if p.Status == "authorized" && req.Capture {
		return g.capture(ctx, p.ID, p.Amount, p.Currency)
	}
	return paymentResult(p), nil
}

// VerifyCheckout checks a Checkout callback's razorpay_signature: hex
// HMAC-SHA256 with the key secret over "<storedOrderID>|<paymentID>". Pass the
// order id stored on the server, not the one the callback carries. A
// mismatch is errs.Unauthorized.
func (g *Gateway) VerifyCheckout(storedOrderID, paymentID, signature string) error {
	mac := hmac.New(sha256.New, []byte(g.cfg.KeySecret.Reveal()))
	mac.Write([]byte(storedOrderID + "|" + paymentID))
	want := mac.Sum(nil)
	got, err := hex.DecodeString(strings.TrimSpace(signature))
	if err != nil || storedOrderID == "" || paymentID == "" || !hmac.Equal(got, want) {
		return errs.E(errs.Unauthorized, "Razorpay checkout signature does not match")
	}
	return nil
}

// Lookup reports the state of the payment (pay_...) or order (order_...)
// reference, or, when reference is empty, of the order created for req's
// payment and attempt, found by its receipt. NotFound means no such order:
// nothing was charged.
func (g *Gateway) Lookup(ctx context.Context, req gateway.ChargeRequest, reference string) (gateway.Result, error) {
	switch {
	case strings.HasPrefix(reference, "pay_"):
		p, err := g.payment(ctx, reference)
		if errs.Is(err, errs.NotFound) {
			return gateway.Result{Status: gateway.NotFound, Reference: reference}, nil
		}
		if err != nil {
			return gateway.Result{}, err
		}
		return paymentResult(p), nil
	case strings.HasPrefix(reference, "order_"):
		var o order
		err := g.do(ctx, "razorpay get order", http.MethodGet, "/v1/orders/"+url.PathEscape(reference), nil, nil, &o, false)
		if errs.Is(err, errs.NotFound) {
			return gateway.Result{Status: gateway.NotFound, Reference: reference}, nil
		}
		if err != nil {
			return gateway.Result{}, err
		}
		return g.orderResult(ctx, req, &o)
	case reference != "":
		return gateway.Result{}, errs.Invalidf("reference", "must be a Razorpay payment (pay_) or order (order_) id")
	}
	if req.PaymentID == "" {
		return gateway.Result{}, errs.Invalidf("payment_id", "is required to look a charge up without a reference")
	}
	o, err := g.findOrder(ctx, Receipt(req.PaymentID, req.Attempt))
	if err != nil {
		return gateway.Result{}, err
	}
	if o == nil {
		return gateway.Result{Status: gateway.NotFound}, nil
	}
	return g.orderResult(ctx, req, o)
}

// Capture captures amount of the authorised payment reference (pay_...).
// Razorpay has no idempotency key here; capturing a payment that is already
// captured answers its state, so repeating a capture is safe.
func (g *Gateway) Capture(ctx context.Context, reference string, amount int64, currency string) (gateway.Result, error) {
	if !strings.HasPrefix(reference, "pay_") {
		return gateway.Result{}, errs.Invalidf("reference", "must be a Razorpay payment id (pay_...)")
	}
	a, ok := toRazorpayAmount(amount, currency)
	if !ok || a <= 0 {
		return gateway.Result{}, errs.Invalidf("amount", "%d cannot be expressed in %s at Razorpay", amount, currency)
	}
	return g.capture(ctx, reference, a, currency)
}

func (g *Gateway) capture(ctx context.Context, paymentID string, amount int64, currency string) (gateway.Result, error) {
	body := map[string]any{"amount": amount, "currency": strings.ToUpper(currency)}
	var p payment
	err := g.do(ctx, "razorpay capture payment", http.MethodPost, "/v1/payments/"+url.PathEscape(paymentID)+"/capture", nil, body, &p, true)
	if ae := apiErr(err); ae != nil && ae.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Description), "already been captured") {
		cur, err := g.payment(ctx, paymentID)
		if err != nil {
			return gateway.Result{}, err
		}
		return paymentResult(cur), nil
	}
	if err != nil {
		return gateway.Result{}, err
	}
	return paymentResult(&p), nil
}

// Void is not offered by Razorpay: an authorised payment that is never
// captured is refunded to the shopper automatically. Void answers
// errs.Unprocessable; refund a captured payment instead.
func (g *Gateway) Void(ctx context.Context, reference string) (gateway.Result, error) {
	return gateway.Result{}, errs.E(errs.Unprocessable, "Razorpay cannot void payment %s: uncaptured payments are refunded automatically", reference)
}

// Refund refunds req.Amount (0: the rest) of the payment req.Reference. The
// refund carries the caller's refund id as its receipt and in its notes; an
// existing refund with that receipt is answered instead of a new one, which
// makes a repeated Refund safe.
func (g *Gateway) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	if !strings.HasPrefix(req.Reference, "pay_") {
		return gateway.RefundResult{}, errs.Invalidf("reference", "must be a Razorpay payment id (pay_...)")
	}
	if req.RefundID == "" {
		return gateway.RefundResult{}, errs.Invalidf("refund_id", "is required")
	}
	receipt := refundReceipt(req.RefundID)
	var existing collection[refund]
	path := "/v1/payments/" + url.PathEscape(req.Reference) + "/refunds"
	if err := g.do(ctx, "razorpay list refunds", http.MethodGet, path, url.Values{"count": {"100"}}, nil, &existing, false); err != nil {
		return gateway.RefundResult{}, err
	}
	for i := range existing.Items {
		if r := &existing.Items[i]; r.Receipt == receipt || r.Notes[NoteRefundID] == req.RefundID {
			return refundResult(r), nil
		}
	}
	body := map[string]any{
		"speed":   "normal",
		"receipt": receipt,
		"notes":   notes{NoteRefundID: req.RefundID},
	}
	if req.Amount > 0 {
		a, ok := toRazorpayAmount(req.Amount, req.Currency)
		if !ok {
			return gateway.RefundResult{}, errs.Invalidf("amount", "%d cannot be expressed in %s at Razorpay", req.Amount, req.Currency)
		}
		body["amount"] = a
	}
	var r refund
	if err := g.do(ctx, "razorpay create refund", http.MethodPost, "/v1/payments/"+url.PathEscape(req.Reference)+"/refund", nil, body, &r, true); err != nil {
		if ae := apiErr(err); ae != nil && ae.Status < 500 && ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusUnauthorized {
			return gateway.RefundResult{Status: gateway.Failed, Decline: declines.New("refund_failed", ae.Code+"/"+ae.Reason)}, nil
		}
		return gateway.RefundResult{}, err
	}
	return refundResult(&r), nil
}

// findOrder returns the order with receipt, or nil.
func (g *Gateway) findOrder(ctx context.Context, receipt string) (*order, error) {
	var c collection[order]
	if err := g.do(ctx, "razorpay find order", http.MethodGet, "/v1/orders", url.Values{"receipt": {receipt}}, nil, &c, false); err != nil {
		return nil, err
	}
	for i := range c.Items {
		if c.Items[i].Receipt == receipt {
			return &c.Items[i], nil
		}
	}
	return nil, nil
}

func (g *Gateway) payment(ctx context.Context, id string) (*payment, error) {
	var p payment
	if err := g.do(ctx, "razorpay get payment", http.MethodGet, "/v1/payments/"+url.PathEscape(id), nil, nil, &p, false); err != nil {
		return nil, err
	}
	return &p, nil
}

// orderResult reports an order's state from its payments: the best one wins
// (captured, authorised, pending, then the latest failure); an order without
// payments still awaits the shopper.
func (g *Gateway) orderResult(ctx context.Context, req gateway.ChargeRequest, o *order) (gateway.Result, error) {
	if o.Status == "created" {
		return g.pending(req, o), nil
	}
	var ps collection[payment]
	if err := g.do(ctx, "razorpay list order payments", http.MethodGet, "/v1/orders/"+url.PathEscape(o.ID)+"/payments", nil, nil, &ps, false); err != nil {
		return gateway.Result{}, err
	}
	rank := map[gateway.Status]int{gateway.Captured: 4, gateway.Authorized: 3, gateway.Processing: 2, gateway.Failed: 1}
	var best gateway.Result
	var bestAt int64
	for i := range ps.Items {
		r := paymentResult(&ps.Items[i])
		if rank[r.Status] > rank[best.Status] || (rank[r.Status] == rank[best.Status] && ps.Items[i].CreatedAt > bestAt) {
			best, bestAt = r, ps.Items[i].CreatedAt
		}
	}
	if best.Status == "" {
		return g.pending(req, o), nil
	}
	return best, nil
}

// pending is the RequiresAction Result that opens Razorpay Checkout for o.
func (g *Gateway) pending(req gateway.ChargeRequest, o *order) gateway.Result {
	data := map[string]any{
		"key_id":   g.cfg.KeyID,
		"order_id": o.ID,
		"amount":   o.Amount,
		"currency": o.Currency,
		"notes":    map[string]string{NotePaymentID: req.PaymentID, NoteAttempt: strconv.Itoa(req.Attempt)},
	}
	if req.Description != "" {
		data["description"] = req.Description
	}
	if req.Customer.Email != "" || req.Customer.Phone != "" {
		data["prefill"] = map[string]string{"email": req.Customer.Email, "contact": req.Customer.Phone}
	}
	return gateway.Result{Status: gateway.RequiresAction, Reference: o.ID, NextAction: &gateway.NextAction{Type: "sdk", Data: data}}
}

// refused turns an order-creation failure into a Capability decline when
// Razorpay refused the currency or amount, else returns the error.
func (g *Gateway) refused(err error) (gateway.Result, error) {
	if ae := apiErr(err); ae != nil && ae.Status == http.StatusBadRequest {
		d := strings.ToLower(ae.Description)
		switch {
		case strings.Contains(d, "currency"):
			return declines.Failed("", "currency_not_supported", ae.Code), nil
		case ae.Field == "amount" || strings.Contains(d, "amount"):
			return declines.Failed("", "amount_not_supported", ae.Code), nil
		}
	}
	return gateway.Result{}, err
}

// paymentResult maps a Razorpay payment to a Result. A refunded payment
// that was never captured is an authorisation Razorpay let lapse (it refunds
// uncaptured payments after a few days): nothing was taken, so it is
// Failed, canceled.
func paymentResult(p *payment) gateway.Result {
	r := gateway.Result{Reference: p.ID, Fee: p.Fee}
	switch p.Status {
	case "captured":
		r.Status = gateway.Captured
	case "refunded":
		r.Status = gateway.Captured
		if !p.Captured {
			r = declines.Failed(p.ID, "canceled", "refunded_uncaptured")
		}
	case "authorized":
		r.Status = gateway.Authorized
	case "created", "pending":
		r.Status = gateway.Processing
	case "failed":
		r.Status = gateway.Failed
		r.Decline = declineOf(p.ErrorCode, p.ErrorReason)
	default:
		r.Status = gateway.Unknown
	}
	return r
}

// reasons maps Razorpay's error reasons to gateway-neutral decline codes.
var reasons = map[string]string{
	"payment_cancelled":                     "payment_cancelled",
	"payment_timed_out":                     "payment_cancelled",
	"card_declined":                         "generic_decline",
	"payment_declined":                      "generic_decline",
	"transaction_declined":                  "generic_decline",
	"insufficient_funds":                    "insufficient_funds",
	"insufficient_balance":                  "insufficient_funds",
	"authentication_failed":                 "authentication_failed",
	"invalid_otp":                           "authentication_failed",
	"incorrect_otp":                         "authentication_failed",
	"incorrect_pin":                         "incorrect_pin",
	"card_expired":                          "expired_card",
	"expired_card":                          "expired_card",
	"incorrect_cvv":                         "incorrect_cvc",
	"invalid_cvv":                           "incorrect_cvc",
	"invalid_card_number":                   "incorrect_number",
	"incorrect_card_details":                "incorrect_number",
	"transaction_limit_exceeded":            "card_velocity_exceeded",
	"international_transaction_not_allowed": "card_not_supported",
	"card_not_supported":                    "card_not_supported",
	"payment_risk_check_failed":             "fraudulent",
	"lost_card":                             "lost_card",
	"stolen_card":                           "stolen_card",
	"bank_technical_error":                  "issuer_not_available",
	"gateway_technical_error":               "processing_error",
	"server_error":                          "processing_error",
	"network_error":                         "processing_error",
}

// declineOf maps a failed payment's error_code and error_reason.
func declineOf(code, reason string) *gateway.Decline {
	raw := code
	if reason != "" {
		raw += "/" + reason
	}
	if c, ok := reasons[reason]; ok {
		return declines.New(c, raw)
	}
	if declines.Known(reason) {
		return declines.New(reason, raw)
	}
	if code == "GATEWAY_ERROR" || code == "SERVER_ERROR" {
		return declines.New("processing_error", raw)
	}
	return declines.New("generic_decline", raw)
}

func refundResult(r *refund) gateway.RefundResult {
	res := gateway.RefundResult{Reference: r.ID}
	switch r.Status {
	case "processed":
		res.Status = gateway.Captured
	case "pending", "created":
		res.Status = gateway.Processing
	case "failed":
		res.Status = gateway.Failed
		res.Decline = declines.New("refund_failed", r.Status)
	default:
		res.Status = gateway.Unknown
	}
	return res
}

func refundReceipt(refundID string) string {
	if len(refundID) <= 40 {
		return refundID
	}
	sum := sha256.Sum256([]byte(refundID))
	return "h_" + hex.EncodeToString(sum[:])[:38]
}

func validateCharge(req gateway.ChargeRequest) error {
	switch {
	case req.PaymentID == "":
		return errs.Invalidf("payment_id", "is required")
	case req.Amount <= 0:
		return errs.Invalidf("amount", "must be positive")
	case len(req.Currency) != 3:
		return errs.Invalidf("currency", "must be an ISO 4217 code")
	}
	return nil
}

func containsMethod(m gateway.Method) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// toRazorpayAmount converts minor units of ISO 4217 into Razorpay's
// subunits, which follow ISO 4217 (JPY has none, KWD three); Razorpay wants
// the last digit of a three-decimal amount to be 0, and reports false when it
// is not.
func toRazorpayAmount(minor int64, currency string) (int64, bool) {
	if magento.CurrencyExponent(currency) == 3 && minor%10 != 0 {
		return 0, false
	}
	return minor, true
}
