// Package magentosandbox is an in-memory stand-in for a Magento 2.4 store's
// REST API (and the one GraphQL mutation the platform uses), built to behave
// like Magento, not only to answer in its shapes.
//
// It serves /rest/V1/..., /rest/default/V1/... and /rest/<store code>/V1/...
// with masked guest carts, customer carts (/V1/carts/mine by customer token),
// admin carts, stock checks, tax (8.25% on taxable items shipped to US-CA by
// default), flat-rate ($5 per item) and table-rate (tablerate/bestway)
// shipping, the coupon H20 (20% off), the offline payment methods checkmo and
// purchaseorder, order placement that deactivates the quote (a second
// placement is 404), invoices, offline refunds (credit memos), customers
// unique by email per website (text compared as Magento's MySQL collation
// does, ignoring case and accents), admin tokens (optionally behind Google TFA),
// customer tokens, OAuth 1.0a and bearer integration tokens, and searches
// with searchCriteria (orders, invoices, credit memos, customers, products). Errors use Magento's bodies ({"message","parameters"})
// and statuses. Every response validates against Magento's published schema
// (see internal/magento/magentoschema and the package tests).
//
// Seeded data (see Seed): admin user "admin" / "admin123"; customer
// roni_cost@example.com / roni_cost3@example.com (Veronica Costello, remote
// shopping assistance allowed); integration consumer key "sandbox-consumer-key"
// with secret "sandbox-consumer-secret", access token "sandbox-access-token",
// token secret "sandbox-access-token-secret"; 147 Luma-style products
// such as MH01-XS-Black ($52.00, qty 100), 24-MB01 ($34.00), 24-WG01 (qty 3)
// and 24-UG01 (out of stock).
//
// Test and demo controls live under /__sandbox/: POST and DELETE
// /__sandbox/faults, and read-only GET /__sandbox/orders, /__sandbox/invoices
// and /__sandbox/creditmemos.
//
// A Sandbox is safe for concurrent use; all state is in memory.
package magentosandbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/magefleet/platform/internal/magento"
)

// Seed describes the seeded credentials and data, for READMEs and demo output.
const Seed = `Magento sandbox seed:
  admin user:        admin / admin123 (POST /rest/V1/integration/admin/token)
  admin TFA:         off unless Options.AdminTOTPSecret is set (then POST /rest/V1/tfa/provider/google/authenticate with "otp")
  integration:       consumer key sandbox-consumer-key, consumer secret sandbox-consumer-secret,
                     access token sandbox-access-token, token secret sandbox-access-token-secret (OAuth 1.0a HMAC-SHA256/SHA1)
  customer:          roni_cost@example.com / roni_cost3@example.com (id 1, assistance_allowed = 2)
  store codes:       default (plus Options.StoreCodes)
  coupon:            H20 (20% off the subtotal)
  tax:               8.25% on taxable items shipped to US-CA
  shipping:          flatrate/flatrate $5.00 per item; tablerate/bestway $10.00, free from a $100 subtotal
  payment methods:   checkmo, purchaseorder (po_number required)
  products:          Luma-style catalog (tops, bottoms, gear), e.g. MH01-XS-Black $52.00 qty 100,
                     24-MB01 $34.00, 24-WG01 qty 3 (low stock), 24-UG01 out of stock`

// Options configure a Sandbox; the zero value gives the documented seed.
type Options struct {
	// StoreCodes are served beside "default".
	StoreCodes []string
	// AdminUsername and AdminPassword default to admin / admin123.
	AdminUsername string
	AdminPassword string
	// AdminTOTPSecret, when set (base32), makes Two-Factor Auth required:
	// POST /V1/integration/admin/token is refused and admin tokens come from
	// POST /V1/tfa/provider/google/authenticate with a TOTP code.
	AdminTOTPSecret string
	// Integration credentials; empty fields take the seeded defaults.
	ConsumerKey       string
	ConsumerSecret    string
	AccessToken       string
	AccessTokenSecret string
	// IntegrationAsBearer mirrors oauth/consumer/enable_integration_as_bearer:
	// when false (Magento's default since 2.4.4) the integration access token
	// is refused as a bearer token and requests must be OAuth-signed.
	IntegrationAsBearer bool
	// DisableLoginAsCustomer turns the Login as Customer module off.
	DisableLoginAsCustomer bool
	// ConfirmAccounts mirrors customer/create_account/confirm: a customer
	// created with a password gets a confirmation key (shown as
	// "confirmation") and cannot log in with the password until the email
	// is confirmed. Customers created without a password never wait.
	ConfirmAccounts bool
	// TaxRate applies to taxable items shipped to TaxCountry/TaxRegionCode;
	// defaults 0.0825, US, CA. A negative TaxRate disables tax.
	TaxRate       float64
	TaxCountry    string
	TaxRegionCode string
	// AdminTokenLifetime and CustomerTokenLifetime default to 4 h and 1 h.
	AdminTokenLifetime    time.Duration
	CustomerTokenLifetime time.Duration
	// RacyPlacement reproduces magento/magento2 issue 13952: concurrent
	// place-order calls on one cart that arrive within the window can each
	// create an order. Off by default (placements are serialised); turn it
	// on to prove a caller serialises placement per cart itself.
	RacyPlacement       bool
	RacyPlacementWindow time.Duration // default 50 ms
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// Sandbox is the in-memory store. Build it with New.
type Sandbox struct {
	opts    Options
	stores  map[string]int // store code → store id
	handler http.Handler

	mu    sync.RWMutex
	st    *state
	fmu   sync.RWMutex
	fault []Fault
}

// New returns a seeded Sandbox.
func New(opts Options) *Sandbox {
	if opts.AdminUsername == "" {
		opts.AdminUsername = "admin"
	}
	if opts.AdminPassword == "" {
		opts.AdminPassword = "admin123"
	}
	if opts.ConsumerKey == "" {
		opts.ConsumerKey = "sandbox-consumer-key"
	}
	if opts.ConsumerSecret == "" {
		opts.ConsumerSecret = "sandbox-consumer-secret"
	}
	if opts.AccessToken == "" {
		opts.AccessToken = "sandbox-access-token"
	}
	if opts.AccessTokenSecret == "" {
		opts.AccessTokenSecret = "sandbox-access-token-secret"
	}
	if opts.TaxRate == 0 {
		opts.TaxRate = 0.0825
	}
	if opts.TaxRate < 0 {
		opts.TaxRate = 0
	}
	if opts.TaxCountry == "" {
		opts.TaxCountry = "US"
	}
	if opts.TaxRegionCode == "" {
		opts.TaxRegionCode = "CA"
	}
	if opts.AdminTokenLifetime == 0 {
		opts.AdminTokenLifetime = 4 * time.Hour
	}
	if opts.CustomerTokenLifetime == 0 {
		opts.CustomerTokenLifetime = time.Hour
	}
	if opts.RacyPlacementWindow == 0 {
		opts.RacyPlacementWindow = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sandbox{opts: opts, stores: map[string]int{"default": 1}}
	for i, code := range opts.StoreCodes {
		if _, ok := s.stores[code]; !ok {
			s.stores[code] = i + 2
		}
	}
	s.st = newState(s.opts.Now())
	s.handler = s.routes()
	return s
}

// Handler returns the sandbox's HTTP handler.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// ListenAndServe serves the sandbox on addr (e.g. 127.0.0.1:8090) until ctx
// ends, then shuts down gracefully.
func (s *Sandbox) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the sandbox on ln until ctx ends.
func (s *Sandbox) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("sandbox shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox serve: %w", err)
	}
	return nil
}

// mErr is a Magento error answer.
type mErr struct {
	status int
	msg    string
	params any
}

func (e *mErr) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errf(status int, msg string, params any) *mErr { return &mErr{status, msg, params} }

// Magento's messages, as its REST API answers them.
const (
	msgNoSuchEntity      = "No such entity with %fieldName = %fieldValue"
	msgRequired          = "%fieldName is a required field."
	msgInvalidValue      = `Invalid value of "%value" provided for the %fieldName field.`
	msgDecoding          = "Decoding error."
	msgNoRoute           = "Request does not match any route."
	msgNotAuthorized     = "The consumer isn't authorized to access %resources."
	msgBadSignIn         = "The account sign-in was incorrect or your account is temporarily disabled. Correct the sign-in and try again."
	msgNotConfirmed      = "This account isn't confirmed. Verify and try again."
	msgUseTFA            = "Please use the 2fa provider-specific endpoints to obtain a token."
	msgInvalidOTP        = "Invalid code."
	msgProductMissing    = "The product that was requested doesn't exist. Verify the product and try again."
	msgQtyNotAvailable   = "The requested qty is not available"
	msgOutOfStock        = "Product that you are trying to add is not available."
	msgCouponInvalid     = "The coupon code isn't valid. Verify the code and try again."
	msgCarrierMissing    = "Carrier with such method not found: %1, %2"
	msgShippingMissing   = "The shipping method is missing. Select the shipping method and try again."
	msgShippingAddress   = `The shipping address is missing. Set the address and try again.`
	msgPaymentNotAvail   = "The requested Payment Method is not available."
	msgPONumber          = "Purchase order number is a required field."
	msgEmptyCart         = "A server error stopped your order from being placed. Please try to place your order again."
	msgEntityMissing     = "The entity that was requested doesn't exist. Verify the entity and try again."
	msgNoInvoice         = "The order does not allow an invoice to be created."
	msgNoCreditmemo      = "The order does not allow a creditmemo to be created."
	msgRefundTooMuch     = "The most money available to refund is %1."
	msgDuplicateEmail    = "A customer with the same email address already exists in an associated website."
	msgItemMissing       = "The %1 Cart doesn't contain the %2 item."
	msgInternal          = "Internal Error. Details are available in Magento log file. Report ID: %1"
	msgInvalidQtyInvoice = "The invoice can't be created without products. Add products and try again."
)

// writeJSON writes a JSON response with Magento's content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"Internal Error."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeErr renders err as Magento does.
func writeErr(w http.ResponseWriter, err error) {
	var me *mErr
	if !errors.As(err, &me) {
		me = errf(http.StatusInternalServerError, msgInternal, []string{randomToken(12)})
	}
	body := map[string]any{"message": me.msg}
	if me.params != nil {
		body["parameters"] = me.params
	}
	writeJSON(w, me.status, body)
}

// randomToken returns n random characters from [a-z0-9], like Magento's
// tokens and masked quote ids.
func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// maskedID returns a 32-character masked quote id, as Magento's
// QuoteIdMask generates (random letters and digits).
func maskedID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// round2 rounds half away from zero to cents, as Magento's price rounding.
func round2(v float64) float64 {
	return float64(magento.MinorUnits(v, "USD")) / 100
}

func ymd(t time.Time) string { return t.UTC().Format(time.DateTime) }
