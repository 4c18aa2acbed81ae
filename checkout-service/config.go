package main

import (
	"fmt"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/checkout-service/internal/web"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
)

// Config is checkout-service's configuration. Every key can be set in the YAML file
// named by --config or by the environment variable CHECKOUT_<SECTION>_<KEY>.
type Config struct {
	config.Common `mapstructure:",squash"`
	Magento       magento.Config `mapstructure:"magento"`
	Auth          Auth           `mapstructure:"auth"`
	Admin         Admin          `mapstructure:"admin"`
	Checkout      Checkout       `mapstructure:"checkout"`
	Routing       Routing        `mapstructure:"routing"`
	Web           web.Config     `mapstructure:"web"`
	// Gateways are the payment gateway accounts by instance name. Without
	// any, two sandbox gateways (sandbox-a, sandbox-b) serve the demo.
	Gateways map[string]Gateway `mapstructure:"gateways"`
}

// Auth configures customer access tokens from otp-service.
type Auth struct {
	// JWKSURL is otp-service's key set, e.g. http://127.0.0.1:8081/.well-known/jwks.json.
	// Empty: customer (bearer) sessions are refused; guest carts still work.
	JWKSURL  string `mapstructure:"jwks_url"`
	Issuer   string `mapstructure:"issuer"`
	Audience string `mapstructure:"audience"`
}

// Admin configures service callers (magento-bridge, operators).
type Admin struct {
	// ServiceTokens authorise refunds and the admin API (Authorization: Bearer).
	ServiceTokens []config.Secret `mapstructure:"service_tokens"`
}

// Checkout tunes sessions, payments and the workers.
type Checkout struct {
	SessionTTL         time.Duration `mapstructure:"session_ttl"`
	MaxAttempts        int           `mapstructure:"max_attempts"`
	CardRetryBudget    int           `mapstructure:"card_retry_budget"`
	CardBudgetWindow   time.Duration `mapstructure:"card_budget_window"`
	Capture            bool          `mapstructure:"capture"`
	AnnounceAuthorized bool          `mapstructure:"announce_authorized"`
	ChargeTimeout      time.Duration `mapstructure:"charge_timeout"`
	ReconcileAfter     time.Duration `mapstructure:"reconcile_after"`
	ReconcileEvery     time.Duration `mapstructure:"reconcile_every"`
	ActionTimeout      time.Duration `mapstructure:"action_timeout"`
	// PublicURL is this service's public origin (for the sandbox 3-D Secure
	// page and return URLs), e.g. https://secure.shop.example.
	PublicURL string `mapstructure:"public_url"`
	// Country is the merchant's country, the routing fact when no address is known.
	Country string `mapstructure:"country"`
	// RulesFile, when set, is the JSON or YAML rule document used until one
	// is saved through the admin API.
	RulesFile   string        `mapstructure:"rules_file"`
	RulesPoll   time.Duration `mapstructure:"rules_poll"`
	StatsEvery  time.Duration `mapstructure:"stats_every"`
	WebhookTick time.Duration `mapstructure:"webhook_tick"`
}

// Routing tunes success windows and circuit breakers.
type Routing struct {
	Window         time.Duration `mapstructure:"window"`
	TripRate       float64       `mapstructure:"trip_rate"`
	MinSamples     int64         `mapstructure:"min_samples"`
	Cooldown       time.Duration `mapstructure:"cooldown"`
	ProbeSuccesses int64         `mapstructure:"probe_successes"`
	ProbePercent   float64       `mapstructure:"probe_percent"`
}

// Gateway configures one gateway instance.
type Gateway struct {
	// Kind is sandbox, or a real adapter's kind (stripe, razorpay, paypal)
	// once registered in gatewayKinds.
	Kind       string   `mapstructure:"kind"`
	Enabled    bool     `mapstructure:"enabled"`
	Methods    []string `mapstructure:"methods"`
	Currencies []string `mapstructure:"currencies"`
	Countries  []string `mapstructure:"countries"`
	MinAmount  int64    `mapstructure:"min_amount"`
	MaxAmount  int64    `mapstructure:"max_amount"`
	// Fees is the routing fee model per method ("default" for the rest).
	Fees map[string]routing.Fee `mapstructure:"fees"`

	// Real adapters.
	BaseURL       string        `mapstructure:"base_url"`
	APIKey        config.Secret `mapstructure:"api_key"`
	KeyID         string        `mapstructure:"key_id"`
	ClientID      string        `mapstructure:"client_id"`
	ClientSecret  config.Secret `mapstructure:"client_secret"`
	WebhookID     string        `mapstructure:"webhook_id"`
	WebhookSecret config.Secret `mapstructure:"webhook_secret"`

	// Sandbox.
	Latency     time.Duration      `mapstructure:"latency"`
	SuccessRate float64            `mapstructure:"success_rate"`
	FailureCode string             `mapstructure:"failure_code"`
	FeeBps      int64              `mapstructure:"fee_bps"`
	FeeFixed    int64              `mapstructure:"fee_fixed"`
	Outages     []sandboxgw.Outage `mapstructure:"outages"`
	SettleAfter time.Duration      `mapstructure:"settle_after"`
}

// DefaultConfig returns the defaults, which run the demo on one machine.
func DefaultConfig() *Config {
	return &Config{
		Common: config.Common{
			Env:   "production",
			HTTP:  config.DefaultHTTP("127.0.0.1:8082"),
			Log:   config.Log{Level: "info"},
			MySQL: config.DefaultMySQL("checkout"),
			Redis: config.DefaultRedis("checkout:"),
		},
		Magento: magento.DefaultConfig(),
		Checkout: Checkout{SessionTTL: 30 * time.Minute, MaxAttempts: 3, CardRetryBudget: 10, CardBudgetWindow: 30 * 24 * time.Hour,
			Capture: true, ChargeTimeout: 60 * time.Second, ReconcileAfter: 30 * time.Second, ReconcileEvery: 2 * time.Second,
			ActionTimeout: 30 * time.Minute, PublicURL: "http://127.0.0.1:8082", Country: "US",
			RulesPoll: 2 * time.Second, StatsEvery: time.Second, WebhookTick: time.Second},
		Routing: Routing{Window: 15 * time.Minute, TripRate: 0.5, MinSamples: 20, Cooldown: 30 * time.Second, ProbeSuccesses: 3, ProbePercent: 10},
		Web:     web.DefaultConfig(),
	}
}

// DemoGateways are the sandbox gateways used when none are configured.
func DemoGateways() map[string]Gateway {
	sb := func(rate float64, bps, fixed int64) Gateway {
		return Gateway{Kind: "sandbox", Enabled: true, Methods: []string{"card", "upi", "netbanking", "wallet"},
			Currencies: []string{"USD", "EUR", "GBP", "INR"}, SuccessRate: rate, FeeBps: bps, FeeFixed: fixed,
			Latency: 20 * time.Millisecond, SettleAfter: 10 * time.Second, WebhookSecret: "whsec_sandbox_demo",
			Fees: map[string]routing.Fee{"default": {PercentBps: bps, Fixed: fixed}}}
	}
	return map[string]Gateway{"sandbox-a": sb(0.97, 290, 30), "sandbox-b": sb(0.92, 250, 25)}
}

// Base returns the common sections.
func (c *Config) Base() *config.Common { return &c.Common }

// Validate checks every section.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Common.Validate(); err != nil {
		p.Merge("", err)
	}
	p.Merge("magento", c.Magento.Validate())
	if c.Auth.JWKSURL != "" {
		p.URL("auth.jwks_url", c.Auth.JWKSURL)
	}
	for i, t := range c.Admin.ServiceTokens {
		if len(t.Reveal()) < 16 {
			p.Add(fmt.Sprintf("admin.service_tokens[%d]", i), "must be at least 16 characters")
		}
	}
	ck := c.Checkout
	for k, d := range map[string]time.Duration{"session_ttl": ck.SessionTTL, "charge_timeout": ck.ChargeTimeout,
		"reconcile_after": ck.ReconcileAfter, "reconcile_every": ck.ReconcileEvery, "action_timeout": ck.ActionTimeout,
		"rules_poll": ck.RulesPoll, "stats_every": ck.StatsEvery, "webhook_tick": ck.WebhookTick, "card_budget_window": ck.CardBudgetWindow} {
		if d <= 0 {
			p.Add("checkout."+k, "must be a positive duration, got %s", d)
		}
	}
	if ck.MaxAttempts < 1 || ck.MaxAttempts > 10 {
		p.Add("checkout.max_attempts", "must be between 1 and 10, got %d", ck.MaxAttempts)
	}
	if ck.CardRetryBudget < 1 || ck.CardRetryBudget > 15 {
		p.Add("checkout.card_retry_budget", "must be between 1 and 15 (scheme re-attempt limits), got %d", ck.CardRetryBudget)
	}
	p.URL("checkout.public_url", ck.PublicURL)
	wc := c.Web
	wc.PublicBaseURL = ck.PublicURL // the pages' origin is the service's public origin
	p.Merge("web", wc.Validate())
	if len(ck.Country) != 2 {
		p.Add("checkout.country", "must be an ISO 3166-1 alpha-2 code, got %q", ck.Country)
	}
	r := c.Routing
	if r.TripRate <= 0 || r.TripRate > 1 {
		p.Add("routing.trip_rate", "must be in (0, 1], got %v", r.TripRate)
	}
	if r.ProbePercent < 0 || r.ProbePercent > 100 {
		p.Add("routing.probe_percent", "must be between 0 and 100, got %v", r.ProbePercent)
	}
	if r.Window < time.Minute || r.Cooldown <= 0 || r.MinSamples < 1 || r.ProbeSuccesses < 1 {
		p.Add("routing", "window (>= 1m), cooldown, min_samples and probe_successes must be positive")
	}
	for name, g := range c.Gateways {
		k := "gateways." + name
		if _, ok := gatewayKinds[g.Kind]; !ok {
			p.Add(k+".kind", "%q is not a known gateway kind", g.Kind)
		}
		for _, m := range g.Methods {
			switch gateway.Method(m) {
			case gateway.Card, gateway.UPI, gateway.NetBanking, gateway.Wallet, gateway.PayPal:
			default:
				p.Add(k+".methods", "%q is not card, upi, netbanking, wallet or paypal", m)
			}
		}
		if len(g.Currencies) == 0 {
			p.Add(k+".currencies", "must list at least one ISO 4217 code")
		}
		if g.SuccessRate < 0 || g.SuccessRate > 1 {
			p.Add(k+".success_rate", "must be between 0 and 1")
		}
		for _, o := range g.Outages {
			if !sandboxgw.ValidOutage(o) {
				p.Add(k+".outages", "%q-%q is neither HH:MM-HH:MM nor two RFC 3339 times", o.Start, o.End)
			}
		}
	}
	return p.Err()
}
