package otp

import (
	"context"
	"time"
)

// Challenge is one code sent to one destination for one client. Only the
// keyed hash of its code is kept.
type Challenge struct {
	ID        string
	KeyID     string
	MAC       []byte
	Dest      Destination
	Channel   Channel
	ClientID  string
	Locale    string
	ExpiresAt time.Time
	// Attempts counts verifies, including the one being made.
	Attempts int
	// Provider sent the code (for metrics).
	Provider string
}

// Limit allows Count events per Window for one subject (an IP, a device, a
// country...). Name identifies the limit in errors, keys and metrics.
type Limit struct {
	Name    string
	Subject string
	Count   int
	Window  time.Duration
	// PerDestination limits are keyed by the destination's tag (their
	// subject) and checked atomically with the challenge's save.
	PerDestination bool
}

// Gate is what a start must pass: limits to count and breaker scopes
// ("cc:IN", "px:+9198") that must not be paused.
type Gate struct {
	Limits  []Limit
	Scopes  []string
	Breaker Breaker
	Now     time.Time
	// Failures is the destination's wrong-code cap: while it is spent a
	// start is refused (it is checked, not counted), as no code sent could
	// be verified.
	Failures Limit
}

// GateResult reports the first limit exceeded (with how long to wait), a
// paused scope, and scopes whose breaker tripped during this check.
type GateResult struct {
	Limited    *Limit
	RetryAfter time.Duration
	Paused     string
	PausedFor  time.Duration
	Tripped    []string
}

// AttemptStatus is the outcome of counting a verify attempt.
type AttemptStatus int

// Attempt outcomes.
const (
	AttemptOK      AttemptStatus = iota // counted; compare the code
	AttemptMissing                      // unknown, expired, used or replaced by a resend
	AttemptLocked                       // the first attempt past MaxAttempts: nothing more is compared
	AttemptLimited                      // a verify limit (the IP's or the destination's) is exceeded
)

// AttemptResult is what counting a verify attempt found.
type AttemptResult struct {
	Status     AttemptStatus
	RetryAfter time.Duration // when Status is AttemptLimited
	Challenge  *Challenge    // when Status is AttemptOK or AttemptLocked
	// Identity and MagentoToken are the destination's cached login data,
	// read in the same round trip; nil and "" when not cached.
	Identity     *Identity
	MagentoToken string
}

// Store keeps challenges, limits, breaker windows and a cache of login data.
// It is implemented over Redis by otpstore.Redis and shared by every
// instance.
type Store interface {
	// Start counts one start against the shared limits of g and checks g's
	// breaker scopes, recording a send for them; when both allow it, it
	// counts the start against the per-destination limits and stores c
	// (replacing, and so invalidating, the destination's previous challenge)
	// unless one of those refuses. A start refused by a shared limit or the
	// breaker leaves the destination's challenge and limits untouched; a
	// refused start's send count is undone; the result says why.
	Start(ctx context.Context, g Gate, c *Challenge) (GateResult, error)
	// DeleteChallenge removes the challenge id if it is still there.
	DeleteChallenge(ctx context.Context, id string) error
	// SetProvider records which provider sent the challenge's code.
	SetProvider(ctx context.Context, id, provider string) error
	// AbortStart removes a challenge whose code could not be sent, and
	// the resend gap it opened, so the caller may try again at once.
	AbortStart(ctx context.Context, id string) error
	// Attempt counts one verify against the ip limit, the destination's
	// verify limit and the challenge's attempts, atomically and before any
	// comparison, and returns the challenge with the destination's cached
	// login data. A verify of an id that is not the destination's current
	// challenge counts against the ip limit only. A verify whose code will
	// be compared (not of an expired challenge) also counts against the
	// destination's failures limit, which refuses verifies once spent:
	// counted before the comparison, it counts wrong codes because Consume,
	// which follows a right one, resets it.
	Attempt(ctx context.Context, id string, ip, dest, failures Limit, maxAttempts int, now time.Time) (*AttemptResult, error)
	// Consume deletes the challenge if it is still there; exactly one caller
	// gets true, and resets the destination's failures count. It records a
	// verification for the breaker scopes.
	Consume(ctx context.Context, c *Challenge, scopes []string, b Breaker, now time.Time) (bool, error)
	// Forget drops the cached login data of the destination with tag.
	Forget(ctx context.Context, tag string) error
	// Remember caches a destination's identity and (when not empty) its
	// Magento customer token for tokenTTL, keyed by the challenge's
	// destination tag.
	Remember(ctx context.Context, challengeID string, id *Identity, magentoToken string, tokenTTL time.Duration) error
}

// Message is what a Sender delivers.
type Message struct {
	To      string // E.164 or email
	Channel Channel
	Country string
	Locale  string
	Subject string // email only
	Body    string
	// Code is given to providers that build their own text (MSG91's DLT
	// templates, Twilio Verify); others send Body.
	Code string
}

// Sender delivers a message through one of its providers, failing over to
// the next; it returns the name of the provider that accepted it.
type Sender interface {
	Send(ctx context.Context, m Message) (provider string, err error)
	// Primary names the provider Send tries first for m.
	Primary(m Message) string
}

// Identity links a verified phone or email to a Magento customer.
type Identity struct {
	ID                int64
	Kind              string
	Value             string
	MagentoCustomerID int64
	MagentoEmail      string
	CreatedAt         time.Time
}

// RefreshToken is the stored form of a refresh token: its SHA-256 hash, the
// family (session) it belongs to and when it stops working.
type RefreshToken struct {
	Hash       []byte
	FamilyID   string
	IdentityID int64
	IssuedAt   time.Time
	ExpiresAt  time.Time
	// FamilyExpiresAt bounds the whole session however often it rotates.
	FamilyExpiresAt time.Time
}

// Identities stores identities and refresh tokens (MySQL).
type Identities interface {
	// FindIdentity returns the identity of a destination, or errs.NotFound.
	FindIdentity(ctx context.Context, kind, value string) (*Identity, error)
	// CreateIdentity inserts id and sets its ID; errs.Conflict when the
	// destination is already linked.
	CreateIdentity(ctx context.Context, id *Identity) error
	// IssueRefresh stores a new family's first token.
	IssueRefresh(ctx context.Context, t RefreshToken) error
	// RotateRefresh marks the token with oldHash used and stores next in its
	// family (setting next's FamilyID, IdentityID and FamilyExpiresAt),
	// returning the identity. A token used before revokes its whole
	// family and returns CodeRefreshReused; an unknown, expired or revoked
	// one returns CodeInvalidRefresh.
	RotateRefresh(ctx context.Context, oldHash []byte, next *RefreshToken, now time.Time) (*Identity, error)
	// RevokeFamily revokes the family of the token with hash; it returns the
	// identity id, or CodeInvalidRefresh for an unknown token.
	RevokeFamily(ctx context.Context, hash []byte, reason string, now time.Time) (int64, error)
	// Relink points the phone identity id at another Magento customer and
	// returns it; errs.NotFound when there is no such phone identity.
	Relink(ctx context.Context, identityID, magentoCustomerID int64, magentoEmail string) (*Identity, error)
}

// Customers is the part of Magento the service needs.
type Customers interface {
	// FindByEmail returns the id of the customer with email, or errs.NotFound.
	FindByEmail(ctx context.Context, email string) (int64, error)
	// Create creates a customer that allows remote shopping assistance (so a
	// token can be minted for them) and returns its id.
	Create(ctx context.Context, email, firstName, lastName string) (int64, error)
	// CustomerToken returns a customer token (cached until shortly before
	// it expires) and until when it may be used.
	CustomerToken(ctx context.Context, customerID int64, email string) (token string, useUntil time.Time, err error)
	// FirstToken is CustomerToken for a customer Create made moments ago,
	// for whom nothing can be cached yet: it mints and caches a token
	// without looking in the cache first.
	FirstToken(ctx context.Context, customerID int64, email string) (token string, useUntil time.Time, err error)
}

// Confirmations tells whether a Magento customer's account still waits for
// its email confirmation (customer/create_account/confirm): Magento then
// holds a confirmation key for it.
type Confirmations interface {
	// PendingConfirmation reports whether the customer has yet to confirm
	// their email address.
	PendingConfirmation(ctx context.Context, customerID int64) (bool, error)
}

// Sessions tells whether a login session (a refresh token family) is still
// going.
type Sessions interface {
	// SessionActive reports whether the family exists, has not been revoked
	// (by a logout or a detected reuse) and has not reached its maximum age
	// at now.
	SessionActive(ctx context.Context, familyID string, now time.Time) (bool, error)
}

// AccessClaims is what an access token says.
type AccessClaims struct {
	Subject    string   // the Magento customer id
	IdentityID int64    // our identity
	SessionID  string   // refresh token family
	AMR        []string // authentication methods: otp, sms / email / ...
	// IssuedAt is when the token was signed (its iat); set by ParseAccess.
	IssuedAt time.Time
}

// Tokens signs access tokens and makes refresh tokens.
type Tokens interface {
	// Access returns a signed access token and its lifetime.
	Access(c AccessClaims, now time.Time) (token string, ttl time.Duration, err error)
	// NewRefresh returns an opaque refresh token and its SHA-256 hash.
	NewRefresh() (token string, hash []byte, err error)
	// HashRefresh returns the hash of a presented refresh token, or false if
	// it does not have the right shape.
	HashRefresh(token string) ([]byte, bool)
	// ParseAccess verifies an access token issued here and returns its
	// claims.
	ParseAccess(token string, now time.Time) (*AccessClaims, error)
}

// Event is one line of the audit log.
type Event struct {
	At         time.Time
	Type       string // start, verify, failure, lockout, refresh, reuse, revoke
	Subject    string // masked phone or email
	IdentityID int64
	Channel    string
	Country    string
	IP         string
	ClientID   string
	RequestID  string
	Detail     string
}

// Audit event types.
const (
	EventStart   = "start"
	EventVerify  = "verify"
	EventFailure = "failure"
	EventLockout = "lockout"
	EventRefresh = "refresh"
	EventReuse   = "refresh_reuse"
	EventRevoke  = "revoke"
	EventBreaker = "breaker_trip"
	EventLink    = "link"
	// EventClaimRefused: an email code did not claim an existing Magento
	// customer (its account waits for email confirmation).
	EventClaimRefused = "claim_refused"
)

// Auditor records events without blocking the request.
type Auditor interface {
	Record(e Event)
}
