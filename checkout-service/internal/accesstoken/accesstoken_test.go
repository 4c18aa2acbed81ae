package accesstoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
)

func TestVerifyRotatesKeys(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var mu sync.Mutex
	keys := []any{accesstoken.JWK("k1", &k1.PublicKey)}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v := accesstoken.New(srv.URL, "otp-service", "")
	v.Now = func() time.Time { return now }
	sign := func(k *ecdsa.PrivateKey, kid string, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(k)
		return s
	}
	ctx := context.Background()
	good := jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(time.Minute).Unix(), "magento_customer_id": 42}
	c, err := v.Verify(ctx, sign(k1, "k1", good))
	if err != nil || c.Subject != "id-1" || c.MagentoCustomerID != 42 {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	for name, tok := range map[string]string{
		"expired":      sign(k1, "k1", jwt.MapClaims{"sub": "id-1", "iss": "otp-service", "exp": now.Add(-time.Minute).Unix()}),
		"other issuer": sign(k1, "k1", jwt.MapClaims{"sub": "id-1", "iss": "evil", "exp": now.Add(time.Minute).Unix()}),
		"wrong key":    sign(k2, "k1", good),
		"garbage":      "not.a.jwt",
		"HS256": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good).SignedString([]byte("x"))
			return s
		}(),
	} {
		if _, err := v.Verify(ctx, tok); errs.Code(err) != errs.Unauthorized {
			t.Errorf("%s: Verify = %v; want unauthorized", name, err)
		}
	}
	// a new kid appears: one refresh picks it up
	mu.Lock()
	keys = append(keys, accesstoken.JWK("k2", &k2.PublicKey))
	mu.Unlock()
	now = now.Add(time.Minute)
	good["exp"] = now.Add(time.Minute).Unix()
	if _, err := v.Verify(ctx, sign(k2, "k2", good)); err != nil {
		t.Fatalf("Verify with rotated key: %v", err)
	}
	before := fetches.Load()
	// unknown kids do not hammer the JWKS endpoint
	for range 5 {
		v.Verify(ctx, sign(k2, "k9", good))
	}
	if fetches.Load()-before > 1 {
		t.Fatalf("%d fetches for unknown kids; want at most 1", fetches.Load()-before)
	}
}
