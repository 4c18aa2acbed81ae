package main

import (
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/otp-service/internal/delivery"
	"github.com/magefleet/platform/otp-service/internal/magentolink"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// Config is otp-service's configuration. Every key can be set in the YAML file
// named by --config or by the environment variable OTP_<SECTION>_<KEY>
// (maps such as otp.hash_keys only in the file).
type Config struct {
	config.Common `mapstructure:",squash"`
	OTP           otp.Config         `mapstructure:"otp" desc:"codes, limits, phone rules, pumping breaker, test numbers and identity policy"`
	Tokens        tokens.Config      `mapstructure:"tokens" desc:"access and refresh tokens issued after a verified code"`
	Delivery      delivery.Config    `mapstructure:"delivery" desc:"message routes and delivery providers"`
	Magento       magento.Config     `mapstructure:"magento" desc:"Magento store connection and admin authentication"`
	MagentoTokens magentolink.Config `mapstructure:"magento_tokens" desc:"caching of Magento customer tokens"`
	// AuditBuffer is how many audit events wait for the background writer.
	AuditBuffer int `mapstructure:"audit_buffer" desc:"audit events queued for the background database writer; events beyond it are dropped and counted; at least 100"`
	// AuditRetention is how long audit rows are kept; PurgeInterval how
	// often expired sessions and old audit rows are deleted.
	AuditRetention time.Duration `mapstructure:"audit_retention" desc:"how long audit rows are kept before the purge deletes them; at least 24h"`
	PurgeInterval  time.Duration `mapstructure:"purge_interval" desc:"how often refresh tokens of sessions that ended over a day ago and audit rows older than audit_retention are deleted; at least 1m"`
}

// DefaultConfig returns the defaults, which run the demo on one machine.
// Production must set otp.hash_keys, otp.fingerprint_key, tokens.signing_keys
// and real delivery routes.
func DefaultConfig() *Config {
	return &Config{
		Common: config.Common{
			Env:   "production",
			HTTP:  config.DefaultHTTP("127.0.0.1:8081"),
			Log:   config.Log{Level: "info"},
			MySQL: config.DefaultMySQL("otp"),
			Redis: config.DefaultRedis("otp:"),
		},
		OTP:            otp.DefaultConfig(),
		Tokens:         tokens.DefaultConfig(),
		Delivery:       delivery.DefaultConfig(),
		Magento:        magento.DefaultConfig(),
		MagentoTokens:  magentolink.DefaultConfig(),
		AuditBuffer:    50000,
		AuditRetention: 400 * 24 * time.Hour,
		PurgeInterval:  time.Hour,
	}
}

// Base returns the common sections.
func (c *Config) Base() *config.Common { return &c.Common }

// Validate checks every section. In env development, missing secrets are
// filled with fixed development values (and the sandbox Magento's admin
// user), a signing key is generated at start and the sandbox endpoint is on, so `OTP_ENV=development otp-service` runs
// with no configuration file.
func (c *Config) Validate() error {
	if c.Development() {
		c.devDefaults()
	}
	var p config.Problems
	if err := c.Common.Validate(); err != nil {
		p.Merge("", err)
	}
	p.Merge("otp", c.OTP.Validate())
	p.Merge("tokens", c.Tokens.Validate())
	p.Merge("delivery", c.Delivery.Validate())
	p.Merge("magento", c.Magento.Validate())
	p.Merge("magento_tokens", c.MagentoTokens.Validate())
	if !c.Development() {
		if c.OTP.Sandbox {
			p.Add("otp.sandbox", "is only allowed with env development")
		}
		if c.Tokens.GenerateDevKey {
			p.Add("tokens.generate_dev_key", "is only allowed with env development: instances must share signing keys")
		}
		for route, names := range c.Delivery.Routes {
			for _, n := range names {
				if n == "sandbox" {
					p.Add("delivery.routes", "%s routes to the sandbox provider, which is only allowed with env development", route)
				}
			}
		}
	}
	if c.AuditBuffer < 100 {
		p.Add("audit_buffer", "must be at least 100")
	}
	if c.AuditRetention < 24*time.Hour {
		p.Add("audit_retention", "must be at least 24h")
	}
	if c.PurgeInterval < time.Minute {
		p.Add("purge_interval", "must be at least 1m")
	}
	return p.Err()
}

const devSecret = "development-only-secret-do-not-use-in-production"

func (c *Config) devDefaults() {
	if len(c.OTP.HashKeys) == 0 {
		c.OTP.HashKeys = map[string]config.Secret{"dev": devSecret}
		c.OTP.ActiveHashKey = "dev"
		c.OTP.Sandbox = true
	}
	if c.OTP.FingerprintKey == "" {
		c.OTP.FingerprintKey = devSecret
	}
	if len(c.Tokens.SigningKeys) == 0 {
		c.Tokens.GenerateDevKey = true
	}
	if c.Magento.AuthMode == magento.AuthAdminPassword && c.Magento.AdminUsername == "" && c.Magento.AdminPassword == "" {
		// The sandbox Magento's seeded admin user.
		c.Magento.AdminUsername, c.Magento.AdminPassword = "admin", "admin123"
	}
}
