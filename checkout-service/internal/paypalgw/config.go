package paypalgw

import (
	"strings"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/config"
)

// Config configures one PayPal REST app. Keys are snake_case for the
// service's YAML file and environment.
type Config struct {
	// Name is the instance name the router knows the gateway by.
	Name string `mapstructure:"name"`
	// ClientID and ClientSecret are the REST app's credentials, exchanged
	// for OAuth2 access tokens (client credentials grant).
	ClientID     string        `mapstructure:"client_id"`
	ClientSecret config.Secret `mapstructure:"client_secret"`
	// WebhookID is the id of the webhook registered for this app; PayPal
	// verifies deliveries against it.
	WebhookID string `mapstructure:"webhook_id"`
	// BaseURL is the API's address: https://api-m.paypal.com live,
	// https://api-m.sandbox.paypal.com in the sandbox.
	BaseURL string `mapstructure:"base_url"`
	// Timeout bounds one HTTP exchange when New builds the HTTP client.
	Timeout time.Duration `mapstructure:"timeout"`
	// WebhookTolerance is how far a webhook's PAYPAL-TRANSMISSION-TIME may
	// be from now.
	WebhookTolerance time.Duration `mapstructure:"webhook_tolerance"`
	// CertHosts lists the hosts a webhook's PAYPAL-CERT-URL may name; any
	// other host is refused before verification.
	CertHosts []string `mapstructure:"cert_hosts"`
	// BrandName, when set, replaces the business name on PayPal's pages.
	BrandName string `mapstructure:"brand_name"`
	// Capabilities describe what the account can take, for eligibility.
	Capabilities Capabilities `mapstructure:"capabilities"`
}

// Capabilities configure gateway.Capabilities.
type Capabilities = gateway.CapabilitiesConfig

// DefaultConfig returns the defaults: the live API, PayPal wallets in USD,
// EUR and GBP, and PayPal's own certificate hosts.
func DefaultConfig() Config {
	return Config{
		Name:             "paypal",
		BaseURL:          "https://api-m.paypal.com",
		Timeout:          30 * time.Second,
		WebhookTolerance: 15 * time.Minute,
		CertHosts:        []string{"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"},
		Capabilities: Capabilities{
			Methods:    []string{string(gateway.PayPal)},
			Currencies: []string{"USD", "EUR", "GBP"},
		},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var p config.Problems
	if c.Name == "" {
		p.Add("name", "is required")
	}
	if c.ClientID == "" {
		p.Add("client_id", "is required")
	}
	if c.ClientSecret == "" {
		p.Add("client_secret", "is required")
	}
	if c.WebhookID == "" {
		p.Add("webhook_id", "is required")
	}
	p.URL("base_url", c.BaseURL)
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	if c.WebhookTolerance <= 0 {
		p.Add("webhook_tolerance", "must be positive")
	}
	if len(c.CertHosts) == 0 {
		p.Add("cert_hosts", "must list PayPal's certificate hosts")
	}
	for _, h := range c.CertHosts {
		if h == "" || strings.ContainsAny(h, "/:") {
			p.Add("cert_hosts", "must be bare host names, got %q", h)
		}
	}
	p.Merge("capabilities", c.Capabilities.Validate("PayPal", gateway.PayPal))
	return p.Err()
}
