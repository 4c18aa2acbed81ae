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
	Magento       magento.Config `mapstructure:"magento" desc:"Magento store connection and admin authentication"`
	Auth          Auth           `mapstructure:"auth" desc:"verification of customer access tokens issued by otp-service"`
	Admin         Admin          `mapstructure:"admin" desc:"credentials of service callers (magento-bridge, operators)"`
	Checkout      Checkout       `mapstructure:"checkout" desc:"checkout sessions, payment attempts and background workers"`
	Routing       Routing        `mapstructure:"routing" desc:"gateway success-rate windows and circuit breakers"`
	Web           web.Config     `mapstructure:"web" desc:"hosted secure checkout pages"`
	// Gateways are the payment gateway accounts by instance name. Without
	// any, two sandbox gateways (sandbox-a, sandbox-b) serve the demo.
	Gateways map[string]Gateway `mapstructure:"gateways" desc:"map of gateway instance name to its account: kind (sandbox, stripe, razorpay or paypal), enabled, methods, currencies, countries, min_amount, max_amount, fees, credentials (base_url, api_key, key_id, client_id, client_secret, webhook_id, webhook_secret) and sandbox settings; without any, demo gateways sandbox-a and sandbox-b are used"`
}

// Auth configures customer access tokens from otp-service.
type Auth struct {
	// JWKSURL is otp-service's key set, e.g. http://127.0.0.1:8081/.well-known/jwks.json.
	// Empty: customer (bearer) sessions are refused; guest carts still work.
	JWKSURL  string `mapstructure:"jwks_url" desc:"URL of otp-service's JWKS used to verify customer access tokens, e.g. http://127.0.0.1:8081/.well-known/jwks.json; empty refuses customer (bearer) sessions, guest carts still work"`
	Issuer   string `mapstructure:"issuer" desc:"required iss claim of customer access tokens (otp-service's tokens.issuer); must be set with jwks_url"`
	Audience string `mapstructure:"audience" desc:"required aud claim of customer access tokens (one of otp-service's tokens.audience); must be set with jwks_url"`
}

// Admin configures service callers (magento-bridge, operators).
type Admin struct {
	// ServiceTokens authorise refunds and the admin API (Authorization: Bearer).
	ServiceTokens []config.Secret `mapstructure:"service_tokens" desc:"bearer tokens (at least 16 characters each) that authorise refunds and the admin API"`
}

// Checkout tunes sessions, payments and the workers.
type Checkout struct {
	SessionTTL         time.Duration `mapstructure:"session_ttl" desc:"lifetime of a checkout session"`
	MaxAttempts        int           `mapstructure:"max_attempts" desc:"maximum gateways tried for one payment request (failover cascade), 1 to 10"`
	CardRetryBudget    int           `mapstructure:"card_retry_budget" desc:"issuer declines allowed per card (token fingerprint) within card_budget_window before it is refused, 1 to 15"`
	CardBudgetWindow   time.Duration `mapstructure:"card_budget_window" desc:"period over which a card's declines are counted for card_retry_budget"`
	Capture            bool          `mapstructure:"capture" desc:"capture payments at once; false only authorises them"`
	AnnounceAuthorized bool          `mapstructure:"announce_authorized" desc:"also announce authorised (not yet captured) payments to Magento through the outbox"`
	ChargeTimeout      time.Duration `mapstructure:"charge_timeout" desc:"maximum time of the gateway work for one payment request; it continues if the client goes away"`
	ReconcileAfter     time.Duration `mapstructure:"reconcile_after" desc:"delay before an in-flight payment with an unknown outcome is first reconciled with its gateway, and between later reconciliations"`
	ReconcileEvery     time.Duration `mapstructure:"reconcile_every" desc:"how often the reconciler looks for payments due for reconciliation"`
	ActionTimeout      time.Duration `mapstructure:"action_timeout" desc:"how long a shopper has to complete a gateway action such as 3-D Secure"`
	// PublicURL is this service's public origin (for the sandbox 3-D Secure
	// page and return URLs), e.g. https://secure.shop.example.
	PublicURL string `mapstructure:"public_url" desc:"public origin of this service, for the checkout pages, the sandbox 3-D Secure page and gateway return URLs, e.g. https://secure.shop.example"`
	// Country is the merchant's country, the routing fact when no address is known.
	Country string `mapstructure:"country" desc:"merchant country (ISO 3166-1 alpha-2), the routing fact when no address is known"`
	// RulesFile, when set, is the JSON or YAML rule document used until one
	// is saved through the admin API.
	RulesFile   string        `mapstructure:"rules_file" desc:"JSON or YAML routing rule document used until one is saved through the admin API; empty uses the built-in success-rate rules"`
	RulesPoll   time.Duration `mapstructure:"rules_poll" desc:"how often saved routing rules are reloaded from the database"`
	StatsEvery  time.Duration `mapstructure:"stats_every" desc:"how often gateway success rates and breaker states are refreshed from Redis"`
	WebhookTick time.Duration `mapstructure:"webhook_tick" desc:"how often received gateway webhooks are claimed and applied"`
}

// Routing tunes success windows and circuit breakers.
type Routing struct {
	Window         time.Duration `mapstructure:"window" desc:"how far back gateway success and error rates look, in one-minute buckets; at least 1m"`
	TripRate       float64       `mapstructure:"trip_rate" desc:"technical error rate (0 to 1) in the window that opens a gateway's breaker once min_samples attempts are in it"`
	MinSamples     int64         `mapstructure:"min_samples" desc:"attempts a gateway needs in the window before its breaker can trip"`
	Cooldown       time.Duration `mapstructure:"cooldown" desc:"how long an open breaker stays open before the gateway is probed (half-open)"`
	ProbeSuccesses int64         `mapstructure:"probe_successes" desc:"successful probe payments that close a half-open breaker"`
	ProbePercent   float64       `mapstructure:"probe_percent" desc:"percentage (0 to 100) of routing decisions that may send a payment to a half-open gateway as a probe"`
}

// Gateway configures one gateway instance.
type Gateway struct {
	// Kind is sandbox, or a real adapter's kind (stripe, razorpay, paypal)
	// once registered in gatewayKinds.
	Kind       string   `mapstructure:"kind" desc:"gateway adapter: sandbox, stripe, razorpay or paypal"`
	Enabled    bool     `mapstructure:"enabled" desc:"whether routing may send payments to this gateway"`
	Methods    []string `mapstructure:"methods" desc:"payment methods offered: card, upi, netbanking, wallet, paypal"`
	Currencies []string `mapstructure:"currencies" desc:"ISO 4217 currency codes accepted; at least one"`
	Countries  []string `mapstructure:"countries" desc:"ISO 3166-1 alpha-2 countries served; empty serves any"`
	MinAmount  int64    `mapstructure:"min_amount" desc:"smallest amount accepted, in minor units; 0 means no minimum"`
	MaxAmount  int64    `mapstructure:"max_amount" desc:"largest amount accepted, in minor units; 0 means no maximum"`
	// Fees is the routing fee model per method ("default" for the rest).
	Fees map[string]routing.Fee `mapstructure:"fees" desc:"map of payment method (or default for the others) to its fee: percent_bps, fixed and optional addons; used by cost-based routing"`

	// Real adapters.
	BaseURL       string        `mapstructure:"base_url" desc:"override of the gateway API base URL (stripe, razorpay, paypal); empty uses the adapter's default"`
	APIKey        config.Secret `mapstructure:"api_key" desc:"Stripe secret key, or Razorpay key secret"`
	KeyID         string        `mapstructure:"key_id" desc:"Razorpay key id"`
	ClientID      string        `mapstructure:"client_id" desc:"PayPal REST client id"`
	ClientSecret  config.Secret `mapstructure:"client_secret" desc:"PayPal REST client secret"`
	WebhookID     string        `mapstructure:"webhook_id" desc:"PayPal webhook id, used to verify PayPal webhooks"`
	WebhookSecret config.Secret `mapstructure:"webhook_secret" desc:"webhook signing secret for stripe, razorpay and sandbox gateways"`

	// Sandbox.
	Latency     time.Duration      `mapstructure:"latency" desc:"sandbox: delay added to every charge"`
	SuccessRate float64            `mapstructure:"success_rate" desc:"sandbox: share (0 to 1) of tok_sandbox_ok charges that succeed; the others fail with failure_code"`
	FailureCode string             `mapstructure:"failure_code" desc:"sandbox: decline code of a failed tok_sandbox_ok charge; empty means processing_error"`
	FeeBps      int64              `mapstructure:"fee_bps" desc:"sandbox: fee the gateway reports, in basis points of the amount (added to fee_fixed)"`
	FeeFixed    int64              `mapstructure:"fee_fixed" desc:"sandbox: fixed fee the gateway reports per charge, in minor units"`
	Outages     []sandboxgw.Outage `mapstructure:"outages" desc:"sandbox: windows when the gateway cannot be reached, each with start and end as HH:MM (daily, UTC) or RFC 3339 times"`
	SettleAfter time.Duration      `mapstructure:"settle_after" desc:"sandbox: how long a tok_sandbox_timeout charge stays processing before it is captured"`
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
		// otp-service always signs both; without the checks a token of any
		// other issuer or audience signed by a published key would pass.
		if c.Auth.Issuer == "" {
			p.Add("auth.issuer", "must be set with auth.jwks_url (otp-service's tokens.issuer)")
		}
		if c.Auth.Audience == "" {
			p.Add("auth.audience", "must be set with auth.jwks_url (one of otp-service's tokens.audience)")
		}
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
