package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/freeport"
)

// freeAddrs returns n distinct loopback addresses nothing listens on right
// now, for the demo's processes to bind (see freeport).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	ports, err := freeport.Ports(n)
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return addrs
}

// buildServices builds the three binaries once for the package's tests.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// TestMain removes the binaries the package's tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(binPath)
	}
	os.Exit(code)
}

func buildServices(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath, buildErr = os.MkdirTemp("", "demo-test-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath+"/", "../otp-service", "../checkout-service", "../magento-bridge")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demo is a running demo stack.
type demo struct {
	l    layout
	out  *syncBuffer
	stop func()
}

// startDemo runs the demo as `make demo` does, with its embedded MySQL and
// Redis, on free ports, until the test ends or stop is called; stop checks
// that everything shut down cleanly.
//
// env holds "NAME=value" settings added to the services' environment, such
// as CHECKOUT_CHECKOUT_CAPTURE=false; the settings the demo itself gives a
// service (serviceEnv) cannot be overridden this way and are refused.
func startDemo(t *testing.T, env ...string) *demo {
	t.Helper()
	// The demo's children inherit the environment: log at debug level so a
	// failure shows what the bridge and checkout did.
	t.Setenv("BRIDGE_LOG_LEVEL", "debug")
	t.Setenv("CHECKOUT_LOG_LEVEL", "debug")
	fixed := map[string]bool{}
	for _, s := range defaultLayout().services {
		for _, kv := range serviceEnv(s, defaultLayout(), "root@tcp(127.0.0.1:1)/", "127.0.0.1:1", true) {
			name, _, _ := strings.Cut(kv, "=")
			fixed[name] = true
		}
	}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" || fixed[name] || name == "CHECKOUT_CONFIG" {
			t.Fatalf("startDemo env %q: want NAME=value for a variable the demo does not set itself", kv)
		}
		t.Setenv(name, value)
	}
	// The demo's gateways decline a share of tok_sandbox_ok charges, drawn
	// from the random payment id: now and then a journey would fail on
	// declines by both. The tests configure the same two gateways with every
	// tok_sandbox_ok charge succeeding; declines come from the decline
	// tokens. `make demo` keeps its realistic rates.
	cfgFile := filepath.Join(t.TempDir(), "checkout.yaml")
	if err := os.WriteFile(cfgFile, []byte(demoGatewaysAlwaysSucceed), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHECKOUT_CONFIG", cfgFile)
	// Free ports are picked, then bound by the children a moment later;
	// another test process may take one meanwhile. Only that bind failure
	// is retried, with new ports.
	for attempt := 1; ; attempt++ {
		d, err := tryDemo(t)
		if err == nil {
			if strings.Contains(d.out.String(), "no gateways configured") {
				t.Fatal("checkout-service ignored CHECKOUT_CONFIG and runs the demo gateways with their random declines")
			}
			return d
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("a demo port was taken by another process; retrying with new ports: %v", err)
	}
}

// demoGatewaysAlwaysSucceed is checkout-service's DemoGateways (config.go)
// as a configuration file, but with success_rate 1.
const demoGatewaysAlwaysSucceed = `gateways:
  sandbox-a:
    {kind: sandbox, enabled: true, methods: [card, upi, netbanking, wallet], currencies: [USD, EUR, GBP, INR],
     success_rate: 1, fee_bps: 290, fee_fixed: 30, latency: 20ms, settle_after: 10s, webhook_secret: whsec_sandbox_demo,
     fees: {default: {percent_bps: 290, fixed: 30}}}
  sandbox-b:
    {kind: sandbox, enabled: true, methods: [card, upi, netbanking, wallet], currencies: [USD, EUR, GBP, INR],
     success_rate: 1, fee_bps: 250, fee_fixed: 25, latency: 20ms, settle_after: 10s, webhook_secret: whsec_sandbox_demo,
     fees: {default: {percent_bps: 250, fixed: 25}}}
`

func tryDemo(t *testing.T) (*demo, error) {
	t.Helper()
	a := freeAddrs(t, 7)
	l := layout{
		magento: a[0],
		edge:    a[1],
		mysql:   a[2],
		redis:   a[3],
		services: []svc{
			{"otp-service", "OTP", a[4], "otp"},
			{"checkout-service", "CHECKOUT", a[5], "checkout"},
			{"magento-bridge", "BRIDGE", a[6], "checkout"},
		},
		bin: buildServices(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	noEnv := func(string) string { return "" } // no MYSQL_DSN or REDIS_ADDR: embedded servers
	go func() { done <- run(ctx, l, nil, out, noEnv) }()

	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "The platform is up") {
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("demo stopped early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			return nil, fmt.Errorf("demo not up after 90s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopped := false
	d := &demo{l: l, out: out}
	d.stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo stop = %v; want a clean stop", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("demo did not stop within 60s of Ctrl-C")
		}
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("demo output without access-log lines (last 300):\n%s", tail(withoutAccessLog(out.String()), 300))
		}
	})
	return d, nil
}

// withoutAccessLog drops the services' per-request log lines, which a
// polling test multiplies, from the demo's output.
func withoutAccessLog(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "httpserver.go") || !strings.Contains(l, "\trequest\t") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDemoRunsWholePlatform runs the demo, checks that every service is
// ready, walks the journey, then checks that Ctrl-C (context cancellation)
// stops everything cleanly.
func TestDemoRunsWholePlatform(t *testing.T) {
	d := startDemo(t)
	l, out := d.l, d.out
	for _, s := range l.services {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			t.Fatalf("%s /readyz: %v", s.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /readyz = %d; want 200", s.name, resp.StatusCode)
		}
		if !strings.Contains(out.String(), s.addr) {
			t.Errorf("the demo did not print %s's address %s", s.name, s.addr)
		}
	}
	resp, err := http.Get("http://" + l.magento + "/rest/V1/store/storeConfigs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sandbox Magento store configs without a token = %d; want 401 as Magento answers", resp.StatusCode)
	}

	journey(t, l, out)

	d.stop()
	for _, s := range l.services {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			t.Errorf("%s still listening after the demo stopped", s.name)
		}
	}
}

var update = flag.Bool("update", false, "rewrite README.md's configuration tables from the binaries")

// commonKey reports whether a configuration key is one every service has; those
// are documented once, in the README's common table.
func commonKey(key string) bool {
	for _, p := range []string{"env", "http.", "log.", "mysql.", "redis."} {
		if key == p || strings.HasPrefix(key, p) && strings.HasSuffix(p, ".") {
			return true
		}
	}
	return false
}

// TestReadmeDocumentsEveryKey checks that README.md documents every
// configuration key of every service exactly as the binaries report them
// (`<binary> config`): the common keys in the common table, each service's
// own keys between its <!-- config:NAME --> markers. Run with -update to
// rewrite those tables.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	bin := buildServices(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, name := range []string{"otp-service", "checkout-service", "magento-bridge"} {
		out, err := exec.Command(filepath.Join(bin, name), "config").Output()
		if err != nil {
			t.Fatalf("%s config: %v", name, err)
		}
		var own []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			cells := strings.Split(line, "|")
			if len(cells) < 5 {
				continue
			}
			key := strings.Trim(strings.TrimSpace(cells[1]), "`")
			if !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") || !commonKey(key) {
				own = append(own, line)
				continue
			}
			env := strings.TrimSpace(cells[2])
			if !strings.Contains(text, "| `"+key+"` | "+otpPrefixed(env)+" |") {
				t.Errorf("README.md's common table lacks %s (%s)", key, otpPrefixed(env))
			}
		}
		begin, end := "<!-- config:"+name+" -->\n", "<!-- /config:"+name+" -->"
		bi, ei := strings.Index(text, begin), strings.Index(text, end)
		if bi < 0 || ei < bi {
			t.Errorf("README.md lacks the markers %q ... %q", strings.TrimSpace(begin), end)
			continue
		}
		want := strings.Join(own, "\n") + "\n"
		if got := text[bi+len(begin) : ei]; got != want {
			if *update {
				text = text[:bi+len(begin)] + want + text[ei:]
				continue
			}
			t.Errorf("README.md's %s configuration table differs from `%s config`; run go test ./demo -update", name, name)
		}
	}
	if *update {
		if err := os.WriteFile("../README.md", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func otpPrefixed(env string) string {
	for _, p := range []string{"`CHECKOUT_", "`BRIDGE_"} {
		if strings.HasPrefix(env, p) {
			return "`OTP_" + strings.TrimPrefix(env, p)
		}
	}
	return env
}

// journey drives what a shopper and a mobile app do against the running demo:
// a login by code (reading the code from otp-service's sandbox messages), then
// a guest checkout through checkout-service's JSON API paid with
// tok_sandbox_ok, until magento-bridge has placed the Magento order.
func journey(t *testing.T, l layout, out *syncBuffer) {
	t.Helper()
	edge := "http://" + l.edge

	// Login by code, through the secure origin's /auth/ as the pages and apps do.
	phone := "+14155550123"
	var started struct {
		ChallengeID string `json:"challenge_id"`
	}
	apiCall(t, "POST", edge+"/auth/v1/otp/start", map[string]string{"phone": phone}, nil, http.StatusAccepted, &started)
	var inbox struct {
		Messages []struct {
			Body string `json:"body"`
		} `json:"messages"`
	}
	apiCall(t, "GET", edge+"/auth/v1/sandbox/messages?to="+url.QueryEscape(phone), nil, nil, http.StatusOK, &inbox)
	if len(inbox.Messages) == 0 {
		t.Fatal("no code was sent")
	}
	code := regexp.MustCompile(`#(\d{6,10})`).FindStringSubmatch(inbox.Messages[0].Body)
	if code == nil {
		t.Fatalf("no WebOTP line in %q", inbox.Messages[0].Body)
	}
	var login struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Customer     struct {
			MagentoCustomerID int64 `json:"magento_customer_id"`
		} `json:"customer"`
		MagentoCustomerToken string `json:"magento_customer_token"`
	}
	apiCall(t, "POST", edge+"/auth/v1/otp/verify", map[string]string{"challenge_id": started.ChallengeID, "code": code[1]}, nil, http.StatusOK, &login)
	if login.AccessToken == "" || login.MagentoCustomerToken == "" || login.Customer.MagentoCustomerID == 0 {
		t.Fatalf("login = %+v; want tokens and a Magento customer", login)
	}

	// A guest checkout through the JSON API.
	sessionID := openGuestSession(t, l, out)
	// checkout-service verifies otp-service's access token (EdDSA, signed by
	// the generated development key) with otp-service's JWKS alone.
	var header struct{ Alg string }
	if seg, err := base64.RawURLEncoding.DecodeString(strings.Split(login.AccessToken, ".")[0]); err != nil || json.Unmarshal(seg, &header) != nil || header.Alg != "EdDSA" {
		t.Errorf("access token alg = %q (%v); want EdDSA from the development key", header.Alg, err)
	}
	apiCall(t, "GET", edge+"/v1/sessions/"+sessionID, nil, map[string]string{"Authorization": "Bearer " + login.AccessToken}, http.StatusOK, nil)
	apiCall(t, "GET", edge+"/v1/sessions/"+sessionID, nil, map[string]string{"Authorization": "Bearer " + login.AccessToken + "x"}, http.StatusUnauthorized, nil)
	payment := payGuestSession(t, l, sessionID, "demo-journey-1")
	if payment.Status != "captured" || payment.Amount != demoCartTotal {
		t.Fatalf("payment = %+v; want captured for the grand total", payment)
	}
	waitMagentoOrder(t, l, payment.ID, 2*time.Minute)
	var orders []struct {
		TotalInvoiced float64 `json:"total_invoiced"`
		Payment       struct {
			Method   string `json:"method"`
			PONumber string `json:"po_number"`
		} `json:"payment"`
	}
	apiCall(t, "GET", "http://"+l.magento+"/__sandbox/orders", nil, nil, http.StatusOK, &orders)
	if len(orders) != 1 || orders[0].TotalInvoiced != 164.39 || orders[0].Payment.Method != "purchaseorder" ||
		!strings.HasPrefix(orders[0].Payment.PONumber, "sandbox-") {
		t.Fatalf("sandbox orders = %+v; want one purchaseorder order invoiced for 164.39 naming the gateway", orders)
	}
}

// apiClient is the tests' HTTP client: a hung service fails the call rather
// than the whole test binary's timeout.
var apiClient = &http.Client{Timeout: 90 * time.Second}

// apiCall sends a request with body as JSON and headers hdr, fails the test
// unless the answer has status want, and decodes the answer into dst unless
// dst is nil.
func apiCall(t *testing.T, method, url string, body any, hdr map[string]string, want int, dst any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s; want %d", method, url, resp.StatusCode, b, want)
	}
	if dst != nil {
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

// demoCartTotal is the grand total of the demo's guest cart in cents:
// 24-MB01 $34 + 2 x MH01-XS-Black $52 = $138, $15 flat-rate shipping, 8.25%
// CA tax on the items.
const demoCartTotal = 13800 + 1500 + 1139

// demoPayment is a payment as checkout-service's GET /v1/payments/{id}
// shows it.
type demoPayment struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Gateway        string `json:"gateway"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	CaptureID      string `json:"capture_id"`
	RefundedAmount int64  `json:"refunded_amount"`
	Attempts       []struct {
		Gateway          string `json:"gateway"`
		Status           string `json:"status"`
		GatewayReference string `json:"gateway_reference"`
	} `json:"attempts"`
	MagentoOrder *struct {
		ID          int64  `json:"id"`
		IncrementID string `json:"increment_id"`
	} `json:"magento_order"`
}

// String shows a payment in failure messages, its Magento order included.
func (p demoPayment) String() string {
	order := "none"
	if p.MagentoOrder != nil {
		order = fmt.Sprintf("%d (%s)", p.MagentoOrder.ID, p.MagentoOrder.IncrementID)
	}
	return fmt.Sprintf("{id %s status %s gateway %s amount %d %s capture_id %q refunded %d attempts %+v magento_order %s}",
		p.ID, p.Status, p.Gateway, p.Amount, p.Currency, p.CaptureID, p.RefundedAmount, p.Attempts, order)
}

// openGuestSession opens a checkout session, through the secure origin, for
// the guest cart the demo printed the handoff link of, and returns its id.
func openGuestSession(t *testing.T, l layout, out *syncBuffer) string {
	t.Helper()
	masked := regexp.MustCompile(`checkout/start\?cart=([A-Za-z0-9]+)`).FindStringSubmatch(out.String())
	if masked == nil {
		t.Fatalf("the demo printed no handoff link:\n%s", out.String())
	}
	var session struct {
		ID string `json:"id"`
	}
	apiCall(t, "POST", "http://"+l.edge+"/v1/sessions", map[string]string{"cart_id": masked[1]}, nil, http.StatusCreated, &session)
	return session.ID
}

// payGuestSession gives a guest session of the demo cart its address and
// flat-rate shipping, checks Magento's totals and pays them with
// tok_sandbox_ok under idempotency key key, returning the payment as the
// payment request answered it.
func payGuestSession(t *testing.T, l layout, sessionID, key string) demoPayment {
	t.Helper()
	edge := "http://" + l.edge
	addr := map[string]any{"firstname": "Ada", "lastname": "Lovelace", "street": []string{"1 Main St"}, "city": "Los Angeles",
		"region": "California", "region_code": "CA", "postcode": "90001", "country_id": "US", "telephone": "+14155550123"}
	apiCall(t, "POST", edge+"/v1/sessions/"+sessionID+"/address", map[string]any{"email": "ada@example.com", "phone": "+14155550123", "shipping_address": addr}, nil, http.StatusOK, nil)
	var session struct {
		Totals struct {
			GrandTotal int64  `json:"grand_total"`
			Currency   string `json:"currency"`
		} `json:"totals"`
	}
	apiCall(t, "POST", edge+"/v1/sessions/"+sessionID+"/shipping-method", map[string]string{"carrier_code": "flatrate", "method_code": "flatrate"}, nil, http.StatusOK, &session)
	if session.Totals.Currency != "USD" || session.Totals.GrandTotal != demoCartTotal {
		t.Fatalf("totals = %+v; want USD %d from Magento", session.Totals, demoCartTotal)
	}
	var payment demoPayment
	apiCall(t, "POST", edge+"/v1/sessions/"+sessionID+"/payments", map[string]string{"method": "card", "token": "tok_sandbox_ok"},
		map[string]string{"Idempotency-Key": key}, http.StatusCreated, &payment)
	return payment
}

// waitMagentoOrder polls checkout-service until magento-bridge has placed the
// Magento order of a payment and recorded it there (its last step), and
// returns the payment then.
func waitMagentoOrder(t *testing.T, l layout, paymentID string, timeout time.Duration) demoPayment {
	t.Helper()
	var got demoPayment
	waitFor(t, timeout, "magento-bridge records the Magento order of payment "+paymentID, func() (bool, string) {
		got = demoPayment{}
		apiCall(t, "GET", "http://"+l.edge+"/v1/payments/"+paymentID, nil, nil, http.StatusOK, &got)
		return got.MagentoOrder != nil && got.MagentoOrder.IncrementID != "", got.String()
	})
	return got
}

// waitFor polls cond every 200ms until it reports done, failing the test
// with what and cond's last state when timeout passes first.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s for: %s; last seen: %s", timeout, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
