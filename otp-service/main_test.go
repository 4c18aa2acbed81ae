package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// clock is an adjustable clock for expiry tests.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func newClock() *clock                   { return &clock{} }
func (c *clock) String() string          { return c.Now().String() }

var _ = fmt.Sprint

// env is a running otp-service with its own MySQL database, Redis prefix
// and sandbox Magento.
type env struct {
	t       testing.TB
	base    string
	cfg     *Config
	db      *sql.DB
	clock   *clock
	magento *magentosandbox.Sandbox
	mageURL string
	client  *http.Client
	stop    func()
}

const testSecret = "test-secret-that-is-long-enough-for-hmac-0123456789"

// testConfig returns a development configuration on the test servers with
// generous limits; options adjust it.
func testConfig(tb testing.TB, mageURL string) *Config {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Env = "development"
	cfg.Log.Level = "warn"
	cfg.MySQL = databasetest.NewConfig(tb)
	cfg.Redis = cachetest.NewConfig(tb)
	cfg.HTTP.TrustedProxies = nil
	cfg.OTP.HashKeys = map[string]config.Secret{"k1": testSecret}
	cfg.OTP.ActiveHashKey = "k1"
	cfg.OTP.FingerprintKey = testSecret
	cfg.OTP.Sandbox = true
	cfg.OTP.Limits.SendsPerIP.Count = 1000
	cfg.OTP.Limits.VerifiesPerIP.Count = 1000
	cfg.OTP.Limits.SendsPerDevice.Count = 1000
	key, err := tokens.GenerateKeyPEM()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Tokens.SigningKeys = map[string]config.Secret{"t1": config.Secret(key)}
	cfg.Tokens.ActiveKey = "t1"
	cfg.Magento.BaseURL = mageURL
	cfg.Magento.AuthMode = magento.AuthAdminPassword
	cfg.Magento.AdminUsername = "admin"
	cfg.Magento.AdminPassword = "admin123"
	return cfg
}

// newEnv starts the service through program().Serve on :0, the way
// production starts it.
func newEnv(tb testing.TB, opts ...func(*Config)) *env {
	tb.Helper()
	return newEnvWithMagento(tb, magentosandbox.Options{}, opts...)
}

// newEnvWithMagento is newEnv over a sandbox Magento built with sbOpts.
func newEnvWithMagento(tb testing.TB, sbOpts magentosandbox.Options, opts ...func(*Config)) *env {
	tb.Helper()
	sb := magentosandbox.New(sbOpts)
	ms := httptest.NewServer(sb.Handler())
	tb.Cleanup(ms.Close)
	cfg := testConfig(tb, ms.URL)
	for _, o := range opts {
		o(cfg)
	}
	e := &env{t: tb, cfg: cfg, clock: newClock(), magento: sb, mageURL: ms.URL}
	e.start()
	db, err := database.Open(context.Background(), cfg.MySQL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e.db = db
	return e
}

func (e *env) start() {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- program().Serve(ctx, e.cfg, ln, e.clock.Now) }()
	e.base = "http://" + ln.Addr().String()
	e.client = &http.Client{Transport: &specTransport{t: e.t, next: &http.Transport{MaxIdleConnsPerHost: 200}}, Timeout: 30 * time.Second}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				e.t.Errorf("Serve: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stop)
	for i := 0; ; i++ {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-done:
			e.t.Fatalf("Serve returned before ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if i > 500 {
			e.t.Fatal("service not ready after 10s")
		}
	}
}

// restart stops the service and starts it again with cfg changed by opts
// (same database and Redis prefix).
func (e *env) restart(opts ...func(*Config)) {
	e.t.Helper()
	e.stop()
	for _, o := range opts {
		o(e.cfg)
	}
	e.start()
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

func (r response) errCode() string {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// do sends a request; headers are key, value pairs.
func (e *env) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (e *env) post(path string, body any, headers ...string) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, body, headers...)
}

// startPhone starts a login for phone and returns the challenge id.
func (e *env) startPhone(phone string, extra ...string) string {
	e.t.Helper()
	body := map[string]any{"phone": phone}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	r := e.post("/v1/otp/start", body)
	if r.Status != http.StatusAccepted {
		e.t.Fatalf("start(%s) = %d %s; want 202", phone, r.Status, r.Body)
	}
	return r.json(e.t)["challenge_id"].(string)
}

var webOTPLine = regexp.MustCompile(`(?m)^@([^ ]+) #([0-9]{6,10})$`)
var anyCode = regexp.MustCompile(`[0-9]{6,10}`)

// lastCode reads the newest sandbox message to to and returns its code.
func (e *env) lastCode(to string) string {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/sandbox/messages?to="+urlQuery(to), nil)
	if r.Status != 200 {
		e.t.Fatalf("sandbox messages = %d %s", r.Status, r.Body)
	}
	var out struct {
		Messages []struct{ To, Channel, Body string }
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || len(out.Messages) == 0 {
		e.t.Fatalf("no sandbox message for %s: %s", to, r.Body)
	}
	body := out.Messages[0].Body
	if m := webOTPLine.FindStringSubmatch(body); m != nil {
		return m[2]
	}
	return anyCode.FindString(body)
}

func urlQuery(s string) string { return strings.NewReplacer("+", "%2B", "@", "%40").Replace(s) }

// login runs start, reads the code and verifies it.
func (e *env) login(phone string) map[string]any {
	e.t.Helper()
	id := e.startPhone(phone)
	r := e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": e.lastCode(phone)})
	if r.Status != 200 {
		e.t.Fatalf("verify = %d %s; want 200", r.Status, r.Body)
	}
	return r.json(e.t)
}

// specTransport checks every response against openapi.yaml.
type specTransport struct {
	t    testing.TB
	next http.RoundTripper
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("openapi.yaml: %w", err)
			return
		}
		doc.Servers = nil
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

func (s *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch req.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return resp, nil
	}
	router, err := loadSpec()
	if err != nil {
		s.t.Errorf("spec: %v", err)
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			s.t.Errorf("spec: %s %s is not documented: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		s.t.Errorf("spec: response to %s %s (%d %s) does not match openapi.yaml: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return resp, nil
}

// recordingTB collects Errorf calls, to test the spec check itself.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Helper() {}

type fixedResponse struct {
	status int
	body   string
}

func (f fixedResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: f.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(f.body)), Request: req}, nil
}

// The OpenAPI check that wraps every test request catches answers that
// stray from openapi.yaml (a missing field, an undocumented status).
func TestOpenAPICheckCatchesMismatches(t *testing.T) {
	for _, tt := range []struct {
		name   string
		resp   fixedResponse
		errors int
	}{
		{"valid", fixedResponse{202, `{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","channel":"sms","expires_in":300,"resend_after":60,"restricted":true}`}, 0},
		{"missing field", fixedResponse{202, `{"channel":"sms","expires_in":300,"resend_after":60,"restricted":true}`}, 1},
		{"undocumented status", fixedResponse{418, `{}`}, 1},
	} {
		rec := &recordingTB{TB: t}
		st := &specTransport{t: rec, next: tt.resp}
		req, _ := http.NewRequest(http.MethodPost, "http://otp.test/v1/otp/start", strings.NewReader(`{"phone":"+919876543210"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := st.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(rec.errors) != tt.errors {
			t.Errorf("%s: spec check reported %v; want %d problems", tt.name, rec.errors, tt.errors)
		}
	}
}
