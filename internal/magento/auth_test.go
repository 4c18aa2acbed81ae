package magento_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

const totpSecret = "JBSWY3DPEHPK3PXP"

func TestAuthModes(t *testing.T) {
	tests := []struct {
		name    string
		sb      magentosandbox.Options
		tweak   func(*magento.Config)
		wantErr string
	}{
		{"admin password", magentosandbox.Options{}, nil, ""},
		{"admin tfa", magentosandbox.Options{AdminTOTPSecret: totpSecret}, func(c *magento.Config) {
			c.AuthMode = magento.AuthAdminTFA
			c.AdminTOTPSecret = totpSecret
		}, ""},
		{"admin password refused when tfa required", magentosandbox.Options{AdminTOTPSecret: totpSecret}, nil, errs.Unauthorized},
		{"admin tfa wrong secret", magentosandbox.Options{AdminTOTPSecret: totpSecret}, func(c *magento.Config) {
			c.AuthMode = magento.AuthAdminTFA
			c.AdminTOTPSecret = "GEZDGNBVGY3TQOJQ"
		}, errs.Unauthorized},
		{"admin wrong password", magentosandbox.Options{}, func(c *magento.Config) { c.AdminPassword = "nope" }, errs.Unauthorized},
		{"oauth1", magentosandbox.Options{}, oauthConfig("sandbox-consumer-secret"), ""},
		{"oauth1 bad secret", magentosandbox.Options{}, oauthConfig("wrong"), errs.Unauthorized},
		{"integration bearer enabled", magentosandbox.Options{IntegrationAsBearer: true}, bearerConfig, ""},
		{"integration bearer refused by default", magentosandbox.Options{}, bearerConfig, errs.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.sb, tt.tweak)
			// A query string exercises OAuth's parameter signing too.
			_, err := e.client.SearchOrders(context.Background(), magento.Where("increment_id", "like", "0000%").Page(5, 1))
			if got := errs.Code(err); got != tt.wantErr {
				t.Fatalf("SearchOrders() = %v; want code %q", err, tt.wantErr)
			}
		})
	}
}

func oauthConfig(consumerSecret string) func(*magento.Config) {
	return func(c *magento.Config) {
		c.AuthMode = magento.AuthOAuth1
		c.ConsumerKey = "sandbox-consumer-key"
		c.ConsumerSecret = config.Secret(consumerSecret)
		c.AccessToken = "sandbox-access-token"
		c.AccessTokenSecret = "sandbox-access-token-secret"
		c.AdminUsername, c.AdminPassword = "", ""
	}
}

func bearerConfig(c *magento.Config) {
	c.AuthMode = magento.AuthBearerIntegration
	c.AccessToken = "sandbox-access-token"
	c.AdminUsername, c.AdminPassword = "", ""
}

// countingHandler counts requests per path.
type countingHandler struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[r.Method+" "+r.URL.Path]++
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func (h *countingHandler) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[key]
}

func TestAdminTokenCachingAndRenewal(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	sb := magentosandbox.New(magentosandbox.Options{Now: clock})
	v := schema(t)
	ch := &countingHandler{next: v.Middleware(sb.Handler(), func(err error) { t.Errorf("schema: %v", err) })}
	srv := httptest.NewServer(ch)
	defer srv.Close()
	cfg := magento.DefaultConfig()
	cfg.BaseURL, cfg.AdminUsername, cfg.AdminPassword = srv.URL, "admin", "admin123"
	c, err := magento.New(cfg, magento.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const tokenPath = "POST /rest/default/V1/integration/admin/token"
	steps := []struct {
		name       string
		before     func()
		wantTokens int
	}{
		{"first call logs in", nil, 1},
		{"second call uses the cache", nil, 1},
		{"still cached just before renewal", func() { advance(4*time.Hour - 10*time.Minute - time.Second) }, 1},
		{"renewed before Magento's 4h expiry", func() { advance(2 * time.Second) }, 2},
		{"a revoked token is renewed once after a 401", sb.RevokeTokens, 3},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if _, err := c.StoreConfigs(ctx); err != nil {
			t.Fatalf("%s: StoreConfigs() = %v", s.name, err)
		}
		if got := ch.count(tokenPath); got != s.wantTokens {
			t.Errorf("%s: token requests = %d; want %d", s.name, got, s.wantTokens)
		}
	}
}

func TestAdmin401RenewsOnlyOnce(t *testing.T) {
	var tokenCalls, calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/integration/admin/token") {
			tokenCalls.Add(1)
			w.Write([]byte(`"tok"`))
			return
		}
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_Sales::sales"}}`))
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, nil)
	_, err := c.Order(context.Background(), 1)
	e := errs.As(err)
	if e.Code != errs.Unauthorized || e.Message != "The consumer isn't authorized to access Magento_Sales::sales." {
		t.Errorf("Order() = %v; want unauthorized with filled message", err)
	}
	if tokenCalls.Load() != 2 || calls.Load() != 2 {
		t.Errorf("token calls %d, calls %d; want 2 and 2 (one renewal)", tokenCalls.Load(), calls.Load())
	}
}

func mustClient(t *testing.T, base string, tweak func(*magento.Config), opts ...magento.Option) *magento.Client {
	t.Helper()
	cfg := magento.DefaultConfig()
	cfg.BaseURL, cfg.AdminUsername, cfg.AdminPassword = base, "admin", "admin123"
	cfg.RetryBaseDelay, cfg.RetryMaxDelay = time.Millisecond, 2*time.Millisecond
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := magento.New(cfg, opts...)
	if err != nil {
		t.Fatalf("magento.New() = %v", err)
	}
	return c
}

// TestTokenCacheContract runs one suite against each TokenCache.
func TestTokenCacheContract(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	caches := []struct {
		name    string
		cache   magento.TokenCache
		advance func(time.Duration)
	}{
		{"memory", magento.NewMemoryTokenCache(func() time.Time { return now }), func(d time.Duration) { now = now.Add(d) }},
		{"redis", magento.NewRedisTokenCache(rdb, "test:").WithLocalHold(10*time.Second, func() time.Time { return now }),
			func(d time.Duration) { now = now.Add(d); mr.FastForward(d) }},
		{"redis without local hold", magento.NewRedisTokenCache(rdb, "test:").WithLocalHold(0, time.Now), mr.FastForward},
	}
	for _, tc := range caches {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := tc.cache
			if _, ok, err := c.Get(ctx, "k"); ok || err != nil {
				t.Fatalf("Get(missing) = %v, %v; want false, nil", ok, err)
			}
			if err := c.Set(ctx, "k", "v1", time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := c.Get(ctx, "k"); v != "v1" || !ok || err != nil {
				t.Fatalf("Get = %q, %v, %v; want v1", v, ok, err)
			}
			tc.advance(61 * time.Second)
			if _, ok, _ := c.Get(ctx, "k"); ok {
				t.Fatalf("Get after TTL = ok; want expired")
			}
			_ = c.Set(ctx, "k", "v2", time.Minute)
			if err := c.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := c.Get(ctx, "k"); ok {
				t.Fatalf("Get after Delete = ok")
			}
		})
	}
	if got := mr.Keys(); len(got) != 0 {
		t.Errorf("redis keys left = %v", got)
	}
	_ = rdb.Set(context.Background(), "test:x", "y", 0).Err()
	if !mr.Exists("test:x") {
		t.Errorf("prefix not applied")
	}
}

// TestRedisTokenCacheLocalHold: a replica sees another's new token once its
// in-memory copy (at most the hold, never past the Redis TTL) lapses, or at
// once after Forget.
func TestRedisTokenCacheLocalHold(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	clock := func() time.Time { return now }
	a := magento.NewRedisTokenCache(rdb, "p:").WithLocalHold(10*time.Second, clock)
	b := magento.NewRedisTokenCache(rdb, "p:").WithLocalHold(10*time.Second, clock)
	ctx := context.Background()
	get := func(c *magento.RedisTokenCache) string {
		t.Helper()
		v, ok, err := c.Get(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "(none)"
		}
		return v
	}
	_ = a.Set(ctx, "admin", "t1", time.Hour)
	if v := get(b); v != "t1" {
		t.Fatalf("b reads %q; want t1 from Redis", v)
	}
	_ = a.Set(ctx, "admin", "t2", time.Hour) // a renewed the token
	steps := []struct {
		advance time.Duration
		forget  bool
		want    string
	}{
		{0, false, "t1"},               // b still holds its copy
		{9 * time.Second, false, "t1"}, // within the hold
		{2 * time.Second, false, "t2"}, // hold lapsed: read Redis
		{0, false, "t2"},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if v := get(b); v != st.want {
			t.Errorf("step %d: b reads %q; want %q", i, v, st.want)
		}
	}
	_ = a.Set(ctx, "admin", "t3", time.Hour)
	b.Forget("admin")
	if v := get(b); v != "t3" {
		t.Errorf("after Forget b reads %q; want t3", v)
	}
	// The hold never outlives the Redis TTL.
	_ = a.Set(ctx, "admin", "short", 3*time.Second)
	b.Forget("admin")
	_ = get(b)
	mr.FastForward(4 * time.Second)
	now = now.Add(4 * time.Second)
	if v := get(b); v != "(none)" {
		t.Errorf("after the Redis TTL b reads %q; want none", v)
	}
	// Delete drops both copies.
	_ = a.Set(ctx, "admin", "t4", time.Hour)
	if err := a.Delete(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if v := get(a); v != "(none)" {
		t.Errorf("after Delete a reads %q; want none", v)
	}
}

func TestOAuth1BaseStringRFC5849(t *testing.T) {
	// RFC 5849 section 3.4.1.1's example request (form body parameters go in Extra).
	u, _ := url.Parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b")
	p := magento.OAuth1Params{Method: "POST", URL: u, Extra: url.Values{"c2": {""}, "a3": {"2 q"}}}
	oauth := map[string]string{
		"oauth_consumer_key": "9djdj82h48djs9d2", "oauth_token": "kkk9d7dh3k39sjv7",
		"oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "137131201", "oauth_nonce": "7d8f3e4a",
	}
	want := "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	if got := p.BaseString(oauth); got != want {
		t.Errorf("BaseString() =\n%s\nwant\n%s", got, want)
	}
}

func TestOAuth1SignVerifyRoundTrip(t *testing.T) {
	tests := []struct{ method string }{{magento.SignatureHMACSHA256}, {magento.SignatureHMACSHA1}}
	for _, tt := range tests {
		u, _ := url.Parse("https://shop.example.com:443/rest/default/V1/orders?searchCriteria%5BpageSize%5D=5")
		p := magento.OAuth1Params{Method: "GET", URL: u, ConsumerKey: "ck", ConsumerSecret: "cs", Token: "at", TokenSecret: "ts", SignatureMethod: tt.method, Nonce: "n", Timestamp: 1}
		h, err := magento.OAuth1Header(p)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", u.String(), nil)
		r.Header.Set("Authorization", h)
		if key, tok, ok := magento.VerifyOAuth1(r, "cs", "ts"); !ok || key != "ck" || tok != "at" {
			t.Errorf("VerifyOAuth1(%s) = %q, %q, %v", tt.method, key, tok, ok)
		}
		if _, _, ok := magento.VerifyOAuth1(r, "cs", "other"); ok {
			t.Errorf("VerifyOAuth1(%s) with wrong token secret = ok", tt.method)
		}
	}
}

func TestConcurrentCallsShareOneLogin(t *testing.T) {
	sb := magentosandbox.New(magentosandbox.Options{})
	ch := &countingHandler{next: sb.Handler()}
	srv := httptest.NewServer(ch)
	defer srv.Close()
	c := mustClient(t, srv.URL, func(c *magento.Config) { c.MaxConcurrent = 3 })
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Product(context.Background(), "24-MB01"); err != nil {
				t.Errorf("Product = %v", err)
			}
		}()
	}
	wg.Wait()
	if n := ch.count("POST /rest/default/V1/integration/admin/token"); n != 1 {
		t.Errorf("logins = %d; want 1", n)
	}
}
