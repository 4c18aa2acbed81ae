// Package bridge turns captured payments into Magento orders exactly once,
// Magento credit memos into refunds once, and Magento invoices of orders paid
// by authorisation only into captures once.
//
// A Syncer claims payment.captured events from checkout-service's outbox
// through a Store (row claims with a lease, shared by every worker of every
// instance), and runs each through the exactly-once protocol of
// ../shared/reference/magento/README.md: the progress of every payment is
// persisted before each Magento write, one Magento cart belongs to one
// payment, work on a cart is serialised by a fenced lease, and after any
// write whose outcome is unknown the order is looked up by quote_id before
// anything is written again. Invoices and comments are preceded by a read of
// the order (total_invoiced, status history) because Magento has no
// idempotency keys.
//
// Failures are retried with exponential backoff and full jitter; events that
// can never succeed become dead letters with their full history, which an
// operator lists and replays. A Limiter caps the requests in flight to
// Magento across all instances and adapts the cap to Magento's health.
//
// The interfaces here (Store, Magento, Payments, Limiter) are declared by
// this package, their consumer; bridgestore, *magento.Client, checkoutapi and
// throttle implement them.
package bridge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/paymentevent"
)

// Step is how far a payment has come on its way to a Magento order. Steps
// only move forward; each is persisted before the write that follows it.
type Step string

// Steps of an order's progress.
const (
	// StepNew: nothing was sent to Magento that could create an order.
	StepNew Step = "new"
	// StepPlacing: a place call may have been sent; look the order up by
	// quote_id before placing again.
	StepPlacing Step = "placing"
	// StepPlaced: the order exists; its id and increment id are recorded.
	StepPlaced Step = "placed"
	// StepInvoiced: the order is invoiced (or needs no invoice).
	StepInvoiced Step = "invoiced"
	// StepDone: commented and recorded on the payment.
	StepDone Step = "done"
)

// Event is a claimed outbox row.
type Event struct {
	OutboxID  int64
	EventID   string
	PaymentID string // the outbox aggregate_id
	Topic     string
	Payload   json.RawMessage
	// Attempts counts claims, this one included.
	Attempts  int
	CreatedAt time.Time
	History   []Attempt
}

// Attempt is one entry of an event's history: what one claim did.
type Attempt struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Worker  string    `json:"worker"`
	Step    Step      `json:"step,omitempty"` // empty on an operator's replay
	Outcome string    `json:"outcome"`        // retry, done, dead, duplicate, lost_lease
	Code    string    `json:"code,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Progress is the persisted state of one payment's order (bridge_orders).
type Progress struct {
	PaymentID     string
	EventID       string
	QuoteID       int64
	Step          Step
	Gateway       string
	TransactionID string
	Amount        int64
	Currency      string
	OrderID       int64
	IncrementID   string
	InvoiceID     int64
}

// Payment is what the bridge reads of checkout-service's payments row.
type Payment struct {
	ID       string
	Status   string
	Amount   int64
	Currency string
	QuoteID  int64
	// Refunded is the amount already refunded (checkout keeps the status
	// "captured" and counts refunds here).
	Refunded int64
}

// DeadLetter is an event an operator must look at.
type DeadLetter struct {
	ID         int64           `json:"id"`
	OutboxID   int64           `json:"outbox_id"`
	EventID    string          `json:"event_id"`
	PaymentID  string          `json:"payment_id"`
	Reason     string          `json:"reason"`
	Error      string          `json:"error"`
	Attempts   int             `json:"attempts"`
	History    []Attempt       `json:"history"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	Refunded   bool            `json:"refunded"`
	Status     string          `json:"status"` // open or replayed
	CreatedAt  time.Time       `json:"created_at"`
	ReplayedAt *time.Time      `json:"replayed_at,omitempty"`
}

// Reasons an event becomes a dead letter.
const (
	ReasonPoison      = "poison"      // Magento refuses it (400) or the payload is unusable
	ReasonUnplaceable = "unplaceable" // the payment is captured but its cart cannot become an order
	ReasonExhausted   = "exhausted"   // too many attempts
	ReasonTooOld      = "too_old"     // older than the maximum age
	ReasonNoPayment   = "no_payment"  // no captured payment backs the event: never place
)

// Status is the bridge's health as GET /v1/status reports it.
type Status struct {
	Backlog          int64   `json:"backlog"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	InFlight         int64   `json:"in_flight"`
	DeadLetters      int64   `json:"dead_letters"`
	SyncedTotal      int64   `json:"synced_total"`
	// ForeignOrders counts the Magento orders paid with the bridge's offline
	// method that the platform did not place (bridge_foreign_orders).
	ForeignOrders int64 `json:"foreign_orders"`
	// CapturesFailed counts the invoices whose capture checkout refused for
	// good and that await an operator (bridge_captures step failed: do not
	// ship); CapturesPending those whose capture checkout has yet to answer
	// (step pending).
	CapturesFailed  int64 `json:"captures_failed"`
	CapturesPending int64 `json:"captures_pending"`
}

// Refund is a credit memo on a platform order and its way to the gateway
// (bridge_refunds).
type Refund struct {
	CreditMemoID int64
	OrderID      int64
	PaymentID    string
	RefundID     string
	Amount       int64
	Currency     string
	Step         string // pending, refunded, done, failed
	Attempts     int
}

// Refund steps.
const (
	RefundPending  = "pending"
	RefundRefunded = "refunded"
	RefundDone     = "done"
	RefundFailed   = "failed"
)

// Store persists claims, progress, dead letters and cursors. Implementations
// are safe for concurrent use. Methods that take an owner are fenced: they
// return an errs.Conflict error when the caller no longer holds the lease.
type Store interface {
	// Claim leases up to n claimable payment.captured events to owner until
	// now+lease, incrementing their attempts.
	Claim(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]Event, error)
	// ExtendLease extends owner's leases on the event and its order.
	ExtendLease(ctx context.Context, ev Event, paymentID, owner string, until time.Time) error
	// Payment returns the payments row, or errs.NotFound.
	Payment(ctx context.Context, id string) (*Payment, error)
	// BeginOrder returns the payment's progress, creating it at StepNew, and
	// leases it to owner. errs.Conflict with code CodeCartTaken when another
	// payment owns the quote; CodeBusy when another worker holds the lease.
	BeginOrder(ctx context.Context, p Progress, owner string, now time.Time, lease time.Duration) (*Progress, error)
	// SaveProgress records p and renews owner's lease until now+lease.
	SaveProgress(ctx context.Context, p Progress, owner string, now time.Time, lease time.Duration) error
	// Complete records the order on the payment, marks the progress done and
	// the event processed, in one transaction.
	Complete(ctx context.Context, ev Event, p Progress, owner string, entry Attempt, now time.Time) error
	// CompleteDuplicate marks an event whose payment is already done.
	CompleteDuplicate(ctx context.Context, ev Event, owner string, entry Attempt, now time.Time) error
	// Retry releases the event (and owner's order lease) until at, recording
	// entry in its history.
	Retry(ctx context.Context, ev Event, paymentID, owner string, entry Attempt, at time.Time) error
	// DeadLetter parks the event and records a dead letter.
	DeadLetter(ctx context.Context, ev Event, paymentID, owner, reason string, entry Attempt, refunded bool, now time.Time) (int64, error)
	// MarkRefunded records that a dead letter's payment was refunded.
	MarkRefunded(ctx context.Context, deadLetterID int64) error
}

// Magento is what the bridge needs of Magento; *magento.Client implements it.
type Magento interface {
	SetShippingInformation(ctx context.Context, ref magento.CartRef, info magento.ShippingInformation) (*magento.PaymentDetails, error)
	PlaceOrder(ctx context.Context, ref magento.CartRef, req magento.PlaceOrderRequest) (int64, error)
	OrdersByQuoteID(ctx context.Context, quoteID int64) ([]magento.Order, error)
	Order(ctx context.Context, orderID int64) (*magento.Order, error)
	InvoiceOrder(ctx context.Context, orderID int64, req magento.InvoiceRequest) (int64, error)
	AddOrderComment(ctx context.Context, orderID int64, h magento.OrderStatusHistory) error
	CreditMemosUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*magento.SearchResult[magento.CreditMemo], error)
	InvoicesUpdatedSince(ctx context.Context, since time.Time, pageSize, page int) (*magento.SearchResult[magento.Invoice], error)
	SearchOrders(ctx context.Context, sc magento.SearchCriteria) (*magento.SearchResult[magento.Order], error)
}

var _ Magento = (*magento.Client)(nil)

// Payments is checkout-service's payment API: refunds, voids and captures,
// each idempotent.
type Payments interface {
	// Refund refunds amount of a payment; refundID makes it idempotent.
	// errs.Unprocessable (or another 4xx code) when checkout refuses it for
	// good, errs.Unavailable or errs.OutcomeUnknown when it may succeed later.
	Refund(ctx context.Context, paymentID string, amount int64, refundID string) error
	// Void releases an authorisation. errs.NotFound when checkout has no void
	// endpoint.
	Void(ctx context.Context, paymentID, reason string) error
	// Capture captures an authorised payment in full; amount must be the
	// authorised amount. A captured payment succeeds whatever captureID.
	// errs.Conflict (or another 4xx code) when checkout refuses it for good,
	// errs.Unavailable or errs.OutcomeUnknown when it may succeed later.
	Capture(ctx context.Context, paymentID string, amount int64, captureID string) error
}

// Limiter caps requests in flight to Magento. Acquire blocks until a slot is
// free (or ctx ends) and returns its release; Observe feeds each request's
// latency and outcome back so the limit can adapt.
type Limiter interface {
	Acquire(ctx context.Context) (release func(), err error)
	Observe(latency time.Duration, err error)
}

// Specific conflict codes the Store returns (errs.Error codes mapped to 409).
const (
	CodeCartTaken = "cart_taken"
	CodeBusy      = "busy"
	CodeLostLease = "lost_lease"
)

// event decodes an event's payload.
func decode(ev Event) (*paymentevent.Captured, error) {
	var c paymentevent.Captured
	if err := json.Unmarshal(ev.Payload, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
