package web

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/magefleet/platform/internal/config"
)

// Widgets: which client-side payment widget the payment page loads.
const (
	WidgetSandbox  = "sandbox"
	WidgetStripe   = "stripe"
	WidgetRazorpay = "razorpay"
	WidgetPayPal   = "paypal"
)

// Config configures the pages. Keys live under checkout-service's "web"
// section, e.g. web.public_base_url (CHECKOUT_WEB_PUBLIC_BASE_URL).
type Config struct {
	// PublicBaseURL is the secure host as shoppers reach it, e.g.
	// https://secure.shop.example. Over https the cookie is Secure and
	// "__Host-" prefixed; plain http is for tests and the demo only. It is
	// not a key of its own: the service sets it from checkout.public_url.
	PublicBaseURL string `mapstructure:"-"`
	// CookieName names the browser-binding cookie (without the "__Host-"
	// prefix, which is added over https).
	CookieName string `mapstructure:"cookie_name" desc:"browser-binding cookie name; __Host- is prefixed over https"`
	// AllowedReturnOrigins are the only origins links back to the store may
	// point at, e.g. https://www.shop.example.
	AllowedReturnOrigins []string `mapstructure:"allowed_return_origins" desc:"the only origins links back to the store may go to, e.g. https://www.shop.example"`
	// CartURL is the store's cart page ("Back to cart"); it must lie on an
	// allowed return origin.
	CartURL string `mapstructure:"cart_url" desc:"the store's cart page (Back to the store); on an allowed return origin"`
	// StoreName is shown in the header and titles.
	StoreName string `mapstructure:"store_name" desc:"store name shown in the pages' header and titles"`
	// Locale formats amounts and sets the page language, e.g. en-US, en-IN,
	// de-DE.
	Locale string `mapstructure:"locale" desc:"locale for amounts and the page language: en-US, en-GB, en-IN, de-DE, fr-FR, ..."`
	// DefaultCountry preselects the address country (ISO 3166-1 alpha-2).
	DefaultCountry string `mapstructure:"default_country" desc:"country preselected in the address form (ISO 3166-1 alpha-2)"`
	// Widget is the payment widget: sandbox, stripe, razorpay or paypal.
	// The sandbox widget produces the sandbox gateways' test tokens and
	// enables the sandbox 3-D Secure page; never use it in production.
	Widget string `mapstructure:"widget" desc:"payment widget: sandbox (test cards, sandbox 3-D Secure page), stripe, razorpay or paypal"`
	// Publishable client-side keys of the production widgets.
	StripePublishableKey string `mapstructure:"stripe_publishable_key" desc:"Stripe publishable key (pk_...) for Stripe Elements"`
	RazorpayKeyID        string `mapstructure:"razorpay_key_id" desc:"Razorpay key id for Razorpay Checkout"`
	PayPalClientID       string `mapstructure:"paypal_client_id" desc:"PayPal client id for the PayPal buttons"`
	// CSPExtra adds sources to the Content-Security-Policy beside the
	// widget's own origins (for example a gateway's regional host).
	CSPExtra CSPSources `mapstructure:"csp_extra"`
	// AuthPath is where otp-service's API is reachable on this origin
	// through nginx ("/auth"); empty hides login by code.
	AuthPath string `mapstructure:"auth_path" desc:"otp-service's API path on this origin (through nginx) for login by code; empty hides it"`
	// PollInterval is how often the confirmation page asks for the Magento
	// order number.
	PollInterval time.Duration `mapstructure:"poll_interval" desc:"how often the confirmation page asks for the Magento order number"`
}

// CSPSources are extra Content-Security-Policy sources.
type CSPSources struct {
	ScriptSrc  []string `mapstructure:"script_src" desc:"extra Content-Security-Policy script-src sources (https://...)"`
	ConnectSrc []string `mapstructure:"connect_src" desc:"extra Content-Security-Policy connect-src sources (https://...)"`
	FrameSrc   []string `mapstructure:"frame_src" desc:"extra Content-Security-Policy frame-src sources (https://...)"`
	ImgSrc     []string `mapstructure:"img_src" desc:"extra Content-Security-Policy img-src sources (https://...)"`
}

// DefaultConfig returns the demo's defaults: the sandbox widget on
// http://127.0.0.1:8082 returning to the sandbox store.
func DefaultConfig() Config {
	return Config{
		PublicBaseURL:        "http://127.0.0.1:8082",
		CookieName:           "checkout",
		AllowedReturnOrigins: []string{"http://127.0.0.1:8090"},
		CartURL:              "http://127.0.0.1:8090/checkout/cart/",
		StoreName:            "Luma Demo Store",
		Locale:               "en-US",
		DefaultCountry:       "US",
		Widget:               WidgetSandbox,
		AuthPath:             "/auth",
		PollInterval:         2 * time.Second,
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var p config.Problems
	p.URL("public_base_url", c.PublicBaseURL)
	if u, err := url.Parse(c.PublicBaseURL); err == nil && (u.Path != "" && u.Path != "/" || u.RawQuery != "") {
		p.Add("public_base_url", "must be an origin without a path, got %q", c.PublicBaseURL)
	}
	if c.CookieName == "" || strings.ContainsAny(c.CookieName, " ;,=\t\"") || strings.HasPrefix(c.CookieName, "__") {
		p.Add("cookie_name", "must be a plain cookie name (the __Host- prefix is added over https), got %q", c.CookieName)
	}
	if len(c.AllowedReturnOrigins) == 0 {
		p.Add("allowed_return_origins", "must list the store's origin, e.g. https://www.shop.example")
	}
	for _, o := range c.AllowedReturnOrigins {
		if origin(o) != o {
			p.Add("allowed_return_origins", "%q is not an origin (scheme://host[:port])", o)
		}
	}
	if c.CartURL != "" && !slices.Contains(c.AllowedReturnOrigins, origin(c.CartURL)) {
		p.Add("cart_url", "%q is not on an allowed return origin", c.CartURL)
	}
	if _, ok := NewMoney(c.Locale); !ok {
		p.Add("locale", "%q is not a supported locale (%s)", c.Locale, strings.Join(supportedLocales(), ", "))
	}
	if len(c.DefaultCountry) != 2 {
		p.Add("default_country", "must be an ISO 3166-1 alpha-2 code, got %q", c.DefaultCountry)
	}
	switch c.Widget {
	case WidgetSandbox:
	case WidgetStripe:
		if !strings.HasPrefix(c.StripePublishableKey, "pk_") {
			p.Add("stripe_publishable_key", "must be a Stripe publishable key (pk_...)")
		}
	case WidgetRazorpay:
		if c.RazorpayKeyID == "" {
			p.Add("razorpay_key_id", "is required with the razorpay widget")
		}
	case WidgetPayPal:
		if c.PayPalClientID == "" {
			p.Add("paypal_client_id", "is required with the paypal widget")
		}
	default:
		p.Add("widget", "must be sandbox, stripe, razorpay or paypal, got %q", c.Widget)
	}
	for _, list := range [][]string{c.CSPExtra.ScriptSrc, c.CSPExtra.ConnectSrc, c.CSPExtra.FrameSrc, c.CSPExtra.ImgSrc} {
		for _, s := range list {
			if !strings.HasPrefix(s, "https://") || strings.ContainsAny(s, " ;'") {
				p.Add("csp_extra", "%q must be an https source without spaces, quotes or semicolons", s)
			}
		}
	}
	if c.AuthPath != "" && (!strings.HasPrefix(c.AuthPath, "/") || strings.HasSuffix(c.AuthPath, "/")) {
		p.Add("auth_path", "must start with / and not end with one, got %q", c.AuthPath)
	}
	if c.PollInterval < 500*time.Millisecond {
		p.Add("poll_interval", "must be at least 500ms, got %s", c.PollInterval)
	}
	return p.Err()
}

func supportedLocales() []string {
	out := make([]string, 0, len(locales))
	for l := range locales {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// origin returns scheme://host[:port] of an absolute http(s) URL, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + strings.ToLower(u.Host)
}

// widgetSources are the origins each production widget needs, from the
// gateways' CSP documentation.
var widgetSources = map[string]CSPSources{
	WidgetStripe: {
		ScriptSrc:  []string{"https://js.stripe.com"},
		ConnectSrc: []string{"https://api.stripe.com"},
		FrameSrc:   []string{"https://js.stripe.com", "https://hooks.stripe.com"},
		ImgSrc:     []string{"https://*.stripe.com"},
	},
	WidgetRazorpay: {
		ScriptSrc:  []string{"https://checkout.razorpay.com"},
		ConnectSrc: []string{"https://api.razorpay.com", "https://lumberjack.razorpay.com"},
		FrameSrc:   []string{"https://api.razorpay.com", "https://checkout.razorpay.com"},
		ImgSrc:     []string{"https://cdn.razorpay.com"},
	},
	WidgetPayPal: {
		ScriptSrc:  []string{"https://www.paypal.com"},
		ConnectSrc: []string{"https://www.paypal.com"},
		FrameSrc:   []string{"https://www.paypal.com"},
		ImgSrc:     []string{"https://www.paypalobjects.com"},
	},
}
