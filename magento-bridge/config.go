package main

import (
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
)

// Config is magento-bridge's configuration. Every key can be set in the YAML file
// named by --config or by the environment variable BRIDGE_<SECTION>_<KEY>.
type Config struct {
	config.Common `mapstructure:",squash"`
	// Magento is the store orders are placed in (admin credentials).
	Magento magento.Config `mapstructure:"magento"`
	// Checkout is checkout-service's API, for refunds, voids and captures.
	Checkout checkoutapi.Config `mapstructure:"checkout"`
	// Bridge tunes the order, refund and capture sync.
	Bridge Bridge `mapstructure:"bridge"`
}

// Bridge is the bridge's own section.
type Bridge struct {
	// InstanceID names this instance in leases and histories; empty picks
	// host name, process id and a random suffix.
	InstanceID string `mapstructure:"instance_id" desc:"names this instance in leases and histories; empty: host-pid-random"`
	// Workers is how many events this instance processes at once.
	Workers int `mapstructure:"workers" desc:"events this instance works on at once"`
	// MagentoConcurrency caps requests in flight to Magento across all
	// instances (a Redis semaphore); the cap shrinks when Magento slows down
	// or fails and grows back when it recovers.
	MagentoConcurrency int `mapstructure:"magento_concurrency" desc:"cap on requests in flight to Magento across all instances (Redis semaphore, adaptive)"`
	// SlowThreshold is the Magento latency treated as a sign of overload.
	SlowThreshold time.Duration `mapstructure:"slow_threshold" desc:"Magento latency treated as overload (the cap shrinks)"`
	// Lease is how long a claimed event stays with its worker without
	// renewal; at least three times magento.timeout.
	Lease        time.Duration `mapstructure:"lease" desc:"how long a claimed event stays with its worker without renewal (>= 3 x magento.timeout)"`
	PollInterval time.Duration `mapstructure:"poll_interval" desc:"how long an idle worker waits before claiming again"`
	RetryBase    time.Duration `mapstructure:"retry_base" desc:"first retry delay (doubles per attempt, with jitter)"`
	RetryMax     time.Duration `mapstructure:"retry_max" desc:"longest retry delay"`
	// MaxAttempts and MaxAge turn an event that keeps failing into a dead
	// letter.
	MaxAttempts int           `mapstructure:"max_attempts" desc:"attempts before an event becomes a dead letter"`
	MaxAge      time.Duration `mapstructure:"max_age" desc:"age after which a failing event becomes a dead letter"`
	// PaymentMethod is the offline Magento method: purchaseorder or checkmo.
	PaymentMethod string `mapstructure:"payment_method" desc:"offline Magento payment method: purchaseorder (po_number = gateway and transaction id) or checkmo"`
	// RefundUnplaceable refunds a captured payment whose cart cannot become
	// an order (the operator is alerted either way).
	RefundUnplaceable bool `mapstructure:"refund_unplaceable" desc:"refund a captured payment whose cart cannot become an order (the operator is alerted either way)"`
	// AdminToken guards /v1/admin/; empty disables the admin API.
	AdminToken config.Secret `mapstructure:"admin_token" desc:"bearer token of /v1/admin/ (dead letters); empty disables it"`
	// RefundPollInterval is how often credit memos and cancellations are
	// polled; RefundLookback is how far back the first poll looks.
	RefundPollInterval time.Duration `mapstructure:"refund_poll_interval" desc:"how often credit memos and cancellations are polled"`
	RefundLookback     time.Duration `mapstructure:"refund_lookback" desc:"how far back the first credit-memo poll looks"`
	// CapturePollInterval is how often invoices are polled: an invoice made
	// in Magento's admin on a platform order whose payment was only
	// authorised (checkout.capture false) is captured through checkout once.
	// CaptureLookback is how far back the first invoice poll looks.
	CapturePollInterval time.Duration `mapstructure:"capture_poll_interval" desc:"how often Magento invoices are polled to capture authorised-only payments through checkout"`
	CaptureLookback     time.Duration `mapstructure:"capture_lookback" desc:"how far back the first invoice poll looks"`
	// ForeignOrderPollInterval is how often Magento's new orders are checked
	// for ones paid with the bridge's offline method that the platform did
	// not place; ForeignOrderAction is what is done about each: "alert" logs
	// an ALERT, counts it, records it for /v1/status and comments on the
	// order once. ("cancel" is refused: the Magento client cannot cancel.)
	ForeignOrderPollInterval time.Duration `mapstructure:"foreign_order_poll_interval" desc:"how often new Magento orders are checked for ones with the bridge's payment method the platform did not place (unpaid)"`
	ForeignOrderAction       string        `mapstructure:"foreign_order_action" desc:"what is done about such an order: alert (ALERT log, bridge_foreign_orders_total, /v1/status, a do-not-ship comment on the order)"`
	// StatusInterval is how often the backlog gauges are refreshed.
	StatusInterval time.Duration `mapstructure:"status_interval" desc:"how often the backlog gauges are refreshed"`
}

// sandboxAdminPassword is the sandbox Magento's seeded admin password: a
// default for the demo, refused in production.
const sandboxAdminPassword = "admin123"

// DefaultConfig returns the defaults, which run the demo on one machine.
func DefaultConfig() *Config {
	mc := magento.DefaultConfig()
	mc.AdminUsername, mc.AdminPassword = "admin", sandboxAdminPassword // the sandbox's seeded admin
	mc.Timeout = 20 * time.Second
	mc.MaxConcurrent = 32
	return &Config{
		Common: config.Common{
			Env:   "production",
			HTTP:  config.DefaultHTTP("127.0.0.1:8083"),
			Log:   config.Log{Level: "info"},
			MySQL: config.DefaultMySQL("bridge"),
			Redis: config.DefaultRedis("bridge:"),
		},
		Magento:  mc,
		Checkout: checkoutapi.Config{BaseURL: "http://127.0.0.1:8082", ServiceToken: "dev-service-token", Timeout: 15 * time.Second},
		Bridge: Bridge{
			Workers:            16,
			MagentoConcurrency: 8,
			SlowThreshold:      5 * time.Second,
			Lease:              90 * time.Second,
			PollInterval:       500 * time.Millisecond,
			RetryBase:          2 * time.Second,
			RetryMax:           5 * time.Minute,
			MaxAttempts:        25,
			MaxAge:             72 * time.Hour,
			PaymentMethod:      "purchaseorder",
			RefundPollInterval: 30 * time.Second,
			RefundLookback:     24 * time.Hour,
			StatusInterval:     5 * time.Second,

			CapturePollInterval: 30 * time.Second,
			CaptureLookback:     24 * time.Hour,

			ForeignOrderPollInterval: time.Minute,
			ForeignOrderAction:       "alert",
		},
	}
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
	if c.Env == "production" && (c.Magento.AuthMode == magento.AuthAdminPassword || c.Magento.AuthMode == magento.AuthAdminTFA) &&
		c.Magento.AdminPassword.Reveal() == sandboxAdminPassword {
		p.Add("magento.admin_password", "is the sandbox's default; set the store's admin password (or use env development)")
	}
	p.Merge("checkout", c.Checkout.Validate())
	b := c.Bridge
	if b.Workers < 1 || b.Workers > 512 {
		p.Add("bridge.workers", "must be between 1 and 512, got %d", b.Workers)
	}
	if b.MagentoConcurrency < 1 {
		p.Add("bridge.magento_concurrency", "must be at least 1, got %d", b.MagentoConcurrency)
	}
	if b.Lease < 3*c.Magento.Timeout {
		p.Add("bridge.lease", "must be at least three times magento.timeout (%s), got %s", c.Magento.Timeout, b.Lease)
	}
	for k, d := range map[string]time.Duration{"bridge.poll_interval": b.PollInterval, "bridge.retry_base": b.RetryBase,
		"bridge.refund_poll_interval": b.RefundPollInterval, "bridge.status_interval": b.StatusInterval, "bridge.slow_threshold": b.SlowThreshold,
		"bridge.foreign_order_poll_interval": b.ForeignOrderPollInterval, "bridge.capture_poll_interval": b.CapturePollInterval} {
		if d <= 0 {
			p.Add(k, "must be a positive duration, got %s", d)
		}
	}
	if b.RetryMax < b.RetryBase {
		p.Add("bridge.retry_max", "must be at least bridge.retry_base")
	}
	if b.MaxAttempts < 1 {
		p.Add("bridge.max_attempts", "must be at least 1")
	}
	if b.MaxAge < 0 || b.RefundLookback < 0 {
		p.Add("bridge.max_age", "max_age and refund_lookback must not be negative")
	}
	if b.CaptureLookback < 0 {
		p.Add("bridge.capture_lookback", "must not be negative, got %s", b.CaptureLookback)
	}
	if b.PaymentMethod != "purchaseorder" && b.PaymentMethod != "checkmo" {
		p.Add("bridge.payment_method", "must be purchaseorder or checkmo, got %q", b.PaymentMethod)
	}
	switch b.ForeignOrderAction {
	case "alert":
	case "cancel":
		p.Add("bridge.foreign_order_action", "cancel is not supported (the Magento client has no cancel operation); use alert")
	default:
		p.Add("bridge.foreign_order_action", "must be alert, got %q", b.ForeignOrderAction)
	}
	if c.Env == "production" && b.AdminToken != "" && len(b.AdminToken.Reveal()) < 16 {
		p.Add("bridge.admin_token", "must be at least 16 characters")
	}
	return p.Err()
}
