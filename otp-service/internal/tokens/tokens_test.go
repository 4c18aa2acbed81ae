package tokens

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/jwk"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// keyPEM returns a new PEM signing key for alg (ES256 or EdDSA).
func keyPEM(t *testing.T, alg string) config.Secret {
	t.Helper()
	gen := map[string]func() (string, error){"ES256": GenerateKeyPEM, "EdDSA": GenerateEd25519KeyPEM}[alg]
	if gen == nil {
		t.Fatalf("no key generator for %q", alg)
	}
	k, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	return config.Secret(k)
}

// keyConfig returns the defaults with a new key per kid (kid → ES256 or
// EdDSA) and active as the active key.
func keyConfig(t *testing.T, active string, algs map[string]string) Config {
	t.Helper()
	c := DefaultConfig()
	c.SigningKeys = map[string]config.Secret{}
	for kid, alg := range algs {
		c.SigningKeys[kid] = keyPEM(t, alg)
	}
	c.ActiveKey = active
	return c
}

func newIssuer(t *testing.T, c Config) *Issuer {
	t.Helper()
	is, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return is
}

// header returns a token's unverified header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(seg, &h); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return h
}

// jwks decodes an Issuer's JWKS into the keys a verifier would build, by kid.
func jwks(t *testing.T, is *Issuer) (map[string]jwk.Key, map[string]any) {
	t.Helper()
	var set struct{ Keys []jwk.Key }
	if err := json.Unmarshal(is.JWKS(), &set); err != nil {
		t.Fatalf("JWKS %s: %v", is.JWKS(), err)
	}
	if strings.Contains(string(is.JWKS()), `"d"`) {
		t.Errorf("JWKS %s leaks a private key", is.JWKS())
	}
	jwks, pubs := map[string]jwk.Key{}, map[string]any{}
	for _, k := range set.Keys {
		jwks[k.Kid] = k
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			t.Fatalf("JWK %s: x: %v", k.Kid, err)
		}
		switch {
		case k.Kty == "EC" && k.Crv == "P-256" && k.Alg == "ES256":
			y, err := base64.RawURLEncoding.DecodeString(k.Y)
			if err != nil {
				t.Fatalf("JWK %s: y: %v", k.Kid, err)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Fatalf("JWK %s: %v", k.Kid, err)
			}
			pubs[k.Kid] = pub
		case k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" && k.Y == "" && len(x) == ed25519.PublicKeySize:
			pubs[k.Kid] = ed25519.PublicKey(x)
		default:
			t.Fatalf("JWK %+v is neither an ES256 EC key nor an EdDSA OKP key", k)
		}
		if k.Use != "sig" {
			t.Errorf("JWK %s use = %q; want sig", k.Kid, k.Use)
		}
	}
	return jwks, pubs
}

// verifyWithJWKS checks tok the way another service does: with the JWKS only.
func verifyWithJWKS(t *testing.T, is *Issuer, tok string) error {
	t.Helper()
	jwks, pubs := jwks(t, is)
	_, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return pubs[kid], nil
	}, jwt.WithValidMethods([]string{jwks[header(t, tok)["kid"].(string)].Alg}))
	return err
}

// Rule 12: short-lived access tokens with kid, iss, aud and sub, signed with
// the algorithm of the active key's type, and a JWKS with every configured
// key in the form RFC 7518 (EC) or RFC 8037 (OKP) gives it.
func TestAccessTokenAndJWKS(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			other := map[string]string{"ES256": "EdDSA", "EdDSA": "ES256"}[alg]
			c := keyConfig(t, "b", map[string]string{"a": other, "b": alg})
			is := newIssuer(t, c)
			now := time.Now()
			tok, ttl, err := is.Access(otp.AccessClaims{Subject: "42", IdentityID: 7, SessionID: "fam", AMR: []string{"otp", "sms"}}, now)
			if err != nil || ttl != 10*time.Minute {
				t.Fatalf("Access = %v, %v; want 10m, nil", ttl, err)
			}
			if h := header(t, tok); h["kid"] != "b" || h["alg"] != alg {
				t.Errorf("header = %v; want kid b, alg %s", h, alg)
			}
			claims, err := is.Parse(tok, now)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if claims.Subject != "42" || claims.MagentoCustomerID != 42 || claims.IdentityID != 7 || claims.SessionID != "fam" || claims.Issuer != c.Issuer || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != ttl {
				t.Errorf("claims = %+v", claims)
			}
			if _, err := is.Parse(tok, now.Add(ttl+time.Second)); err == nil {
				t.Error("an expired token parsed")
			}
			set, _ := jwks(t, is)
			if len(set) != 2 || set["a"].Alg != other || set["b"].Alg != alg {
				t.Errorf("JWKS = %s; want a (%s) and b (%s)", is.JWKS(), other, alg)
			}
			if err := verifyWithJWKS(t, is, tok); err != nil {
				t.Errorf("the token does not verify with the published JWK: %v", err)
			}
		})
	}
}

// The JWK of an Ed25519 key is the RFC 8037 one: the key of its appendix A.1
// publishes its x.
func TestEd25519JWKMatchesRFC8037(t *testing.T) {
	seed, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.SigningKeys = map[string]config.Secret{"rfc": config.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	c.ActiveKey = "rfc"
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc","use":"sig","alg":"EdDSA"}]}`
	if got := string(newIssuer(t, c).JWKS()); got != want {
		t.Errorf("JWKS = %s; want %s", got, want)
	}
}

// Moving from ES256 to EdDSA is an ordinary rotation: publish the Ed25519
// key, make it active, retire the P-256 key; every token signed by a
// published key verifies at each step.
func TestRotationFromES256ToEdDSA(t *testing.T) {
	now := time.Now()
	c := keyConfig(t, "es", map[string]string{"es": "ES256"})
	edKey := keyPEM(t, "EdDSA")
	access := func(is *Issuer) string {
		t.Helper()
		tok, _, err := is.Access(otp.AccessClaims{Subject: "42"}, now)
		if err != nil {
			t.Fatalf("Access = %v", err)
		}
		return tok
	}
	before := access(newIssuer(t, c))

	// Step 1: publish the Ed25519 key; the P-256 key still signs.
	c.SigningKeys["ed"] = edKey
	published := newIssuer(t, c)
	if set, _ := jwks(t, published); len(set) != 2 || set["es"].Kty != "EC" || set["ed"].Kty != "OKP" {
		t.Fatalf("JWKS while publishing = %s; want es (EC) and ed (OKP)", published.JWKS())
	}
	during := access(published)
	if h := header(t, during); h["alg"] != "ES256" || h["kid"] != "es" {
		t.Errorf("header after publishing = %v; want ES256, es", h)
	}

	// Step 2: make it active.
	c.ActiveKey = "ed"
	active := newIssuer(t, c)
	after := access(active)
	if h := header(t, after); h["alg"] != "EdDSA" || h["kid"] != "ed" {
		t.Errorf("header after activating = %v; want EdDSA, ed", h)
	}
	for _, is := range []*Issuer{published, active} {
		for name, tok := range map[string]string{"before": before, "during": during, "after": after} {
			if _, err := is.Parse(tok, now); err != nil {
				t.Errorf("Parse(%s) with keys %s = %v; want nil", name, is.JWKS(), err)
			}
			if err := verifyWithJWKS(t, is, tok); err != nil {
				t.Errorf("%s does not verify with the JWKS %s: %v", name, is.JWKS(), err)
			}
		}
	}

	// Step 3: retire the P-256 key once its tokens have expired.
	delete(c.SigningKeys, "es")
	retired := newIssuer(t, c)
	if _, err := retired.Parse(after, now); err != nil {
		t.Errorf("Parse(after) once es is retired = %v; want nil", err)
	}
	if _, err := retired.Parse(before, now); err == nil {
		t.Error("a token of the retired key parsed")
	}
}

// No algorithm confusion: a kid's key verifies only the algorithm its type
// signs, never alg none or an HMAC keyed with the published key.
func TestParseRefusesAlgorithmConfusion(t *testing.T) {
	c := keyConfig(t, "es", map[string]string{"es": "ES256", "ed": "EdDSA"})
	is := newIssuer(t, c)
	now := time.Now()
	claims := jwt.MapClaims{"sub": "42", "iss": c.Issuer, "aud": "magefleet", "exp": now.Add(time.Minute).Unix()}
	sign := func(m jwt.SigningMethod, kid string, key any) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatalf("sign %s: %v", m.Alg(), err)
		}
		return s
	}
	_, edAttacker, _ := ed25519.GenerateKey(rand.Reader)
	esAttacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, pubs := jwks(t, is)
	esPub, _ := pubs["es"].(*ecdsa.PublicKey).Bytes()
	edPub := []byte(pubs["ed"].(ed25519.PublicKey))
	foreign, _, _ := newIssuer(t, keyConfig(t, "z", map[string]string{"z": "EdDSA"})).Access(otp.AccessClaims{Subject: "42"}, now)

	for name, tok := range map[string]string{
		"EdDSA under the ES256 kid":          sign(jwt.SigningMethodEdDSA, "es", edAttacker),
		"ES256 under the EdDSA kid":          sign(jwt.SigningMethodES256, "ed", esAttacker),
		"HS256 keyed with the P-256 JWK":     sign(jwt.SigningMethodHS256, "es", esPub),
		"HS256 keyed with the Ed25519 JWK":   sign(jwt.SigningMethodHS256, "ed", edPub),
		"none under the ES256 kid":           sign(jwt.SigningMethodNone, "es", jwt.UnsafeAllowNoneSignatureType),
		"none under the EdDSA kid":           sign(jwt.SigningMethodNone, "ed", jwt.UnsafeAllowNoneSignatureType),
		"EdDSA by an unknown key, known kid": sign(jwt.SigningMethodEdDSA, "ed", edAttacker),
		"ES256 by an unknown key, known kid": sign(jwt.SigningMethodES256, "es", esAttacker),
		"no kid":                             sign(jwt.SigningMethodEdDSA, "", edAttacker),
		"signed by another issuer's key (z)": foreign,
	} {
		if _, err := is.Parse(tok, now); err == nil {
			t.Errorf("Parse(%s) = nil; want refused", name)
		}
	}
}

func TestParseKey(t *testing.T) {
	encode := func(typ string, der []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return encode("PRIVATE KEY", der, err)
	}
	sec1 := func(k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		return encode("EC PRIVATE KEY", der, err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pem, alg string // alg "" means refused
	}{
		{"P-256 SEC 1", sec1(p256), "ES256"},
		{"P-256 PKCS 8", pkcs8(p256), "ES256"},
		{"Ed25519 PKCS 8", pkcs8(ed), "EdDSA"},
		{"P-384 SEC 1", sec1(p384), ""},
		{"P-384 PKCS 8", pkcs8(p384), ""},
		{"X25519 PKCS 8", pkcs8(x25519), ""},
		{"RSA PKCS 8", pkcs8(rsaKey), ""},
		{"not PEM", "not a key", ""},
	} {
		k, err := ParseKey(tc.pem)
		if tc.alg == "" {
			if err == nil {
				t.Errorf("ParseKey(%s) = %T; want refused", tc.name, k)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKey(%s) = %v; want a %s key", tc.name, err, tc.alg)
			continue
		}
		if sk, err := newSigningKey(k); err != nil || sk.method.Alg() != tc.alg {
			t.Errorf("ParseKey(%s) signs %v, %v; want %s", tc.name, sk.method, err, tc.alg)
		}
	}
}

// Development: with no keys, an ephemeral Ed25519 key signs EdDSA.
func TestGeneratedDevKeyIsEd25519(t *testing.T) {
	c := DefaultConfig()
	c.GenerateDevKey = true
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	is := newIssuer(t, c)
	if !strings.HasPrefix(is.ActiveKeyID(), "dev-") {
		t.Errorf("ActiveKeyID = %q; want dev-...", is.ActiveKeyID())
	}
	set, _ := jwks(t, is)
	if k := set[is.ActiveKeyID()]; len(set) != 1 || k.Kty != "OKP" || k.Alg != "EdDSA" {
		t.Errorf("JWKS = %s; want one OKP EdDSA key", is.JWKS())
	}
	now := time.Now()
	tok, _, err := is.Access(otp.AccessClaims{Subject: "42"}, now)
	if err != nil {
		t.Fatalf("Access = %v", err)
	}
	if h := header(t, tok); h["alg"] != "EdDSA" {
		t.Errorf("alg = %v; want EdDSA", h["alg"])
	}
	if _, err := is.Parse(tok, now); err != nil {
		t.Errorf("Parse = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := keyConfig(t, "a", map[string]string{"a": "ES256", "b": "EdDSA"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ActiveKey = "b"
	if err := c.Validate(); err != nil {
		t.Fatalf("Ed25519 active key: Validate() = %v", err)
	}
	c.AccessTTL = 16 * time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "access_ttl") {
		t.Errorf("access_ttl 16m: Validate() = %v; want refused (<= 15m)", err)
	}
	c = keyConfig(t, "missing", map[string]string{"a": "EdDSA"})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "active_key") {
		t.Errorf("unknown active key: Validate() = %v", err)
	}
	c.SigningKeys["bad"] = "not a key"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("bad PEM: Validate() = %v", err)
	}
}

func TestRefreshTokens(t *testing.T) {
	is := newIssuer(t, keyConfig(t, "a", map[string]string{"a": "EdDSA"}))
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
