// Package otp is the one-time-code login: it normalises destinations,
// enforces limits and the SMS pumping breaker, generates, sends and verifies
// codes, links verified destinations to Magento customers and issues tokens.
//
// The Service depends on interfaces declared here (Store, Sender, Identities,
// Customers, Tokens, Auditor) and implemented in otpstore, delivery,
// magentolink and tokens. A Service is safe for concurrent use.
package otp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/logging"
)

// Error codes specific to code login.
const (
	CodeInvalidCode    = "invalid_code"          // 401: wrong code
	CodeChallengeGone  = "challenge_gone"        // 410: expired, used, replaced or locked
	CodeSendingPaused  = "sending_paused"        // 503: breaker open for the country or prefix
	CodeInvalidRefresh = "invalid_refresh_token" // 401
	CodeRefreshReused  = "refresh_token_reused"  // 401: the family is revoked
	CodeDeliveryFailed = "delivery_failed"       // 503: every provider failed
	// CodeEmailUnconfirmed (403): the email's Magento account waits for its
	// email confirmation, so a code cannot claim it.
	CodeEmailUnconfirmed = "email_unconfirmed"
)

// Deps are a Service's collaborators.
type Deps struct {
	Store      Store
	Sender     Sender
	Identities Identities
	Customers  Customers
	Tokens     Tokens
	Audit      Auditor
	Log        *zap.Logger
	Registry   prometheus.Registerer
	Now        func() time.Time
	// Rand is the randomness of codes and ids; crypto/rand.Reader when nil.
	Rand io.Reader
	// RefreshTTL is a refresh token's lifetime; SessionMaxAge bounds a
	// family.
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	// Confirmations is asked before an email code claims an existing
	// Magento customer; without it no existing customer is claimed.
	Confirmations Confirmations
	// Sessions is asked whether a link token's session is still going;
	// without it no phone is linked.
	Sessions Sessions
}

// LinkTokenMaxAge is how old a phone login may be for its access token to
// link the phone to an email's account: a token stolen later, even one
// still valid, cannot remap the phone.
const LinkTokenMaxAge = 10 * time.Minute

// Service runs code logins. Build it with New.
type Service struct {
	cfg       Config
	d         Deps
	keys      *Keyring
	fpKey     []byte
	templates *Templates
	tests     map[string]testNumber
	m         *metrics
	phones    phoneCache
}

type testNumber struct {
	code    string
	expires time.Time
}

// New returns a Service for cfg.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for id, k := range cfg.HashKeys {
		keys[id] = []byte(k.Reveal())
	}
	kr, err := NewKeyring(keys, cfg.ActiveHashKey)
	if err != nil {
		return nil, err
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RefreshTTL == 0 {
		d.RefreshTTL = 30 * 24 * time.Hour
	}
	if d.SessionMaxAge == 0 {
		d.SessionMaxAge = 90 * 24 * time.Hour
	}
	s := &Service{cfg: cfg, d: d, keys: kr, fpKey: []byte(cfg.FingerprintKey.Reveal()), templates: NewTemplates(cfg), tests: map[string]testNumber{}}
	for dest, tn := range cfg.TestNumbers {
		norm, _ := NormalizeTestDestination(dest)
		exp, _ := time.Parse(time.DateOnly, tn.Expires)
		s.tests[norm] = testNumber{code: tn.Code, expires: exp.Add(24 * time.Hour)}
	}
	s.m, err = newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Meta describes the caller of a request.
type Meta struct {
	IP        string
	RequestID string
}

// StartRequest asks for a code.
type StartRequest struct {
	Phone    string
	Email    string
	Channel  Channel
	Locale   string
	ClientID string
}

// StartResult is the answer to a start; it is the same whether or not the
// destination has an account.
type StartResult struct {
	ChallengeID string
	Channel     Channel
	ExpiresIn   time.Duration
	ResendAfter time.Duration
}

// Start validates the destination, passes the limits and the breaker,
// stores a new challenge (invalidating the destination's previous one) and
// sends its code. It reads no identity and calls no Magento, so its answer
// cannot tell whether an account exists. Errors: CodeInvalidPhone,
// CodeCountryNotAllowed, CodeNumberNotAllowed, CodeInvalidEmail,
// CodeChannelUnavailable (400); errs.RateLimited (429 with RetryAfter);
// CodeSendingPaused, CodeDeliveryFailed (503).
func (s *Service) Start(ctx context.Context, req StartRequest, meta Meta) (*StartResult, error) {
	dest, ch, err := s.destination(req)
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	fp := fingerprint(s.fpKey, dest)
	scopes := s.scopes(dest)
	code, provider := "", ""
	if tn, ok := s.tests[dest.Value]; ok && now.Before(tn.expires) {
		code, provider = tn.code, "test_number"
	} else if code, err = NewCode(s.d.Rand, s.cfg.Digits); err != nil {
		return nil, err
	}
	id, err := newChallengeID(s.d.Rand, fp)
	if err != nil {
		return nil, err
	}
	kid, mac := s.keys.Sum(id, code)
	msg := Message{To: dest.Value, Channel: ch, Country: dest.Country, Locale: req.Locale, Code: code}
	if provider == "" {
		provider = s.d.Sender.Primary(msg)
	}
	c := &Challenge{ID: id, KeyID: kid, MAC: mac, Dest: dest, Channel: ch, ClientID: req.ClientID,
		Locale: req.Locale, ExpiresAt: now.Add(s.cfg.TTL), Provider: provider}
	gate := Gate{Now: now, Breaker: s.cfg.Breaker, Scopes: scopes, Limits: s.startLimits(dest, fp, req.ClientID, meta.IP, now),
		Failures: s.cfg.Limits.verifyFailures(id)}
	res, err := s.d.Store.Start(ctx, gate, c)
	if err != nil {
		return nil, err
	}
	for _, scope := range res.Tripped {
		s.m.breakerTrips.WithLabelValues(scopeKind(scope)).Inc()
		s.log(ctx).Error("ALERT sms pumping breaker tripped: sending paused",
			zap.String("scope", scope), zap.Duration("pause", s.cfg.Breaker.Pause),
			zap.Int("min_sent", s.cfg.Breaker.MinSent), zap.Float64("min_ratio", s.cfg.Breaker.MinRatio))
		s.audit(Event{At: now, Type: EventBreaker, Subject: scope, Country: dest.Country, IP: meta.IP, RequestID: meta.RequestID})
	}
	if res.Limited != nil {
		s.m.limited.WithLabelValues("start", res.Limited.Name).Inc()
		return nil, &errs.Error{Code: errs.RateLimited, RetryAfter: res.RetryAfter,
			Message: limitMessage(res.Limited.Name, res.RetryAfter)}
	}
	if res.Paused != "" {
		s.m.sends.WithLabelValues(string(ch), "", dest.Country, "paused").Inc()
		return nil, &errs.Error{Code: CodeSendingPaused, Status: http.StatusServiceUnavailable, RetryAfter: res.PausedFor,
			Message: "Codes cannot be sent to this destination right now. Try another channel, such as email, or try again later."}
	}
	if provider != "test_number" {
		msg.Body = s.templates.Render(ch, req.Locale, code)
		if ch == Email {
			msg.Subject = s.templates.Subject()
		}
		provider, err = s.d.Sender.Send(ctx, msg)
		if err == nil && provider != c.Provider {
			// Failover: record who really sent it, for conversion by provider.
			if err := s.d.Store.SetProvider(ctx, id, provider); err != nil {
				s.log(ctx).Warn("provider not recorded", zap.Error(err))
			}
		}
		if err != nil {
			s.m.sends.WithLabelValues(string(ch), "", dest.Country, "failed").Inc()
			_ = s.d.Store.AbortStart(context.WithoutCancel(ctx), id)
			s.log(ctx).Warn("code delivery failed", zap.String("to", dest.Masked()), zap.String("channel", string(ch)), zap.Error(err))
			return nil, &errs.Error{Code: CodeDeliveryFailed, Status: http.StatusServiceUnavailable, RetryAfter: 30 * time.Second,
				Message: "The code could not be sent. Try again shortly or choose another channel.", Err: err}
		}
	}
	s.m.sends.WithLabelValues(string(ch), provider, dest.Country, "sent").Inc()
	s.audit(Event{At: now, Type: EventStart, Subject: dest.Masked(), Channel: string(ch), Country: dest.Country,
		IP: meta.IP, ClientID: req.ClientID, RequestID: meta.RequestID, Detail: "provider=" + provider})
	return &StartResult{ChallengeID: id, Channel: ch, ExpiresIn: s.cfg.TTL, ResendAfter: s.cfg.ResendAfter}, nil
}

func (s *Service) destination(req StartRequest) (Destination, Channel, error) {
	var (
		dest Destination
		err  error
	)
	ch := req.Channel
	switch {
	case req.Phone != "" && req.Email != "":
		return dest, "", errs.E(errs.Invalid, "Give either phone or email, not both.")
	case req.Phone != "":
		if dest, err = s.phones.parse(req.Phone, s.cfg.AllowedCountries, s.cfg.Breaker.PrefixDigits); err != nil {
			return dest, "", err
		}
		if ch == "" {
			ch = SMS
		}
		if ch == Email {
			return dest, "", badRequest(CodeChannelUnavailable, "channel", "channel email needs an email address")
		}
		if ch != Voice && dest.FixedLine {
			return dest, "", badRequest(CodeChannelUnavailable, "channel", "this number is a fixed line: use channel voice")
		}
	case req.Email != "":
		if dest, err = ParseEmail(req.Email); err != nil {
			return dest, "", err
		}
		if ch == "" {
			ch = Email
		}
		if ch != Email {
			return dest, "", badRequest(CodeChannelUnavailable, "channel", "an email address takes channel email")
		}
	default:
		return dest, "", errs.E(errs.Invalid, "Give a phone (international format, e.g. +919876543210) or an email.")
	}
	if !slices.Contains(s.cfg.Channels, string(ch)) {
		return dest, "", badRequest(CodeChannelUnavailable, "channel", "channel "+string(ch)+" is not offered")
	}
	return dest, ch, nil
}

// scopes returns the breaker scopes of a destination: its country and its
// number prefix. Email has none.
func (s *Service) scopes(d Destination) []string {
	if d.Kind != KindPhone {
		return nil
	}
	return []string{"cc:" + d.Country, "px:" + d.Prefix}
}

func (s *Service) startLimits(d Destination, fp, clientID, ip string, now time.Time) []Limit {
	l := s.cfg.Limits
	out := make([]Limit, 0, 8)
	add := func(name, subject string, r Rate) {
		if r.Count > 0 && subject != "" {
			out = append(out, Limit{Name: name, Subject: subject, Count: r.Count, Window: r.Window})
		}
	}
	if s.cfg.ResendAfter > 0 {
		out = append(out, Limit{Name: "resend", Subject: fp, Count: 1, Window: s.cfg.ResendAfter, PerDestination: true})
	}
	if r := l.SendsPerDestination; r.Count > 0 {
		out = append(out, Limit{Name: "sends_per_destination", Subject: fp, Count: r.Count, Window: r.Window, PerDestination: true})
	}
	add("sends_per_ip", limitIP(ip), l.SendsPerIP)
	add("sends_per_device", clientID, l.SendsPerDevice)
	country := d.Country
	if d.Kind == KindEmail {
		country = "email"
	}
	add("sends_per_country", country, l.SendsPerCountry)
	add("sends_global", "all", l.SendsGlobal)
	budget := l.DailyBudget
	if b, ok := l.DailyBudgetByCountry[strings.ToLower(country)]; ok {
		budget = b
	}
	day := now.UTC().Truncate(24 * time.Hour)
	add("daily_budget", country+":"+day.Format("20060102"), Rate{budget, day.Add(24 * time.Hour).Sub(now)})
	return out
}

func limitMessage(name string, wait time.Duration) string {
	secs := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
	if name == "resend" {
		return "A code was sent recently. You can ask for a new one in " + secs + " s."
	}
	return "Too many requests. Try again in " + secs + " s."
}

// VerifyRequest submits a code.
type VerifyRequest struct {
	ChallengeID string
	Code        string
	ClientID    string
	// LinkToken, when set on the verify of an email code, is the access
	// token of a phone login made within LinkTokenMaxAge whose session is
	// still going: the phone is then linked to the Magento customer of that
	// email (the step-up that claims an existing account).
	LinkToken string
}

// Session is what a successful verify or refresh returns.
type Session struct {
	AccessToken          string
	ExpiresIn            time.Duration
	RefreshToken         string
	Identity             *Identity
	MagentoCustomerToken string
	NewCustomer          bool
}

// Verify counts the attempt (before any comparison, atomically, in the
// store), compares the code in constant time, consumes the challenge once,
// finds or creates the identity and its Magento customer and issues tokens.
// Errors: errs.RateLimited (429); CodeInvalidCode (401) for a wrong code;
// CodeChallengeGone (410) for an unknown, expired, used, replaced or locked
// challenge; CodeEmailUnconfirmed (403) when an email code would claim a
// Magento account that waits for its email confirmation; errs.Unavailable
// when Magento cannot create the customer.
func (s *Service) Verify(ctx context.Context, req VerifyRequest, meta Meta) (*Session, error) {
	if !ValidChallengeID(req.ChallengeID) {
		return nil, s.gone()
	}
	now := s.d.Now()
	var link *AccessClaims
	if req.LinkToken != "" {
		// Checked before the attempt is spent: a bad token costs no attempt.
		var err error
		if link, err = s.linkClaims(ctx, req.LinkToken, now); err != nil {
			return nil, err
		}
	}
	l := s.cfg.Limits
	ipLimit := Limit{Name: "verifies_per_ip", Subject: limitIP(meta.IP), Count: l.VerifiesPerIP.Count, Window: l.VerifiesPerIP.Window}
	destLimit := Limit{Name: "verifies_per_destination", Subject: ChallengeTag(req.ChallengeID), Count: l.VerifiesPerDest.Count, Window: l.VerifiesPerDest.Window}
	at, err := s.d.Store.Attempt(ctx, req.ChallengeID, ipLimit, destLimit, l.verifyFailures(req.ChallengeID), s.cfg.MaxAttempts, now)
	if err != nil {
		return nil, err
	}
	c := at.Challenge
	switch at.Status {
	case AttemptLimited:
		s.m.verifies.WithLabelValues("", "", "", "rate_limited").Inc()
		return nil, &errs.Error{Code: errs.RateLimited, RetryAfter: at.RetryAfter, Message: limitMessage("verify", at.RetryAfter)}
	case AttemptMissing:
		s.m.verifies.WithLabelValues("", "", "", "gone").Inc()
		return nil, s.gone()
	case AttemptLocked:
		// The last allowed attempt's wrong code recorded the lockout.
		s.m.verifies.WithLabelValues(string(c.Channel), c.Provider, c.Dest.Country, "locked").Inc()
		return nil, s.gone()
	}
	if link != nil && c.Dest.Kind != KindEmail {
		return nil, errs.E(errs.Invalid, "Only an email code can link a phone to an existing account.")
	}
	if !now.Before(c.ExpiresAt) {
		_ = s.d.Store.DeleteChallenge(ctx, c.ID)
		s.m.verifies.WithLabelValues(string(c.Channel), c.Provider, c.Dest.Country, "expired").Inc()
		return nil, s.gone()
	}
	// Both comparisons always run, so timing does not reveal which failed.
	codeOK := s.keys.Equal(c.KeyID, c.MAC, c.ID, req.Code)
	clientOK := c.ClientID == "" || c.ClientID == req.ClientID
	if !codeOK || !clientOK {
		left := s.cfg.MaxAttempts - c.Attempts
		s.m.verifies.WithLabelValues(string(c.Channel), c.Provider, c.Dest.Country, "invalid_code").Inc()
		typ := EventFailure
		if left <= 0 {
			// The store refuses further attempts; the challenge stays so a
			// right code still being compared can win.
			typ = EventLockout
		}
		s.audit(Event{At: now, Type: typ, Subject: c.Dest.Masked(), Channel: string(c.Channel), Country: c.Dest.Country,
			IP: meta.IP, ClientID: c.ClientID, RequestID: meta.RequestID, Detail: "attempt " + strconv.Itoa(c.Attempts)})
		msg := "The code is not correct. " + strconv.Itoa(left) + " attempts left."
		if left <= 0 {
			msg = "The code is not correct and no attempts are left. Ask for a new code."
		}
		return nil, &errs.Error{Code: CodeInvalidCode, Status: http.StatusUnauthorized, Message: msg}
	}
	won, err := s.d.Store.Consume(ctx, c, s.scopes(c.Dest), s.cfg.Breaker, now)
	if err != nil {
		return nil, err
	}
	if !won {
		s.m.verifies.WithLabelValues(string(c.Channel), c.Provider, c.Dest.Country, "gone").Inc()
		return nil, s.gone()
	}
	s.m.verifies.WithLabelValues(string(c.Channel), c.Provider, c.Dest.Country, "success").Inc()

	id, created, newCustomer := at.Identity, false, false
	if id == nil || id.Kind != c.Dest.Kind || id.Value != c.Dest.Value {
		if id, created, newCustomer, err = s.identity(ctx, c.Dest, now); err != nil {
			if errs.Is(err, CodeEmailUnconfirmed) {
				s.audit(Event{At: now, Type: EventClaimRefused, Subject: c.Dest.Masked(), Channel: string(c.Channel), Country: c.Dest.Country,
					IP: meta.IP, ClientID: c.ClientID, RequestID: meta.RequestID, Detail: "magento customer awaits email confirmation"})
			}
			return nil, err
		}
	}
	if link != nil {
		if err := s.linkPhone(ctx, link.IdentityID, id, meta, now); err != nil {
			return nil, err
		}
	}
	kind := "returning"
	if created {
		kind = "new"
	}
	s.m.logins.WithLabelValues(string(c.Channel), c.Dest.Country, kind).Inc()
	mtok := at.MagentoToken
	if at.Identity != id {
		// The cache held no login or another address's: the variants of a
		// mailbox share its tag, not their customers' Magento tokens.
		mtok = ""
	}
	if mtok == "" {
		// Cache what this login had to look up, for the next one.
		var until time.Time
		mtok, until = s.magentoToken(ctx, id, newCustomer)
		if err := s.d.Store.Remember(ctx, c.ID, id, mtok, until.Sub(now)); err != nil {
			s.log(ctx).Warn("login cache not written", zap.Error(err))
		}
	}
	sess, err := s.newSession(ctx, id, []string{"otp", string(c.Channel)}, mtok, now)
	if err != nil {
		return nil, err
	}
	sess.NewCustomer = created
	s.audit(Event{At: now, Type: EventVerify, Subject: c.Dest.Masked(), IdentityID: id.ID, Channel: string(c.Channel),
		Country: c.Dest.Country, IP: meta.IP, ClientID: c.ClientID, RequestID: meta.RequestID, Detail: kind})
	return sess, nil
}

// linkClaims returns the claims of a link token: an access token of a phone
// login made within LinkTokenMaxAge whose session is still going (not
// logged out, not revoked for reuse). Errors: errs.Unauthorized.
func (s *Service) linkClaims(ctx context.Context, token string, now time.Time) (*AccessClaims, error) {
	claims, err := s.d.Tokens.ParseAccess(token, now)
	if err != nil || !slices.ContainsFunc(claims.AMR, func(m string) bool { return m == string(SMS) || m == string(WhatsApp) || m == string(Voice) }) {
		return nil, &errs.Error{Code: errs.Unauthorized, Message: "The link token must be a current access token of a phone login.", Err: err}
	}
	if claims.IssuedAt.IsZero() || now.Sub(claims.IssuedAt) > LinkTokenMaxAge {
		return nil, &errs.Error{Code: errs.Unauthorized, Message: "The phone login is too old to link the phone: log in with the phone again " +
			"(a link needs a login from the last " + strconv.Itoa(int(LinkTokenMaxAge/time.Minute)) + " minutes), then verify the email code."}
	}
	if s.d.Sessions == nil {
		return nil, errs.E(errs.Internal, "no session check configured: phones cannot be linked")
	}
	active, err := s.d.Sessions.SessionActive(ctx, claims.SessionID, now)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, &errs.Error{Code: errs.Unauthorized, Message: "The phone login has ended (logged out or revoked): log in with the phone again, then verify the email code."}
	}
	return claims, nil
}

// linkPhone points the phone identity phoneID at the Magento customer of the
// email identity just proved by code, and drops the phone's cached login.
func (s *Service) linkPhone(ctx context.Context, phoneID int64, email *Identity, meta Meta, now time.Time) error {
	phone, err := s.d.Identities.Relink(ctx, phoneID, email.MagentoCustomerID, email.MagentoEmail)
	if err != nil {
		return err
	}
	if err := s.d.Store.Forget(ctx, fingerprint(s.fpKey, Destination{Kind: phone.Kind, Value: phone.Value})); err != nil {
		return err
	}
	s.audit(Event{At: now, Type: EventLink, Subject: maskIdentity(phone), IdentityID: phone.ID, IP: meta.IP, RequestID: meta.RequestID,
		Detail: "phone linked to the customer of " + logging.MaskEmail(email.Value) + " after its email code"})
	return nil
}

// magentoToken mints (or takes from the adapter's cache) the customer's
// Magento token; for a customer created by this login there is nothing to
// look up. It is a convenience: our tokens are valid without it, so a
// Magento outage leaves it out instead of failing the login.
func (s *Service) magentoToken(ctx context.Context, id *Identity, newCustomer bool) (string, time.Time) {
	get := s.d.Customers.CustomerToken
	if newCustomer {
		get = s.d.Customers.FirstToken
	}
	tok, until, err := get(ctx, id.MagentoCustomerID, id.MagentoEmail)
	if err != nil {
		// Only the code: Magento's message may echo the email, and a
		// placeholder email holds the phone number.
		s.log(ctx).Warn("magento customer token unavailable", zap.Int64("magento_customer_id", id.MagentoCustomerID),
			zap.String("error_code", errs.Code(err)), zap.Int("status", errs.Status(err)))
		return "", time.Time{}
	}
	return tok, until
}

func (s *Service) gone() error {
	return &errs.Error{Code: CodeChallengeGone, Status: http.StatusGone,
		Message: "This code has expired, was already used or was replaced. Ask for a new code."}
}

// identity finds the destination's identity or creates it with its Magento
// customer; created says the identity is new, newCustomer that its Magento
// customer is too. A phone is never matched to an existing customer (not
// even by an address phone): it gets a new customer with a placeholder
// email. An email proved by code may claim the existing customer with that
// email, unless that customer's account waits for its email confirmation
// (CodeEmailUnconfirmed): anyone may register any address on the
// storefront, and the claim would share the account with its registrant.
func (s *Service) identity(ctx context.Context, d Destination, now time.Time) (id *Identity, created, newCustomer bool, err error) {
	id, err = s.d.Identities.FindIdentity(ctx, d.Kind, d.Value)
	if err == nil {
		return id, false, false, nil
	}
	if !errs.Is(err, errs.NotFound) {
		return nil, false, false, err
	}
	id = &Identity{Kind: d.Kind, Value: d.Value, CreatedAt: now}
	if d.Kind == KindEmail {
		id.MagentoEmail = d.Value
		id.MagentoCustomerID, err = s.d.Customers.FindByEmail(ctx, d.Value)
		switch {
		case err == nil:
			var pending bool
			if pending, err = s.pendingConfirmation(ctx, id.MagentoCustomerID); err == nil && pending {
				return nil, false, false, &errs.Error{Code: CodeEmailUnconfirmed, Status: http.StatusForbidden,
					Message: "This email address belongs to a store account that was never confirmed, so it cannot be " +
						"opened with a code. Contact the store's customer service to claim it."}
			}
		case errs.Is(err, errs.NotFound):
			newCustomer = true
			id.MagentoCustomerID, err = s.d.Customers.Create(ctx, d.Value, s.cfg.Identity.FirstName, s.cfg.Identity.LastName)
		}
	} else {
		id.MagentoEmail, err = s.placeholderEmail(d)
		if err == nil {
			newCustomer = true
			id.MagentoCustomerID, err = s.d.Customers.Create(ctx, id.MagentoEmail, s.cfg.Identity.FirstName, s.cfg.Identity.LastName)
		}
	}
	if err != nil {
		return nil, false, false, errs.Wrap(errs.Unavailable, err, "Your code was accepted but the account could not be set up. Ask for a new code and try again shortly.")
	}
	err = s.d.Identities.CreateIdentity(ctx, id)
	if errs.Is(err, errs.Conflict) {
		// A concurrent first login linked the destination first.
		existing, ferr := s.d.Identities.FindIdentity(ctx, d.Kind, d.Value)
		if ferr != nil {
			return nil, false, false, ferr
		}
		s.log(ctx).Warn("concurrent first login: Magento customer left unlinked", zap.Int64("magento_customer_id", id.MagentoCustomerID))
		return existing, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	return id, true, newCustomer, nil
}

func (s *Service) pendingConfirmation(ctx context.Context, customerID int64) (bool, error) {
	if s.d.Confirmations == nil {
		return false, errs.E(errs.Internal, "no confirmation check configured: existing customers cannot be claimed")
	}
	return s.d.Confirmations.PendingConfirmation(ctx, customerID)
}

func (s *Service) placeholderEmail(d Destination) (string, error) {
	var b [6]byte
	if _, err := io.ReadFull(s.d.Rand, b[:]); err != nil {
		return "", err
	}
	random := strings.ToLower(base64.RawURLEncoding.EncodeToString(b[:]))
	random = strings.NewReplacer("-", "x", "_", "y").Replace(random)
	return strings.NewReplacer("{digits}", strings.TrimPrefix(d.Value, "+"), "{random}", random).Replace(s.cfg.Identity.PhoneEmailTemplate), nil
}

func (s *Service) newSession(ctx context.Context, id *Identity, amr []string, magentoToken string, now time.Time) (*Session, error) {
	family, err := randomID(s.d.Rand)
	if err != nil {
		return nil, err
	}
	rt, hash, err := s.d.Tokens.NewRefresh()
	if err != nil {
		return nil, err
	}
	t := RefreshToken{Hash: hash, FamilyID: family, IdentityID: id.ID, IssuedAt: now,
		ExpiresAt: now.Add(s.d.RefreshTTL), FamilyExpiresAt: now.Add(s.d.SessionMaxAge)}
	if err := s.d.Identities.IssueRefresh(ctx, t); err != nil {
		return nil, err
	}
	return s.finish(id, family, rt, amr, magentoToken, now)
}

func (s *Service) finish(id *Identity, family, refresh string, amr []string, magentoToken string, now time.Time) (*Session, error) {
	at, ttl, err := s.d.Tokens.Access(AccessClaims{Subject: strconv.FormatInt(id.MagentoCustomerID, 10), IdentityID: id.ID, SessionID: family, AMR: amr}, now)
	if err != nil {
		return nil, err
	}
	return &Session{AccessToken: at, ExpiresIn: ttl, RefreshToken: refresh, Identity: id, MagentoCustomerToken: magentoToken}, nil
}

// Refresh rotates a refresh token: the presented one is spent and a new pair
// is returned. Presenting a spent token again revokes its whole family.
// Errors: CodeInvalidRefresh, CodeRefreshReused (401).
func (s *Service) Refresh(ctx context.Context, token string, meta Meta) (*Session, error) {
	now := s.d.Now()
	hash, ok := s.d.Tokens.HashRefresh(token)
	if !ok {
		return nil, invalidRefresh()
	}
	rt, nextHash, err := s.d.Tokens.NewRefresh()
	if err != nil {
		return nil, err
	}
	next := RefreshToken{Hash: nextHash, IssuedAt: now, ExpiresAt: now.Add(s.d.RefreshTTL)}
	id, err := s.d.Identities.RotateRefresh(ctx, hash, &next, now)
	if errs.Is(err, CodeRefreshReused) {
		s.audit(Event{At: now, Type: EventReuse, Subject: logging.Fingerprint(token), IP: meta.IP, RequestID: meta.RequestID,
			Detail: "refresh token reused: family revoked"})
		s.log(ctx).Warn("refresh token reuse: family revoked", zap.String("token", logging.Fingerprint(token)))
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	s.audit(Event{At: now, Type: EventRefresh, Subject: maskIdentity(id), IdentityID: id.ID, IP: meta.IP, RequestID: meta.RequestID})
	mtok, _ := s.magentoToken(ctx, id, false)
	return s.finish(id, next.FamilyID, rt, []string{"otp", "refresh"}, mtok, now)
}

// Logout revokes the session (refresh token family) of token. Access tokens
// already issued stay valid until they expire (at most their short TTL).
func (s *Service) Logout(ctx context.Context, token string, meta Meta) error {
	now := s.d.Now()
	hash, ok := s.d.Tokens.HashRefresh(token)
	if !ok {
		return invalidRefresh()
	}
	idn, err := s.d.Identities.RevokeFamily(ctx, hash, "logout", now)
	if err != nil {
		return err
	}
	s.audit(Event{At: now, Type: EventRevoke, Subject: logging.Fingerprint(token), IdentityID: idn, IP: meta.IP, RequestID: meta.RequestID, Detail: "logout"})
	return nil
}

func invalidRefresh() error {
	return &errs.Error{Code: CodeInvalidRefresh, Status: http.StatusUnauthorized, Message: "The refresh token is not valid. Log in again."}
}

func maskIdentity(id *Identity) string {
	if id.Kind == KindEmail {
		return logging.MaskEmail(id.Value)
	}
	return logging.MaskPhone(id.Value)
}

func randomID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (s *Service) audit(e Event) {
	if s.d.Audit != nil {
		s.d.Audit.Record(e)
	}
}

func (s *Service) log(ctx context.Context) *zap.Logger { return logging.From(ctx, s.d.Log) }

// SandboxEnabled reports whether the sandbox message endpoint is served.
func (s *Service) SandboxEnabled() bool { return s.cfg.Sandbox }

func scopeKind(scope string) string {
	k, _, _ := strings.Cut(scope, ":")
	return k
}
