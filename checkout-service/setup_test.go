package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/service"
)

// TestGatewayKindsBuild checks that every kind builds an adapter from the
// service's gateway configuration.
func TestGatewayKindsBuild(t *testing.T) {
	base := Gateway{Enabled: true, Methods: []string{"card"}, Currencies: []string{"USD"}, BaseURL: "http://127.0.0.1:1",
		APIKey: "sk_test_123", KeyID: "rzp_test_123", ClientID: "client", ClientSecret: "secret", WebhookID: "WH-1",
		WebhookSecret: "whsec_123"}
	d := &service.Deps{Log: zap.NewNop()}
	for kind, build := range gatewayKinds {
		if kind == "sandbox" {
			continue // needs Redis; covered end to end
		}
		g := base
		g.Kind = kind
		if kind == "paypal" {
			g.Methods = []string{"paypal"}
		}
		gw, err := build("gw-"+kind, g, gateway.Capabilities{}, DefaultConfig(), d)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if gw.Name() != "gw-"+kind || len(gw.Capabilities().Methods) != 1 {
			t.Errorf("%s: name %s, capabilities %+v", kind, gw.Name(), gw.Capabilities())
		}
	}
}

// TestExampleRulesParse keeps rules.example.yaml valid for the demo gateways.
func TestExampleRulesParse(t *testing.T) {
	b, err := os.ReadFile("rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for n := range DemoGateways() {
		names = append(names, n)
	}
	if _, err := routing.Parse(b, names); err != nil {
		t.Fatalf("rules.example.yaml: %v", err)
	}
	if _, err := routing.Parse([]byte(DefaultRules), names); err != nil {
		t.Fatalf("DefaultRules: %v", err)
	}
}

// TestConfigLoadsGateways loads a YAML file with gateways and fee add-ons.
func TestConfigLoadsGateways(t *testing.T) {
	f := t.TempDir() + "/checkout.yaml"
	os.WriteFile(f, []byte(`
admin: {service_tokens: ["0123456789abcdef"]}
magento: {admin_username: api, admin_password: secret}
gateways:
  stripe:
    kind: stripe
    enabled: true
    api_key: sk_test_1
    methods: [card]
    currencies: [USD]
    fees:
      card:
        percent_bps: 290
        fixed: 30
        addons: [{name: intl, percent_bps: 150, when: [{lhs: country, comparison: not_equal, value: US}]}]
  sandbox-a: {kind: sandbox, enabled: true, methods: [card], currencies: [USD], success_rate: 0.9, outages: [{start: "13:00", end: "13:05"}]}
`), 0o600)
	cfg := DefaultConfig()
	if err := config.Load(cfg, "CHECKOUT", f, func(string) string { return "" }); err != nil {
		t.Fatalf("Load: %v", err)
	}
	st := cfg.Gateways["stripe"]
	if st.APIKey.Reveal() != "sk_test_1" || st.Fees["card"].Addons[0].When[0].LHS != "country" || cfg.Gateways["sandbox-a"].Outages[0].End != "13:05" {
		t.Fatalf("gateways = %+v", cfg.Gateways)
	}
	r, err := routing.NewRouter([]routing.Gateway{{Name: "stripe", Enabled: true, Fees: routing.FeeModel(st.Fees)}})
	if err != nil {
		t.Fatal(err)
	}
	if fee, _ := r.Fee("stripe", routing.Facts{Amount: 10000, Currency: "USD", Country: "GB", Method: "card"}); fee != 470 {
		t.Fatalf("fee = %d; want 470", fee)
	}
	bad := DefaultConfig()
	bad.Gateways = map[string]Gateway{"x": {Kind: "bitcoin", Currencies: []string{"USD"}}}
	if err := bad.Validate(); err == nil {
		t.Fatal("an unknown gateway kind was accepted")
	}
}

// With a JWKS, the issuer and audience of customer tokens must be checked:
// otp-service always signs both.
func TestConfigJWKSNeedsIssuerAndAudience(t *testing.T) {
	tests := []struct {
		issuer, audience string
		wantErr          []string
	}{
		{"https://secure.shop.example/auth", "magefleet", nil},
		{"", "magefleet", []string{"auth.issuer"}},
		{"https://secure.shop.example/auth", "", []string{"auth.audience"}},
		{"", "", []string{"auth.issuer", "auth.audience"}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Auth.JWKSURL, cfg.Auth.Issuer, cfg.Auth.Audience = "http://127.0.0.1:8081/.well-known/jwks.json", tt.issuer, tt.audience
		err := cfg.Validate()
		for _, w := range tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("issuer %q, audience %q: Validate() = %v; want %s named", tt.issuer, tt.audience, err, w)
			}
		}
		if len(tt.wantErr) == 0 && err != nil && strings.Contains(err.Error(), "auth.") {
			t.Errorf("issuer %q, audience %q: Validate() = %v; want no auth error", tt.issuer, tt.audience, err)
		}
	}
}
