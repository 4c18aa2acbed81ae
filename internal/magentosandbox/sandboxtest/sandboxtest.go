// Package sandboxtest starts a Magento sandbox for other packages' tests,
// behind the schema-validating middleware, and hands out a ready
// magento.Config for it.
//
//	srv := sandboxtest.New(t, magentosandbox.Options{})
//	client, err := magento.New(srv.Config())
//
// Every request that reaches the sandbox and every response it gives is
// validated against Magento's published schema; a mismatch fails the test.
package sandboxtest

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

// Server is a running sandbox. It is closed when the test ends.
type Server struct {
	*magentosandbox.Sandbox
	// URL is the base URL (no /rest), e.g. http://127.0.0.1:41234.
	URL string
	// Validator judges exchanges; use Validator.Transport to validate the
	// client side too.
	Validator *magentoschema.Validator
}

// New starts a sandbox for tb, validating every exchange against the schema.
func New(tb testing.TB, opts magentosandbox.Options) *Server {
	tb.Helper()
	v, err := magentoschema.Default()
	if err != nil {
		tb.Fatalf("sandboxtest: %v", err)
	}
	sb := magentosandbox.New(opts)
	srv := httptest.NewServer(v.Middleware(sb.Handler(), func(err error) { tb.Errorf("magento schema: %v", err) }))
	tb.Cleanup(srv.Close)
	return &Server{Sandbox: sb, URL: srv.URL, Validator: v}
}

// Config returns a client configuration for the sandbox with the seeded
// admin user (admin_password mode), short timeouts and instant retries.
func (s *Server) Config() magento.Config {
	c := magento.DefaultConfig()
	c.BaseURL = s.URL
	c.AdminUsername = "admin"
	c.AdminPassword = config.Secret("admin123")
	c.Timeout = 5 * time.Second
	c.RetryBaseDelay = time.Millisecond
	c.RetryMaxDelay = 5 * time.Millisecond
	return c
}

// HTTPClient returns an HTTP client whose transport validates requests and
// responses against the schema, reporting failures to tb; pass it to
// magento.New with magento.WithHTTPClient.
func (s *Server) HTTPClient(tb testing.TB) *http.Client {
	return &http.Client{Transport: s.Validator.Transport(http.DefaultTransport, func(err error) { tb.Errorf("magento schema: %v", err) })}
}

// Client returns a magento.Client for the sandbox with a validating transport.
func (s *Server) Client(tb testing.TB, opts ...magento.Option) *magento.Client {
	tb.Helper()
	c, err := magento.New(s.Config(), append([]magento.Option{magento.WithHTTPClient(s.HTTPClient(tb))}, opts...)...)
	if err != nil {
		tb.Fatalf("sandboxtest: %v", err)
	}
	return c
}
