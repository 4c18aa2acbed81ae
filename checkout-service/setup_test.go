package main

import (
	"os"
	"testing"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
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
