package delivery

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// captured is one request a fake provider received.
type captured struct {
	method, path, contentType string
	header                    http.Header
	body                      []byte
}

// fakeServer answers every request with status and body and records it.
func fakeServer(t *testing.T, status int, body string) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Clone(), b})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

var sms = otp.Message{To: "+919876543210", Channel: otp.SMS, Country: "IN", Locale: "en", Code: "123456",
	Body: "123456 is your login code.\n@secure.shop.example #123456"}

// Twilio's wire format: form-encoded POST to the 2010-04-01 API with basic
// auth; Verify mode posts CustomCode to the Verifications resource.
func TestTwilioWireFormat(t *testing.T) {
	srv, got := fakeServer(t, 201, `{"sid":"SM123","status":"queued"}`)
	cfg := TwilioConfig{AccountSID: "AC123", AuthToken: "tok", From: "+15005550006", WhatsAppFrom: "+14155238886",
		VerifyServiceSID: "VA123", BaseURL: srv.URL, VerifyBaseURL: srv.URL}
	tw := NewTwilio(cfg, srv.Client(), false)
	ctx := context.Background()
	wa, voice := sms, sms
	wa.Channel, voice.Channel = otp.WhatsApp, otp.Voice
	voice.Body = "Your login code is 1 2 3 4 5 6."
	for _, m := range []otp.Message{sms, wa, voice} {
		if err := tw.Send(ctx, m); err != nil {
			t.Fatalf("Send(%s): %v", m.Channel, err)
		}
	}
	if err := NewTwilio(cfg, srv.Client(), true).Send(ctx, sms); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	want := []struct {
		path string
		form map[string]string
	}{
		{"/2010-04-01/Accounts/AC123/Messages.json", map[string]string{"To": "+919876543210", "From": "+15005550006", "Body": sms.Body}},
		{"/2010-04-01/Accounts/AC123/Messages.json", map[string]string{"To": "whatsapp:+919876543210", "From": "whatsapp:+14155238886", "Body": sms.Body}},
		{"/2010-04-01/Accounts/AC123/Calls.json", map[string]string{"To": "+919876543210", "From": "+15005550006", "Twiml": "<Response><Say>Your login code is 1 2 3 4 5 6.</Say></Response>"}},
		{"/v2/Services/VA123/Verifications", map[string]string{"To": "+919876543210", "Channel": "sms", "CustomCode": "123456", "Locale": "en"}},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests; want %d", len(reqs), len(want))
	}
	for i, w := range want {
		r := reqs[i]
		form, _ := url.ParseQuery(string(r.body))
		user, pass, _ := (&http.Request{Header: r.header}).BasicAuth()
		if r.method != "POST" || r.path != w.path || r.contentType != "application/x-www-form-urlencoded" || user != "AC123" || pass != "tok" {
			t.Errorf("request %d: %s %s %s auth %s:%s", i, r.method, r.path, r.contentType, user, pass)
		}
		for k, v := range w.form {
			if form.Get(k) != v {
				t.Errorf("request %d: %s = %q; want %q", i, k, form.Get(k), v)
			}
		}
		if len(form) != len(w.form) {
			t.Errorf("request %d: form %v has extra fields", i, form)
		}
	}
	bad, _ := fakeServer(t, 400, `{"code":21211,"message":"Invalid 'To' Phone Number"}`)
	cfg.BaseURL = bad.URL
	if err := NewTwilio(cfg, bad.Client(), false).Send(ctx, sms); err == nil || !strings.Contains(err.Error(), "21211") {
		t.Errorf("Send to a refusing Twilio = %v; want its error", err)
	}
}

// MSG91's Flow API: JSON with template_id, the DLT template id and the code
// as a flow variable; the authkey header; "type":"error" is a failure.
func TestMSG91WireFormat(t *testing.T) {
	srv, got := fakeServer(t, 200, `{"type":"success","message":"3763646c3058373530393832"}`)
	p := NewMSG91(MSG91Config{URL: srv.URL + "/api/v5/flow/", AuthKey: "key", TemplateID: "tpl", DLTTemplateID: "1107161234567890123", Sender: "SHOPIN", CodeVariable: "otp"}, srv.Client())
	if err := p.Send(context.Background(), sms); err != nil {
		t.Fatal(err)
	}
	r := got()[0]
	var body map[string]any
	_ = json.Unmarshal(r.body, &body)
	want := `{"DLT_TE_ID":"1107161234567890123","recipients":[{"mobiles":"919876543210","otp":"123456"}],"sender":"SHOPIN","short_url":"0","template_id":"tpl"}`
	if b, _ := json.Marshal(body); string(b) != want || r.path != "/api/v5/flow/" || r.header.Get("authkey") != "key" || r.contentType != "application/json" {
		t.Errorf("MSG91 request %s %s authkey %q body %s; want body %s", r.path, r.contentType, r.header.Get("authkey"), b, want)
	}
	bad, _ := fakeServer(t, 200, `{"type":"error","message":"Invalid template"}`)
	p = NewMSG91(MSG91Config{URL: bad.URL, AuthKey: "key", TemplateID: "tpl", DLTTemplateID: "1", CodeVariable: "otp"}, bad.Client())
	if err := p.Send(context.Background(), sms); err == nil || !strings.Contains(err.Error(), "Invalid template") {
		t.Errorf("Send with type error = %v; want failure", err)
	}
	if err := p.Send(context.Background(), otp.Message{Channel: otp.WhatsApp}); err == nil {
		t.Error("MSG91 accepted a WhatsApp message")
	}
}

// The webhook's body is JSON and its signature header an HMAC over
// "<t>.<body>" that a receiver can recompute.
func TestWebhookSignature(t *testing.T) {
	srv, got := fakeServer(t, 204, "")
	secret := strings.Repeat("s", 32)
	now := time.Unix(1790000000, 0)
	w := NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Secret: secretOf(secret)}, srv.Client(), func() time.Time { return now })
	if err := w.Send(context.Background(), sms); err != nil {
		t.Fatal(err)
	}
	r := got()[0]
	var p WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.To != sms.To || p.Code != "123456" || p.Body != sms.Body || p.Channel != "sms" {
		t.Errorf("payload %s", r.body)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1790000000."))
	m.Write(r.body)
	if want := "t=1790000000,v1=" + hex.EncodeToString(m.Sum(nil)); r.header.Get(SignatureHeader) != want {
		t.Errorf("%s = %q; want %q", SignatureHeader, r.header.Get(SignatureHeader), want)
	}
}

// smtpServer is a minimal SMTP server that records one message.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	from string
	to   []string
	data string
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(l string) { io.WriteString(c, l+"\r\n") }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-test")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			s.mu.Lock()
			from, _, _ := strings.Cut(strings.TrimSpace(line)[10:], ">")
			s.from = strings.Trim(from, "< ")
			s.mu.Unlock()
			say("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			s.mu.Lock()
			s.to = append(s.to, strings.Trim(strings.TrimSpace(line)[8:], "<> "))
			s.mu.Unlock()
			say("250 OK")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.data = b.String()
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 OK")
		}
	}
}

func TestSMTPSendsEmail(t *testing.T) {
	srv := newSMTPServer(t)
	host, port, _ := net.SplitHostPort(srv.addr)
	var portN int
	_, _ = fmtSscan(port, &portN)
	p := NewSMTP(SMTPConfig{Host: host, Port: portN, From: "Shop <login@shop.example>", AllowPlaintext: true}, 5*time.Second)
	m := otp.Message{To: "jane@example.com", Channel: otp.Email, Subject: "Your login code", Body: "Your login code is 123456.\n\nIt expires in 5 minutes."}
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.from != "login@shop.example" || len(srv.to) != 1 || srv.to[0] != "jane@example.com" {
		t.Errorf("envelope from %q to %v", srv.from, srv.to)
	}
	head, body, _ := strings.Cut(srv.data, "\r\n\r\n")
	for _, h := range []string{"From: \"Shop\" <login@shop.example>", "To: <jane@example.com>", "Subject: Your login code", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"} {
		if !strings.Contains(head, h) {
			t.Errorf("headers lack %q:\n%s", h, head)
		}
	}
	dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if !strings.Contains(string(dec), "Your login code is 123456.") {
		t.Errorf("body = %q", dec)
	}
	strict := NewSMTP(SMTPConfig{Host: host, Port: portN, From: "login@shop.example"}, 5*time.Second)
	if err := strict.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send without STARTTLS = %v; want a refusal", err)
	}
}

type failing struct{ name string }

func (f failing) Name() string                            { return f.name }
func (f failing) Send(context.Context, otp.Message) error { return errors.New("down") }

// Failover: providers are tried in order until one accepts; a per-country
// route wins over the channel's.
func TestRouterFailover(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	sb := NewSandbox(rdb, prefix, SandboxConfig{}, time.Now)
	down, _ := fakeServer(t, 503, `{"message":"down"}`)
	tw := NewTwilio(TwilioConfig{AccountSID: "AC1", AuthToken: "x", From: "+15005550006", BaseURL: down.URL}, down.Client(), false)
	reg := prometheus.NewRegistry()
	r, err := NewRouter(map[string][]string{"sms": {"twilio", "sandbox"}, "sms.us": {"broken"}, "email": {"broken"}},
		map[string]Provider{"twilio": tw, "sandbox": sb, "broken": failing{"broken"}}, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name, err := r.Send(ctx, sms)
	if err != nil || name != "sandbox" {
		t.Fatalf("Send = %q, %v; want failover to sandbox", name, err)
	}
	msgs, _ := sb.Messages(ctx, sms.To, 0)
	if len(msgs) != 1 || msgs[0].Body != sms.Body {
		t.Errorf("sandbox kept %+v", msgs)
	}
	us := sms
	us.Country = "US"
	if _, err := r.Send(ctx, us); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Send to US = %v; want the sms.us route's failure", err)
	}
	if _, err := r.Send(ctx, otp.Message{To: "a@example.com", Channel: otp.Email}); err == nil {
		t.Error("Send with every provider down succeeded")
	}
	var m dto.Metric
	_ = r.failures.WithLabelValues("twilio", "sms").Write(&m)
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Errorf("otp_provider_failures_total{twilio,sms} = %v; want 1", n)
	}
	if _, err := NewRouter(map[string][]string{"sms": {"nope"}}, map[string]Provider{}, zaptest.NewLogger(t), nil); err == nil {
		t.Error("NewRouter accepted an unconfigured provider")
	}
}

func TestSandboxNewestFirstAndBounded(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	sb := NewSandbox(rdb, prefix, SandboxConfig{Keep: 3, TTL: time.Minute}, time.Now)
	ctx := context.Background()
	for _, c := range []string{"1", "2", "3", "4"} {
		_ = sb.Send(ctx, otp.Message{To: "+1", Channel: otp.SMS, Body: c})
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{{0, []string{"4", "3", "2"}}, {1, []string{"4"}}, {2, []string{"4", "3"}}, {10, []string{"4", "3", "2"}}} {
		msgs, err := sb.Messages(ctx, "+1", tc.limit)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Body)
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Messages(limit %d) = %v, %v; want %v", tc.limit, got, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Routes["sms.in"] = []string{"msg91", "twilio"}
	c.Routes["fax"] = []string{"nope"}
	err := c.Validate()
	for _, want := range []string{"msg91.auth_key", "msg91.template_id", "twilio.account_sid", "twilio.from", `"fax"`, `unknown provider "nope"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem with %s", err, want)
		}
	}
}

// Provider errors are logged, so phone numbers and codes in them are masked.
func TestProviderErrorsHideNumbers(t *testing.T) {
	bad, _ := fakeServer(t, 400, `{"code":21211,"message":"The 'To' number +91 98765 43210 is not valid; code 123456"}`)
	tw := NewTwilio(TwilioConfig{AccountSID: "AC1", AuthToken: "x", From: "+15005550006", BaseURL: bad.URL}, bad.Client(), false)
	err := tw.Send(context.Background(), sms)
	if err == nil || strings.Contains(err.Error(), "98765") || strings.Contains(err.Error(), "123456") || !strings.Contains(err.Error(), "21211") {
		t.Errorf("error = %v; want the provider's code without the number or the code", err)
	}
	if got := scrub(`550 5.1.1 <jane.doe@example.com>: Recipient address rejected`); strings.Contains(got, "jane.doe") || !strings.Contains(got, "j***@example.com") {
		t.Errorf("scrub(email) = %q", got)
	}
}
