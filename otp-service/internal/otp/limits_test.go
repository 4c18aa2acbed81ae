package otp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Per-IP limits count an IPv6 client by its /64 (one subscriber's block,
// whose 2^64 addresses it can use at will) and an IPv4 client by its
// address, whether it arrives as IPv4 or IPv4-mapped IPv6.
func TestPerIPLimitsKeyIPv6ByItsSlash64(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) {
		c.ResendAfter = 0
		c.Limits = otp.Limits{SendsPerIP: otp.Rate{Count: 2, Window: time.Hour}, VerifiesPerIP: otp.Rate{Count: 2, Window: time.Hour}}
	})
	ctx := context.Background()
	phone := 0
	start := func(ip string) (*otp.StartResult, error) {
		phone++
		return f.svc.Start(ctx, otp.StartRequest{Phone: fmt.Sprintf("+9198765%05d", phone)}, otp.Meta{IP: ip})
	}
	for _, group := range [][]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::7"},
		{"192.0.2.7", "::ffff:192.0.2.7", "192.0.2.7"},
	} {
		for i, ip := range group {
			_, err := start(ip)
			if i < 2 && err != nil {
				t.Fatalf("start #%d from %s = %v; want sent", i+1, ip, err)
			}
			if i == 2 && !errs.Is(err, errs.RateLimited) {
				t.Errorf("start #3 from %s after %v = %v; want rate_limited (one client)", ip, group[:2], err)
			}
		}
	}
	if _, err := start("2001:db8:1:3::1"); err != nil {
		t.Errorf("start from the next /64 = %v; want sent", err)
	}

	// Verifies: wrong codes from one /64 spread over its addresses.
	f2 := newFixture(t, func(c *otp.Config) {
		c.ResendAfter = 0
		c.Limits = otp.Limits{VerifiesPerIP: otp.Rate{Count: 2, Window: time.Hour}}
	})
	for i, ip := range []string{"2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:9:1::3"} {
		p := fmt.Sprintf("+9198766%05d", i)
		res, err := f2.svc.Start(ctx, otp.StartRequest{Phone: p}, otp.Meta{IP: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		wrong := "000000"
		if f2.out.code(p) == wrong {
			wrong = "000001"
		}
		_, err = f2.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: wrong}, otp.Meta{IP: ip})
		want := otp.CodeInvalidCode
		if i == 2 {
			want = errs.RateLimited
		}
		if errs.Code(err) != want {
			t.Errorf("wrong code #%d from %s = %v; want %s", i+1, ip, err, want)
		}
	}
}

// Per-destination limits count an email by its mailbox: victim+1@gmail.com
// and v.ictim@gmail.com reach victim@gmail.com, so they share its send
// limit and resend gap. The code still goes to the address given, and the
// identity is the exact address.
func TestPerDestinationLimitsKeyEmailByMailbox(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) {
		c.ResendAfter = 0
		c.Limits = otp.Limits{SendsPerDestination: otp.Rate{Count: 2, Window: time.Hour}}
	})
	ctx := context.Background()
	for i, email := range []string{"victim@gmail.com", "victim+1@gmail.com", "v.ictim@gmail.com", "Victim+2@GoogleMail.com"} {
		_, err := f.svc.Start(ctx, otp.StartRequest{Email: email}, meta)
		if i < 2 && (err != nil || f.out.code(strings.ToLower(email)) == "") {
			t.Fatalf("start #%d for %s = %v; want the code sent to that address", i+1, email, err)
		}
		if i >= 2 && !errs.Is(err, errs.RateLimited) {
			t.Errorf("start #%d for %s = %v; want rate_limited (the mailbox's limit is spent)", i+1, email, err)
		}
	}
	for _, email := range []string{"v.ictim@example.com", "victim@example.com"} { // dots count outside Gmail
		if _, err := f.svc.Start(ctx, otp.StartRequest{Email: email}, meta); err != nil {
			t.Errorf("start for %s = %v; want sent (another mailbox)", email, err)
		}
	}

	g := newFixture(t, nil) // the default resend gap
	if _, err := g.svc.Start(ctx, otp.StartRequest{Email: "jane.doe@gmail.com"}, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Start(ctx, otp.StartRequest{Email: "janedoe+x@gmail.com"}, meta); !errs.Is(err, errs.RateLimited) {
		t.Errorf("a variant within the resend gap = %v; want rate_limited", err)
	}

	// The identity is the exact address verified.
	h := newFixture(t, nil)
	res, err := h.svc.Start(ctx, otp.StartRequest{Email: "victim+shop@gmail.com"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := h.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: h.out.code("victim+shop@gmail.com")}, meta)
	if err != nil || sess.Identity.Value != "victim+shop@gmail.com" || sess.Identity.MagentoEmail != "victim+shop@gmail.com" {
		t.Errorf("Verify = %+v, %v; want the identity victim+shop@gmail.com", sess, err)
	}
}
