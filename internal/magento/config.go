package magento

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/magefleet/platform/internal/config"
)

// Authentication modes for admin (back-office) operations.
const (
	// AuthAdminPassword gets an admin user token from
	// POST /V1/integration/admin/token (Magento_TwoFactorAuth disabled).
	AuthAdminPassword = "admin_password"
	// AuthAdminTFA gets an admin user token from
	// POST /V1/tfa/provider/google/authenticate with a TOTP computed from
	// admin_totp_secret (Magento 2.4 default: Two-Factor Auth enabled).
	AuthAdminTFA = "admin_tfa"
	// AuthOAuth1 signs every admin request with the integration's OAuth 1.0a
	// credentials (HMAC-SHA256); integration tokens never expire.
	AuthOAuth1 = "oauth1"
	// AuthBearerIntegration sends the integration access token as a bearer
	// token; the store needs oauth/consumer/enable_integration_as_bearer = 1.
	AuthBearerIntegration = "bearer_integration"
)

// Config configures a Client. It is embedded in a service's configuration
// under the key "magento"; every key is snake_case.
type Config struct {
	// BaseURL is the store's origin, e.g. https://shop.example.com; the
	// client adds /rest/<store_code>/V1/... and /graphql.
	BaseURL string `mapstructure:"base_url"`
	// StoreCode selects the store view in /rest/<store_code>/V1; "default"
	// unless the store has several views.
	StoreCode string `mapstructure:"store_code"`
	// Timeout bounds each HTTP attempt.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxConcurrent caps requests in flight to Magento from this client;
	// Magento serves only a few uncached requests per core at a time.
	MaxConcurrent int `mapstructure:"max_concurrent"`
	// ReadRetries is how many times a failed read (GET) is retried after the
	// first attempt; writes are never retried blindly.
	ReadRetries int `mapstructure:"read_retries"`
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff with
	// full jitter between read attempts.
	RetryBaseDelay time.Duration `mapstructure:"retry_base_delay"`
	RetryMaxDelay  time.Duration `mapstructure:"retry_max_delay"`

	// AuthMode is one of admin_password, admin_tfa, oauth1, bearer_integration.
	AuthMode          string        `mapstructure:"auth_mode"`
	AdminUsername     string        `mapstructure:"admin_username"`
	AdminPassword     config.Secret `mapstructure:"admin_password"`
	AdminTOTPSecret   config.Secret `mapstructure:"admin_totp_secret"`
	ConsumerKey       string        `mapstructure:"consumer_key"`
	ConsumerSecret    config.Secret `mapstructure:"consumer_secret"`
	AccessToken       config.Secret `mapstructure:"access_token"`
	AccessTokenSecret config.Secret `mapstructure:"access_token_secret"`
	// AdminTokenLifetime is Magento's admin token lifetime
	// (oauth/access_token_lifetime/admin, 4 h by default); RenewBefore is how
	// long before its end a cached token is replaced.
	AdminTokenLifetime time.Duration `mapstructure:"admin_token_lifetime"`
	RenewBefore        time.Duration `mapstructure:"renew_before"`
	// TokenCachePrefix prefixes the keys of cached admin tokens.
	TokenCachePrefix string `mapstructure:"token_cache_prefix"`
}

// DefaultConfig returns a configuration for a store on localhost with the
// admin_password mode and conservative limits.
func DefaultConfig() Config {
	return Config{
		BaseURL:            "http://127.0.0.1:8090",
		StoreCode:          "default",
		Timeout:            30 * time.Second,
		MaxConcurrent:      8,
		ReadRetries:        2,
		RetryBaseDelay:     100 * time.Millisecond,
		RetryMaxDelay:      2 * time.Second,
		AuthMode:           AuthAdminPassword,
		AdminTokenLifetime: 4 * time.Hour,
		RenewBefore:        10 * time.Minute,
		TokenCachePrefix:   "magento:admin-token:",
	}
}

var storeCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate reports every bad key as a config.Problems error naming it.
func (c Config) Validate() error {
	var p config.Problems
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		p.Add("base_url", "is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.Add("base_url", "must be an absolute http(s) URL, got %q", c.BaseURL)
	case strings.Contains(u.Path, "/rest"):
		p.Add("base_url", "must be the store origin without /rest, got %q", c.BaseURL)
	}
	if !storeCodeRE.MatchString(c.StoreCode) {
		p.Add("store_code", "must be a Magento store code like default, got %q", c.StoreCode)
	}
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	if c.MaxConcurrent < 1 {
		p.Add("max_concurrent", "must be at least 1")
	}
	if c.ReadRetries < 0 || c.ReadRetries > 10 {
		p.Add("read_retries", "must be between 0 and 10")
	}
	if c.RetryBaseDelay < 0 || c.RetryMaxDelay < c.RetryBaseDelay {
		p.Add("retry_max_delay", "must be at least retry_base_delay, both non-negative")
	}
	switch c.AuthMode {
	case AuthAdminPassword, AuthAdminTFA:
		if c.AdminUsername == "" {
			p.Add("admin_username", "is required for auth_mode %s", c.AuthMode)
		}
		if c.AdminPassword == "" {
			p.Add("admin_password", "is required for auth_mode %s", c.AuthMode)
		}
		if c.AuthMode == AuthAdminTFA && c.AdminTOTPSecret == "" {
			p.Add("admin_totp_secret", "is required for auth_mode admin_tfa")
		}
		if c.AdminTokenLifetime <= c.RenewBefore || c.RenewBefore < 0 {
			p.Add("admin_token_lifetime", "must exceed renew_before")
		}
	case AuthOAuth1:
		for key, v := range map[string]string{"consumer_key": c.ConsumerKey, "consumer_secret": string(c.ConsumerSecret), "access_token": string(c.AccessToken), "access_token_secret": string(c.AccessTokenSecret)} {
			if v == "" {
				p.Add(key, "is required for auth_mode oauth1")
			}
		}
	case AuthBearerIntegration:
		if c.AccessToken == "" {
			p.Add("access_token", "is required for auth_mode bearer_integration")
		}
	default:
		p.Add("auth_mode", "must be admin_password, admin_tfa, oauth1 or bearer_integration, got %q", c.AuthMode)
	}
	return p.Err()
}

// hasAdminUser reports whether admin user credentials are configured, which
// GenerateCustomerTokenAsAdmin needs whatever the auth mode.
func (c Config) hasAdminUser() bool { return c.AdminUsername != "" && c.AdminPassword != "" }
