package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
)

type params struct {
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

func (p params) Validate() error {
	var pr httpserver.Problem
	if p.Name == "" {
		pr.Add("name", "is required")
	}
	if p.Qty < 1 {
		pr.Add("qty", "must be at least 1")
	}
	return pr.Err()
}

func newServer(t *testing.T) *httpserver.Server {
	t.Helper()
	cfg := config.DefaultHTTP("127.0.0.1:0")
	cfg.MaxBodyBytes = 2048
	s, err := httpserver.New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Engine()
	e.POST("/items", httpserver.H(func(c *gin.Context) error {
		var p params
		if err := httpserver.BindJSON(c, &p); err != nil {
			return err
		}
		c.JSON(http.StatusCreated, p)
		return nil
	}))
	e.GET("/limited", httpserver.H(func(c *gin.Context) error {
		return errs.RateLimitedf(1500*time.Millisecond, "Too many codes requested.")
	}))
	e.GET("/boom", httpserver.H(func(c *gin.Context) error {
		return errors.New("database password is hunter2")
	}))
	e.GET("/panic", func(c *gin.Context) { panic("oops") })
	e.GET("/ip", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) })
	return s
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "203.0.113.9:5555"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) httpserver.ErrorDetail {
	t.Helper()
	var b httpserver.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return b.Error
}

func TestErrorRendering(t *testing.T) {
	s := newServer(t)
	big := `{"name":"` + strings.Repeat("x", 4000) + `","qty":1}`
	tests := []struct {
		name       string
		method     string
		path, body string
		status     int
		code       string
		msg        string
	}{
		{"validation", "POST", "/items", `{"name":"","qty":0}`, 400, errs.Invalid, "name: is required; qty: must be at least 1"},
		{"unknown field", "POST", "/items", `{"name":"a","qty":1,"price":1}`, 400, errs.Invalid, "price: is not a field this endpoint accepts"},
		{"malformed", "POST", "/items", `{"name":`, 400, errs.Invalid, "truncated JSON"},
		{"syntax", "POST", "/items", `{"name" "a"}`, 400, errs.Invalid, "not valid JSON"},
		{"wrong type", "POST", "/items", `{"name":"a","qty":"two"}`, 400, errs.Invalid, "qty: must be a int"},
		{"empty", "POST", "/items", ``, 400, errs.Invalid, "empty"},
		{"two objects", "POST", "/items", `{"name":"a","qty":1}{}`, 400, errs.Invalid, "single JSON object"},
		{"too large", "POST", "/items", big, 413, errs.TooLarge, "exceeds 2048 bytes"},
		{"rate limited", "GET", "/limited", "", 429, errs.RateLimited, "Too many codes requested."},
		{"internal hides cause", "GET", "/boom", "", 500, errs.Internal, "An internal error occurred. Please try again later."},
		{"panic", "GET", "/panic", "", 500, errs.Internal, "An internal error occurred. Please try again later."},
		{"no route", "GET", "/nope", "", 404, errs.NotFound, "No route for GET /nope."},
		{"no method", "DELETE", "/items", "", 405, "method_not_allowed", "Method DELETE is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, s, tt.method, tt.path, tt.body, map[string]string{"Content-Type": "application/json"})
			if w.Code != tt.status {
				t.Fatalf("status = %d; want %d (%s)", w.Code, tt.status, w.Body)
			}
			e := decodeError(t, w)
			if e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error = %+v; want code %q and message containing %q", e, tt.code, tt.msg)
			}
			if e.RequestID == "" || e.RequestID != w.Header().Get(httpserver.HeaderRequestID) {
				t.Errorf("request_id %q; header %q", e.RequestID, w.Header().Get(httpserver.HeaderRequestID))
			}
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Error("internal cause leaked into the response")
			}
		})
	}
	if w := do(t, s, "GET", "/limited", "", nil); w.Header().Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q; want 2 (1.5s rounded up)", w.Header().Get("Retry-After"))
	}
	if w := do(t, s, "POST", "/items", `{"name":"a","qty":2}`, nil); w.Code != 201 {
		t.Errorf("valid request = %d %s", w.Code, w.Body)
	}
}

func TestRequestID(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		in      string
		keep    bool
		wantLen int
	}{
		{"abc-123_x.y", true, 0},
		{"", false, 32},
		{"has space", false, 32},
		{`"><script>`, false, 32},
		{strings.Repeat("a", 129), false, 32},
	}
	for _, tt := range tests {
		w := do(t, s, "GET", "/healthz", "", map[string]string{httpserver.HeaderRequestID: tt.in})
		got := w.Header().Get(httpserver.HeaderRequestID)
		if tt.keep && got != tt.in {
			t.Errorf("X-Request-ID %q echoed as %q; want kept", tt.in, got)
		}
		if !tt.keep && (got == tt.in || len(got) != tt.wantLen) {
			t.Errorf("X-Request-ID %q echoed as %q; want a fresh 32-hex id", tt.in, got)
		}
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	cfg := config.DefaultHTTP("127.0.0.1:0")
	cfg.TrustedProxies = []string{"10.0.0.0/8"}
	s, err := httpserver.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	s.Engine().GET("/ip", func(c *gin.Context) { c.String(200, c.ClientIP()) })
	for _, tt := range []struct{ peer, want string }{
		{"10.1.2.3:1000", "198.51.100.7"},   // trusted proxy: header believed
		{"203.0.113.9:1000", "203.0.113.9"}, // untrusted peer: header ignored
	} {
		r := httptest.NewRequest("GET", "/ip", nil)
		r.RemoteAddr = tt.peer
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Body.String() != tt.want {
			t.Errorf("peer %s: ClientIP = %q; want %q", tt.peer, w.Body.String(), tt.want)
		}
	}
}

func TestReadiness(t *testing.T) {
	s := newServer(t)
	var redisErr error
	s.AddCheck("mysql", func(context.Context) error { return nil })
	s.AddCheck("redis", func(context.Context) error { return redisErr })
	if w := do(t, s, "GET", "/readyz", "", nil); w.Code != 200 {
		t.Fatalf("readyz = %d %s; want 200", w.Code, w.Body)
	}
	redisErr = errors.New("connection refused")
	w := do(t, s, "GET", "/readyz", "", nil)
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"redis":"unavailable"`) || !strings.Contains(w.Body.String(), `"mysql":"ok"`) {
		t.Fatalf("readyz = %d %s; want 503 naming redis", w.Code, w.Body)
	}
	if w := do(t, s, "GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("healthz = %d; want 200 while a dependency is down", w.Code)
	}
}

func TestMetrics(t *testing.T) {
	s := newServer(t)
	do(t, s, "POST", "/items", `{"name":"a","qty":1}`, nil)
	do(t, s, "GET", "/limited", "", nil)
	body := do(t, s, "GET", "/metrics", "", nil).Body.String()
	for _, want := range []string{
		`http_requests_total{method="POST",route="/items",status="201"} 1`,
		`http_requests_total{method="GET",route="/limited",status="429"} 1`,
		`http_request_duration_seconds_bucket{method="POST",route="/items"`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	s := newServer(t)
	started := make(chan struct{})
	release := make(chan struct{})
	s.Engine().GET("/slow", func(c *gin.Context) {
		close(started)
		<-release
		c.String(http.StatusOK, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, ln) }()

	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-started
	cancel() // what SIGTERM does through signal.NotifyContext
	// New connections are refused once shutdown begins.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request = %q, %v; want done", r.body, r.err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run() = %v; want nil after a clean shutdown", err)
	}
}
