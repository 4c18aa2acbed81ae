// Package gateway defines what checkout-service needs from a payment gateway,
// and the vocabulary of outcomes and declines the router acts on.
//
// Every adapter (Stripe, Razorpay, PayPal, the sandbox) implements Gateway.
// Adapters are concurrency-safe and never retry a charge on their own: the
// caller supplies an idempotency key derived from the payment and attempt, so
// a retry after a crash, from any instance, is the same request to the
// gateway.
//
// Errors: a call that provably did not reach the gateway (connection refused,
// DNS, a 4xx that says nothing was created) returns an errs.Unavailable error;
// a call whose outcome is unknown (timeout after sending, 5xx, connection reset
// mid-request) returns errs.OutcomeUnknown and must be resolved with Lookup
// before anything else is attempted. A decline is not an error: it is a Result
// with Status Failed and a Decline.
package gateway

import (
	"context"
	"net/http"
	"time"
)

// Status is a charge's state as a gateway reports it.
type Status string

// Charge states.
const (
	Captured       Status = "captured"        // money taken
	Authorized     Status = "authorized"      // held, to be captured
	RequiresAction Status = "requires_action" // the shopper must act (3-D Secure, redirect, approval)
	Processing     Status = "processing"      // accepted, outcome pending
	Failed         Status = "failed"          // declined or refused; see Decline
	Unknown        Status = "unknown"         // not known yet: reconcile with Lookup
	NotFound       Status = "not_found"       // Lookup: the gateway has no such charge (nothing was charged)
)

// Method is how the shopper pays.
type Method string

// Payment methods.
const (
	Card       Method = "card"
	UPI        Method = "upi"
	NetBanking Method = "netbanking"
	Wallet     Method = "wallet"
	PayPal     Method = "paypal"
)

// Bucket classifies a decline by what the router may do next
// (../shared/reference/payments.md, "Declines").
type Bucket string

// Decline buckets.
const (
	Technical      Bucket = "technical"       // cascade after confirming nothing was charged
	Authentication Bucket = "authentication"  // step up to 3-D Secure
	Generic        Bucket = "generic"         // at most one cascade, then ask the shopper
	ShopperFixable Bucket = "shopper_fixable" // no cascade; tell the shopper
	Capability     Bucket = "capability"      // route elsewhere by eligibility
	Hard           Bucket = "hard"            // never retry; flag for review
)

// Decline explains a failed charge.
type Decline struct {
	Code    string `json:"code"`    // gateway-neutral code, e.g. insufficient_funds
	Message string `json:"message"` // text for the shopper
	Bucket  Bucket `json:"bucket"`
	Raw     string `json:"raw,omitempty"` // the gateway's own code
}

// NextAction is what the shopper's browser or app must do to finish a charge.
type NextAction struct {
	Type         string         `json:"type"` // "redirect", "client_secret", "sdk", "approve"
	URL          string         `json:"url,omitempty"`
	ClientSecret string         `json:"client_secret,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// Customer is what the gateway may know of the payer.
type Customer struct {
	Email   string
	Phone   string
	Country string // ISO 3166-1 alpha-2
}

// ChargeRequest asks a gateway to take money.
type ChargeRequest struct {
	PaymentID      string
	Attempt        int
	IdempotencyKey string // e.g. "pay_<id>_att_<n>"; at most 255 characters
	Amount         int64  // minor units
	Currency       string // ISO 4217, upper case
	Method         Method
	Token          string // the gateway's client-side token or payment method id
	Customer       Customer
	ReturnURL      string // where the shopper comes back after an action
	Description    string
	Capture        bool // capture immediately (else authorise only)
	Metadata       map[string]string
	// ThreeDS asks the gateway to authenticate the shopper with 3-D Secure
	// (Stripe's request_three_d_secure "any"): the step-up attempt after an
	// authentication_required decline. A gateway that cannot honour it
	// charges as usual.
	ThreeDS bool
}

// Result is a charge's state.
type Result struct {
	Status     Status
	Reference  string // the gateway's transaction id
	NextAction *NextAction
	Decline    *Decline
	Fee        int64 // minor units, when the gateway reports it
}

// RefundRequest asks a gateway to return money.
type RefundRequest struct {
	RefundID       string // the caller's id, used as the idempotency key
	Reference      string // the charge's gateway reference
	Amount         int64
	Currency       string
	IdempotencyKey string
}

// RefundResult is a refund's state.
type RefundResult struct {
	Status    Status // Captured (refunded), Processing or Failed
	Reference string
	Decline   *Decline
}

// Event is a verified webhook.
type Event struct {
	ID        string // the gateway's event id, for de-duplication
	Type      string
	Reference string // the charge it concerns
	PaymentID string // ours, when the gateway echoes metadata
	Result    Result // the charge state the event announces
	Refund    *RefundResult
	Raw       []byte
}

// Capabilities describe what a gateway can take, for eligibility.
type Capabilities struct {
	Methods    []Method
	Currencies []string
	Countries  []string // empty: any
	MinAmount  int64    // minor units; 0: none
	MaxAmount  int64    // 0: none
}

// Gateway is one payment gateway account.
type Gateway interface {
	// Name is the configured instance name, e.g. "stripe" or "sandbox-a".
	Name() string
	// Capabilities reports what the gateway can take.
	Capabilities() Capabilities
	// Charge creates (and, when Capture, captures) a charge.
	Charge(ctx context.Context, req ChargeRequest) (Result, error)
	// Lookup finds a charge by the request's idempotency key or reference and
	// reports its state; NotFound means nothing was charged.
	Lookup(ctx context.Context, req ChargeRequest, reference string) (Result, error)
	// Capture captures an authorised charge.
	Capture(ctx context.Context, reference string, amount int64, currency string) (Result, error)
	// Void cancels an authorised, uncaptured charge.
	Void(ctx context.Context, reference string) (Result, error)
	// Refund returns money from a captured charge.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	// ParseWebhook verifies a webhook's signature over the raw body, then
	// parses it. A bad or stale signature returns an errs.Unauthorized error.
	ParseWebhook(ctx context.Context, h http.Header, body []byte, now time.Time) (Event, error)
}
