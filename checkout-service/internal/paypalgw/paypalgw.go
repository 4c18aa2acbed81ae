// Package paypalgw is the PayPal adapter of checkout-service, on the Orders
// v2 and Payments v2 REST APIs over plain net/http: an order per attempt,
// the buyer's approval on PayPal, capture (or authorisation, then capture or
// void), refunds, and webhooks verified by PayPal's verify-webhook-signature
// API.
//
// The flow has two steps:
//
//  1. Charge with an empty Token creates the order (PayPal-Request-Id is the
//     attempt's idempotency key) and answers RequiresAction with a
//     NextAction of type "approve" whose URL is PayPal's approval page.
//  2. When the buyer comes back (PayPal appends token=<order id> to the
//     return URL), Charge with the same payment and attempt and Token set to
//     that order id checks the order is this attempt's, for this amount,
//     and captures it (or authorises it when Capture is false).
//
// Every Result's Reference is the PayPal order id; Capture, Void and Refund
// find the authorisation or capture through the order.
package paypalgw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

var _ gateway.Gateway = (*Gateway)(nil)

// Gateway is one PayPal REST app. Build it with New; it is safe for
// concurrent use.
type Gateway struct {
	cfg  Config
	base string
	hc   *http.Client
	log  *zap.Logger
	caps gateway.Capabilities
	// Now is the clock of the token cache; time.Now by default.
	Now func() time.Time

	mu          sync.Mutex
	accessToken string
	tokenExpiry time.Time
}

// New returns a Gateway for cfg. hc carries the requests (nil: a client with
// cfg.Timeout); log never receives credentials or tokens.
func New(cfg Config, hc *http.Client, log *zap.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("paypal config: %w", err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Gateway{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		hc:   hc,
		log:  log.With(zap.String("gateway", cfg.Name)),
		caps: cfg.Capabilities.Capabilities(),
		Now:  time.Now,
	}, nil
}

// Name returns the configured instance name.
func (g *Gateway) Name() string { return g.cfg.Name }

// Capabilities reports the configured capabilities.
func (g *Gateway) Capabilities() gateway.Capabilities { return g.caps }

type money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

type link struct {
	Href   string `json:"href"`
	Rel    string `json:"rel"`
	Method string `json:"method,omitempty"`
}

type capture struct {
	ID                        string `json:"id"`
	Status                    string `json:"status"`
	Amount                    *money `json:"amount,omitempty"`
	CustomID                  string `json:"custom_id,omitempty"`
	SellerReceivableBreakdown *struct {
		PayPalFee *money `json:"paypal_fee,omitempty"`
	} `json:"seller_receivable_breakdown,omitempty"`
	StatusDetails *struct {
		Reason string `json:"reason"`
	} `json:"status_details,omitempty"`
	SupplementaryData *struct {
		RelatedIDs struct {
			OrderID string `json:"order_id"`
		} `json:"related_ids"`
	} `json:"supplementary_data,omitempty"`
}

type order struct {
	ID            string `json:"id"`
	Intent        string `json:"intent"`
	Status        string `json:"status"`
	PurchaseUnits []struct {
		ReferenceID string `json:"reference_id"`
		CustomID    string `json:"custom_id"`
		Amount      *money `json:"amount"`
		Payments    *struct {
			Captures       []capture `json:"captures"`
			Authorizations []capture `json:"authorizations"`
		} `json:"payments"`
	} `json:"purchase_units"`
	Links []link `json:"links"`
}

type refund struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// customID ties a purchase unit to the payment and attempt.
func customID(req gateway.ChargeRequest) string {
	return req.PaymentID + ":" + strconv.Itoa(req.Attempt)
}

// requestID returns key as a PayPal-Request-Id, which may be 108 characters
// at most: longer keys are replaced by their SHA-256.
func requestID(key string) string {
	if len(key) <= 108 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Charge creates the attempt's order (empty Token) or completes it (Token is
// the PayPal order id the buyer approved); see the package documentation.
//
// Errors: errs.Invalid for a malformed request, errs.Conflict when the order
// in Token is not this attempt's or not for this amount, errs.Unavailable
// when PayPal refused or never got the request, errs.OutcomeUnknown on
// timeouts and 5xx.
func (g *Gateway) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	if err := validateCharge(req); err != nil {
		return gateway.Result{}, err
	}
	if req.Method != "" && req.Method != gateway.PayPal {
		return declines.Failed("", "method_not_supported", string(req.Method)), nil
	}
	if _, ok := Value(req.Amount, req.Currency); !ok {
		return declines.Failed("", "amount_not_supported", fmt.Sprintf("%d %s", req.Amount, req.Currency)), nil
	}
	if req.Token != "" {
		return g.complete(ctx, req)
	}
	o, err := g.createOrder(ctx, req)
	if err != nil {
		if ae := apiErr(err); ae != nil && ae.Status == http.StatusUnprocessableEntity {
			return declines.Failed("", issueCode(ae), strings.Join(ae.issues(), ",")), nil
		}
		return gateway.Result{}, err
	}
	return g.orderResult(o), nil
}

func (g *Gateway) createOrder(ctx context.Context, req gateway.ChargeRequest) (*order, error) {
	value, _ := Value(req.Amount, req.Currency)
	intent := "AUTHORIZE"
	if req.Capture {
		intent = "CAPTURE"
	}
	unit := map[string]any{
		"reference_id": truncate(req.PaymentID, 256),
		"custom_id":    truncate(customID(req), 127),
		"amount":       money{CurrencyCode: strings.ToUpper(req.Currency), Value: value},
	}
	if req.Description != "" {
		unit["description"] = truncate(req.Description, 127)
	}
	body := map[string]any{"intent": intent, "purchase_units": []any{unit}}
	exp := map[string]any{"user_action": "PAY_NOW"}
	if req.ReturnURL != "" {
		exp["return_url"] = req.ReturnURL
		exp["cancel_url"] = req.ReturnURL
	}
	if g.cfg.BrandName != "" {
		exp["brand_name"] = truncate(g.cfg.BrandName, 127)
	}
	body["payment_source"] = map[string]any{"paypal": map[string]any{"experience_context": exp}}
	var o order
	if err := g.do(ctx, "paypal create order", http.MethodPost, "/v2/checkout/orders", requestID(req.IdempotencyKey), body, &o, true); err != nil {
		return nil, err
	}
	return &o, nil
}

// complete checks the approved order req.Token belongs to req, then
// captures or authorises it.
func (g *Gateway) complete(ctx context.Context, req gateway.ChargeRequest) (gateway.Result, error) {
	o, err := g.getOrder(ctx, req.Token)
	if errs.Is(err, errs.NotFound) {
		return gateway.Result{}, errs.E(errs.Conflict, "PayPal order %s does not exist", req.Token)
	}
	if err != nil {
		return gateway.Result{}, err
	}
	value, _ := Value(req.Amount, req.Currency)
	if len(o.PurchaseUnits) != 1 || o.PurchaseUnits[0].CustomID != truncate(customID(req), 127) || o.PurchaseUnits[0].Amount == nil ||
		o.PurchaseUnits[0].Amount.Value != value || !strings.EqualFold(o.PurchaseUnits[0].Amount.CurrencyCode, req.Currency) {
		return gateway.Result{}, errs.E(errs.Conflict, "PayPal order %s is not this payment's attempt or amount", o.ID)
	}
	if o.Status != "APPROVED" {
		return g.orderResult(o), nil
	}
	action := "capture"
	if o.Intent == "AUTHORIZE" {
		action = "authorize"
	}
	var done order
	err = g.do(ctx, "paypal "+action+" order", http.MethodPost, "/v2/checkout/orders/"+url.PathEscape(o.ID)+"/"+action,
		requestID(req.IdempotencyKey+"-"+action), map[string]any{}, &done, true)
	if err != nil {
		return g.orderFailure(ctx, o, err)
	}
	return g.orderResult(&done), nil
}

// orderFailure maps a failed capture or authorisation of order o: a 422
// naming a decline is a Failed Result (with the approval link again when
// the buyer may pick another funding source); an order already captured or
// authorised is answered with its state.
func (g *Gateway) orderFailure(ctx context.Context, o *order, err error) (gateway.Result, error) {
	ae := apiErr(err)
	if ae == nil || ae.Status != http.StatusUnprocessableEntity {
		return gateway.Result{}, err
	}
	if ae.has("ORDER_ALREADY_CAPTURED") || ae.has("ORDER_ALREADY_AUTHORIZED") {
		cur, err := g.getOrder(ctx, o.ID)
		if err != nil {
			return gateway.Result{}, err
		}
		return g.orderResult(cur), nil
	}
	if ae.has("ORDER_COMPLETION_IN_PROGRESS") {
		// Another capture of this order is under way: its outcome decides.
		return gateway.Result{Status: gateway.Processing, Reference: o.ID}, nil
	}
	if ae.has("PAYER_ACTION_REQUIRED") || ae.has("ORDER_NOT_APPROVED") {
		return gateway.Result{Status: gateway.RequiresAction, Reference: o.ID, NextAction: approveAction(o)}, nil
	}
	r := declines.Failed(o.ID, issueCode(ae), strings.Join(ae.issues(), ","))
	if ae.has("INSTRUMENT_DECLINED") {
		// PayPal asks to send the buyer back to choose another funding source.
		r.NextAction = approveAction(o)
	}
	return r, nil
}

// issues maps PayPal's 422 issues to gateway-neutral decline codes.
var issues = map[string]string{
	"INSTRUMENT_DECLINED":                     "instrument_declined",
	"TRANSACTION_REFUSED":                     "transaction_refused",
	"PAYER_CANNOT_PAY":                        "instrument_declined",
	"PAYER_ACCOUNT_RESTRICTED":                "do_not_try_again",
	"PAYER_ACCOUNT_LOCKED_OR_CLOSED":          "do_not_try_again",
	"PAYEE_ACCOUNT_RESTRICTED":                "processing_error",
	"PAYEE_BLOCKED_TRANSACTION":               "do_not_try_again",
	"MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": "card_velocity_exceeded",
	"TRANSACTION_LIMIT_EXCEEDED":              "card_velocity_exceeded",
	"TRANSACTION_RECEIVING_LIMIT_EXCEEDED":    "processing_error",
	"CURRENCY_NOT_SUPPORTED_FOR_COUNTRY":      "currency_not_supported",
	"CURRENCY_NOT_SUPPORTED_FOR_CARD_TYPE":    "currency_not_supported",
	"CURRENCY_NOT_SUPPORTED":                  "currency_not_supported",
	"DECIMAL_PRECISION":                       "amount_not_supported",
	"PAYEE_NOT_ENABLED_FOR_CARD_PROCESSING":   "method_not_supported",
	"COMPLIANCE_VIOLATION":                    "do_not_try_again",
	"REDIRECT_PAYER_FOR_ALTERNATE_FUNDING":    "instrument_declined",
	"DUPLICATE_INVOICE_ID":                    "duplicate_transaction",
	"AUTHORIZATION_EXPIRED":                   "canceled",
	"AUTHORIZATION_VOIDED":                    "canceled",
	"PREVIOUSLY_CAPTURED":                     "duplicate_transaction",
	"CANNOT_BE_ZERO_OR_NEGATIVE":              "amount_not_supported",
}

func issueCode(ae *apiError) string {
	for _, d := range ae.Details {
		if c, ok := issues[d.Issue]; ok {
			return c
		}
	}
	return "generic_decline"
}

// Lookup reports the state of the order reference, or, when reference is
// empty, of the order created for req: PayPal has no search by our ids, so
// Lookup repeats the create request with the same PayPal-Request-Id, which
// PayPal answers with the order it created the first time (it keeps request
// ids for 6 hours). If the first request never arrived this creates the
// order now, which charges nobody until the buyer approves it, so the answer
// is still true: nothing was charged.
func (g *Gateway) Lookup(ctx context.Context, req gateway.ChargeRequest, reference string) (gateway.Result, error) {
	if reference != "" {
		o, err := g.getOrder(ctx, reference)
		if errs.Is(err, errs.NotFound) {
			return gateway.Result{Status: gateway.NotFound, Reference: reference}, nil
		}
		if err != nil {
			return gateway.Result{}, err
		}
		return g.orderResult(o), nil
	}
	if err := validateCharge(req); err != nil {
		return gateway.Result{}, err
	}
	if _, ok := Value(req.Amount, req.Currency); !ok {
		return gateway.Result{Status: gateway.NotFound}, nil
	}
	o, err := g.createOrder(ctx, req)
	if err != nil {
		if errs.Is(err, errs.OutcomeUnknown) {
			return gateway.Result{}, errs.Wrap(errs.Unavailable, err, "paypal lookup")
		}
		return gateway.Result{}, err
	}
	return g.orderResult(o), nil
}

// Capture captures the order reference: an approved CAPTURE order is
// captured; the authorisation of an AUTHORIZE order is captured for amount
// (0: all of it) as the final capture. An order already captured is
// answered with its state.
func (g *Gateway) Capture(ctx context.Context, reference string, amount int64, currency string) (gateway.Result, error) {
	o, err := g.getOrder(ctx, reference)
	if err != nil {
		return gateway.Result{}, err
	}
	if o.Status == "APPROVED" && o.Intent == "CAPTURE" {
		var done order
		err := g.do(ctx, "paypal capture order", http.MethodPost, "/v2/checkout/orders/"+url.PathEscape(o.ID)+"/capture",
			requestID("capture-"+o.ID), map[string]any{}, &done, true)
		if err != nil {
			return g.orderFailure(ctx, o, err)
		}
		return g.orderResult(&done), nil
	}
	auth := authorization(o)
	if auth == nil || auth.Status != "CREATED" {
		r := g.orderResult(o)
		if r.Status == gateway.Captured {
			return r, nil
		}
		return gateway.Result{}, errs.E(errs.Conflict, "PayPal order %s has no authorisation to capture (status %s)", o.ID, o.Status)
	}
	body := map[string]any{"final_capture": true}
	if amount > 0 {
		v, ok := Value(amount, currency)
		if !ok {
			return gateway.Result{}, errs.Invalidf("amount", "%d cannot be expressed in %s at PayPal", amount, currency)
		}
		body["amount"] = money{CurrencyCode: strings.ToUpper(currency), Value: v}
	}
	var c capture
	err = g.do(ctx, "paypal capture authorization", http.MethodPost, "/v2/payments/authorizations/"+url.PathEscape(auth.ID)+"/capture",
		requestID(fmt.Sprintf("capture-%s-%d", auth.ID, amount)), body, &c, true)
	if err != nil {
		if ae := apiErr(err); ae != nil && ae.Status == http.StatusUnprocessableEntity {
			return declines.Failed(o.ID, issueCode(ae), strings.Join(ae.issues(), ",")), nil
		}
		return gateway.Result{}, err
	}
	return captureResult(o.ID, &c), nil
}

// Void voids the authorisation of the order reference; the Result is Failed
// with the decline code "canceled". An order without an authorisation to
// void is errs.Unprocessable (an unapproved order simply expires).
func (g *Gateway) Void(ctx context.Context, reference string) (gateway.Result, error) {
	o, err := g.getOrder(ctx, reference)
	if err != nil {
		return gateway.Result{}, err
	}
	auth := authorization(o)
	if auth == nil {
		return gateway.Result{}, errs.E(errs.Unprocessable, "PayPal order %s has no authorisation to void", o.ID)
	}
	if auth.Status == "VOIDED" {
		return declines.Failed(o.ID, "canceled", "VOIDED"), nil
	}
	err = g.do(ctx, "paypal void authorization", http.MethodPost, "/v2/payments/authorizations/"+url.PathEscape(auth.ID)+"/void", "", nil, nil, true)
	if ae := apiErr(err); ae != nil && ae.has("AUTHORIZATION_ALREADY_VOIDED") {
		err = nil
	}
	if err != nil {
		return gateway.Result{}, err
	}
	return declines.Failed(o.ID, "canceled", "VOIDED"), nil
}

// Refund refunds req.Amount (0: the rest) of the capture of the order
// req.Reference, with PayPal-Request-Id from req.IdempotencyKey (or the
// refund id), so a repeated Refund returns the first refund.
func (g *Gateway) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	key := req.IdempotencyKey
	if key == "" {
		if req.RefundID == "" {
			return gateway.RefundResult{}, errs.Invalidf("refund_id", "is required without an idempotency key")
		}
		key = "refund-" + req.RefundID
	}
	o, err := g.getOrder(ctx, req.Reference)
	if err != nil {
		return gateway.RefundResult{}, err
	}
	c := capturedBy(o)
	if c == nil {
		return gateway.RefundResult{}, errs.E(errs.Unprocessable, "PayPal order %s has no capture to refund", o.ID)
	}
	body := map[string]any{}
	if req.Amount > 0 {
		v, ok := Value(req.Amount, req.Currency)
		if !ok {
			return gateway.RefundResult{}, errs.Invalidf("amount", "%d cannot be expressed in %s at PayPal", req.Amount, req.Currency)
		}
		body["amount"] = money{CurrencyCode: strings.ToUpper(req.Currency), Value: v}
	}
	if req.RefundID != "" {
		body["custom_id"] = truncate(req.RefundID, 127)
	}
	var r refund
	err = g.do(ctx, "paypal refund capture", http.MethodPost, "/v2/payments/captures/"+url.PathEscape(c.ID)+"/refund", requestID(key), body, &r, true)
	if err != nil {
		if ae := apiErr(err); ae != nil && ae.Status == http.StatusUnprocessableEntity {
			return gateway.RefundResult{Status: gateway.Failed, Decline: declines.New("refund_failed", strings.Join(ae.issues(), ","))}, nil
		}
		return gateway.RefundResult{}, err
	}
	return refundResult(&r), nil
}

func (g *Gateway) getOrder(ctx context.Context, id string) (*order, error) {
	if id == "" {
		return nil, errs.Invalidf("reference", "is required")
	}
	var o order
	if err := g.do(ctx, "paypal get order", http.MethodGet, "/v2/checkout/orders/"+url.PathEscape(id), "", nil, &o, false); err != nil {
		return nil, err
	}
	return &o, nil
}

// orderResult maps an order to a Result whose Reference is the order id.
func (g *Gateway) orderResult(o *order) gateway.Result {
	switch o.Status {
	case "CREATED", "SAVED", "PAYER_ACTION_REQUIRED":
		return gateway.Result{Status: gateway.RequiresAction, Reference: o.ID, NextAction: approveAction(o)}
	case "APPROVED":
		// The buyer approved; Charge with the order id as Token captures.
		return gateway.Result{Status: gateway.Processing, Reference: o.ID}
	case "VOIDED":
		return declines.Failed(o.ID, "canceled", o.Status)
	case "COMPLETED":
		if c := capturedBy(o); c != nil {
			return captureResult(o.ID, c)
		}
		if a := authorization(o); a != nil {
			return authorizationResult(o.ID, a)
		}
	}
	return gateway.Result{Status: gateway.Unknown, Reference: o.ID}
}

func captureResult(orderID string, c *capture) gateway.Result {
	r := gateway.Result{Reference: orderID}
	switch c.Status {
	case "COMPLETED", "REFUNDED", "PARTIALLY_REFUNDED":
		r.Status = gateway.Captured
	case "PENDING":
		r.Status = gateway.Processing
	case "DECLINED", "FAILED":
		r = declines.Failed(orderID, "generic_decline", c.Status)
	default:
		r.Status = gateway.Unknown
	}
	if c.SellerReceivableBreakdown != nil && c.SellerReceivableBreakdown.PayPalFee != nil {
		if fee, err := Minor(c.SellerReceivableBreakdown.PayPalFee.Value, c.SellerReceivableBreakdown.PayPalFee.CurrencyCode); err == nil {
			r.Fee = fee
		}
	}
	return r
}

func authorizationResult(orderID string, a *capture) gateway.Result {
	switch a.Status {
	case "CREATED":
		return gateway.Result{Status: gateway.Authorized, Reference: orderID}
	case "PENDING":
		return gateway.Result{Status: gateway.Processing, Reference: orderID}
	case "CAPTURED", "PARTIALLY_CAPTURED":
		return gateway.Result{Status: gateway.Captured, Reference: orderID}
	case "VOIDED", "EXPIRED":
		return declines.Failed(orderID, "canceled", a.Status)
	case "DENIED":
		return declines.Failed(orderID, "generic_decline", a.Status)
	}
	return gateway.Result{Status: gateway.Unknown, Reference: orderID}
}

func refundResult(r *refund) gateway.RefundResult {
	res := gateway.RefundResult{Reference: r.ID}
	switch r.Status {
	case "COMPLETED":
		res.Status = gateway.Captured
	case "PENDING":
		res.Status = gateway.Processing
	case "CANCELLED", "FAILED":
		res.Status = gateway.Failed
		res.Decline = declines.New("refund_failed", r.Status)
	default:
		res.Status = gateway.Unknown
	}
	return res
}

// capturedBy returns the order's most recent capture, or nil.
func capturedBy(o *order) *capture {
	for _, pu := range o.PurchaseUnits {
		if pu.Payments != nil && len(pu.Payments.Captures) > 0 {
			return &pu.Payments.Captures[len(pu.Payments.Captures)-1]
		}
	}
	return nil
}

// authorization returns the order's authorisation, or nil.
func authorization(o *order) *capture {
	for _, pu := range o.PurchaseUnits {
		if pu.Payments != nil && len(pu.Payments.Authorizations) > 0 {
			return &pu.Payments.Authorizations[len(pu.Payments.Authorizations)-1]
		}
	}
	return nil
}

// approveAction is the buyer's approval page of o: the "payer-action" link
// (orders created with payment_source.paypal) or the "approve" link.
func approveAction(o *order) *gateway.NextAction {
	for _, rel := range []string{"payer-action", "approve"} {
		for _, l := range o.Links {
			if l.Rel == rel {
				return &gateway.NextAction{Type: "approve", URL: l.Href, Data: map[string]any{"order_id": o.ID}}
			}
		}
	}
	return &gateway.NextAction{Type: "approve", Data: map[string]any{"order_id": o.ID}}
}

func validateCharge(req gateway.ChargeRequest) error {
	switch {
	case req.PaymentID == "":
		return errs.Invalidf("payment_id", "is required")
	case req.IdempotencyKey == "":
		return errs.Invalidf("idempotency_key", "is required")
	case req.Amount <= 0:
		return errs.Invalidf("amount", "must be positive")
	case len(req.Currency) != 3:
		return errs.Invalidf("currency", "must be an ISO 4217 code")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
