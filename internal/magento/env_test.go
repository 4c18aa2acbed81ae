package magento_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magento/magentoschema"
	"github.com/magefleet/platform/internal/magentosandbox"
)

// env is a sandbox behind the schema-validating middleware and a client
// whose transport validates too: every exchange in a test is judged by
// Magento's published schema from both sides.
type env struct {
	sb     *magentosandbox.Sandbox
	srv    *httptest.Server
	client *magento.Client
	cfg    magento.Config
}

func schema(tb testing.TB) *magentoschema.Validator {
	tb.Helper()
	v, err := magentoschema.Default()
	if err != nil {
		tb.Fatalf("magentoschema.Default() = %v", err)
	}
	return v
}

func newEnv(t *testing.T, sbOpts magentosandbox.Options, tweak func(*magento.Config), opts ...magento.Option) *env {
	t.Helper()
	v := schema(t)
	sb := magentosandbox.New(sbOpts)
	report := func(err error) { t.Errorf("schema: %v", err) }
	srv := httptest.NewServer(v.Middleware(sb.Handler(), report))
	t.Cleanup(srv.Close)
	cfg := magento.DefaultConfig()
	cfg.BaseURL = srv.URL
	cfg.AdminUsername = "admin"
	cfg.AdminPassword = config.Secret("admin123")
	cfg.Timeout = 5 * time.Second
	cfg.RetryBaseDelay = time.Millisecond
	cfg.RetryMaxDelay = 5 * time.Millisecond
	if tweak != nil {
		tweak(&cfg)
	}
	hc := &http.Client{Transport: v.Transport(http.DefaultTransport, report)}
	c, err := magento.New(cfg, append([]magento.Option{magento.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		t.Fatalf("magento.New() = %v", err)
	}
	return &env{sb: sb, srv: srv, client: c, cfg: cfg}
}

func californiaAddress() magento.Address {
	return magento.Address{
		Region: "California", RegionID: 12, RegionCode: "CA", CountryID: "US", Street: []string{"1 Market St"},
		Telephone: "+14155550100", Postcode: "94105", City: "San Francisco", Firstname: "Ada", Lastname: "Lovelace",
		Email: "ada@example.com",
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.DateTime, s)
	if err != nil {
		t.Fatalf("time.Parse(%q) = %v", s, err)
	}
	return tm
}
