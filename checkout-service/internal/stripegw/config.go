package stripegw

import (
	"strings"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/config"
)

// Config configures one Stripe account. Keys are snake_case for the service's
// YAML file and environment.
type Config struct {
	// Name is the instance name the router knows the gateway by.
	Name string `mapstructure:"name"`
	// SecretKey is the account's secret or restricted key (sk_... or rk_...).
	SecretKey config.Secret `mapstructure:"secret_key"`
	// WebhookSecret is the endpoint's signing secret (whsec_...).
	WebhookSecret config.Secret `mapstructure:"webhook_secret"`
	// BaseURL is the API's address; stripe-mock's in tests.
	BaseURL string `mapstructure:"base_url"`
	// Timeout bounds one HTTP exchange when New builds the HTTP client.
	Timeout time.Duration `mapstructure:"timeout"`
	// WebhookTolerance is how old a webhook's signature timestamp may be.
	WebhookTolerance time.Duration `mapstructure:"webhook_tolerance"`
	// LookupWindow is how far back Lookup lists recent PaymentIntents when
	// search (which lags writes by up to about a minute) finds nothing.
	LookupWindow time.Duration `mapstructure:"lookup_window"`
	// LookupScanLimit caps the PaymentIntents that scan reads; past it
	// Lookup answers Unknown rather than NotFound.
	LookupScanLimit int `mapstructure:"lookup_scan_limit"`
	// Capabilities describe what the account can take, for eligibility.
	Capabilities Capabilities `mapstructure:"capabilities"`
}

// Capabilities configure gateway.Capabilities.
type Capabilities = gateway.CapabilitiesConfig

// DefaultConfig returns the defaults: the live API, cards in USD, EUR and GBP.
func DefaultConfig() Config {
	return Config{
		Name:             "stripe",
		BaseURL:          "https://api.stripe.com",
		Timeout:          30 * time.Second,
		WebhookTolerance: 5 * time.Minute,
		LookupWindow:     30 * time.Minute,
		LookupScanLimit:  500,
		Capabilities: Capabilities{
			Methods:    []string{string(gateway.Card)},
			Currencies: []string{"USD", "EUR", "GBP"},
			MinAmount:  50,
		},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var p config.Problems
	if c.Name == "" {
		p.Add("name", "is required")
	}
	key := c.SecretKey.Reveal()
	if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
		p.Add("secret_key", "must be a Stripe secret (sk_...) or restricted (rk_...) key")
	}
	if c.WebhookSecret == "" {
		p.Add("webhook_secret", "is required")
	}
	p.URL("base_url", c.BaseURL)
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	if c.WebhookTolerance <= 0 {
		p.Add("webhook_tolerance", "must be positive")
	}
	if c.LookupWindow <= 0 {
		p.Add("lookup_window", "must be positive")
	}
	if c.LookupScanLimit <= 0 {
		p.Add("lookup_scan_limit", "must be positive")
	}
	p.Merge("capabilities", c.Capabilities.Validate("Stripe", gateway.Card, gateway.Wallet))
	return p.Err()
}
