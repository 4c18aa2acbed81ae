package accesstoken_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/jwk"
)

// signer is a signing key and the algorithm its type signs.
type signer struct {
	method jwt.SigningMethod
	priv   crypto.Signer
}

func (s signer) public() crypto.PublicKey { return s.priv.Public() }

// newSigner returns a new key for alg (ES256 or EdDSA).
func newSigner(t *testing.T, alg string) signer {
	t.Helper()
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return signer{jwt.SigningMethodES256, k}
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return signer{jwt.SigningMethodEdDSA, k}
	}
	t.Fatalf("no signer for %q", alg)
	return signer{}
}

// sign returns claims signed by key with method under kid ("" for none).
func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
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

// jwksServer serves {"keys": keys} and counts its requests; set replaces the
// keys.
type jwksServer struct {
	URL     string
	fetches atomic.Int32
	mu      sync.Mutex
	keys    []any
}

func newJWKSServer(t *testing.T, keys ...any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *jwksServer) set(keys ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newVerifier(url string, now *time.Time) *accesstoken.Verifier {
	v := accesstoken.New(url, "otp-service", "")
	v.Now = func() time.Time { return *now }
	return v
}

func TestVerifyRotatesKeys(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k1, k2 := newSigner(t, alg), newSigner(t, alg)
			srv := newJWKSServer(t, mustJWK("k1", k1.public()))
			now := start
			v := newVerifier(srv.URL, &now)
			ctx := context.Background()
			good := jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Minute).Unix(), "magento_customer_id": 42}
			c, err := v.Verify(ctx, sign(t, k1.method, "k1", k1.priv, good))
			if err != nil || c.Subject != "id-1" || c.MagentoCustomerID != 42 {
				t.Fatalf("Verify = %+v, %v; want id-1, 42", c, err)
			}
			for name, tok := range map[string]string{
				"expired":      sign(t, k1.method, "k1", k1.priv, jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(-time.Minute).Unix()}),
				"other issuer": sign(t, k1.method, "k1", k1.priv, jwt.MapClaims{"sub": "id-1", "iss": "evil", "exp": now.Add(time.Minute).Unix()}),
				"no exp":       sign(t, k1.method, "k1", k1.priv, jwt.MapClaims{"sub": "id-1", "iss": "otp-service"}),
				"wrong key":    sign(t, k2.method, "k1", k2.priv, good),
				"garbage":      "not.a.jwt",
				"HS256":        sign(t, jwt.SigningMethodHS256, "", []byte("x"), good),
			} {
				if _, err := v.Verify(ctx, tok); errs.Code(err) != errs.Unauthorized {
					t.Errorf("Verify(%s) = %v; want unauthorized", name, err)
				}
			}
			// A new kid appears: one refresh picks it up.
			srv.set(mustJWK("k1", k1.public()), mustJWK("k2", k2.public()))
			now = now.Add(time.Minute)
			good["exp"] = now.Add(time.Minute).Unix()
			if _, err := v.Verify(ctx, sign(t, k2.method, "k2", k2.priv, good)); err != nil {
				t.Fatalf("Verify with rotated key: %v", err)
			}
			before := srv.fetches.Load()
			// Unknown kids do not hammer the JWKS endpoint.
			for range 5 {
				v.Verify(ctx, sign(t, k2.method, "k9", k2.priv, good))
			}
			if n := srv.fetches.Load() - before; n > 1 {
				t.Fatalf("%d fetches for unknown kids; want at most 1", n)
			}
		})
	}
}

// Moving otp-service from ES256 to EdDSA: the JWKS publishes the Ed25519
// key beside the P-256 one, then the Ed25519 key signs, then the P-256 key
// is retired. Tokens of every published key verify at each step.
func TestVerifyDuringRotationFromES256ToEdDSA(t *testing.T) {
	es, ed := newSigner(t, "ES256"), newSigner(t, "EdDSA")
	srv := newJWKSServer(t, mustJWK("es", es.public()))
	now := start
	v := newVerifier(srv.URL, &now)
	ctx := context.Background()
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(10 * time.Minute).Unix()}
	}
	old := sign(t, es.method, "es", es.priv, claims())
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("Verify(ES256 before the rotation) = %v", err)
	}

	// Publish the Ed25519 key; the verifier has cached the old set.
	srv.set(mustJWK("es", es.public()), mustJWK("ed", ed.public()))
	now = now.Add(time.Minute)
	fresh := sign(t, ed.method, "ed", ed.priv, claims())
	for name, tok := range map[string]string{"ES256 (old kid, cached)": old, "EdDSA (new kid, refetched)": fresh, "ES256 signed after publishing": sign(t, es.method, "es", es.priv, claims())} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("Verify(%s) with the mixed JWKS = %v; want nil", name, err)
		}
	}
	// Within the mixed set, each kid verifies only its own algorithm.
	for name, tok := range map[string]string{
		"EdDSA under the ES256 kid": sign(t, ed.method, "es", ed.priv, claims()),
		"ES256 under the EdDSA kid": sign(t, es.method, "ed", es.priv, claims()),
	} {
		if _, err := v.Verify(ctx, tok); errs.Code(err) != errs.Unauthorized {
			t.Errorf("Verify(%s) = %v; want unauthorized", name, err)
		}
	}

	// Retire the P-256 key; a fresh verifier fetches only the Ed25519 key.
	srv.set(mustJWK("ed", ed.public()))
	after := newVerifier(srv.URL, &now)
	if _, err := after.Verify(ctx, fresh); err != nil {
		t.Errorf("Verify(EdDSA) after retiring es = %v", err)
	}
	if _, err := after.Verify(ctx, old); errs.Code(err) != errs.Unauthorized {
		t.Errorf("Verify(ES256 of the retired key) = %v; want unauthorized", err)
	}
}

// No algorithm confusion: a kid's key verifies only the algorithm of its
// type, never alg none or an HMAC keyed with the published key.
func TestVerifyRefusesAlgorithmConfusion(t *testing.T) {
	es, ed := newSigner(t, "ES256"), newSigner(t, "EdDSA")
	esJWK, edJWK := mustJWK("es", es.public()), mustJWK("ed", ed.public())
	srv := newJWKSServer(t, esJWK, edJWK)
	now := start
	v := newVerifier(srv.URL, &now)
	claims := jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Minute).Unix()}
	esPub, _ := es.public().(*ecdsa.PublicKey).Bytes()
	attackerES, attackerED := newSigner(t, "ES256"), newSigner(t, "EdDSA")
	for name, tok := range map[string]string{
		"EdDSA under the ES256 kid":        sign(t, jwt.SigningMethodEdDSA, "es", attackerED.priv, claims),
		"ES256 under the EdDSA kid":        sign(t, jwt.SigningMethodES256, "ed", attackerES.priv, claims),
		"HS256 keyed with the P-256 JWK":   sign(t, jwt.SigningMethodHS256, "es", esPub, claims),
		"HS256 keyed with the Ed25519 JWK": sign(t, jwt.SigningMethodHS256, "ed", []byte(ed.public().(ed25519.PublicKey)), claims),
		"HS256 keyed with the JWK's x":     sign(t, jwt.SigningMethodHS256, "ed", []byte(edJWK.X), claims),
		"none under the ES256 kid":         sign(t, jwt.SigningMethodNone, "es", jwt.UnsafeAllowNoneSignatureType, claims),
		"none under the EdDSA kid":         sign(t, jwt.SigningMethodNone, "ed", jwt.UnsafeAllowNoneSignatureType, claims),
		"no kid":                           sign(t, jwt.SigningMethodEdDSA, "", ed.priv, claims),
	} {
		if _, err := v.Verify(context.Background(), tok); errs.Code(err) != errs.Unauthorized {
			t.Errorf("Verify(%s) = %v; want unauthorized", name, err)
		}
	}
}

// Keys the verifier cannot use safely are left out of the set: a JWK whose
// alg contradicts its type, a point off the curve, a wrong-sized Ed25519 key,
// an X25519 (key agreement) key, an encryption key.
func TestVerifyIgnoresUnusableJWKs(t *testing.T) {
	es, ed := newSigner(t, "ES256"), newSigner(t, "EdDSA")
	with := func(k jwk.Key, kv ...string) map[string]string {
		out := map[string]string{}
		b, _ := json.Marshal(k)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	esJWK, edJWK := mustJWK("es", es.public()), mustJWK("ed", ed.public())
	offCurve := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name string
		jwk  map[string]string
		key  signer
	}{
		{"EC key claiming EdDSA", with(esJWK, "alg", "EdDSA"), es},
		{"OKP key claiming ES256", with(edJWK, "alg", "ES256"), ed},
		{"EC point off the curve", with(esJWK, "y", offCurve), es},
		{"OKP x of 31 bytes", with(edJWK, "x", base64.RawURLEncoding.EncodeToString(make([]byte, 31))), ed},
		{"OKP on X25519", with(edJWK, "crv", "X25519"), ed},
		{"OKP for encryption", with(edJWK, "use", "enc"), ed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The usable key keeps the set from being empty.
			other := newSigner(t, "EdDSA")
			srv := newJWKSServer(t, tc.jwk, mustJWK("other", other.public()))
			now := start
			v := newVerifier(srv.URL, &now)
			claims := jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Minute).Unix()}
			if _, err := v.Verify(context.Background(), sign(t, other.method, "other", other.priv, claims)); err != nil {
				t.Fatalf("Verify(usable key) = %v", err)
			}
			kid := tc.jwk["kid"]
			if _, err := v.Verify(context.Background(), sign(t, tc.key.method, kid, tc.key.priv, claims)); errs.Code(err) != errs.Unauthorized {
				t.Errorf("Verify(token of %s) = %v; want unauthorized", kid, err)
			}
		})
	}
	// A set with no usable key is an outage of the key set, not a bad token.
	srv := newJWKSServer(t, with(edJWK, "crv", "X25519"))
	now := start
	claims := jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Minute).Unix()}
	if _, err := newVerifier(srv.URL, &now).Verify(context.Background(), sign(t, ed.method, "ed", ed.priv, claims)); errs.Code(err) != errs.Unavailable {
		t.Errorf("Verify with no usable key = %v; want unavailable", err)
	}
}

// A key withdrawn from the JWKS (a compromised one) stops verifying once the
// cached set is older than MaxAge; while the JWKS is unreachable the cached
// keys keep verifying.
func TestWithdrawnKeyStopsVerifyingAfterMaxAge(t *testing.T) {
	k1, k2 := newSigner(t, "EdDSA"), newSigner(t, "EdDSA")
	srv := newJWKSServer(t, mustJWK("k1", k1.public()), mustJWK("k2", k2.public()))
	now := start
	v := newVerifier(srv.URL, &now)
	ctx := context.Background()
	token := func(s signer, kid string) string {
		return sign(t, s.method, kid, s.priv, jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Hour).Unix()})
	}
	if _, err := v.Verify(ctx, token(k1, "k1")); err != nil {
		t.Fatalf("Verify(k1) = %v", err)
	}
	srv.set(mustJWK("k2", k2.public())) // k1 withdrawn
	now = now.Add(v.MaxAge - time.Second)
	if _, err := v.Verify(ctx, token(k1, "k1")); err != nil {
		t.Fatalf("Verify(k1) within MaxAge = %v; the cached set still holds it", err)
	}
	now = now.Add(2 * time.Second)
	// The stale set still answers while it is fetched again in the
	// background; then k1 is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(ctx, token(k1, "k1"))
		if errs.Code(err) == errs.Unauthorized {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Verify(k1) after MaxAge = %v; want unauthorized once the set is fetched again: k1 left the JWKS", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, token(k2, "k2")); err != nil {
		t.Fatalf("Verify(k2) = %v", err)
	}
	// The JWKS goes away: the keys fetched last keep verifying.
	v.URL = "http://127.0.0.1:1/jwks.json"
	now = now.Add(2 * v.MaxAge)
	if _, err := v.Verify(ctx, token(k2, "k2")); err != nil {
		t.Fatalf("Verify(k2) with the JWKS unreachable = %v; want the cached key", err)
	}
}

// mustJWK is key's JWK as otp-service publishes it.
func mustJWK(kid string, key crypto.PublicKey) jwk.Key {
	k, err := jwk.Public(kid, key)
	if err != nil {
		panic(err)
	}
	return k
}
