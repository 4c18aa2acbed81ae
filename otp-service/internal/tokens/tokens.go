// Package tokens signs access tokens (ES256 JWTs with a kid), publishes the
// public keys as a JWKS, and makes opaque refresh tokens.
//
// Rotation without downtime: configure the new key beside the old one (both
// are published in the JWKS), wait for verifiers' JWKS caches to refresh,
// make it active, and remove the old key once the last token it signed has
// expired. A Issuer is safe for concurrent use.
package tokens

import (
	"crypto/ecdsa"
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
	// SigningKeys maps a key id to a PEM ECDSA P-256 private key (SEC 1 or
	// PKCS #8). Every key is published in the JWKS.
	SigningKeys map[string]config.Secret `mapstructure:"signing_keys" desc:"map of key id (kid) to a PEM ECDSA P-256 private key (SEC 1 or PKCS 8); every key is published in the JWKS"`
	// ActiveKey names the key that signs new tokens.
	ActiveKey string `mapstructure:"active_key" desc:"id of the signing_keys entry that signs new access tokens"`
	// GenerateDevKey makes an ephemeral key when none is configured; only
	// allowed in env development (instances would not share it).
	GenerateDevKey bool `mapstructure:"generate_dev_key" desc:"generate an ephemeral signing key at start when signing_keys is empty; only allowed with env development"`
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
		p.Add("signing_keys", "must hold at least one kid: PEM P-256 private key (or set generate_dev_key in development)")
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

// ParseKey parses a PEM P-256 private key.
func ParseKey(s string) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return checkCurve(k)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, errors.New("not an EC private key")
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return checkCurve(ek)
}

func checkCurve(k *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if k.Curve != elliptic.P256() {
		return nil, errors.New("ES256 needs a P-256 key")
	}
	return k, nil
}

// GenerateKeyPEM returns a new P-256 key in PEM (for development and tests).
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

// Issuer signs and verifies access tokens and makes refresh tokens.
type Issuer struct {
	cfg    Config
	active string
	keys   map[string]*ecdsa.PrivateKey
	jwks   []byte
}

var _ otp.Tokens = (*Issuer)(nil)

// New returns an Issuer for cfg.
func New(cfg Config) (*Issuer, error) {
	is := &Issuer{cfg: cfg, active: cfg.ActiveKey, keys: map[string]*ecdsa.PrivateKey{}}
	for kid, pemKey := range cfg.SigningKeys {
		k, err := ParseKey(pemKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", kid, err)
		}
		is.keys[kid] = k
	}
	if len(is.keys) == 0 {
		if !cfg.GenerateDevKey {
			return nil, errors.New("no signing keys")
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		is.active = "dev-" + strconv.FormatInt(time.Now().Unix(), 36)
		is.keys[is.active] = k
	}
	jwks, err := is.buildJWKS()
	if err != nil {
		return nil, err
	}
	is.jwks = jwks
	return is, nil
}

// JWK is one public key of the JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func (is *Issuer) buildJWKS() ([]byte, error) {
	kids := make([]string, 0, len(is.keys))
	for kid := range is.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	set := struct {
		Keys []JWK `json:"keys"`
	}{}
	for _, kid := range kids {
		k := is.keys[kid]
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return nil, err
		}
		raw := pub.Bytes() // 0x04 || X || Y
		set.Keys = append(set.Keys, JWK{Kty: "EC", Crv: "P-256", Kid: kid, Use: "sig", Alg: "ES256",
			X: base64.RawURLEncoding.EncodeToString(raw[1:33]), Y: base64.RawURLEncoding.EncodeToString(raw[33:65])})
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
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = is.active
	s, err := t.SignedString(is.keys[is.active])
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	return s, is.cfg.AccessTTL, nil
}

// Parse verifies an access token against the configured keys (by kid),
// issuer, audience and lifetime at now.
func (is *Issuer) Parse(token string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := is.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return &k.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(is.cfg.Issuer), jwt.WithAudience(is.cfg.Audience[0]),
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
	return &otp.AccessClaims{Subject: c.Subject, IdentityID: c.IdentityID, SessionID: c.SessionID, AMR: c.AMR}, nil
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
