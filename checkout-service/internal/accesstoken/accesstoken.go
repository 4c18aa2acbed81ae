// Package accesstoken verifies otp-service's access tokens: ES256 JWTs whose
// keys are published as a JWKS (otp-service's /.well-known/jwks.json).
//
// Keys are cached by kid; an unknown kid refreshes the set (at most once per
// MinRefresh), so key rotation needs no restart. A Verifier is safe for
// concurrent use. Verify returns errs.Unauthorized for any bad token and
// errs.Unavailable when the key set cannot be fetched.
package accesstoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/internal/errs"
)

// Claims are what checkout uses from an access token.
type Claims struct {
	Subject string
	// MagentoCustomerID is the claim "magento_customer_id" when present.
	MagentoCustomerID int64
	ExpiresAt         time.Time
}

// Verifier checks access tokens against a JWKS URL.
type Verifier struct {
	URL        string
	Issuer     string // checked when set
	Audience   string // checked when set
	MinRefresh time.Duration
	HTTP       *http.Client
	Now        func() time.Time

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

// New returns a Verifier for the JWKS at url.
func New(url, issuer, audience string) *Verifier {
	return &Verifier{URL: url, Issuer: issuer, Audience: audience, MinRefresh: 30 * time.Second,
		HTTP: &http.Client{Timeout: 5 * time.Second}, Now: time.Now}
}

type claims struct {
	jwt.RegisteredClaims
	MagentoCustomerID json.RawMessage `json:"magento_customer_id,omitempty"`
}

// Verify checks the token's signature, expiry, issuer and audience.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	var c claims
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(v.Now), jwt.WithExpirationRequired()}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	var keyErr error
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := v.key(ctx, kid)
		keyErr = err
		return k, err
	}, opts...)
	if keyErr != nil && errs.Is(keyErr, errs.Unavailable) {
		return Claims{}, keyErr
	}
	if err != nil {
		return Claims{}, errs.Wrap(errs.Unauthorized, err, "The access token is not valid.")
	}
	out := Claims{Subject: c.Subject}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	if len(c.MagentoCustomerID) > 0 {
		var s string
		if json.Unmarshal(c.MagentoCustomerID, &s) != nil {
			s = string(c.MagentoCustomerID)
		}
		out.MagentoCustomerID, _ = strconv.ParseInt(s, 10, 64)
	}
	if out.Subject == "" {
		return Claims{}, errs.E(errs.Unauthorized, "The access token has no subject.")
	}
	return out, nil
}

func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if !v.fetched.IsZero() && v.Now().Sub(v.fetched) < v.MinRefresh {
		return nil, errs.E(errs.Unauthorized, "Unknown signing key %q.", kid)
	}
	keys, err := v.fetch(ctx)
	v.fetched = v.Now()
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "The token keys are unavailable.")
	}
	v.keys = keys
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, errs.E(errs.Unauthorized, "Unknown signing key %q.", kid)
}

type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Use string `json:"use"`
	} `json:"keys"`
}

func (v *Verifier) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	var set jwks
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			continue
		}
		pk := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !pk.Curve.IsOnCurve(pk.X, pk.Y) { //nolint:staticcheck // validating untrusted input
			continue
		}
		out[k.Kid] = pk
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no usable P-256 signing keys")
	}
	return out, nil
}

// JWK returns the public JWK of key, for tests and sandboxes.
func JWK(kid string, key *ecdsa.PublicKey) map[string]string {
	b := make([]byte, 32)
	return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(key.X.FillBytes(b)),
		"y": base64.RawURLEncoding.EncodeToString(key.Y.FillBytes(make([]byte, 32)))}
}
