package main

import (
	"fmt"
	"testing"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// The service configured with the three masters of the test Redis Cluster
// (so cache.Open builds a Cluster client) logs a phone in, logs it in again
// from the cached identity and Magento token, and locks a challenge after
// five wrong codes.
func TestClusterLogins(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Redis = cachetest.NewClusterConfig(t)
		c.OTP.ResendAfter = 0
	})
	var mcid float64
	for i, wantNew := range []bool{true, false} {
		id := e.startPhone(phoneIN)
		r := e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": e.lastCode(phoneIN)})
		wantStatus(t, fmt.Sprintf("verify #%d", i+1), r, 200, "")
		v := r.json(t)
		cust := v["customer"].(map[string]any)
		if tok, _ := v["magento_customer_token"].(string); v["new_customer"] != wantNew || tok == "" || i > 0 && cust["magento_customer_id"] != mcid {
			t.Fatalf("login #%d: customer %v, new_customer %v; want new_customer %v, the same Magento customer", i+1, cust, v["new_customer"], wantNew)
		}
		mcid, _ = cust["magento_customer_id"].(float64)
		e.verifyAccess(v["access_token"].(string))
	}

	id := e.startPhone(phoneN(1))
	for i := range 5 {
		wantStatus(t, fmt.Sprintf("wrong code #%d", i+1), e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": wrongCode(e, phoneN(1))}), 401, otp.CodeInvalidCode)
	}
	wantStatus(t, "right code after 5 wrong", e.post("/v1/otp/verify", map[string]any{"challenge_id": id, "code": e.lastCode(phoneN(1))}), 410, otp.CodeChallengeGone)
}
