package main

import (
	"github.com/magefleet/platform/internal/config"
)

// Config is magento-bridge's configuration. Every key can be set in the YAML file
// named by --config or by the environment variable BRIDGE_<SECTION>_<KEY>.
type Config struct {
	config.Common `mapstructure:",squash"`
}

// DefaultConfig returns the defaults, which run the demo on one machine.
func DefaultConfig() *Config {
	return &Config{
		Common: config.Common{
			Env:   "production",
			HTTP:  config.DefaultHTTP("127.0.0.1:8083"),
			Log:   config.Log{Level: "info"},
			MySQL: config.DefaultMySQL("bridge"),
			Redis: config.DefaultRedis("bridge:"),
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
