package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// Production defaults name every secret an operator must set.
func TestProductionDefaultsRequireSecrets(t *testing.T) {
	err := config.Load(DefaultConfig(), "OTP", "", func(string) string { return "" })
	for _, want := range []string{"otp.hash_keys", "otp.fingerprint_key", "tokens.signing_keys", "delivery.routes", "OTP_OTP_FINGERPRINT_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(production defaults) = %v; want a problem naming %s", err, want)
		}
	}
}

func TestDevelopmentRunsWithoutAFile(t *testing.T) {
	cfg := DefaultConfig()
	env := map[string]string{"OTP_ENV": "development"}
	if err := config.Load(cfg, "OTP", "", func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !cfg.OTP.Sandbox || !cfg.Tokens.GenerateDevKey || len(cfg.OTP.HashKeys) != 1 {
		t.Errorf("development config: sandbox %v, dev key %v, hash keys %d", cfg.OTP.Sandbox, cfg.Tokens.GenerateDevKey, len(cfg.OTP.HashKeys))
	}
	is, err := tokens.New(cfg.Tokens)
	if err != nil {
		t.Fatalf("tokens.New(development config) = %v", err)
	}
	if jwks := string(is.JWKS()); !strings.Contains(jwks, `"kty":"OKP"`) || !strings.Contains(jwks, `"alg":"EdDSA"`) {
		t.Errorf("development JWKS = %s; want the generated Ed25519 (EdDSA) key", jwks)
	}
}

// A production file with maps (keys, routes, test numbers) and an
// environment override.
func TestConfigFromFileAndEnv(t *testing.T) {
	key, _ := tokens.GenerateKeyPEM()
	edKey, _ := tokens.GenerateEd25519KeyPEM()
	yaml := `
env: production
otp:
  hash_keys:
    k2025: "` + strings.Repeat("a", 40) + `"
    k2026: "` + strings.Repeat("b", 40) + `"
  active_hash_key: k2026
  fingerprint_key: "` + strings.Repeat("f", 40) + `"
  allowed_countries: [IN]
  test_numbers:
    "+919000000001": {code: "424242", expires: "2027-06-30"}
  limits:
    daily_budget_by_country: {IN: 50000}
tokens:
  signing_keys:
    ec1: |
` + indent(key, "      ") + `
    ed1: |
` + indent(edKey, "      ") + `
  active_key: ed1
delivery:
  routes:
    sms: [msg91, twilio]
    whatsapp: [twilio]
    voice: [twilio]
    email: [smtp]
  msg91: {auth_key: x, template_id: t, dlt_template_id: "1107161234567890123"}
  twilio: {account_sid: AC1, auth_token: y, from: "+15005550006", whatsapp_from: "+14155238886"}
  smtp: {host: smtp.example.com, from: login@shop.example}
magento:
  base_url: https://shop.example.com
  admin_username: otp-service
`
	path := filepath.Join(t.TempDir(), "otp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	env := map[string]string{"OTP_OTP_MAX_ATTEMPTS": "4", "OTP_OTP_TTL": "3m", "OTP_MAGENTO_ADMIN_PASSWORD": "secret"}
	if err := config.Load(cfg, "OTP", path, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.OTP.MaxAttempts != 4 || cfg.OTP.TTL != 3*time.Minute || cfg.OTP.ActiveHashKey != "k2026" || len(cfg.OTP.HashKeys) != 2 {
		t.Errorf("otp = attempts %d ttl %s active %s keys %d", cfg.OTP.MaxAttempts, cfg.OTP.TTL, cfg.OTP.ActiveHashKey, len(cfg.OTP.HashKeys))
	}
	if cfg.OTP.Limits.DailyBudgetByCountry["in"] != 50000 || cfg.OTP.TestNumbers["+919000000001"].Code != "424242" {
		t.Errorf("maps: budget %v, test numbers %v", cfg.OTP.Limits.DailyBudgetByCountry, cfg.OTP.TestNumbers)
	}
	if got := cfg.Delivery.Routes["sms"]; len(got) != 2 || got[0] != "msg91" {
		t.Errorf("routes = %v", cfg.Delivery.Routes)
	}
	if is, err := tokens.New(cfg.Tokens); err != nil {
		t.Errorf("signing keys from the file: %v", err)
	} else if is.ActiveKeyID() != "ed1" || !strings.Contains(string(is.JWKS()), `"kid":"ec1"`) {
		t.Errorf("signing keys from the file: active %s, JWKS %s; want ed1 active, ec1 published", is.ActiveKeyID(), is.JWKS())
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
