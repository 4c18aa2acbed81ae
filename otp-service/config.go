package main

import (
	"github.com/magefleet/platform/internal/config"
)

// Config is otp-service's configuration. Every key can be set in the YAML file
// named by --config or by the environment variable OTP_<SECTION>_<KEY>.
type Config struct {
	config.Common `mapstructure:",squash"`
}

// DefaultConfig returns the defaults, which run the demo on one machine.
func DefaultConfig() *Config {
	return &Config{
		Common: config.Common{
			Env:   "production",
			HTTP:  config.DefaultHTTP("127.0.0.1:8081"),
			Log:   config.Log{Level: "info"},
			MySQL: config.DefaultMySQL("otp"),
			Redis: config.DefaultRedis("otp:"),
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
	return p.Err()
}
