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
	BaseURL string `mapstructure:"base_url" desc:"Magento store origin as an absolute http(s) URL without /rest, e.g. https://shop.example.com; the client adds /rest/<store_code>/V1 and /graphql"`
	// StoreCode selects the store view in /rest/<store_code>/V1; "default"
	// unless the store has several views.
	StoreCode string `mapstructure:"store_code" desc:"Magento store view code used in /rest/<store_code>/V1 paths (lowercase letters, digits, underscores)"`
	// Timeout bounds each HTTP attempt.
	Timeout time.Duration `mapstructure:"timeout" desc:"maximum duration of one HTTP attempt to Magento"`
	// MaxConcurrent caps requests in flight to Magento from this client;
	// Magento serves only a few uncached requests per core at a time.
	MaxConcurrent int `mapstructure:"max_concurrent" desc:"maximum requests in flight from this client to Magento (also caps open connections to the store)"`
	// ReadRetries is how many times a failed read (GET) is retried after the
	// first attempt; writes are never retried blindly.
	ReadRetries int `mapstructure:"read_retries" desc:"how many times a failed read (GET) or token request is retried after the first attempt, 0 to 10; writes are never retried blindly"`
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff with
	// full jitter between read attempts.
	RetryBaseDelay time.Duration `mapstructure:"retry_base_delay" desc:"backoff before the first read retry; doubles each retry, with full jitter"`
	RetryMaxDelay  time.Duration `mapstructure:"retry_max_delay" desc:"upper bound of the backoff between read retries; at least retry_base_delay"`

	// AuthMode is one of admin_password, admin_tfa, oauth1, bearer_integration.
	AuthMode          string        `mapstructure:"auth_mode" desc:"how admin requests authenticate: admin_password, admin_tfa (admin token with a Google TOTP code), oauth1 (signed integration credentials) or bearer_integration (integration access token as bearer)"`
	AdminUsername     string        `mapstructure:"admin_username" desc:"Magento admin user name; required for admin_password and admin_tfa, and in any mode for operations that need an admin user token"`
	AdminPassword     config.Secret `mapstructure:"admin_password" desc:"password of admin_username"`
	AdminTOTPSecret   config.Secret `mapstructure:"admin_totp_secret" desc:"Base32 Google Authenticator secret of admin_username, used to compute TOTP codes; required for auth_mode admin_tfa"`
	ConsumerKey       string        `mapstructure:"consumer_key" desc:"integration OAuth 1.0a consumer key; required for auth_mode oauth1"`
	ConsumerSecret    config.Secret `mapstructure:"consumer_secret" desc:"integration OAuth 1.0a consumer secret; required for auth_mode oauth1"`
	AccessToken       config.Secret `mapstructure:"access_token" desc:"integration access token; required for auth_mode oauth1 and bearer_integration"`
	AccessTokenSecret config.Secret `mapstructure:"access_token_secret" desc:"integration access token secret; required for auth_mode oauth1"`
	// AdminTokenLifetime is Magento's admin token lifetime
	// (oauth/access_token_lifetime/admin, 4 h by default); RenewBefore is how
	// long before its end a cached token is replaced.
	AdminTokenLifetime time.Duration `mapstructure:"admin_token_lifetime" desc:"lifetime of Magento admin tokens as set in the store (oauth/access_token_lifetime/admin); must exceed renew_before"`
	RenewBefore        time.Duration `mapstructure:"renew_before" desc:"how long before an admin token expires the cached token is replaced with a new one"`
	// TokenCachePrefix prefixes the keys of cached admin tokens.
	TokenCachePrefix string `mapstructure:"token_cache_prefix" desc:"prefix of the token cache keys (Redis keys when the cache is shared) under which admin tokens are stored"`
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
