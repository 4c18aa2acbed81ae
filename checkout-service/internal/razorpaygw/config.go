package razorpaygw

import (
	"strings"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/config"
)

// Config configures one Razorpay account. Keys are snake_case for the
// service's YAML file and environment.
type Config struct {
	// Name is the instance name the router knows the gateway by.
	Name string `mapstructure:"name"`
	// KeyID is the API key id (rzp_live_... or rzp_test_...); it is public
	// and goes to Razorpay Checkout.
	KeyID string `mapstructure:"key_id"`
	// KeySecret is the API key secret; it also signs Checkout callbacks.
	KeySecret config.Secret `mapstructure:"key_secret"`
	// WebhookSecret signs webhooks (X-Razorpay-Signature).
	WebhookSecret config.Secret `mapstructure:"webhook_secret"`
	// BaseURL is the API's address, without /v1.
	BaseURL string `mapstructure:"base_url"`
	// Timeout bounds one HTTP exchange when New builds the HTTP client.
	Timeout time.Duration `mapstructure:"timeout"`
	// WebhookMaxAge refuses webhooks whose created_at is older; Razorpay
	// retries failed deliveries for 24 hours.
	WebhookMaxAge time.Duration `mapstructure:"webhook_max_age"`
	// Capabilities describe what the account can take, for eligibility.
	Capabilities Capabilities `mapstructure:"capabilities"`
}

// Capabilities configure gateway.Capabilities.
type Capabilities = gateway.CapabilitiesConfig

// DefaultConfig returns the defaults: the live API; cards, UPI, netbanking
// and wallets in INR from 1 rupee.
func DefaultConfig() Config {
	return Config{
		Name:          "razorpay",
		BaseURL:       "https://api.razorpay.com",
		Timeout:       30 * time.Second,
		WebhookMaxAge: 48 * time.Hour,
		Capabilities: Capabilities{
			Methods:    []string{string(gateway.Card), string(gateway.UPI), string(gateway.NetBanking), string(gateway.Wallet)},
			Currencies: []string{"INR"},
			MinAmount:  minAmount,
		},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var p config.Problems
	if c.Name == "" {
		p.Add("name", "is required")
	}
	if !strings.HasPrefix(c.KeyID, "rzp_") {
		p.Add("key_id", "must be a Razorpay key id (rzp_...)")
	}
	if c.KeySecret == "" {
		p.Add("key_secret", "is required")
	}
	if c.WebhookSecret == "" {
		p.Add("webhook_secret", "is required")
	}
	p.URL("base_url", c.BaseURL)
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	if c.WebhookMaxAge <= 0 {
		p.Add("webhook_max_age", "must be positive")
	}
	p.Merge("capabilities", c.Capabilities.Validate("Razorpay", methods...))
	return p.Err()
}

var methods = []gateway.Method{gateway.Card, gateway.UPI, gateway.NetBanking, gateway.Wallet}
