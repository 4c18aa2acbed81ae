// Package paymentevent defines the outbox events checkout-service writes and
// magento-bridge consumes, so that both services share the exact wire types.
//
// checkout-service writes one row to the outbox table in the same MySQL
// transaction that turns a payment captured (or authorised, when configured):
//
//	topic        = "payment.captured"            (TopicCaptured)
//	event_id     = "payment.captured:<payment id>" (CapturedEventID)
//	aggregate_id = <payment id>
//	payload      = the JSON encoding of Captured
//
// event_id is unique in the outbox, so a payment is announced at most once.
// Money is integer minor units with an ISO 4217 currency, never floats:
// convert with magento's MinorUnits/major-unit helpers at the Magento boundary.
// Addresses use Magento's REST field names, so the bridge can send them to
// Magento as they are. Payloads only grow: fields are added, never renamed or
// removed; Version is bumped on an incompatible change.
package paymentevent

// TopicCaptured is the outbox topic of a payment that took (or holds) money.
const TopicCaptured = "payment.captured"

// Version is the current payload version.
const Version = 1

// CapturedEventID returns the outbox event_id of a payment's capture.
func CapturedEventID(paymentID string) string { return TopicCaptured + ":" + paymentID }

// Cart kinds: how the bridge reaches the Magento quote.
const (
	CartGuest    = "guest"    // a guest cart; Snapshot.MaskedQuoteID is its masked id
	CartCustomer = "customer" // a customer's cart; CustomerID owns QuoteID
)

// Captured is the payload of a payment.captured event.
type Captured struct {
	Version       int    `json:"version"`
	PaymentID     string `json:"payment_id"`
	QuoteID       int64  `json:"quote_id"` // Magento's numeric quote (cart) id
	CartKind      string `json:"cart_kind"`
	CustomerID    int64  `json:"customer_id,omitempty"` // Magento customer id; 0 for guests
	Email         string `json:"email"`
	Amount        int64  `json:"amount"`         // minor units actually charged
	Currency      string `json:"currency"`       // ISO 4217, upper case
	Status        string `json:"status"`         // "captured" or "authorized"
	Gateway       string `json:"gateway"`        // the gateway instance that took the money, e.g. "stripe", "sandbox-a"
	TransactionID string `json:"transaction_id"` // the gateway's reference: invoice it with this
	Method        string `json:"method"`         // card, upi, netbanking, wallet, paypal
	// RoutingSummary is one line for the Magento order comment, e.g.
	// "routed to sandbox-a by rule \"inr-upi\" (priority); 1 attempt".
	RoutingSummary string   `json:"routing_summary"`
	Attempts       int      `json:"attempts"`
	CapturedAt     string   `json:"captured_at"` // RFC 3339, UTC
	Order          Snapshot `json:"order_snapshot"`
}

// Snapshot is everything needed to place the Magento order without the
// checkout session (which lives in Redis and may have expired).
type Snapshot struct {
	QuoteID       int64  `json:"quote_id"`
	MaskedQuoteID string `json:"masked_quote_id,omitempty"` // guest carts
	CartKind      string `json:"cart_kind"`
	CustomerID    int64  `json:"customer_id,omitempty"`
	Email         string `json:"email"`
	Phone         string `json:"phone,omitempty"`
	// Addresses in Magento's AddressInterface field names.
	ShippingAddress *Address `json:"shipping_address,omitempty"`
	BillingAddress  *Address `json:"billing_address,omitempty"`
	ShippingCarrier string   `json:"shipping_carrier_code,omitempty"`
	ShippingMethod  string   `json:"shipping_method_code,omitempty"`
	Items           []Item   `json:"items"`
	Totals          Totals   `json:"totals"`
}

// Address is Magento's AddressInterface subset the checkout collects.
type Address struct {
	Firstname  string   `json:"firstname"`
	Lastname   string   `json:"lastname"`
	Company    string   `json:"company,omitempty"`
	Street     []string `json:"street"`
	City       string   `json:"city"`
	Region     string   `json:"region,omitempty"`
	RegionID   int      `json:"region_id,omitempty"`
	RegionCode string   `json:"region_code,omitempty"`
	Postcode   string   `json:"postcode"`
	CountryID  string   `json:"country_id"`
	Telephone  string   `json:"telephone"`
	Email      string   `json:"email,omitempty"`
}

// Item is one cart line as Magento priced it, in minor units.
type Item struct {
	ItemID   int64   `json:"item_id,omitempty"`
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Qty      float64 `json:"qty"`
	Price    int64   `json:"price"`
	RowTotal int64   `json:"row_total"`
}

// Totals are the cart totals Magento computed, in minor units.
type Totals struct {
	Subtotal   int64  `json:"subtotal"`
	Shipping   int64  `json:"shipping"`
	Tax        int64  `json:"tax"`
	Discount   int64  `json:"discount"` // negative or zero, as Magento reports it
	GrandTotal int64  `json:"grand_total"`
	Currency   string `json:"currency"`
}
