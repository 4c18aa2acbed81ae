package nginx_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The edge every test in this file talks to, and its stub upstreams.
var (
	front     *edge
	otpStub   *stubUpstream
	checkoutA *stubUpstream
	checkoutB *stubUpstream
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if err := findTools(); err != nil {
		fmt.Fprintln(os.Stderr, "nginx tests:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "nginx-edge-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nginx tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	startBuilds(filepath.Join(dir, "bin"))

	otpStub = newStubUpstream("otp", "otp-1")
	checkoutA = newStubUpstream("checkout", "checkout-a")
	checkoutB = newStubUpstream("checkout", "checkout-b")
	for _, s := range []*stubUpstream{otpStub, checkoutA, checkoutB} {
		defer s.srv.Close()
	}
	magentoRoot := filepath.Join(dir, "magento")
	fcgiAddr, stopFCGI, err := startMagentoStub(magentoRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nginx tests: magento stub:", err)
		return 1
	}
	defer stopFCGI()

	front, err = startEdge(filepath.Join(dir, "front"), edgeVars{
		OTP:      []string{otpStub.addr()},
		Checkout: []string{checkoutA.addr(), checkoutB.addr()},
		FastCGI:  []string{fcgiAddr},
		Magento:  magentoRoot,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nginx tests: edge:", err)
		return 1
	}
	code := m.Run()
	front.stop()
	<-built // the builds write under dir: let them finish before it goes
	if code != 0 {
		if b, err := os.ReadFile(front.errorLog); err == nil {
			fmt.Fprintf(os.Stderr, "--- nginx error log\n%s", b)
		}
	}
	return code
}

func TestRouting(t *testing.T) {
	c := front.client(nil)
	tests := []struct {
		name        string
		method      string
		url         string
		wantStatus  int
		wantService string
		wantPath    string // as the upstream saw it
		wantQuery   string
		wantScript  string // Magento's PHP entry point
	}{
		{"www home runs index.php", "GET", "https://www.shop.test/", 200, "magento", "/", "", "index.php"},
		{"www page runs index.php", "GET", "https://www.shop.test/women/tops.html?color=red", 200, "magento", "/women/tops.html", "color=red", "index.php"},
		{"www health check", "GET", "https://www.shop.test/health_check.php", 200, "magento", "/health_check.php", "", "health_check.php"},
		{"www missing static file goes to static.php", "GET", "https://www.shop.test/static/version1712345678/frontend/Magento/luma/en_US/css/missing.css", 200, "magento", "", "", "static.php"},
		{"www missing media file goes to get.php", "GET", "https://www.shop.test/media/catalog/product/x/y/missing.jpg", 200, "magento", "", "", "get.php"},
		{"cron.php is refused", "GET", "https://www.shop.test/cron.php", 404, "magento", "", "", "errors/404.php"},
		{"other php is refused", "GET", "https://www.shop.test/pub/../app/etc/env.php", 404, "magento", "", "", "errors/404.php"},
		{"htaccess is refused", "GET", "https://www.shop.test/.htaccess", 404, "magento", "", "", "errors/404.php"},
		{"user.ini is refused", "GET", "https://www.shop.test/.user.ini", 404, "magento", "", "", "errors/404.php"},
		{"git is refused", "GET", "https://www.shop.test/.git/config", 404, "magento", "", "", "errors/404.php"},
		{"customer media is refused", "GET", "https://www.shop.test/media/customer/address/secret.txt", 404, "magento", "", "", "errors/404.php"},
		{"import media is refused", "GET", "https://www.shop.test/media/import/products.csv", 404, "magento", "", "", "errors/404.php"},
		{"errors xml is refused", "GET", "https://www.shop.test/errors/local.xml", 404, "magento", "", "", "errors/404.php"},
		{"setup wizard is refused", "GET", "https://www.shop.test/setup/index.php", 404, "magento", "", "", "errors/404.php"},
		{"www auth start", "POST", "https://www.shop.test/auth/v1/otp/start", 200, "otp", "/v1/otp/start", "", ""},
		{"www auth jwks", "GET", "https://www.shop.test/auth/.well-known/jwks.json", 200, "otp", "/.well-known/jwks.json", "", ""},
		{"www auth refresh", "POST", "https://www.shop.test/auth/v1/token/refresh", 200, "otp", "/v1/token/refresh", "", ""},
		{"secure auth verify", "POST", "https://secure.shop.test/auth/v1/otp/verify", 200, "otp", "/v1/otp/verify", "", ""},
		{"secure auth logout", "POST", "https://secure.shop.test/auth/v1/logout", 200, "otp", "/v1/logout", "", ""},
		{"secure checkout start keeps the query", "GET", "https://secure.shop.test/checkout/start?cart=abc", 200, "checkout", "/checkout/start", "cart=abc", ""},
		{"secure session api", "GET", "https://secure.shop.test/v1/sessions/s1", 200, "checkout", "/v1/sessions/s1", "", ""},
		{"secure payment", "POST", "https://secure.shop.test/v1/sessions/s2/payments", 200, "checkout", "/v1/sessions/s2/payments", "", ""},
		{"secure webhook", "POST", "https://secure.shop.test/webhooks/stripe", 200, "checkout", "/webhooks/stripe", "", ""},
		{"secure static", "GET", "https://secure.shop.test/static/app.js", 200, "checkout", "/static/app.js", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, c, tt.method, tt.url, http.Header{"X-Forwarded-For": {"192.0.2.1"}}, nil)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: status %d; want %d\n%s", tt.method, tt.url, res.StatusCode, tt.wantStatus, res.body)
			}
			got := res.seen(t)
			if got.Service != tt.wantService {
				t.Errorf("%s %s reached %q; want %q", tt.method, tt.url, got.Service, tt.wantService)
			}
			if tt.wantPath != "" && got.Path != tt.wantPath {
				t.Errorf("%s %s: upstream path %q; want %q", tt.method, tt.url, got.Path, tt.wantPath)
			}
			if got.Query != tt.wantQuery {
				t.Errorf("%s %s: upstream query %q; want %q", tt.method, tt.url, got.Query, tt.wantQuery)
			}
			if got.Script != tt.wantScript {
				t.Errorf("%s %s: PHP entry point %q; want %q", tt.method, tt.url, got.Script, tt.wantScript)
			}
			if got.Service == "magento" && got.MageMode != "production" {
				t.Errorf("%s %s: MAGE_MODE %q; want production", tt.method, tt.url, got.MageMode)
			}
		})
	}
}

// Operational endpoints and unknown hosts never reach a service.
func TestEdgeRefuses(t *testing.T) {
	c := front.client(nil)
	for _, url := range []string{
		"https://secure.shop.test/metrics",
		"https://secure.shop.test/healthz",
		"https://secure.shop.test/readyz",
		"https://www.shop.test/auth/metrics",
		"https://secure.shop.test/auth/readyz",
	} {
		t.Run(url, func(t *testing.T) {
			id := newID(t)
			res := send(t, c, "GET", url, http.Header{"X-Request-ID": {id}}, nil)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: status %d; want 404", url, res.StatusCode)
			}
			for _, s := range []*stubUpstream{otpStub, checkoutA, checkoutB} {
				if s.sawRequest(id) {
					t.Errorf("GET %s reached %s", url, s.instance)
				}
			}
		})
	}
	t.Run("unknown host over https", func(t *testing.T) {
		_, err := c.Get("https://other.example/")
		if err == nil {
			t.Fatal("GET https://other.example/ succeeded; want the handshake refused")
		}
	})
	t.Run("unknown host over http", func(t *testing.T) {
		_, err := c.Get("http://other.example/")
		if err == nil {
			t.Fatal("GET http://other.example/ succeeded; want the connection closed")
		}
	})
}

func TestRedirects(t *testing.T) {
	c := front.client(nil)
	port := front.httpsAddr[strings.LastIndex(front.httpsAddr, ":")+1:]
	tests := []struct {
		url, want string
	}{
		{"http://www.shop.test/women/tops.html?color=red", "https://www.shop.test:" + port + "/women/tops.html?color=red"},
		{"http://secure.shop.test/checkout/start?cart=abc", "https://secure.shop.test:" + port + "/checkout/start?cart=abc"},
		{"http://shop.test/", "https://shop.test:" + port + "/"},
		{"https://shop.test/women.html", "https://www.shop.test:" + port + "/women.html"},
	}
	for _, tt := range tests {
		res := send(t, c, "GET", tt.url, nil, nil)
		if res.StatusCode != http.StatusMovedPermanently {
			t.Errorf("GET %s: status %d; want 301", tt.url, res.StatusCode)
		}
		if got := res.Header.Get("Location"); got != tt.want {
			t.Errorf("GET %s: Location %q; want %q", tt.url, got, tt.want)
		}
	}
}

func TestTLSVersions(t *testing.T) {
	modern := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	tests := []struct {
		name    string
		version uint16
		ok      bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := front.client(func(cfg *tls.Config) { cfg.MinVersion, cfg.MaxVersion = tt.version, tt.version })
			res, err := c.Get("https://secure.shop.test/checkout/x")
			if !tt.ok {
				if err == nil {
					res.Body.Close()
					t.Fatalf("%s handshake succeeded; want it refused", tt.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			defer res.Body.Close()
			if res.TLS.Version != tt.version {
				t.Errorf("negotiated %s; want %s", tls.VersionName(res.TLS.Version), tt.name)
			}
			if tt.version == tls.VersionTLS12 && !slices.Contains(modern, res.TLS.CipherSuite) {
				t.Errorf("TLS 1.2 cipher %s is not an ECDHE AEAD suite", tls.CipherSuiteName(res.TLS.CipherSuite))
			}
		})
	}
	t.Run("old cipher refused", func(t *testing.T) {
		c := front.client(func(cfg *tls.Config) {
			cfg.MaxVersion = tls.VersionTLS12
			cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
		})
		if res, err := c.Get("https://www.shop.test/"); err == nil {
			res.Body.Close()
			t.Fatal("CBC-only client was served; want the handshake refused")
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	c := front.client(nil)
	tests := []struct {
		url         string
		frame       string
		referrer    string
		wantStatus  int
		xff         string
		method      string
		cachePublic bool
	}{
		{"https://www.shop.test/", "SAMEORIGIN", "strict-origin-when-cross-origin", 200, "", "GET", false},
		{"https://www.shop.test/static/frontend/Magento/luma/en_US/css/styles-m.css", "SAMEORIGIN", "strict-origin-when-cross-origin", 200, "", "GET", true},
		{"https://www.shop.test/media/catalog/product/a/b/shoe.jpg", "SAMEORIGIN", "strict-origin-when-cross-origin", 200, "", "GET", true},
		{"https://www.shop.test/cron.php", "SAMEORIGIN", "strict-origin-when-cross-origin", 404, "", "GET", false},
		{"https://www.shop.test/auth/v1/otp/start", "SAMEORIGIN", "strict-origin-when-cross-origin", 200, "", "POST", false},
		{"https://secure.shop.test/checkout/start?cart=x", "DENY", "same-origin", 200, "", "GET", false},
		{"https://secure.shop.test/metrics", "DENY", "same-origin", 404, "", "GET", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			res := send(t, c, tt.method, tt.url, http.Header{"X-Forwarded-For": {"192.0.2.2"}}, nil)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s: status %d; want %d", tt.url, res.StatusCode, tt.wantStatus)
			}
			want := map[string]string{
				"Strict-Transport-Security": "max-age=63072000",
				"X-Content-Type-Options":    "nosniff",
				"X-Frame-Options":           tt.frame,
				"Referrer-Policy":           tt.referrer,
			}
			for k, v := range want {
				if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: %s = %q; want exactly [%q]", tt.url, k, got, v)
				}
			}
			if got := res.Header.Values("X-Request-ID"); len(got) != 1 {
				t.Errorf("%s: X-Request-ID = %q; want exactly one", tt.url, got)
			}
			if got := res.Header.Get("Server"); got != "nginx" {
				t.Errorf("%s: Server = %q; want the version hidden", tt.url, got)
			}
			cc := strings.Join(res.Header.Values("Cache-Control"), ", ")
			if tt.cachePublic && (!strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=")) {
				t.Errorf("%s: Cache-Control %q; want public with a max-age for the CDN", tt.url, cc)
			}
		})
	}
}

func TestStaticFiles(t *testing.T) {
	c := front.client(nil)
	res := send(t, c, "GET", "https://www.shop.test/static/version1712345678/frontend/Magento/luma/en_US/css/styles-m.css", nil, nil)
	if res.StatusCode != 200 || string(res.body) != "body{color:#333}" {
		t.Fatalf("versioned static file: status %d body %q; want the file", res.StatusCode, res.body)
	}
	// Production mode: "expires max" (ten years).
	if cc := strings.Join(res.Header.Values("Cache-Control"), ", "); !strings.Contains(cc, "max-age=315360000") || !strings.Contains(cc, "public") {
		t.Errorf("static Cache-Control %q; want public, max-age=315360000", cc)
	}
	res = send(t, c, "GET", "https://www.shop.test/static/frontend/Magento/luma/en_US/bundle.zip", nil, nil)
	if cc := res.Header.Values("Cache-Control"); !slices.Contains(cc, "no-store") {
		t.Errorf("static archive Cache-Control %q; want no-store", cc)
	}
}

func TestRequestID(t *testing.T) {
	c := front.client(nil)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string
		url      string
		method   string
		keep     bool // the incoming id is passed through
	}{
		{"generated for checkout", "", "https://secure.shop.test/checkout/a", "GET", false},
		{"generated for auth", "", "https://www.shop.test/auth/v1/token/refresh", "POST", false},
		{"generated for magento", "", "https://www.shop.test/", "GET", false},
		{"passed through to checkout", "0f4c2a2e-7d0b-4c1e-9f3a-0d8e2b7c6a11", "https://secure.shop.test/checkout/a", "GET", true},
		{"passed through to auth", "app-req-000123", "https://secure.shop.test/auth/v1/logout", "POST", true},
		{"passed through to magento", "cdn-edge-42abcdef", "https://www.shop.test/", "GET", true},
		{"malformed id replaced", `bad id"}{`, "https://secure.shop.test/checkout/a", "GET", false},
		{"overlong id replaced", strings.Repeat("a", 200), "https://secure.shop.test/checkout/a", "GET", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.incoming != "" {
				h.Set("X-Request-ID", tt.incoming)
			}
			res := send(t, c, tt.method, tt.url, h, nil)
			echoed := res.Header.Get("X-Request-ID")
			upstream := res.seen(t).RequestID
			if tt.keep && echoed != tt.incoming {
				t.Errorf("echoed X-Request-ID %q; want %q", echoed, tt.incoming)
			}
			if !tt.keep && !generated.MatchString(echoed) {
				t.Errorf("echoed X-Request-ID %q; want nginx's 32 hex characters", echoed)
			}
			if upstream != echoed {
				t.Errorf("upstream saw X-Request-ID %q; client got %q", upstream, echoed)
			}
			if got := front.logEntry(t, echoed).RequestID; got != echoed {
				t.Errorf("logged request_id %q; want %q", got, echoed)
			}
		})
	}
}

func TestRealClientIP(t *testing.T) {
	c := front.client(nil)
	tests := []struct {
		name, xff, want string
	}{
		{"no proxy header", "", "127.0.0.1"},
		{"one hop from a trusted proxy", "203.0.113.9", "203.0.113.9"},
		{"spoofed hops before the client are ignored", "10.9.9.9, 203.0.113.10", "203.0.113.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID(t)
			h := http.Header{"X-Request-ID": {id}}
			if tt.xff != "" {
				h.Set("X-Forwarded-For", tt.xff)
			}
			got := send(t, c, "GET", "https://secure.shop.test/checkout/ip", h, nil).seen(t)
			if got.ForwardedFor != tt.want || got.RealIP != tt.want {
				t.Errorf("upstream saw X-Forwarded-For %q, X-Real-IP %q; want %q", got.ForwardedFor, got.RealIP, tt.want)
			}
			if got.ForwardedProto != "https" || got.Host != secureHost {
				t.Errorf("upstream saw proto %q host %q; want https %s", got.ForwardedProto, got.Host, secureHost)
			}
			if l := front.logEntry(t, id); l.RemoteAddr != tt.want {
				t.Errorf("logged remote_addr %q; want %q", l.RemoteAddr, tt.want)
			}
		})
	}
}

// rateLimited sends n requests from client address ip and returns their statuses.
func rateLimited(t *testing.T, c *http.Client, method, url, ip string, n int) []int {
	t.Helper()
	var statuses []int
	for range n {
		res := send(t, c, method, url, http.Header{"X-Forwarded-For": {ip}}, []byte(`{}`))
		statuses = append(statuses, res.StatusCode)
		if res.StatusCode == http.StatusTooManyRequests {
			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(res.body, &body); err != nil || body.Error.Code != "rate_limited" {
				t.Errorf("429 body %q; want the rate_limited JSON error", res.body)
			}
			if res.Header.Get("Strict-Transport-Security") == "" || res.Header.Get("X-Request-ID") == "" {
				t.Errorf("429 response lacks the edge headers: %v", res.Header)
			}
		}
	}
	return statuses
}

func TestRateLimits(t *testing.T) {
	c := front.client(nil)
	tests := []struct {
		name, method, url, ip string
		allowed               int // rate 5r/m or 10r/m with burst 5: the first six pass
	}{
		{"code start", "POST", "https://www.shop.test/auth/v1/otp/start", "198.51.100.1", 6},
		{"code verify", "POST", "https://secure.shop.test/auth/v1/otp/verify", "198.51.100.2", 6},
		{"payment creation", "POST", "https://secure.shop.test/v1/sessions/s9/payments", "198.51.100.3", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rateLimited(t, c, tt.method, tt.url, tt.ip, tt.allowed+4)
			// The burst always passes; how soon after it a request is refused
			// depends on how fast this machine sends them, so only its
			// presence is checked.
			for i, st := range got[:tt.allowed] {
				if st != http.StatusOK {
					t.Fatalf("request %d: status %d within the burst; want 200 (statuses %v)", i+1, st, got)
				}
			}
			if !slices.Contains(got, http.StatusTooManyRequests) {
				t.Fatalf("statuses %v; want 429 once the burst is spent", got)
			}
			// Another client is not affected.
			if other := rateLimited(t, c, tt.method, tt.url, tt.ip+"0", 1); other[0] != 200 {
				t.Errorf("another client got %d; want 200", other[0])
			}
		})
	}
	t.Run("reading sessions is not limited", func(t *testing.T) {
		got := rateLimited(t, c, "GET", "https://secure.shop.test/v1/sessions/s9/payments", "198.51.100.4", 15)
		if slices.Contains(got, http.StatusTooManyRequests) {
			t.Errorf("GET statuses %v; want no 429", got)
		}
	})
}

func TestSizeLimits(t *testing.T) {
	c := front.client(nil)
	tests := []struct {
		name   string
		url    string
		header http.Header
		body   []byte
		want   int
	}{
		{"payment body over 1m", "https://secure.shop.test/webhooks/stripe", nil, make([]byte, 2<<20), http.StatusRequestEntityTooLarge},
		{"auth body over 16k", "https://www.shop.test/auth/v1/token/refresh", nil, make([]byte, 32<<10), http.StatusRequestEntityTooLarge},
		{"auth body under 16k", "https://www.shop.test/auth/v1/token/refresh", nil, make([]byte, 4<<10), http.StatusOK},
		{"header over 16k", "https://secure.shop.test/checkout/a", http.Header{"X-Big": {strings.Repeat("x", 20<<10)}}, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, c, "POST", tt.url, tt.header, tt.body)
			if res.StatusCode != tt.want {
				t.Errorf("POST %s: status %d; want %d", tt.url, res.StatusCode, tt.want)
			}
		})
	}
}

func TestAccessLogFields(t *testing.T) {
	c := front.client(nil)
	id := newID(t)
	res := send(t, c, "GET", "https://secure.shop.test/checkout/shipping?step=2", http.Header{
		"X-Request-ID": {id}, "User-Agent": {"edge-test/1"}, "X-Forwarded-For": {"203.0.113.77"},
	}, nil)
	inst := res.seen(t).Instance
	l := front.logEntry(t, id)
	wantAddr := checkoutA.addr()
	if inst == checkoutB.instance {
		wantAddr = checkoutB.addr()
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"host", l.Host, secureHost},
		{"method", l.Method, "GET"},
		{"path", l.Path, "/checkout/shipping"},
		{"status", l.Status, 200},
		{"bytes", l.Bytes, int64(len(res.body))},
		{"remote_addr", l.RemoteAddr, "203.0.113.77"},
		{"upstream_addr", l.UpstreamAddr, wantAddr},
		{"upstream_status", l.UpstreamStatus, "200"},
		{"tls", l.TLS, "TLSv1.3"},
		{"user_agent", l.UserAgent, "edge-test/1"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("log %s = %v; want %v", ck.field, ck.got, ck.want)
		}
	}
	if l.Time == "" || l.UpstreamResponseTime == "" || l.UpstreamResponseTime == "-" || l.RequestTime < 0 {
		t.Errorf("log line lacks timings: %+v", l)
	}

	// Magento pages are logged under the path asked for, not /index.php.
	id = newID(t)
	send(t, c, "GET", "https://www.shop.test/women/tops.html?p=2", http.Header{"X-Request-ID": {id}}, nil)
	if l := front.logEntry(t, id); l.Path != "/women/tops.html" || l.Host != wwwHost {
		t.Errorf("Magento page logged as host %q path %q; want %s /women/tops.html", l.Host, l.Path, wwwHost)
	}
}

func TestNoSecretsInAccessLog(t *testing.T) {
	c := front.client(nil)
	const (
		cart    = "Zq8wLmN3vR5tY7uI9oP1aS2dF4gH6jK0"
		cart2   = "Mx1Nc2Bv3Vc4Xz5Lk6Jh7Gf8Ds9Ap0Qw"
		access  = "eyJhbGciOiJFUzI1NiJ9.secret-access-token.sig"
		refresh = "rt_5ecr3tRefreshTokenValue"
		code    = "482913"
		cookie  = "PHPSESSID=secretsessioncookie"
	)
	requests := []struct {
		method, url, wantPath string
		header                http.Header
		body                  string
	}{
		{"GET", "https://secure.shop.test/checkout/start?cart=" + cart, "/checkout/start", http.Header{
			"Referer": {"https://www.shop.test/checkout/?cart=" + cart}, "Cookie": {cookie},
		}, ""},
		{"GET", "https://www.shop.test/rest/default/V1/guest-carts/" + cart2 + "/items", "/rest/default/V1/guest-carts/REDACTED/items", nil, ""},
		{"GET", "https://www.shop.test/rest/V1/guest-carts/" + cart2, "/rest/V1/guest-carts/REDACTED", nil, ""},
		{"POST", "https://www.shop.test/auth/v1/token/refresh", "/auth/v1/token/refresh", http.Header{
			"Authorization": {"Bearer " + access},
		}, `{"refresh_token":"` + refresh + `"}`},
		{"POST", "https://secure.shop.test/auth/v1/otp/verify?code=" + code, "/auth/v1/otp/verify", http.Header{
			"X-Forwarded-For": {"198.51.100.200"},
		}, `{"phone":"+4915112345678","code":"` + code + `"}`},
		{"GET", "http://secure.shop.test/checkout/start?cart=" + cart, "/checkout/start", nil, ""},
	}
	for _, r := range requests {
		id := newID(t)
		h := http.Header{"X-Request-ID": {id}}
		for k, v := range r.header {
			h[k] = v
		}
		send(t, c, r.method, r.url, h, []byte(r.body))
		if l := front.logEntry(t, id); l.Path != r.wantPath {
			t.Errorf("%s %s logged path %q; want %q", r.method, r.url, l.Path, r.wantPath)
		}
	}
	b, err := os.ReadFile(front.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{cart, cart2, access, refresh, "secretsessioncookie", "code=" + code, "+4915112345678"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("access log contains the secret %q", secret)
		}
	}
}

func TestCheckoutInstancesShareLoad(t *testing.T) {
	c := front.client(nil)
	beforeA, beforeB := checkoutA.count(), checkoutB.count()
	seen := map[string]int{}
	for i := range 10 {
		res := send(t, c, "GET", fmt.Sprintf("https://secure.shop.test/checkout/item/%d", i), nil, nil)
		seen[res.seen(t).Instance]++
	}
	if seen[checkoutA.instance] == 0 || seen[checkoutB.instance] == 0 {
		t.Errorf("requests per instance %v; want both checkout instances used", seen)
	}
	if checkoutA.count() == beforeA || checkoutB.count() == beforeB {
		t.Errorf("instance counters did not both move: a %d→%d, b %d→%d", beforeA, checkoutA.count(), beforeB, checkoutB.count())
	}
}

func TestConfigShape(t *testing.T) {
	// The bridge's port must never appear in the edge configuration, and the
	// edge must never log the full request URI.
	for _, name := range []string{"platform/http.conf", "platform/sites.conf", "platform/upstreams.conf"} {
		b, err := os.ReadFile(filepath.Join(front.dir, "etc/nginx", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if strings.Contains(s, "8083") || strings.Contains(s, "bridge_service") {
			t.Errorf("%s mentions magento-bridge", name)
		}
		if name == "platform/http.conf" {
			for _, bad := range []string{`"$request_uri"`, "$args", "$query_string", "$http_referer", "$http_authorization", "$http_cookie"} {
				if strings.Contains(s[strings.Index(s, "log_format"):], bad) {
					t.Errorf("log_format uses %s", bad)
				}
			}
		}
	}
}
