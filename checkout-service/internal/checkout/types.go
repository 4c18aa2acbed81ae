// Package checkout is checkout-service's domain: checkout sessions over
// Magento carts, payments routed across gateways with failover, refunds,
// webhook application and reconciliation.
//
// Amounts always come from Magento and are re-read just before charging
// (invariant I3). A payment row and each attempt row, with its idempotency
// key, are written to MySQL before the gateway is called, so a crash at any
// point is resolved by the reconciler through Lookup and nobody is charged
// twice (I2, I5). A technical failure cascades to the next gateway only once
// Lookup confirms the first attempt charged nothing; an unknown outcome holds
// the payment for reconciliation, and when the reconciler or a webhook later
// confirms the held attempt charged nothing after a technical failure, the
// cascade continues from there (the late cascade, cascade.go). An
// authentication_required decline steps up to 3-D Secure once per payment
// (requires_action), never looping. When a payment is captured (or authorised,
// per Config.AnnounceAuthorized) the same MySQL transaction writes the
// payment.captured outbox event (package paymentevent).
//
// A Service is safe for concurrent use, and any instance can serve any
// request: sessions live in Redis, payments in MySQL.
package checkout

import (
	"context"
	"encoding/json"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/paymentevent"
)

// Address is a postal address in Magento's field names.
type Address = paymentevent.Address

// Item is a cart line as Magento priced it, in minor units.
type Item = paymentevent.Item

// Totals are Magento's cart totals in minor units.
type Totals = paymentevent.Totals

// Cart kinds.
const (
	KindGuest    = paymentevent.CartGuest
	KindCustomer = paymentevent.CartCustomer
)

// CartRef says how to reach a Magento cart: a guest's masked id, a
// customer's Magento token (carts/mine), or, for a customer identified by a
// verified access token, the quote id through admin routes.
type CartRef struct {
	Kind          string `json:"kind"`
	MaskedID      string `json:"masked_id,omitempty"`
	CustomerToken string `json:"customer_token,omitempty"` // a credential: never logged or returned
	QuoteID       int64  `json:"quote_id,omitempty"`
	CustomerID    int64  `json:"customer_id,omitempty"`
}

// CartView is a cart and its totals as Magento reports them.
type CartView struct {
	QuoteID    int64
	CustomerID int64
	Email      string
	GroupID    int
	IsVirtual  bool
	Items      []Item
	Totals     Totals
}

// ShippingMethod is a method Magento offers for an address.
type ShippingMethod struct {
	CarrierCode  string `json:"carrier_code"`
	MethodCode   string `json:"method_code"`
	CarrierTitle string `json:"carrier_title"`
	MethodTitle  string `json:"method_title"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	Available    bool   `json:"available"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// ShippingInfo sets a cart's addresses and shipping method.
type ShippingInfo struct {
	Shipping    Address
	Billing     Address
	CarrierCode string
	MethodCode  string
}

// Carts is what checkout needs from Magento. Implementations return
// errs.NotFound for an unknown or inactive cart.
type Carts interface {
	// Resolve turns a customer reference without a quote id into one that
	// names the customer's active cart.
	Resolve(ctx context.Context, ref CartRef) (CartRef, error)
	// Load returns the cart and its totals.
	Load(ctx context.Context, ref CartRef) (CartView, error)
	// EstimateShipping lists the methods Magento offers for addr.
	EstimateShipping(ctx context.Context, ref CartRef, addr Address) ([]ShippingMethod, error)
	// SetShipping saves addresses and method and returns the new totals.
	SetShipping(ctx context.Context, ref CartRef, info ShippingInfo) (Totals, error)
}

// Session statuses.
const (
	SessionOpen = "open"
	SessionPaid = "paid"
)

// Session is a checkout in progress. It lives in Redis and expires; the
// payment keeps its own snapshot of everything the order needs.
type Session struct {
	ID              string           `json:"id"`
	Status          string           `json:"status"`
	Cart            CartRef          `json:"cart"`
	Subject         string           `json:"subject,omitempty"` // the access token's subject for customer sessions
	Channel         string           `json:"channel,omitempty"`
	CustomerGroup   string           `json:"customer_group,omitempty"`
	Email           string           `json:"email,omitempty"`
	Phone           string           `json:"phone,omitempty"`
	ShippingAddress *Address         `json:"shipping_address,omitempty"`
	BillingAddress  *Address         `json:"billing_address,omitempty"`
	ShippingMethods []ShippingMethod `json:"shipping_methods,omitempty"`
	CarrierCode     string           `json:"carrier_code,omitempty"`
	MethodCode      string           `json:"method_code,omitempty"`
	IsVirtual       bool             `json:"is_virtual,omitempty"`
	Items           []Item           `json:"items"`
	Totals          Totals           `json:"totals"`
	PaymentID       string           `json:"payment_id,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	ExpiresAt       time.Time        `json:"expires_at"`
}

// Sessions stores sessions. Get returns errs.NotFound for an unknown or
// expired session.
type Sessions interface {
	Put(ctx context.Context, s *Session, ttl time.Duration) error
	Get(ctx context.Context, id string) (*Session, error)
}

// Payment statuses.
const (
	StatusProcessing     = "processing" // attempts in flight, or held for reconciliation
	StatusRequiresAction = "requires_action"
	StatusCaptured       = "captured"
	StatusAuthorized     = "authorized"
	StatusFailed         = "failed"
	StatusVoided         = "voided" // an authorisation released; nothing was taken
)

// Attempt statuses, beside the gateway.Status values.
const (
	AttemptPending    = "pending"     // written before the gateway call
	AttemptNotCharged = "not_charged" // Lookup confirmed nothing was charged
)

// Payment is a payment and its attempts.
type Payment struct {
	ID                 string                `json:"id"`
	SessionID          string                `json:"session_id"`
	IdempotencyKey     string                `json:"-"`
	RequestHash        string                `json:"-"`
	Status             string                `json:"status"`
	Amount             int64                 `json:"amount"`
	Currency           string                `json:"currency"`
	Method             string                `json:"method"`
	Gateway            string                `json:"gateway,omitempty"`
	GatewayReference   string                `json:"gateway_reference,omitempty"`
	CartKind           string                `json:"cart_kind"`
	QuoteID            int64                 `json:"quote_id"`
	CustomerID         int64                 `json:"customer_id,omitempty"`
	Snapshot           paymentevent.Snapshot `json:"-"`
	Routing            *routing.Explanation  `json:"routing,omitempty"`
	DeclineCode        string                `json:"decline_code,omitempty"`
	ErrorMessage       string                `json:"error_message,omitempty"`
	NextAction         *gateway.NextAction   `json:"next_action,omitempty"`
	MagentoOrderID     int64                 `json:"-"`
	MagentoIncrementID string                `json:"-"`
	RefundedAmount     int64                 `json:"refunded_amount"`
	CardFingerprint    string                `json:"-"`
	ReconcileAt        *time.Time            `json:"-"`
	CapturedAt         *time.Time            `json:"-"`                    // when money was taken; nil while only authorised
	CaptureID          string                `json:"capture_id,omitempty"` // the caller's id of a later Capture, e.g. a Magento invoice
	CreatedAt          time.Time             `json:"created_at"`
	UpdatedAt          time.Time             `json:"updated_at"`
	Attempts           []Attempt             `json:"attempts"`
}

// Live reports whether the payment holds its cart: in flight or paid.
func (p *Payment) Live() bool { return p.Status != StatusFailed && p.Status != StatusVoided }

// Attempt is one call to one gateway.
type Attempt struct {
	No               int       `json:"attempt"`
	Gateway          string    `json:"gateway"`
	IdempotencyKey   string    `json:"-"`
	Status           string    `json:"status"`
	GatewayReference string    `json:"gateway_reference,omitempty"`
	DeclineCode      string    `json:"decline_code,omitempty"`
	DeclineBucket    string    `json:"decline_bucket,omitempty"`
	ErrorMessage     string    `json:"error_message,omitempty"`
	Fee              int64     `json:"fee"`
	LatencyMS        int64     `json:"latency_ms"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Event is an outbox event.
type Event struct {
	EventID     string
	Topic       string
	AggregateID string
	Payload     json.RawMessage
}

// Refund is a refund of a captured payment.
type Refund struct {
	ID               string    `json:"id"`
	PaymentID        string    `json:"payment_id"`
	Amount           int64     `json:"amount"`
	Currency         string    `json:"currency"`
	Status           string    `json:"status"` // pending, succeeded, failed
	Gateway          string    `json:"gateway"`
	GatewayReference string    `json:"gateway_reference,omitempty"`
	ErrorMessage     string    `json:"error_message,omitempty"`
	RequestHash      string    `json:"-"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Refund statuses.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// WebhookEvent is a verified webhook kept for asynchronous application.
type WebhookEvent struct {
	Gateway  string          `json:"gateway"`
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Event    gateway.Event   `json:"event"`
	Attempts int             `json:"attempts"`
	Raw      json.RawMessage `json:"-"`
}

// RulesVersion is a saved rule document.
type RulesVersion struct {
	Version   int             `json:"version"`
	Document  json.RawMessage `json:"document"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
}

// Store persists payments, attempts, refunds, webhooks, rules and the
// outbox. Errors: errs.NotFound for unknown rows; CreatePayment returns
// ErrDuplicateKey or ErrCartBusy (errs.Conflict) on the unique guards.
type Store interface {
	CreatePayment(ctx context.Context, p *Payment) error
	Payment(ctx context.Context, id string) (*Payment, error)
	PaymentByIdempotency(ctx context.Context, sessionID, key string) (*Payment, error)
	PaymentByReference(ctx context.Context, gatewayName, reference string) (*Payment, error)
	// LivePayment returns the payment that holds a quote (in flight or paid).
	LivePayment(ctx context.Context, quoteID int64) (*Payment, error)
	InsertAttempt(ctx context.Context, paymentID string, a Attempt) error
	// Update locks the payment (SELECT ... FOR UPDATE), lets fn change it,
	// and writes the payment, the attempt fn returns (when not nil) and the
	// outbox events fn returns, all in one transaction.
	Update(ctx context.Context, id string, fn func(p *Payment) (*Attempt, []Event, error)) (*Payment, error)
	// DueForReconcile claims up to limit payments whose reconcile_at has
	// passed, pushing their reconcile_at to now+lease so that other
	// instances skip them.
	DueForReconcile(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	Recent(ctx context.Context, limit int) ([]*Payment, error)

	// CreateRefund reserves amount of the payment's refundable balance and
	// writes a pending refund in one transaction. An existing refund id
	// returns that refund and created=false.
	CreateRefund(ctx context.Context, r *Refund) (out *Refund, created bool, err error)
	// FinishRefund records the gateway's answer; a failed refund releases
	// its reservation.
	FinishRefund(ctx context.Context, r *Refund) error
	Refunds(ctx context.Context, paymentID string) ([]Refund, error)

	// InsertWebhook stores a verified event; false when (gateway, event id)
	// was already stored.
	InsertWebhook(ctx context.Context, e WebhookEvent, now time.Time) (bool, error)
	// ClaimWebhooks returns received events to apply, leasing them.
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookEvent, error)
	FinishWebhook(ctx context.Context, gatewayName, eventID string, now time.Time, applyErr error) error

	SaveRules(ctx context.Context, doc json.RawMessage, by string, now time.Time) (int, error)
	LatestRules(ctx context.Context) (*RulesVersion, error)
}
