package checkout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/errs"
)

// Errors the Store returns on its unique guards.
var (
	ErrDuplicateKey = errs.E(errs.Conflict, "A payment with this Idempotency-Key exists.")
	ErrCartBusy     = errs.E(errs.Conflict, "This cart already has a payment in progress or paid.")
)

// Config tunes the domain.
type Config struct {
	SessionTTL time.Duration
	// MaxAttempts caps gateway attempts per payment.
	MaxAttempts int
	// CardRetryBudget caps attempts per card (token fingerprint) in
	// CardBudgetWindow, below the schemes' re-attempt limits.
	CardRetryBudget  int
	CardBudgetWindow time.Duration
	// Capture captures at once; otherwise payments are authorised only.
	Capture bool
	// AnnounceAuthorized writes the outbox event for authorised payments too.
	AnnounceAuthorized bool
	// ChargeTimeout bounds the gateway work of one payment request; it
	// continues when the client goes away.
	ChargeTimeout time.Duration
	// ReconcileAfter is when an in-flight payment is first reconciled;
	// ActionTimeout is how long a shopper has for 3-D Secure.
	ReconcileAfter time.Duration
	ActionTimeout  time.Duration
	// ReturnURL is where a shopper lands after a gateway action; "{payment}"
	// is replaced by the payment id.
	ReturnURL string
	// HeldTokenTTL is how long the card token of a payment held for
	// reconciliation is kept (in Redis) so that the reconciler can cascade
	// to the next gateway once the held attempt is confirmed not charged;
	// default 1 hour. After it the payment fails as before.
	HeldTokenTTL time.Duration
	// DefaultRules is the rule document used until one is saved.
	DefaultRules []byte
	// Merchant country, for routing facts when no address is known.
	Country string
}

// Service is the checkout domain.
type Service struct {
	cfg      Config
	carts    Carts
	sessions Sessions
	store    Store
	gws      map[string]gateway.Gateway
	router   *routing.Router
	stats    *routing.Stats
	rdb      redis.UniversalClient
	keys     cache.Keys
	log      *zap.Logger
	now      func() time.Time

	rules atomic.Pointer[routing.Ruleset]
	snap  atomic.Pointer[routing.Snapshot]
	wake  chan struct{}
	bg    sync.WaitGroup

	// hook, when set by tests, runs at named points of a payment and may
	// return an error to simulate a crash there.
	hook func(point string) error
}

// Deps are a Service's collaborators.
type Deps struct {
	Carts    Carts
	Sessions Sessions
	Store    Store
	Gateways []gateway.Gateway
	Router   *routing.Router
	Stats    *routing.Stats
	Redis    redis.UniversalClient
	Prefix   string
	Log      *zap.Logger
	Now      func() time.Time
}

// New returns a Service. The default rule document must be valid.
func New(cfg Config, d Deps) (*Service, error) {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 30 * time.Minute
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.CardRetryBudget == 0 {
		cfg.CardRetryBudget = 10
	}
	if cfg.CardBudgetWindow == 0 {
		cfg.CardBudgetWindow = 30 * 24 * time.Hour
	}
	if cfg.ChargeTimeout == 0 {
		cfg.ChargeTimeout = 60 * time.Second
	}
	if cfg.ReconcileAfter == 0 {
		cfg.ReconcileAfter = 30 * time.Second
	}
	if cfg.ActionTimeout == 0 {
		cfg.ActionTimeout = 30 * time.Minute
	}
	if cfg.HeldTokenTTL == 0 {
		cfg.HeldTokenTTL = time.Hour
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	s := &Service{cfg: cfg, carts: d.Carts, sessions: d.Sessions, store: d.Store, gws: map[string]gateway.Gateway{},
		router: d.Router, stats: d.Stats, rdb: d.Redis, keys: cache.NewKeys(d.Prefix + "checkout:"), log: d.Log, now: d.Now,
		wake: make(chan struct{}, 1)}
	for _, g := range d.Gateways {
		s.gws[g.Name()] = g
	}
	rs, err := routing.Parse(cfg.DefaultRules, s.router.Names())
	if err != nil {
		return nil, err
	}
	s.rules.Store(rs)
	s.snap.Store(&routing.Snapshot{})
	return s, nil
}

// SetHook installs a test hook called at named points of a payment
// ("payment_created", "attempt_written", "charged", and "cascade_resolved"
// when the reconciler has recorded a held attempt as not charged and is
// about to cascade); an error it returns
// aborts the payment there, as a crash would.
func (s *Service) SetHook(h func(point string) error) { s.hook = h }

func (s *Service) at(point string) error {
	if s.hook != nil {
		return s.hook(point)
	}
	return nil
}

// Gateway returns a configured gateway by name.
func (s *Service) Gateway(name string) (gateway.Gateway, bool) {
	g, ok := s.gws[name]
	return g, ok
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// StartParams start a session.
type StartParams struct {
	// MaskedCartID is a guest cart; or
	MaskedCartID string
	// Customer identifies a customer's cart (Kind customer) with either a
	// Magento customer token or a customer id from a verified access token.
	Customer *CartRef
	Subject  string
	Channel  string // web or app
}

// StartSession loads the cart from Magento and opens a session on it.
// Errors: errs.NotFound for an unknown cart, errs.Unprocessable for an empty
// one.
func (s *Service) StartSession(ctx context.Context, p StartParams) (*Session, error) {
	var ref CartRef
	switch {
	case p.MaskedCartID != "":
		ref = CartRef{Kind: KindGuest, MaskedID: p.MaskedCartID}
	case p.Customer != nil:
		r, err := s.carts.Resolve(ctx, *p.Customer)
		if err != nil {
			return nil, err
		}
		ref = r
	default:
		return nil, errs.Invalidf("cart_id", "is required without a customer's access token")
	}
	cv, err := s.carts.Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(cv.Items) == 0 {
		return nil, errs.E(errs.Unprocessable, "The cart is empty.")
	}
	ref.QuoteID, ref.CustomerID = cv.QuoteID, cv.CustomerID
	now := s.now().UTC()
	sess := &Session{ID: newID("cs_"), Status: SessionOpen, Cart: ref, Subject: p.Subject, Channel: p.Channel,
		Email: cv.Email, IsVirtual: cv.IsVirtual, Items: cv.Items, Totals: cv.Totals,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if cv.GroupID != 0 {
		sess.CustomerGroup = strconv.Itoa(cv.GroupID)
	}
	if err := s.sessions.Put(ctx, sess, s.cfg.SessionTTL); err != nil {
		return nil, err
	}
	return sess, nil
}

// Session returns a session. A customer session answers only its subject.
func (s *Service) Session(ctx context.Context, id, subject string) (*Session, error) {
	sess, err := s.sessions.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.Subject != "" && sess.Subject != subject {
		return nil, errs.E(errs.NotFound, "No checkout session %s.", id)
	}
	return sess, nil
}

func (s *Service) save(ctx context.Context, sess *Session) error {
	ttl := sess.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return errs.E(errs.Gone, "The checkout session has expired; start again from the cart.")
	}
	return s.sessions.Put(ctx, sess, ttl)
}

// AddressParams set contact details and the shipping address.
type AddressParams struct {
	Email           string
	Phone           string
	ShippingAddress Address
	BillingAddress  *Address
}

// SetAddress records contact and address and returns the shipping methods
// Magento offers for it.
func (s *Service) SetAddress(ctx context.Context, id, subject string, p AddressParams) (*Session, error) {
	sess, err := s.Session(ctx, id, subject)
	if err != nil {
		return nil, err
	}
	if sess.Status != SessionOpen {
		return nil, errs.E(errs.Conflict, "The checkout session is already paid.")
	}
	addr := p.ShippingAddress
	if addr.Email == "" {
		addr.Email = p.Email
	}
	if addr.Telephone == "" {
		addr.Telephone = p.Phone
	}
	methods, err := s.carts.EstimateShipping(ctx, sess.Cart, addr)
	if err != nil {
		return nil, err
	}
	sess.Email, sess.Phone, sess.ShippingAddress = p.Email, p.Phone, &addr
	if p.BillingAddress != nil {
		b := *p.BillingAddress
		sess.BillingAddress = &b
	} else {
		sess.BillingAddress = &addr
	}
	sess.ShippingMethods, sess.CarrierCode, sess.MethodCode = methods, "", ""
	if err := s.save(ctx, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// SetShippingMethod chooses one of the offered methods and returns the
// session with Magento's updated totals.
func (s *Service) SetShippingMethod(ctx context.Context, id, subject, carrier, method string) (*Session, error) {
	sess, err := s.Session(ctx, id, subject)
	if err != nil {
		return nil, err
	}
	if sess.Status != SessionOpen {
		return nil, errs.E(errs.Conflict, "The checkout session is already paid.")
	}
	if sess.ShippingAddress == nil {
		return nil, errs.E(errs.Unprocessable, "Set the address before the shipping method.")
	}
	offered := false
	for _, m := range sess.ShippingMethods {
		if m.CarrierCode == carrier && m.MethodCode == method && m.Available {
			offered = true
		}
	}
	if !offered {
		return nil, errs.Invalidf("method_code", "%s/%s is not a shipping method offered for this address", carrier, method)
	}
	totals, err := s.carts.SetShipping(ctx, sess.Cart, ShippingInfo{Shipping: *sess.ShippingAddress, Billing: *sess.BillingAddress, CarrierCode: carrier, MethodCode: method})
	if err != nil {
		return nil, err
	}
	sess.CarrierCode, sess.MethodCode, sess.Totals = carrier, method, totals
	if err := s.save(ctx, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

func isTerminal(status string) bool {
	return status == StatusCaptured || status == StatusAuthorized || status == StatusFailed
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func trimMsg(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
