package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const phoneIN = "+919876543210"

// jwksKeys fetches the JWKS and returns its keys by kid: an *ecdsa.PublicKey
// for an EC key (ES256), an ed25519.PublicKey for an OKP key (EdDSA).
func (e *env) jwksKeys() map[string]crypto.PublicKey {
	e.t.Helper()
	r := e.do(http.MethodGet, "/.well-known/jwks.json", nil)
	if r.Status != 200 {
		e.t.Fatalf("jwks = %d", r.Status)
	}
	var set struct {
		Keys []struct{ Kty, Crv, X, Y, Kid, Alg string }
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		switch {
		case k.Kty == "EC" && k.Crv == "P-256" && k.Alg == "ES256":
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				e.t.Fatalf("JWK %s: %v", k.Kid, err)
			}
			out[k.Kid] = pub
		case k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" && len(x) == ed25519.PublicKeySize:
			out[k.Kid] = ed25519.PublicKey(x)
		default:
			e.t.Fatalf("JWK %+v is neither an ES256 EC key nor an EdDSA OKP key", k)
		}
	}
	return out
}

// verifyAccess checks an access token the way checkout-service does: with the
// JWKS only.
func (e *env) verifyAccess(tok string) jwt.MapClaims {
	e.t.Helper()
	keys := e.jwksKeys()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		return keys[t.Header["kid"].(string)], nil
	}, jwt.WithValidMethods([]string{"ES256", "EdDSA"}), jwt.WithIssuer(e.cfg.Tokens.Issuer), jwt.WithAudience("magefleet"),
		jwt.WithTimeFunc(e.clock.Now))
	if err != nil {
		e.t.Fatalf("access token does not verify with the JWKS: %v", err)
	}
	return claims
}

func TestLoginEndToEnd(t *testing.T) {
	e := newEnv(t)
	id := e.startPhone(phoneIN, "client_id", "app-1", "locale", "en")
	msgs := e.do(http.MethodGet, "/v1/sandbox/messages?to="+urlQuery(phoneIN), nil)
	var sb struct {
		Messages []struct{ To, Channel, Body string }
	}
	_ = json.Unmarshal(msgs.Body, &sb)
	if len(sb.Messages) != 1 || sb.Messages[0].Channel != "sms" || sb.Messages[0].To != phoneIN {
		t.Fatalf("sandbox messages = %s", msgs.Body)
	}
	body := sb.Messages[0].Body
	lines := strings.Split(body, "\n")
	code := e.lastCode(phoneIN)
	if lines[len(lines)-1] != "@"+e.cfg.OTP.WebOTPHost+" #"+code || len(body) > 140 {
		t.Errorf("SMS %q: want last line @%s #<code> within 140 bytes", body, e.cfg.OTP.WebOTPHost)
	}

	r := e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code, "client_id": "app-1"})
	if r.Status != 200 {
		t.Fatalf("verify = %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("verify Cache-Control = %q; want no-store", r.Header.Get("Cache-Control"))
	}
	v := r.json(t)
	cust := v["customer"].(map[string]any)
	if cust["phone"] != phoneIN || cust["magento_customer_id"].(float64) < 1 || v["new_customer"] != true {
		t.Errorf("customer = %v, new_customer = %v", cust, v["new_customer"])
	}
	mcid := int64(cust["magento_customer_id"].(float64))
	claims := e.verifyAccess(v["access_token"].(string))
	if claims["sub"] != strconv.FormatInt(mcid, 10) || claims["magento_customer_id"] != float64(mcid) {
		t.Errorf("sub = %v; want %d", claims["sub"], mcid)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat > 900 {
		t.Errorf("access token lives %vs; want <= 900", exp-iat)
	}

	// The Magento customer token works against Magento.
	mt := v["magento_customer_token"].(string)
	req, _ := http.NewRequest(http.MethodGet, e.mageURL+"/rest/V1/customers/me", nil)
	req.Header.Set("Authorization", "Bearer "+mt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me.ID != mcid || me.Email != cust["email"] {
		t.Errorf("GET /V1/customers/me with the Magento token = %d %+v; want customer %d", resp.StatusCode, me, mcid)
	}

	// Refresh rotates; logout ends the session.
	r = e.post("/v1/token/refresh", map[string]any{"refresh_token": v["refresh_token"]})
	if r.Status != 200 {
		t.Fatalf("refresh = %d %s", r.Status, r.Body)
	}
	v2 := r.json(t)
	if v2["refresh_token"] == v["refresh_token"] {
		t.Error("refresh returned the same refresh token")
	}
	e.verifyAccess(v2["access_token"].(string))
	if r := e.post("/v1/logout", map[string]any{"refresh_token": v2["refresh_token"]}); r.Status != 204 {
		t.Fatalf("logout = %d %s", r.Status, r.Body)
	}
	if r := e.post("/v1/token/refresh", map[string]any{"refresh_token": v2["refresh_token"]}); r.Status != 401 {
		t.Errorf("refresh after logout = %d; want 401", r.Status)
	}

	// A second login is a returning identity with the same customer.
	e.clock.Advance(2 * time.Minute) // past the resend gap
	v3 := e.login(phoneIN)
	c3 := v3["customer"].(map[string]any)
	if v3["new_customer"] != false || c3["magento_customer_id"] != cust["magento_customer_id"] || c3["id"] != cust["id"] {
		t.Errorf("second login: customer %v new %v; want the same customer %v", c3, v3["new_customer"], cust)
	}
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
