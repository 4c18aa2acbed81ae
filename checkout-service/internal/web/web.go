// Package web serves the shopper-facing secure checkout pages of
// checkout-service: the handoff from Magento (GET /checkout/start), one flow
// of server-rendered pages (details, shipping, payment, confirmation), the
// payment widget of the routed gateway (or the sandbox widget and the sandbox
// 3-D Secure page in sandbox mode), login by code, and the security that goes
// with them.
//
// Payment widgets. Stripe collects the card first (Elements; the page posts
// only the PaymentMethod id). Razorpay and PayPal pay first: the form posts
// the method, the checkout domain routes and creates the gateway's order, and
// the page opens that gateway's widget from the payment's next action; its
// success posts /confirm, which looks the payment up at the gateway rather
// than believing the browser. The sandbox widget maps test card numbers to
// the sandbox gateways' tokens in the browser.
//
// Login by code. A guest handoff carries Magento's masked cart id. A
// logged-in customer's handoff carries Magento's numeric quote id, which
// proves nothing and is ignored: the page logs the shopper in through
// otp-service's API on the same origin, and the verified access token opens
// the session on the customer's own active cart. A guest may log in on the
// details page and keeps the guest cart.
//
// Security model. A checkout session's id appears in URLs, so it is not a
// secret: every page and form also needs the browser that started the
// session. /checkout/start sets a cookie holding a random browser secret
// (Secure, HttpOnly, SameSite=Lax, host-only, "__Host-" prefixed over HTTPS)
// and the session's page state in Redis keeps only its SHA-256; a request
// whose cookie does not match is refused with 403. Every form post carries a
// synchronizer CSRF token kept in that state (and an Origin check); a token
// from before a rotation is refused. Pages carry a strict
// Content-Security-Policy with a fresh nonce per response and allow exactly
// the configured gateway's origins. Amounts and currency are only ever read
// from the checkout domain (that is, from Magento): nothing posted by the
// browser names a price. The masked cart id of the handoff is a bearer
// secret and is never logged.
//
// Pages is safe for concurrent use; its state is in Redis, so any instance
// serves any request.
package web

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
)

// Sessions is what the pages need of checkout sessions. *checkout.Service
// implements it. Errors carry errs codes (NotFound, Invalid, Unprocessable,
// Conflict, Gone, Unavailable), which the pages turn into messages.
type Sessions interface {
	StartSession(ctx context.Context, p checkout.StartParams) (*checkout.Session, error)
	Session(ctx context.Context, id, subject string) (*checkout.Session, error)
	SetAddress(ctx context.Context, id, subject string, p checkout.AddressParams) (*checkout.Session, error)
	SetShippingMethod(ctx context.Context, id, subject, carrier, method string) (*checkout.Session, error)
}

// Payments is what the pages need of payments. *checkout.Service implements
// it.
type Payments interface {
	// Pay charges the session; the same idempotency key and request return
	// the same payment.
	Pay(ctx context.Context, p checkout.PayParams) (*checkout.Payment, error)
	// Payment returns a payment with its attempts and, once magento-bridge has
	// placed it, the Magento order (MagentoIncrementID).
	Payment(ctx context.Context, id string) (*checkout.Payment, error)
	// Reconcile asks the gateway about a payment still in flight, for when
	// the shopper returns from a gateway action.
	Reconcile(ctx context.Context, id string) (*checkout.Payment, error)
}

// Carts reads a cart's current contents and totals from Magento, so the
// payment page shows what will be charged. checkout.Carts implementations
// satisfy it.
type Carts interface {
	Load(ctx context.Context, ref checkout.CartRef) (checkout.CartView, error)
}

// Actions completes a sandbox gateway's 3-D Secure challenge (sandbox mode
// only); SandboxActions builds one over the checkout domain. Complete approves or fails the charge with the given gateway
// reference, applies the result to its payment, and returns the payment.
type Actions interface {
	CompleteAction(ctx context.Context, reference string, approved bool) (*checkout.Payment, error)
}

// Tokens verifies otp-service's access tokens (login by code on the
// checkout page); *accesstoken.Verifier implements it.
type Tokens interface {
	Verify(ctx context.Context, token string) (accesstoken.Claims, error)
}

// Deps are the collaborators of Pages. Sessions, Payments, Carts and Redis are
// required; Actions is required in sandbox mode.
type Deps struct {
	Sessions Sessions
	Payments Payments
	Carts    Carts
	Actions  Actions
	// Tokens enables login by code (with Config.AuthPath); nil hides it.
	Tokens Tokens
	// Redis keeps each session's page state (browser binding, CSRF token,
	// attempt key, flash messages) under Prefix.
	Redis  redis.UniversalClient
	Prefix string
	Log    *zap.Logger
	Now    func() time.Time
}
