package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/errs"
)

// pageState is what the pages keep of a session beside the checkout domain's
// own session: the browser it is bound to, the form token, the payment
// attempt in progress and one-shot messages for the next page (PRG).
type pageState struct {
	// BrowserHash is the hex SHA-256 of the browser cookie's secret.
	BrowserHash string `json:"browser_hash"`
	// CSRF is the synchronizer token every form post must echo.
	CSRF string `json:"csrf"`
	// AttemptKey is the Idempotency-Key of the payment form on the page; a
	// double submit reuses it, a new attempt after a decline gets a new one.
	AttemptKey string `json:"attempt_key"`
	// Subject is the otp-service identity logged in on this session, if any.
	Subject string `json:"subject,omitempty"`
	// PaymentID is the last payment made on this session.
	PaymentID string `json:"payment_id,omitempty"`
	// SeenTotals are the totals the payment page last showed; a payment is
	// only sent when Magento's totals still equal them.
	SeenTotals *checkout.Totals `json:"seen_totals,omitempty"`
	// Flash is shown once on the next page.
	Flash *flash `json:"flash,omitempty"`
}

// flash carries a redirected post's outcome to the page it lands on.
type flash struct {
	Notice string            `json:"notice,omitempty"` // a status message
	Error  string            `json:"error,omitempty"`  // a problem to fix
	Fields map[string]string `json:"fields,omitempty"` // field → message
	Form   map[string]string `json:"form,omitempty"`   // values to show again
	// Changed says Magento's totals changed: the summary opens on phones.
	Changed bool `json:"changed,omitempty"`
}

// states keeps page states in Redis. Errors: errs.NotFound for none,
// errs.Unavailable when Redis fails.
type states struct {
	rdb  redis.UniversalClient
	keys cache.Keys
}

func (s states) load(ctx context.Context, sessionID string) (*pageState, error) {
	b, err := s.rdb.Get(ctx, s.keys.Key("web", sessionID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errs.E(errs.NotFound, "This checkout is not open in this browser.")
	}
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "The checkout is briefly unavailable. Please try again.")
	}
	var st pageState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "page state")
	}
	return &st, nil
}

func (s states) save(ctx context.Context, sessionID string, st *pageState, ttl time.Duration) error {
	if ttl < time.Minute {
		ttl = time.Minute
	}
	b, err := json.Marshal(st)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "page state")
	}
	if err := s.rdb.Set(ctx, s.keys.Key("web", sessionID), b, ttl).Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "The checkout is briefly unavailable. Please try again.")
	}
	return nil
}

// token returns n random bytes, base64url-encoded.
func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte("checkout-browser:" + secret))
	return hex.EncodeToString(h[:])
}

// equal compares secrets in constant time.
func equal(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
