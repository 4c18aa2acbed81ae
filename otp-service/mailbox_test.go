package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Per-destination limits count an email by its mailbox, over HTTP:
// victim+1@gmail.com and v.ictim@gmail.com spend victim@gmail.com's sends.
func TestMailboxVariantsShareTheDestinationLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OTP.ResendAfter = 0
		c.OTP.Limits.SendsPerDestination = otp.Rate{Count: 2, Window: time.Hour}
	})
	for i, email := range []string{"victim+1@gmail.com", "v.ictim@gmail.com", "victim@gmail.com"} {
		r := e.post("/v1/otp/start", map[string]any{"email": email})
		if i < 2 {
			wantStatus(t, fmt.Sprintf("start #%d for %s", i+1, email), r, 202, "")
			if e.lastCode(email) == "" {
				t.Errorf("no code sent to %s itself", email)
			}
			continue
		}
		wantStatus(t, "start #3 for "+email, r, 429, "rate_limited")
	}
}

// Variants of one mailbox share its challenge slot and login cache, not
// their accounts: each address is its own identity, and a login is handed
// only its own customer's Magento token.
func TestMailboxVariantsKeepTheirOwnAccounts(t *testing.T) {
	e := newEnv(t)
	login := func(email string) map[string]any {
		t.Helper()
		e.clock.Advance(2 * time.Minute) // past the resend gap
		r := e.post("/v1/otp/start", map[string]any{"email": email})
		wantStatus(t, "start "+email, r, 202, "")
		v := e.post("/v1/otp/verify", map[string]any{"challenge_id": kb2id(r), "code": e.lastCode(email)})
		wantStatus(t, "verify "+email, v, 200, "")
		return v.json(t)
	}
	me := func(magentoToken string) int64 {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.mageURL+"/rest/V1/customers/me", nil)
		req.Header.Set("Authorization", "Bearer "+magentoToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			ID int64 `json:"id"`
		}
		if err := jsonDecode(resp, &c); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /V1/customers/me = %d, %v", resp.StatusCode, err)
		}
		return c.ID
	}
	for range 2 { // the second round finds the first's cached logins
		for _, email := range []string{"bob@example.com", "bob+shop@example.com", "bob@example.com"} {
			v := login(email)
			cust := v["customer"].(map[string]any)
			id := int64(cust["magento_customer_id"].(float64))
			if cust["email"] != email {
				t.Errorf("login as %s = customer email %v; want %s", email, cust["email"], email)
			}
			if got := me(v["magento_customer_token"].(string)); got != id {
				t.Errorf("login as %s (customer %d) was handed the Magento token of customer %d", email, id, got)
			}
		}
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
