// Package accesstoken verifies otp-service's access tokens: ES256 or EdDSA
// (Ed25519) JWTs whose keys are published as a JWKS (otp-service's
// /.well-known/jwks.json): P-256 keys as kty "EC", Ed25519 keys as kty "OKP"
// (RFC 8037). A token verifies only with the algorithm of its kid's key type.
//
// Keys are cached by kid; an unknown kid refreshes the set (at most once per
// MinRefresh), so key rotation needs no restart. The cached set is replaced
// by a fresh one once it is older than MaxAge (fetched in the background
// while the stale set keeps verifying), so a key withdrawn from the JWKS (a
// compromised one) stops verifying shortly after MaxAge; while the JWKS
// cannot be fetched the cached keys keep verifying. A Verifier is safe for
// concurrent use. Verify returns errs.Unauthorized for any bad token and
// errs.Unavailable when the key set cannot be fetched.
package accesstoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	MaxAge     time.Duration // the cached set is fetched again after this
	HTTP       *http.Client
	Now        func() time.Time

	mu         sync.Mutex
	keys       map[string]publicKey
	fetched    time.Time
	refreshing bool // a background fetch of a stale set is running
}

// publicKey is a JWKS key and the one algorithm it verifies.
type publicKey struct {
	alg string           // ES256 or EdDSA
	key crypto.PublicKey // *ecdsa.PublicKey or ed25519.PublicKey, as jwt's Verify wants
}

// New returns a Verifier for the JWKS at url.
func New(url, issuer, audience string) *Verifier {
	return &Verifier{URL: url, Issuer: issuer, Audience: audience, MinRefresh: 30 * time.Second, MaxAge: 5 * time.Minute,
		HTTP: &http.Client{Timeout: 5 * time.Second}, Now: time.Now}
}

type claims struct {
	jwt.RegisteredClaims
	MagentoCustomerID json.RawMessage `json:"magento_customer_id,omitempty"`
}

// Verify checks the token's signature (by the JWKS key its kid names, with
// that key's algorithm only), expiry, issuer and audience.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	var c claims
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"ES256", "EdDSA"}), jwt.WithTimeFunc(v.Now), jwt.WithExpirationRequired()}
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
		if err != nil {
			keyErr = err
			return nil, err
		}
		if t.Method.Alg() != k.alg {
			return nil, fmt.Errorf("kid %q verifies %s, not %s", kid, k.alg, t.Method.Alg())
		}
		return k.key, nil
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

func (v *Verifier) key(ctx context.Context, kid string) (publicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	age := v.Now().Sub(v.fetched)
	cached, ok := v.keys[kid]
	if ok && (v.MaxAge <= 0 || age < v.MaxAge) {
		return cached, nil
	}
	if ok {
		// A stale set: fetch it again in the background (at most once per
		// MinRefresh) and keep verifying with it meanwhile, so requests
		// never wait on the JWKS, nor stall while otp-service is down.
		if !v.refreshing && age >= v.MinRefresh {
			v.refreshing = true
			go v.refresh()
		}
		return cached, nil
	}
	if !v.fetched.IsZero() && age < v.MinRefresh {
		return publicKey{}, errs.E(errs.Unauthorized, "Unknown signing key %q.", kid)
	}
	keys, err := v.fetch(ctx)
	v.fetched = v.Now()
	if err != nil {
		return publicKey{}, errs.Wrap(errs.Unavailable, err, "The token keys are unavailable.")
	}
	v.keys = keys
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return publicKey{}, errs.E(errs.Unauthorized, "Unknown signing key %q.", kid)
}

// refresh replaces a stale key set; while the JWKS cannot be fetched the
// stale set stays.
func (v *Verifier) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), v.HTTP.Timeout+time.Second)
	defer cancel()
	keys, err := v.fetch(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refreshing = false
	v.fetched = v.Now()
	if err == nil {
		v.keys = keys
	}
}

type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	} `json:"keys"`
}

func (v *Verifier) fetch(ctx context.Context) (map[string]publicKey, error) {
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
	out := map[string]publicKey{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			continue
		}
		switch {
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			y, err := base64.RawURLEncoding.DecodeString(k.Y)
			if err != nil || len(x) != 32 || len(y) != 32 {
				continue
			}
			// Refuses points that are not on the curve.
			pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			out[k.Kid] = publicKey{alg: "ES256", key: pk}
		case k.Kty == "OKP" && k.Crv == "Ed25519" && (k.Alg == "" || k.Alg == "EdDSA"):
			if len(x) != ed25519.PublicKeySize {
				continue
			}
			out[k.Kid] = publicKey{alg: "EdDSA", key: ed25519.PublicKey(x)}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no usable ES256 (EC P-256) or EdDSA (OKP Ed25519) signing keys")
	}
	return out, nil
}
