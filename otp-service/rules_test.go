package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

func phoneN(i int) string { return fmt.Sprintf("+9198765%05d", i) }

func wantStatus(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.errCode() != code) {
		t.Fatalf("%s = %d %s; want %d %s", what, r.Status, r.Body, status, code)
	}
	if status == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("%s: Retry-After = %q; want whole seconds >= 1", what, r.Header.Get("Retry-After"))
		}
	}
}

// Rule 5: every send and verify limit answers 429 with Retry-After.
func TestLimits(t *testing.T) {
	type step struct {
		start  map[string]any
		header []string
	}
	tests := []struct {
		name  string
		limit func(*otp.Limits)
		steps func(i int) step
	}{
		{"sends_per_destination", func(l *otp.Limits) { l.SendsPerDestination = otp.Rate{Count: 2, Window: time.Hour} },
			func(i int) step { return step{start: map[string]any{"phone": phoneN(1)}} }},
		{"sends_per_ip", func(l *otp.Limits) { l.SendsPerIP = otp.Rate{Count: 2, Window: time.Hour} },
			func(i int) step { return step{start: map[string]any{"phone": phoneN(i)}} }},
		{"sends_per_device", func(l *otp.Limits) { l.SendsPerDevice = otp.Rate{Count: 2, Window: time.Hour} },
			func(i int) step { return step{start: map[string]any{"phone": phoneN(i), "client_id": "device-1"}} }},
		{"sends_per_country", func(l *otp.Limits) { l.SendsPerCountry = otp.Rate{Count: 2, Window: time.Hour} },
			func(i int) step { return step{start: map[string]any{"phone": phoneN(i)}} }},
		{"sends_global", func(l *otp.Limits) { l.SendsGlobal = otp.Rate{Count: 2, Window: time.Hour} },
			func(i int) step { return step{start: map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}} }},
		{"daily_budget", func(l *otp.Limits) { l.DailyBudgetByCountry = map[string]int{"in": 2} },
			func(i int) step { return step{start: map[string]any{"phone": phoneN(i)}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.OTP.ResendAfter = 0; tt.limit(&c.OTP.Limits) })
			for i := range 3 {
				s := tt.steps(i)
				r := e.post("/v1/otp/start", s.start, s.header...)
				if i < 2 {
					wantStatus(t, fmt.Sprintf("start #%d", i+1), r, 202, "")
					continue
				}
				wantStatus(t, "start #3", r, 429, "rate_limited")
			}
			if tt.name == "sends_per_country" {
				wantStatus(t, "start in another country", e.post("/v1/otp/start", map[string]any{"phone": "+12015550123"}), 202, "")
			}
		})
	}
	t.Run("resend_after", func(t *testing.T) {
		e := newEnv(t)
		wantStatus(t, "start", e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)}), 202, "")
		r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)})
		wantStatus(t, "resend at once", r, 429, "rate_limited")
		if r.Header.Get("Retry-After") != "60" {
			t.Errorf("Retry-After = %q; want 60", r.Header.Get("Retry-After"))
		}
		e.clock.Advance(61 * time.Second)
		wantStatus(t, "resend after 61s", e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)}), 202, "")
	})
	t.Run("verifies_per_destination", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.OTP.ResendAfter = 0
			c.OTP.Limits.VerifiesPerDest = otp.Rate{Count: 2, Window: time.Hour}
		})
		id := e.startPhone(phoneN(1))
		// Ids made up with the destination's tag (which every start shows)
		// are not its challenge: they spend nothing of its limit.
		for i := range 5 {
			junk := id[:12] + fmt.Sprintf("junk%016d", i)
			wantStatus(t, fmt.Sprintf("made-up id #%d", i+1), e.post("/v1/otp/verify", map[string]any{"challenge_id": junk, "code": "123456"}), 410, otp.CodeChallengeGone)
		}
		for i := range 2 {
			wantStatus(t, fmt.Sprintf("verify #%d", i+1), e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": wrongCode(e, phoneN(1))}), 401, otp.CodeInvalidCode)
		}
		wantStatus(t, "verify #3", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": e.lastCode(phoneN(1))}), 429, "rate_limited")
		// A new challenge for the same phone is limited too: the limit is
		// per destination, not per challenge.
		id2 := e.startPhone(phoneN(1))
		wantStatus(t, "verify on a new challenge", e.post("/v1/otp/verify", map[string]any{"challenge_id": id2, "code": e.lastCode(phoneN(1))}), 429, "rate_limited")
	})
	t.Run("verifies_per_ip", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.OTP.Limits.VerifiesPerIP = otp.Rate{Count: 2, Window: time.Hour} })
		for i := range 3 {
			id := e.startPhone(phoneN(i))
			r := e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": wrongCode(e, phoneN(i))})
			if i < 2 {
				wantStatus(t, "verify", r, 401, otp.CodeInvalidCode)
			} else {
				wantStatus(t, "verify #3", r, 429, "rate_limited")
			}
		}
	})
	t.Run("verifies_per_challenge", func(t *testing.T) {
		e := newEnv(t)
		id := e.startPhone(phoneN(1))
		for i := range 5 {
			wantStatus(t, fmt.Sprintf("wrong code #%d", i+1), e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": wrongCode(e, phoneN(1))}), 401, otp.CodeInvalidCode)
		}
		wantStatus(t, "right code after 5 wrong", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": e.lastCode(phoneN(1))}), 410, otp.CodeChallengeGone)
	})
	t.Run("verify_failures_per_destination", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.OTP.ResendAfter = 0
			c.OTP.Limits.VerifyFailuresPerDest = otp.Rate{Count: 3, Window: 24 * time.Hour}
		})
		verify := func(id, code string) response {
			return e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code})
		}
		// A login before the limit is spent resets it.
		id := e.startPhone(phoneN(1))
		for i := range 2 {
			wantStatus(t, fmt.Sprintf("wrong code #%d", i+1), verify(id, wrongCode(e, phoneN(1))), 401, otp.CodeInvalidCode)
		}
		wantStatus(t, "right code after 2 wrong", verify(id, e.lastCode(phoneN(1))), 200, "")
		// Then 3 wrong codes, each on a new challenge (a resend gives fresh
		// attempts), lock the destination for the window.
		for i := range 3 {
			id = e.startPhone(phoneN(1))
			wantStatus(t, fmt.Sprintf("wrong code #%d after the login", i+1), verify(id, wrongCode(e, phoneN(1))), 401, otp.CodeInvalidCode)
		}
		r := verify(id, e.lastCode(phoneN(1)))
		wantStatus(t, "right code after 3 wrong", r, 429, "rate_limited")
		if s, _ := strconv.Atoi(r.Header.Get("Retry-After")); s < 86400-60 || s > 86400 {
			t.Errorf("Retry-After = %q; want the day's window left", r.Header.Get("Retry-After"))
		}
		// No code is sent while the cap is spent: it could not be verified.
		sr := e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)})
		wantStatus(t, "start while the cap is spent", sr, 429, "rate_limited")
		if s, _ := strconv.Atoi(sr.Header.Get("Retry-After")); s < 86400-60 || s > 86400 {
			t.Errorf("start's Retry-After = %q; want the day's window left", sr.Header.Get("Retry-After"))
		}
		wantStatus(t, "the pending challenge is untouched", verify(id, e.lastCode(phoneN(1))), 429, "rate_limited")
		e.clock.Advance(24 * time.Hour)
		id = e.startPhone(phoneN(1))
		wantStatus(t, "right code once the window closed", verify(id, e.lastCode(phoneN(1))), 200, "")
	})
}

func wrongCode(e *env, to string) string {
	right := e.lastCode(to)
	if right == "111111" {
		return "222222"
	}
	return "111111"
}

// Rule 11: X-Forwarded-For counts only from a configured proxy.
func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OTP.ResendAfter = 0
		c.OTP.Limits.SendsPerIP = otp.Rate{Count: 2, Window: time.Hour}
		c.HTTP.TrustedProxies = nil
	})
	for i := range 3 {
		r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(i)}, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		if i == 2 {
			wantStatus(t, "untrusted peer, spoofed X-Forwarded-For", r, 429, "rate_limited")
		}
	}
	e.restart(func(c *Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1"} })
	for i := range 3 {
		r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(10 + i)}, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		wantStatus(t, "trusted proxy, distinct clients", r, 202, "")
	}
	for i := range 3 {
		r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(20 + i)}, "X-Forwarded-For", "203.0.113.77")
		if i == 2 {
			wantStatus(t, "trusted proxy, one client", r, 429, "rate_limited")
		}
	}
}

// Rule 2 and I4: a code works once, within its lifetime, for its challenge;
// a resend invalidates the previous code.
func TestCodeLifetimeOnceAndResend(t *testing.T) {
	e := newEnv(t)
	id := e.startPhone(phoneN(1))
	code := e.lastCode(phoneN(1))
	e.clock.Advance(5*time.Minute + time.Second)
	wantStatus(t, "verify after 5m01s", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code}), 410, otp.CodeChallengeGone)

	id = e.startPhone(phoneN(1))
	code = e.lastCode(phoneN(1))
	e.clock.Advance(4*time.Minute + 50*time.Second)
	wantStatus(t, "verify after 4m50s", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code}), 200, "")
	wantStatus(t, "verify again", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code}), 410, otp.CodeChallengeGone)

	e.clock.Advance(2 * time.Minute)
	old := e.startPhone(phoneN(2))
	oldCode := e.lastCode(phoneN(2))
	e.clock.Advance(61 * time.Second)
	fresh := e.startPhone(phoneN(2))
	newCode := e.lastCode(phoneN(2))
	wantStatus(t, "old challenge after resend", e.post("/v1/otp/verify", map[string]any{"challenge_id": old, "code": oldCode}), 410, otp.CodeChallengeGone)
	if oldCode != newCode {
		wantStatus(t, "old code on the new challenge", e.post("/v1/otp/verify", map[string]any{"challenge_id": fresh, "code": oldCode}), 401, otp.CodeInvalidCode)
	}
	wantStatus(t, "new code", e.post("/v1/otp/verify", map[string]any{"challenge_id": fresh, "code": newCode}), 200, "")
}

// I4 under concurrency: 100 verifies of the right code, one success.
func TestConcurrentVerifiesExactlyOneSuccess(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OTP.Limits.VerifiesPerDest.Count = 1000 })
	id := e.startPhone(phoneIN)
	code := e.lastCode(phoneIN)
	statuses := make(chan int, 100)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses <- e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code}).Status
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[410] != 99 {
		t.Errorf("100 concurrent verifies: %v; want one 200 and 99 410", count)
	}
	var sessions int
	if err := e.db.QueryRow("SELECT COUNT(DISTINCT family_id) FROM otp_refresh_tokens").Scan(&sessions); err != nil || sessions != 1 {
		t.Errorf("sessions = %d, %v; want 1", sessions, err)
	}
}

// Rule 6: start answers the same for a known and an unknown identity, and so
// does a wrong code.
func TestStartIndistinguishableForKnownAndUnknown(t *testing.T) {
	e := newEnv(t)
	e.login(phoneN(1)) // now known
	e.clock.Advance(2 * time.Minute)
	known := e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)})
	unknown := e.post("/v1/otp/start", map[string]any{"phone": phoneN(2)})
	if known.Status != unknown.Status || known.Status != 202 {
		t.Fatalf("start status known %d, unknown %d", known.Status, unknown.Status)
	}
	if hk, hu := headerKeys(known.Header), headerKeys(unknown.Header); hk != hu {
		t.Errorf("headers differ: known %s, unknown %s", hk, hu)
	}
	kb, ub := known.json(t), unknown.json(t)
	if len(kb["challenge_id"].(string)) != len(ub["challenge_id"].(string)) {
		t.Errorf("challenge ids differ in length")
	}
	delete(kb, "challenge_id")
	delete(ub, "challenge_id")
	if fmt.Sprint(kb) != fmt.Sprint(ub) || len(known.Body) != len(unknown.Body) {
		t.Errorf("start bodies differ: known %s, unknown %s", known.Body, unknown.Body)
	}
	wk := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(known), "code": wrongCode(e, phoneN(1))})
	wu := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(unknown), "code": wrongCode(e, phoneN(2))})
	if wk.Status != wu.Status || wk.errCode() != wu.errCode() || stripRequestID(wk.Body) != stripRequestID(wu.Body) {
		t.Errorf("wrong-code answers differ: known %d %s, unknown %d %s", wk.Status, wk.Body, wu.Status, wu.Body)
	}
}

func kb2id(r response) string {
	var b struct {
		ChallengeID string `json:"challenge_id"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.ChallengeID
}

func stripRequestID(b []byte) string {
	var m map[string]map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m["error"], "request_id")
	out, _ := json.Marshal(m)
	return string(out)
}

func headerKeys(h http.Header) string {
	var keys []string
	for k := range h {
		if k != "Date" && k != "X-Request-Id" {
			keys = append(keys, k+"="+strings.Join(h[k], ","))
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ";")
}

// Rule 12: rotating refresh tokens with reuse detection.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	v := e.login(phoneIN)
	rt1 := v["refresh_token"].(string)
	r := e.post("/v1/token/refresh", map[string]any{"refresh_token": rt1})
	wantStatus(t, "refresh", r, 200, "")
	rt2 := r.json(t)["refresh_token"].(string)
	wantStatus(t, "reuse of the spent token", e.post("/v1/token/refresh", map[string]any{"refresh_token": rt1}), 401, otp.CodeRefreshReused)
	wantStatus(t, "the newest token after reuse", e.post("/v1/token/refresh", map[string]any{"refresh_token": rt2}), 401, otp.CodeInvalidRefresh)
	wantStatus(t, "garbage token", e.post("/v1/token/refresh", map[string]any{"refresh_token": "rt_nope"}), 401, otp.CodeInvalidRefresh)
	// Another session of the same person is untouched.
	e.clock.Advance(2 * time.Minute)
	other := e.login(phoneIN)
	wantStatus(t, "other session", e.post("/v1/token/refresh", map[string]any{"refresh_token": other["refresh_token"]}), 200, "")
	if !e.waitAudit("refresh_reuse", 1) {
		t.Error("no refresh_reuse audit event")
	}
	// An expired refresh token is refused.
	r = e.post("/v1/token/refresh", map[string]any{"refresh_token": e.login2(phoneN(7))})
	_ = r
}

// login2 logs in and returns a refresh token after moving the clock past its
// lifetime; the refresh must fail.
func (e *env) login2(phone string) string {
	e.t.Helper()
	v := e.login(phone)
	e.clock.Advance(e.cfg.Tokens.RefreshTTL + time.Minute)
	rt := v["refresh_token"].(string)
	r := e.post("/v1/token/refresh", map[string]any{"refresh_token": rt})
	if r.Status != 401 {
		e.t.Errorf("refresh after its lifetime = %d; want 401", r.Status)
	}
	return rt
}

// waitAudit waits until the async audit writer has stored n events of a type.
func (e *env) waitAudit(event string, n int) bool {
	e.t.Helper()
	for range 200 {
		var got int
		if err := e.db.QueryRow("SELECT COUNT(*) FROM otp_audit_log WHERE event = ?", event).Scan(&got); err == nil && got >= n {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// Rule 12: asymmetric keys with kid; JWKS rotation without downtime, here
// from the ES256 key t1 to the EdDSA key t2.
func TestJWKSRotation(t *testing.T) {
	e := newEnv(t)
	old := e.login(phoneN(1))["access_token"].(string)
	if kid := e.verifyAccessKid(old); kid != "t1" {
		t.Fatalf("kid = %q; want t1", kid)
	}
	newKey, _ := tokens.GenerateEd25519KeyPEM()
	// Step 1: publish t2 beside t1; step 2: make t2 active.
	e.restart(func(c *Config) {
		c.Tokens.SigningKeys["t2"] = config.Secret(newKey)
		c.Tokens.ActiveKey = "t2"
	})
	if keys := e.jwksKeys(); len(keys) != 2 || keys["t1"] == nil || keys["t2"] == nil {
		t.Fatalf("JWKS during rotation has %d keys; want t1 and t2", len(keys))
	}
	e.verifyAccess(old) // tokens signed before the rotation still verify
	e.clock.Advance(2 * time.Minute)
	fresh := e.login(phoneN(1))["access_token"].(string)
	if kid := e.verifyAccessKid(fresh); kid != "t2" {
		t.Errorf("new tokens kid = %q; want t2", kid)
	}
	// Step 3: retire t1 once its tokens have expired.
	e.restart(func(c *Config) { delete(c.Tokens.SigningKeys, "t1") })
	if keys := e.jwksKeys(); len(keys) != 1 || keys["t2"] == nil {
		t.Errorf("JWKS after retiring t1 = %v", keys)
	}
	e.verifyAccess(fresh)
}

func (e *env) verifyAccessKid(tok string) string {
	e.t.Helper()
	e.verifyAccess(tok)
	seg, _ := base64URLDecode(strings.Split(tok, ".")[0])
	var h struct{ Kid, Alg string }
	_ = json.Unmarshal(seg, &h)
	if want := map[string]string{"t1": "ES256", "t2": "EdDSA"}[h.Kid]; h.Alg != want {
		e.t.Errorf("alg = %q; want %s for kid %s", h.Alg, want, h.Kid)
	}
	return h.Kid
}

// Rule 9: a verified phone is never linked to an existing customer because
// an address phone matches; an email proved by code may claim its account.
func TestNeverLinkByAddressPhone(t *testing.T) {
	e := newEnv(t)
	mc, err := magento.New(e.cfg.Magento)
	if err != nil {
		t.Fatal(err)
	}
	existing, err := mc.CreateCustomer(context.Background(), magento.Customer{
		Email: "asha@example.com", Firstname: "Asha", Lastname: "Rao", WebsiteID: 1,
		Addresses: []magento.CustomerAddress{{CountryID: "IN", Street: []string{"1 MG Road"}, City: "Pune", Postcode: "411001",
			Telephone: phoneIN, Firstname: "Asha", Lastname: "Rao", DefaultBilling: true, DefaultShipping: true}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	v := e.login(phoneIN)
	cust := v["customer"].(map[string]any)
	if int64(cust["magento_customer_id"].(float64)) == existing.ID {
		t.Fatalf("phone login linked to customer %d whose address phone matches", existing.ID)
	}
	if email := cust["email"].(string); !strings.HasPrefix(email, "919876543210.") || !strings.HasSuffix(email, "@phone.shop.example") {
		t.Errorf("placeholder email = %q", email)
	}
	// Claiming the existing account takes its email's code.
	r := e.post("/v1/otp/start", map[string]any{"email": "asha@example.com"})
	wantStatus(t, "start email", r, 202, "")
	vr := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode("asha@example.com")})
	wantStatus(t, "verify email", vr, 200, "")
	if got := int64(vr.json(t)["customer"].(map[string]any)["magento_customer_id"].(float64)); got != existing.ID {
		t.Errorf("email login customer = %d; want the existing %d", got, existing.ID)
	}
	// The email login alone did not move the phone.
	e.clock.Advance(2 * time.Minute)
	if got := int64(e.login(phoneIN)["customer"].(map[string]any)["magento_customer_id"].(float64)); got == existing.ID {
		t.Fatal("an email login without the phone's session linked the phone")
	}

	// Step-up: the phone's session proves the email's code, then the phone
	// is linked to the existing account.
	phoneSession := e.login(phoneN(3))
	r = e.post("/v1/otp/start", map[string]any{"email": "asha@example.com"})
	wantStatus(t, "start email for the link", r, 202, "")
	code := e.lastCode("asha@example.com")
	wantStatus(t, "link with a bad token", e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": code},
		"Authorization", "Bearer nope"), 401, "unauthorized")
	wantStatus(t, "link with the phone session", e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": code},
		"Authorization", "Bearer "+phoneSession["access_token"].(string)), 200, "")
	e.clock.Advance(2 * time.Minute)
	if got := int64(e.login(phoneN(3))["customer"].(map[string]any)["magento_customer_id"].(float64)); got != existing.ID {
		t.Errorf("phone login after the email step-up = customer %d; want %d", got, existing.ID)
	}
	if !e.waitAudit("link", 1) {
		t.Error("no link audit event")
	}
}

// A phone's access token links the phone to an email's account only while
// its login session is going (not logged out, not revoked for reuse) and
// only when the login is recent: a stolen token cannot remap the phone.
func TestLinkNeedsARecentLiveSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Tokens.AccessTTL = 15 * time.Minute })
	mc, err := magento.New(e.cfg.Magento)
	if err != nil {
		t.Fatal(err)
	}
	existing, err := mc.CreateCustomer(context.Background(), magento.Customer{Email: "asha@example.com", Firstname: "Asha", Lastname: "Rao", WebsiteID: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	link := func(what string, accessToken string, status int) {
		t.Helper()
		e.clock.Advance(2 * time.Minute) // past the email's resend gap
		r := e.post("/v1/otp/start", map[string]any{"email": "asha@example.com"})
		wantStatus(t, "start email for "+what, r, 202, "")
		wantStatus(t, what, e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode("asha@example.com")},
			"Authorization", "Bearer "+accessToken), status, map[int]string{401: "unauthorized", 200: ""}[status])
	}
	customerOf := func(phone string) int64 {
		t.Helper()
		e.clock.Advance(2 * time.Minute)
		return int64(e.login(phone)["customer"].(map[string]any)["magento_customer_id"].(float64))
	}

	// Logged out: the access token still verifies, but its session is over.
	out := e.login(phoneN(1))
	wantStatus(t, "logout", e.post("/v1/logout", map[string]any{"refresh_token": out["refresh_token"]}), 204, "")
	link("link with the token of a logged-out session", out["access_token"].(string), 401)
	if customerOf(phoneN(1)) == existing.ID {
		t.Error("a logged-out session linked its phone")
	}

	// Revoked because its refresh token was reused.
	reused := e.login(phoneN(2))
	wantStatus(t, "refresh", e.post("/v1/token/refresh", map[string]any{"refresh_token": reused["refresh_token"]}), 200, "")
	wantStatus(t, "reuse", e.post("/v1/token/refresh", map[string]any{"refresh_token": reused["refresh_token"]}), 401, otp.CodeRefreshReused)
	link("link with the token of a revoked session", reused["access_token"].(string), 401)

	// Live but 11 minutes old (the token itself lives 15).
	old := e.login(phoneN(3))
	e.clock.Advance(9 * time.Minute) // + 2 in link: 11 minutes
	link("link with an 11-minute-old login", old["access_token"].(string), 401)
	if customerOf(phoneN(3)) == existing.ID {
		t.Error("an 11-minute-old login linked its phone")
	}

	// Live and recent: linked.
	fresh := e.login(phoneN(4))
	link("link with a fresh login", fresh["access_token"].(string), 200)
	if got := customerOf(phoneN(4)); got != existing.ID {
		t.Errorf("phone after a fresh link = customer %d; want %d", got, existing.ID)
	}
}

// An email code does not claim a Magento account that still waits for its
// email confirmation: anyone may register any address on the storefront,
// and claiming it would share that account with whoever registered it. The
// refusal is audited and links nothing.
func TestEmailCodeDoesNotClaimUnconfirmedAccount(t *testing.T) {
	e := newEnvWithMagento(t, magentosandbox.Options{ConfirmAccounts: true})
	mc, err := magento.New(e.cfg.Magento)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	squatter, err := mc.CreateCustomer(ctx, magento.Customer{Email: "asha@example.com", Firstname: "Not", Lastname: "Asha", WebsiteID: 1}, "Squatter-pass1")
	if err != nil || squatter.Confirmation == "" {
		t.Fatalf("storefront registration = %+v, %v; want an account waiting for confirmation", squatter, err)
	}
	r := e.post("/v1/otp/start", map[string]any{"email": "asha@example.com"})
	wantStatus(t, "start email", r, 202, "")
	vr := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode("asha@example.com")})
	wantStatus(t, "verify the email of an unconfirmed account", vr, 403, "email_unconfirmed")
	if msg := vr.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "confirm") {
		t.Errorf("message %q does not tell the shopper to confirm the email first", msg)
	}
	var n int
	if err := e.db.QueryRow("SELECT COUNT(*) FROM otp_identities WHERE value = ?", "asha@example.com").Scan(&n); err != nil || n != 0 {
		t.Errorf("identities for the unconfirmed email = %d, %v; want none", n, err)
	}
	if !e.waitAudit("claim_refused", 1) {
		t.Error("no claim_refused audit event")
	}

	// A phone session cannot link itself to it either.
	phone := e.login(phoneN(4))
	e.clock.Advance(2 * time.Minute)
	r = e.post("/v1/otp/start", map[string]any{"email": "asha@example.com"})
	wantStatus(t, "start email for a link", r, 202, "")
	vr = e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode("asha@example.com")},
		"Authorization", "Bearer "+phone["access_token"].(string))
	wantStatus(t, "link to an unconfirmed account", vr, 403, "email_unconfirmed")

	// An account created without a password (as this service creates them)
	// never waits, and an email unknown to Magento gets a new customer.
	for _, email := range []string{"nopw@example.com", "fresh@example.com"} {
		if email == "nopw@example.com" {
			if _, err := mc.CreateCustomer(ctx, magento.Customer{Email: email, Firstname: "N", Lastname: "P", WebsiteID: 1}, ""); err != nil {
				t.Fatal(err)
			}
		}
		r := e.post("/v1/otp/start", map[string]any{"email": email})
		wantStatus(t, "start "+email, r, 202, "")
		wantStatus(t, "verify "+email, e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode(email)}), 200, "")
	}
}

// Rule 8: SMS is restricted: the answer says so, the token's amr names the
// channel, and a new phone is a new authenticator (a new identity, never a
// change of an existing one).
func TestSMSRestrictedAndPhoneChangeIsNewAuthenticator(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(1)})
	if r.json(t)["restricted"] != true {
		t.Errorf("start by SMS: restricted = %v; want true", r.json(t)["restricted"])
	}
	v := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode(phoneN(1))}).json(t)
	claims := e.verifyAccess(v["access_token"].(string))
	if fmt.Sprint(claims["amr"]) != "[otp sms]" {
		t.Errorf("amr = %v; want [otp sms]", claims["amr"])
	}
	if r := e.post("/v1/otp/start", map[string]any{"email": "x@example.com"}); r.json(t)["restricted"] != false {
		t.Errorf("start by email: restricted = %v; want false", r.json(t)["restricted"])
	}
	v2 := e.login(phoneN(2))
	a, b := v["customer"].(map[string]any), v2["customer"].(map[string]any)
	if a["id"] == b["id"] || a["magento_customer_id"] == b["magento_customer_id"] {
		t.Errorf("a second phone reused identity %v / customer %v", a["id"], a["magento_customer_id"])
	}
}

// Rule 7 over HTTP: clear 400s.
func TestStartRefusesBadDestinations(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"phone": "9876543210"}, otp.CodeInvalidPhone},
		{map[string]any{"phone": "+919999"}, otp.CodeInvalidPhone},
		{map[string]any{"phone": "+19005550123"}, otp.CodeNumberNotAllowed},
		{map[string]any{"phone": "+33612345678"}, otp.CodeCountryNotAllowed},
		{map[string]any{"email": "nope"}, otp.CodeInvalidEmail},
		{map[string]any{"email": "jane@gmáil.com"}, otp.CodeInvalidEmail}, // a look-alike of jane@gmail.com
		{map[string]any{"phone": phoneIN, "email": "a@example.com"}, "invalid"},
		{map[string]any{"phone": phoneIN, "channel": "email"}, otp.CodeChannelUnavailable},
		{map[string]any{"phone": phoneIN, "channel": "pigeon"}, "invalid"},
		{map[string]any{"phone": phoneIN, "admin": true}, "invalid"},
		{map[string]any{}, "invalid"},
		{map[string]any{"phone": "+442079460000"}, otp.CodeChannelUnavailable}, // a landline takes voice only
	}
	for _, tt := range tests {
		r := e.post("/v1/otp/start", tt.body)
		if r.Status != 400 || r.errCode() != tt.code {
			t.Errorf("start(%v) = %d %s; want 400 %s", tt.body, r.Status, r.Body, tt.code)
		}
	}
	wantStatus(t, "voice to a landline", e.post("/v1/otp/start", map[string]any{"phone": "+442079460000", "channel": "voice"}), 202, "")
	if code := e.lastCode("+442079460000"); len(code) != 0 {
		t.Errorf("voice message carries the code as one number %q; want digits spelled apart", code)
	}
}

// Rule 13: per country (and prefix), a low verified/sent ratio pauses
// sending and logs an alert; other countries keep working.
func TestPumpingBreakerPausesCountry(t *testing.T) {
	logs := captureStderr(t)
	e := newEnv(t, func(c *Config) {
		c.OTP.ResendAfter = 0
		c.OTP.Breaker.MinSent = 4
		c.OTP.Breaker.MinRatio = 0.5
	})
	for i := range 4 {
		e.startPhone(phoneN(i)) // sent, never verified
	}
	r := e.post("/v1/otp/start", map[string]any{"phone": phoneN(9)})
	if r.Status != 503 || r.errCode() != otp.CodeSendingPaused {
		t.Fatalf("start after pumping = %d %s; want 503 %s", r.Status, r.Body, otp.CodeSendingPaused)
	}
	wantStatus(t, "another country", e.post("/v1/otp/start", map[string]any{"phone": "+12015550123"}), 202, "")
	e.clock.Advance(e.cfg.OTP.Breaker.Pause + time.Second)
	wantStatus(t, "after the pause", e.post("/v1/otp/start", map[string]any{"phone": phoneN(9)}), 202, "")
	m := e.do(http.MethodGet, "/metrics", nil)
	if !strings.Contains(string(m.Body), `otp_breaker_trips_total{scope="cc"} 1`) {
		t.Error("otp_breaker_trips_total{scope=\"cc\"} is not 1")
	}
	e.stop()
	if out := logs(); !strings.Contains(out, "ALERT sms pumping breaker tripped") || !strings.Contains(out, "cc:IN") {
		t.Errorf("no alert log for the trip")
	}
}

// Rule 10: no code, token or whole phone number in logs or the audit table.
func TestLogsAndAuditHoldNoSecrets(t *testing.T) {
	logs := captureStderr(t)
	e := newEnv(t, func(c *Config) { c.Log.Level = "debug"; c.Log.Format = "json" })
	id := e.startPhone(phoneIN)
	code := e.lastCode(phoneIN)
	e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": wrongCode(e, phoneIN)})
	r := e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": code})
	v := r.json(t)
	rr := e.post("/v1/token/refresh", map[string]any{"refresh_token": v["refresh_token"]})
	e.post("/v1/token/refresh", map[string]any{"refresh_token": v["refresh_token"]}) // reuse: logged as a warning
	if !e.waitAudit("refresh_reuse", 1) {
		t.Fatal("audit not written")
	}
	e.stop()
	out := logs()
	if !strings.Contains(out, `"route":"/v1/otp/verify"`) {
		t.Fatalf("captured no access logs: %q", out)
	}
	secrets := map[string]string{
		"phone": phoneIN, "phone digits": strings.TrimPrefix(phoneIN, "+"), "code": code, "challenge id": id,
		"access token": v["access_token"].(string), "refresh token": v["refresh_token"].(string),
		"rotated refresh token": rr.json(t)["refresh_token"].(string), "magento token": v["magento_customer_token"].(string),
	}
	rows, err := e.db.Query("SELECT event, subject, detail, ip, client_id FROM otp_audit_log")
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	events := map[string]bool{}
	for rows.Next() {
		var ev, subject, detail, ip, client string
		_ = rows.Scan(&ev, &subject, &detail, &ip, &client)
		events[ev] = true
		fmt.Fprintln(&audit, ev, subject, detail, ip, client)
	}
	rows.Close()
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("logs contain the %s", name)
		}
		if strings.Contains(audit.String(), s) {
			t.Errorf("audit log contains the %s", name)
		}
	}
	for _, ev := range []string{"start", "failure", "verify", "refresh", "refresh_reuse"} {
		if !events[ev] {
			t.Errorf("audit has no %s event; has %v", ev, events)
		}
	}
	if !strings.Contains(audit.String(), "+91********10") {
		t.Errorf("audit subjects are not masked phones:\n%s", audit.String())
	}
}

// captureStderr sends the process's stderr (where the service's zap logger
// writes) to a buffer until the returned function is called.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = w
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		b, _ := io.ReadAll(r)
		buf.Write(b)
		close(done)
	}()
	var once sync.Once
	finish := func() string {
		once.Do(func() {
			os.Stderr = orig
			w.Close()
			<-done
		})
		return buf.String()
	}
	t.Cleanup(func() { finish() })
	return finish
}

// Test numbers: fixed codes until their expiry date, nothing sent.
func TestTestNumbers(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OTP.TestNumbers = map[string]otp.TestNumber{
			"+919000000001": {Code: "424242", Expires: "2099-12-31"},
			"+919000000002": {Code: "424242", Expires: "2020-01-01"},
		}
	})
	id := e.startPhone("+919000000001")
	if m := e.do(http.MethodGet, "/v1/sandbox/messages?to=%2B919000000001", nil); !strings.Contains(string(m.Body), `"messages":[]`) {
		t.Errorf("a test number got a message: %s", m.Body)
	}
	wantStatus(t, "fixed code", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": "424242"}), 200, "")
	id = e.startPhone("+919000000002")
	if c := e.lastCode("+919000000002"); c != "424242" {
		wantStatus(t, "fixed code after expiry", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": "424242"}), 401, otp.CodeInvalidCode)
	}
}

func TestSandboxEndpointOnlyInSandboxMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OTP.Sandbox = false })
	r := e.do(http.MethodGet, "/v1/sandbox/messages?to=%2B919876543210", nil)
	if r.Status != 404 {
		t.Errorf("sandbox messages with sandbox off = %d; want 404", r.Status)
	}
	cfg := DefaultConfig()
	cfg.OTP.Sandbox = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "otp.sandbox") {
		t.Errorf("production config with sandbox on: Validate() = %v; want a problem with otp.sandbox", err)
	}
}

func TestSandboxMessagesLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OTP.ResendAfter = 0 })
	for range 3 {
		e.startPhone("+919876543210")
	}
	count := func(r response) int {
		t.Helper()
		var out struct{ Messages []json.RawMessage }
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatalf("messages: %v: %s", err, r.Body)
		}
		return len(out.Messages)
	}
	for _, tc := range []struct {
		query      string
		status, n  int
		errorField string
	}{
		{"", 200, 3, ""},
		{"&limit=1", 200, 1, ""},
		{"&limit=2", 200, 2, ""},
		{"&limit=100", 200, 3, ""},
		{"&limit=0", 400, 0, "limit"},
		{"&limit=101", 400, 0, "limit"},
		{"&limit=two", 400, 0, "limit"},
	} {
		r := e.do(http.MethodGet, "/v1/sandbox/messages?to=%2B919876543210"+tc.query, nil)
		if r.Status != tc.status {
			t.Errorf("messages%s = %d %s; want %d", tc.query, r.Status, r.Body, tc.status)
			continue
		}
		if tc.status == 200 && count(r) != tc.n {
			t.Errorf("messages%s gave %d; want %d", tc.query, count(r), tc.n)
		}
		if tc.errorField != "" && !strings.Contains(string(r.Body), tc.errorField) {
			t.Errorf("messages%s error %s does not name %q", tc.query, r.Body, tc.errorField)
		}
	}
}

func TestEmailLoginAndMetrics(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/otp/start", map[string]any{"email": "New.User@Example.com", "locale": "en"})
	wantStatus(t, "start email", r, 202, "")
	if r.json(t)["channel"] != "email" {
		t.Errorf("channel = %v", r.json(t)["channel"])
	}
	v := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode("new.user@example.com")})
	wantStatus(t, "verify email", v, 200, "")
	c := v.json(t)["customer"].(map[string]any)
	if c["email"] != "new.user@example.com" || c["phone"] != nil {
		t.Errorf("customer = %v", c)
	}
	e.login(phoneIN)
	m := string(e.do(http.MethodGet, "/metrics", nil).Body)
	for _, want := range []string{
		`otp_sends_total{channel="sms",country="IN",provider="sandbox",result="sent"} 1`,
		`otp_sends_total{channel="email",country="",provider="sandbox",result="sent"} 1`,
		`otp_verifies_total{channel="sms",country="IN",provider="sandbox",result="success"} 1`,
		`otp_logins_total{channel="email",country="",kind="new"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A start whose code no provider accepted answers 503, leaves no challenge
// and does not hold the resend gap against the next try.
func TestDeliveryFailureFreesTheResendGap(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	e := newEnv(t, func(c *Config) {
		c.Delivery.Routes["sms"] = []string{"webhook"}
		c.Delivery.Webhook.URL = down.URL
		c.Delivery.Webhook.Secret = config.Secret(strings.Repeat("w", 32))
	})
	r := e.post("/v1/otp/start", map[string]any{"phone": phoneIN})
	if r.Status != 503 || r.errCode() != otp.CodeDeliveryFailed {
		t.Fatalf("start with every provider down = %d %s; want 503 %s", r.Status, r.Body, otp.CodeDeliveryFailed)
	}
	r = e.post("/v1/otp/start", map[string]any{"phone": phoneIN})
	if r.Status != 503 || r.errCode() != otp.CodeDeliveryFailed {
		t.Errorf("second try = %d %s; want another delivery attempt, not the resend gap", r.Status, r.Body)
	}
	m := string(e.do(http.MethodGet, "/metrics", nil).Body)
	if !strings.Contains(m, `otp_provider_failures_total{channel="sms",provider="webhook"} 2`) {
		t.Error("provider failures not counted")
	}
}

// Provider failover end to end: the first provider fails, the second sends,
// and sends and verifies are counted under the one that sent.
func TestProviderFailoverEndToEnd(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	e := newEnv(t, func(c *Config) {
		c.Delivery.Routes["sms"] = []string{"webhook", "sandbox"}
		c.Delivery.Webhook.URL = down.URL
		c.Delivery.Webhook.Secret = config.Secret(strings.Repeat("w", 32))
	})
	e.login(phoneIN)
	m := string(e.do(http.MethodGet, "/metrics", nil).Body)
	for _, want := range []string{
		`otp_provider_failures_total{channel="sms",provider="webhook"} 1`,
		`otp_sends_total{channel="sms",country="IN",provider="sandbox",result="sent"} 1`,
		`otp_verifies_total{channel="sms",country="IN",provider="sandbox",result="success"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
