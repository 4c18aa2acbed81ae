package tokens

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

func keyConfig(t *testing.T, active string, kids ...string) Config {
	t.Helper()
	c := DefaultConfig()
	c.SigningKeys = map[string]config.Secret{}
	for _, kid := range kids {
		k, err := GenerateKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		c.SigningKeys[kid] = config.Secret(k)
	}
	c.ActiveKey = active
	return c
}

// Rule 12: short-lived ES256 access tokens with kid, iss, aud and sub, and
// a JWKS with every configured key.
func TestAccessTokenAndJWKS(t *testing.T) {
	c := keyConfig(t, "b", "a", "b")
	is, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, ttl, err := is.Access(otp.AccessClaims{Subject: "42", IdentityID: 7, SessionID: "fam", AMR: []string{"otp", "sms"}}, now)
	if err != nil || ttl != 10*time.Minute {
		t.Fatalf("Access = %v, %v", ttl, err)
	}
	claims, err := is.Parse(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "42" || claims.MagentoCustomerID != 42 || claims.IdentityID != 7 || claims.SessionID != "fam" || claims.Issuer != c.Issuer || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != ttl {
		t.Errorf("claims = %+v", claims)
	}
	h, _, _ := jwt.NewParser().ParseUnverified(tok, &Claims{})
	if h.Header["kid"] != "b" || h.Header["alg"] != "ES256" {
		t.Errorf("header = %v", h.Header)
	}
	if _, err := is.Parse(tok, now.Add(ttl+time.Second)); err == nil {
		t.Error("an expired token parsed")
	}
	var set struct{ Keys []JWK }
	if err := json.Unmarshal(is.JWKS(), &set); err != nil || len(set.Keys) != 2 || set.Keys[0].Kid != "a" || set.Keys[1].Kid != "b" {
		t.Errorf("JWKS = %s", is.JWKS())
	}
	if strings.Contains(string(is.JWKS()), `"d"`) {
		t.Error("JWKS leaks a private key")
	}
	// A token from an unknown key, or unsigned, is refused.
	other, _ := New(keyConfig(t, "z", "z"))
	foreign, _, _ := other.Access(otp.AccessClaims{Subject: "42"}, now)
	if _, err := is.Parse(foreign, now); err == nil {
		t.Error("a token signed by an unknown key parsed")
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "42", "iss": c.Issuer, "aud": "magefleet", "exp": now.Add(time.Minute).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := is.Parse(none, now); err == nil {
		t.Error("an unsigned token parsed")
	}
}

func TestConfigValidate(t *testing.T) {
	c := keyConfig(t, "a", "a")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.AccessTTL = 16 * time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "access_ttl") {
		t.Errorf("access_ttl 16m: Validate() = %v; want refused (<= 15m)", err)
	}
	c = keyConfig(t, "missing", "a")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "active_key") {
		t.Errorf("unknown active key: Validate() = %v", err)
	}
	c.SigningKeys["bad"] = "not a key"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("bad PEM: Validate() = %v", err)
	}
}

func TestRefreshTokens(t *testing.T) {
	is, _ := New(keyConfig(t, "a", "a"))
	tok, hash, err := is.NewRefresh()
	if err != nil {
		t.Fatal(err)
	}
	h2, ok := is.HashRefresh(tok)
	if !ok || string(h2) != string(hash) || len(hash) != 32 {
		t.Errorf("HashRefresh(NewRefresh) = %x, %v; want %x", h2, ok, hash)
	}
	tok2, _, _ := is.NewRefresh()
	if tok == tok2 {
		t.Error("two refresh tokens are equal")
	}
	for _, bad := range []string{"", "rt_short", tok + "x", "xx" + tok[2:]} {
		if _, ok := is.HashRefresh(bad); ok {
			t.Errorf("HashRefresh(%q) accepted", bad)
		}
	}
}
