// Package tokens signs access tokens (JWTs with a kid), publishes the public
// keys as a JWKS, and makes opaque refresh tokens.
//
// A signing key's type picks its algorithm: an ECDSA P-256 key signs ES256,
// an Ed25519 key signs EdDSA (RFC 8037; published as an OKP JWK). A key set
// may mix both, so moving from one algorithm to the other is an ordinary
// rotation.
//
// Rotation without downtime: configure the new key beside the old one (both
// are published in the JWKS), wait for verifiers' JWKS caches to refresh,
// make it active, and remove the old key once the last token it signed has
// expired. An Issuer is safe for concurrent use.
package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/jwk"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Config is the "tokens" section of otp-service's configuration.
type Config struct {
	Issuer   string   `mapstructure:"issuer" desc:"issuer (iss claim) of the access tokens this service signs"`
	Audience []string `mapstructure:"audience" desc:"audiences (aud claim) put in access tokens; at least one"`
	// AccessTTL is an access token's lifetime, at most 15 minutes.
	AccessTTL time.Duration `mapstructure:"access_ttl" desc:"lifetime of an access token (JWT), 1m to 15m"`
	// RefreshTTL is a refresh token's lifetime; each rotation starts a new
	// one, but never beyond SessionMaxAge from the login.
	RefreshTTL    time.Duration `mapstructure:"refresh_ttl" desc:"lifetime of a refresh token; each rotation issues a new one, never beyond session_max_age; at least 1h"`
	SessionMaxAge time.Duration `mapstructure:"session_max_age" desc:"maximum age of a login session: refresh tokens stop working this long after the login"`
	// SigningKeys maps a key id to a PEM private key: ECDSA P-256 (SEC 1 or
	// PKCS #8), which signs ES256, or Ed25519 (PKCS #8), which signs EdDSA.
	// Every key is published in the JWKS.
	SigningKeys map[string]config.Secret `mapstructure:"signing_keys" desc:"map of key id (kid) to a PEM private key: ECDSA P-256 (SEC 1 or PKCS 8) signs ES256, Ed25519 (PKCS 8) signs EdDSA; every key is published in the JWKS"`
	// ActiveKey names the key that signs new tokens.
	ActiveKey string `mapstructure:"active_key" desc:"id of the signing_keys entry that signs new access tokens"`
	// GenerateDevKey makes an ephemeral Ed25519 key when none is configured;
	// only allowed in env development (instances would not share it).
	GenerateDevKey bool `mapstructure:"generate_dev_key" desc:"generate an ephemeral Ed25519 (EdDSA) signing key at start when signing_keys is empty; only allowed with env development"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Issuer: "https://secure.shop.example/auth", Audience: []string{"magefleet"},
		AccessTTL: 10 * time.Minute, RefreshTTL: 30 * 24 * time.Hour, SessionMaxAge: 90 * 24 * time.Hour,
	}
}

// Validate reports bad keys.
func (c Config) Validate() error {
	var p config.Problems
	if c.Issuer == "" {
		p.Add("issuer", "must be set")
	}
	if len(c.Audience) == 0 {
		p.Add("audience", "must list at least one audience")
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 15*time.Minute {
		p.Add("access_ttl", "must be between 1m and 15m, got %s", c.AccessTTL)
	}
	if c.RefreshTTL < time.Hour || c.RefreshTTL > c.SessionMaxAge {
		p.Add("refresh_ttl", "must be at least 1h and at most session_max_age")
	}
	if len(c.SigningKeys) == 0 && !c.GenerateDevKey {
		p.Add("signing_keys", "must hold at least one kid: PEM P-256 or Ed25519 private key (or set generate_dev_key in development)")
	}
	for kid, k := range c.SigningKeys {
		if _, err := ParseKey(k.Reveal()); err != nil {
			p.Add("signing_keys", "%s: %v", kid, err)
		}
	}
	if len(c.SigningKeys) > 0 {
		if _, ok := c.SigningKeys[c.ActiveKey]; !ok {
			p.Add("active_key", "must name one of signing_keys, got %q", c.ActiveKey)
		}
	}
	return p.Err()
}

// ParseKey parses a PEM private key: an ECDSA P-256 key (SEC 1 "EC PRIVATE
// KEY" or PKCS #8), which signs ES256, or an Ed25519 key (PKCS #8), which
// signs EdDSA. It returns an *ecdsa.PrivateKey or an ed25519.PrivateKey.
func ParseKey(s string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return checkCurve(k)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, errors.New("not a P-256 (SEC 1 or PKCS 8) or Ed25519 (PKCS 8) private key")
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return checkCurve(k)
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("a %T cannot sign: want ECDSA P-256 or Ed25519", k)
	}
}

func checkCurve(k *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if k.Curve != elliptic.P256() {
		return nil, errors.New("ES256 needs a P-256 key")
	}
	return k, nil
}

// GenerateKeyPEM returns a new P-256 (ES256) key in PEM (for development and
// tests).
func GenerateKeyPEM() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
}

// GenerateEd25519KeyPEM returns a new Ed25519 (EdDSA) key in PKCS #8 PEM
// (for development and tests).
func GenerateEd25519KeyPEM() (string, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// signingKey is a parsed key with the method its type implies.
type signingKey struct {
	method jwt.SigningMethod
	priv   crypto.Signer
	pub    crypto.PublicKey // *ecdsa.PublicKey or ed25519.PublicKey, as jwt's Verify wants
}

func newSigningKey(priv crypto.Signer) (signingKey, error) {
	switch priv.(type) {
	case *ecdsa.PrivateKey:
		return signingKey{method: jwt.SigningMethodES256, priv: priv, pub: priv.Public()}, nil
	case ed25519.PrivateKey:
		return signingKey{method: jwt.SigningMethodEdDSA, priv: priv, pub: priv.Public()}, nil
	}
	return signingKey{}, fmt.Errorf("a %T cannot sign: want ECDSA P-256 or Ed25519", priv)
}

// Issuer signs and verifies access tokens and makes refresh tokens.
type Issuer struct {
	cfg    Config
	active string
	keys   map[string]signingKey
	jwks   []byte
}

var _ otp.Tokens = (*Issuer)(nil)

// New returns an Issuer for cfg.
func New(cfg Config) (*Issuer, error) {
	is := &Issuer{cfg: cfg, active: cfg.ActiveKey, keys: map[string]signingKey{}}
	for kid, pemKey := range cfg.SigningKeys {
		k, err := ParseKey(pemKey.Reveal())
		if err == nil {
			is.keys[kid], err = newSigningKey(k)
		}
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", kid, err)
		}
	}
	if len(is.keys) == 0 {
		if !cfg.GenerateDevKey {
			return nil, errors.New("no signing keys")
		}
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate development key: %w", err)
		}
		is.active = "dev-" + strconv.FormatInt(time.Now().Unix(), 36)
		if is.keys[is.active], err = newSigningKey(k); err != nil {
			return nil, err
		}
	}
	if _, ok := is.keys[is.active]; !ok {
		return nil, fmt.Errorf("active key %q is not among the signing keys", is.active)
	}
	jwks, err := is.buildJWKS()
	if err != nil {
		return nil, err
	}
	is.jwks = jwks
	return is, nil
}

func (is *Issuer) buildJWKS() ([]byte, error) {
	kids := make([]string, 0, len(is.keys))
	for kid := range is.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	set := struct {
		Keys []jwk.Key `json:"keys"`
	}{}
	for _, kid := range kids {
		k, err := jwk.Public(kid, is.keys[kid].pub)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", kid, err)
		}
		set.Keys = append(set.Keys, k)
	}
	return json.Marshal(set)
}

// JWKS returns the JSON Web Key Set of every configured key.
func (is *Issuer) JWKS() []byte { return is.jwks }

// ActiveKeyID returns the kid of new tokens.
func (is *Issuer) ActiveKeyID() string { return is.active }

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	// MagentoCustomerID repeats the subject as a number for verifiers that
	// read it by name (checkout-service).
	MagentoCustomerID int64    `json:"magento_customer_id"`
	IdentityID        int64    `json:"idn"`
	SessionID         string   `json:"sid"`
	AMR               []string `json:"amr"`
}

// Access implements otp.Tokens.
func (is *Issuer) Access(c otp.AccessClaims, now time.Time) (string, time.Duration, error) {
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", 0, err
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: is.cfg.Issuer, Subject: c.Subject, Audience: is.cfg.Audience,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(is.cfg.AccessTTL)), ID: base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		IdentityID: c.IdentityID, SessionID: c.SessionID, AMR: c.AMR,
	}
	claims.MagentoCustomerID, _ = strconv.ParseInt(c.Subject, 10, 64)
	k := is.keys[is.active]
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = is.active
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	return s, is.cfg.AccessTTL, nil
}

// Parse verifies an access token against the configured keys (by kid),
// issuer, audience and lifetime at now. The token's alg must be the one its
// kid's key signs (ES256 or EdDSA).
func (is *Issuer) Parse(token string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := is.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if t.Method.Alg() != k.method.Alg() {
			return nil, fmt.Errorf("kid %q signs %s, not %s", kid, k.method.Alg(), t.Method.Alg())
		}
		return k.pub, nil
	}, jwt.WithValidMethods([]string{"ES256", "EdDSA"}), jwt.WithIssuer(is.cfg.Issuer), jwt.WithAudience(is.cfg.Audience[0]),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseAccess implements otp.Tokens.
func (is *Issuer) ParseAccess(token string, now time.Time) (*otp.AccessClaims, error) {
	c, err := is.Parse(token, now)
	if err != nil {
		return nil, err
	}
	out := &otp.AccessClaims{Subject: c.Subject, IdentityID: c.IdentityID, SessionID: c.SessionID, AMR: c.AMR}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
}

const refreshPrefix = "rt_"

// NewRefresh implements otp.Tokens: 32 random bytes, stored as SHA-256.
func (is *Issuer) NewRefresh() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	tok := refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	return tok, h[:], nil
}

// HashRefresh implements otp.Tokens.
func (is *Issuer) HashRefresh(tok string) ([]byte, bool) {
	if !strings.HasPrefix(tok, refreshPrefix) || len(tok) != len(refreshPrefix)+43 {
		return nil, false
	}
	h := sha256.Sum256([]byte(tok))
	return h[:], true
}
