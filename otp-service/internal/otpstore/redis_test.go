package otpstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/otp-service/internal/otp"
)

// newRedis returns a store, with its scripts loaded, over a client and key
// prefix from open (cachetest.New or cachetest.NewCluster).
func newRedis(t *testing.T, open func(testing.TB) (redis.UniversalClient, string)) *Redis {
	t.Helper()
	rdb, prefix := open(t)
	r := NewRedis(rdb, prefix)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// onEachRedis runs test on a fresh store on each of backends (see
// cluster_test.go), as subtests named after them.
func onEachRedis(t *testing.T, test func(t *testing.T, r *Redis)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, newRedis(t, b.open)) })
	}
}

var breaker = otp.Breaker{Window: 10 * time.Minute, Buckets: 10, MinSent: 4, MinRatio: 0.5, Pause: time.Hour}

func challenge(tag string, i int, now time.Time) *otp.Challenge {
	return &otp.Challenge{ID: fmt.Sprintf("%-12s%020d", tag, i)[:32], KeyID: "k", MAC: []byte{1}, ExpiresAt: now.Add(time.Minute)}
}

// Start counts the shared limits first and the destination's only when
// they allow the start: a start they refuse leaves the destination's limits
// and pending challenge as they were. The first refusing limit in the gate's
// order is reported, with the longest wait.
func TestStartCountsEachLimit(t *testing.T) { onEachRedis(t, testStartCountsEachLimit) }

func testStartCountsEachLimit(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	g := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{
		{Name: "d", Subject: "AAAAAAAAAAAA", Count: 2, Window: time.Minute, PerDestination: true},
		{Name: "a", Subject: "x", Count: 3, Window: time.Minute},
		{Name: "b", Subject: "y", Count: 4, Window: time.Hour},
	}}
	var pending *otp.Challenge
	for i := 1; i <= 5; i++ {
		c := challenge("AAAAAAAAAAAA", i, now)
		res, err := r.Start(ctx, g, c)
		if err != nil {
			t.Fatal(err)
		}
		at, _ := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now)
		switch {
		case i <= 2 && (res.Limited != nil || at.Status != otp.AttemptOK):
			t.Fatalf("Start #%d = %+v, saved %v; want allowed and saved", i, res, at.Status)
		case i == 3 && (res.Limited == nil || res.Limited.Name != "d" || at.Status != otp.AttemptMissing):
			t.Fatalf("Start #3 = %+v, challenge %v; want limited by d and not saved", res, at.Status)
		case i == 4 && (res.Limited == nil || res.Limited.Name != "a" || res.RetryAfter > time.Minute || at.Status != otp.AttemptMissing):
			t.Fatalf("Start #4 = %+v, challenge %v; want limited by a and not saved", res, at.Status)
		case i == 5 && (res.Limited == nil || res.Limited.Name != "a" || res.RetryAfter <= time.Minute):
			t.Fatalf("Start #5 = %+v; want limited first by a, waiting for b's hour", res)
		}
		if i == 2 {
			pending = c
		}
	}
	// d counted starts 1 to 3 (3 refused by d itself), not 4 and 5.
	if n, err := r.rdb.HGet(ctx, r.destKey(pending.ID, "l:d"), "n").Int(); err != nil || n != 3 {
		t.Errorf("d counted %d starts (%v); want 3: starts refused by a shared limit count nothing of the destination", n, err)
	}
	if at, err := r.Attempt(ctx, pending.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now); err != nil || at.Status != otp.AttemptOK {
		t.Errorf("challenge #2 after three refused starts: Attempt = %+v, %v; want still pending", at, err)
	}
}

func TestBreakerTripsOnLowVerifiedRatio(t *testing.T) {
	onEachRedis(t, testBreakerTripsOnLowVerifiedRatio)
}

func testBreakerTripsOnLowVerifiedRatio(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	scopes := []string{"cc:IN"}
	start := func(i int) (otp.GateResult, *otp.Challenge) {
		t.Helper()
		c := challenge(fmt.Sprintf("T%011d", i), i, now)
		res, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker, Scopes: scopes}, c)
		if err != nil {
			t.Fatal(err)
		}
		return res, c
	}
	var cs []*otp.Challenge
	for i := range 4 {
		res, c := start(i)
		if res.Paused != "" {
			t.Fatalf("paused before any evidence: %+v", res)
		}
		cs = append(cs, c)
	}
	// 4 sent, 2 verified: ratio 0.5 is not below 0.5.
	for _, c := range cs[:2] {
		if ok, err := r.Consume(ctx, c, scopes, breaker, now); !ok || err != nil {
			t.Fatalf("Consume = %v, %v", ok, err)
		}
	}
	res, _ := start(5) // checks at 4 sent / 2 verified, then counts a fifth send
	if res.Paused != "" {
		t.Fatalf("paused at ratio 0.5: %+v", res)
	}
	res, c := start(6) // 5 sent, 2 verified: 0.4
	if res.Paused != "cc:IN" || len(res.Tripped) != 1 || res.PausedFor != time.Hour {
		t.Fatalf("Start at ratio 0.4 = %+v; want tripped and paused for 1h", res)
	}
	if at, _ := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now); at.Status != otp.AttemptMissing {
		t.Errorf("a refused start left its challenge: %v", at.Status)
	}
	if res, _ := start(7); res.Paused != "cc:IN" || len(res.Tripped) != 0 {
		t.Fatalf("Start after trip = %+v; want paused, not tripped again", res)
	}
}

func TestRememberIsReadByAttempt(t *testing.T) { onEachRedis(t, testRememberIsReadByAttempt) }

func testRememberIsReadByAttempt(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	c := challenge("BBBBBBBBBBBB", 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	id := &otp.Identity{ID: 9, Kind: "phone", Value: "+919876543210", MagentoCustomerID: 77, MagentoEmail: "x@phone.example", CreatedAt: now.Truncate(time.Millisecond)}
	if err := r.Remember(ctx, c.ID, id, "mtok", time.Minute); err != nil {
		t.Fatal(err)
	}
	at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now)
	if err != nil || at.Identity == nil || *at.Identity != *id || at.MagentoToken != "mtok" {
		t.Errorf("Attempt = %+v, %v; want the remembered identity and token", at, err)
	}
}

// Consume is the atomic step of I4: of many concurrent consumers of one
// challenge exactly one gets true.
func TestConsumeOnce(t *testing.T) { onEachRedis(t, testConsumeOnce) }

func testConsumeOnce(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	c := challenge("CCCCCCCCCCCC", 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var won atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := r.Consume(ctx, c, nil, breaker, now); err != nil {
				t.Error(err)
			} else if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d of 20 concurrent Consume calls won; want 1", won.Load())
	}
}

// The tag that starts a destination's challenge ids is no secret (every
// start answers one), so ids made up with it must not spend the
// destination's verify limit: only verifies of its current challenge do. The
// IP limit still counts every verify.
func TestMadeUpIDsDoNotSpendTheDestinationsVerifies(t *testing.T) {
	onEachRedis(t, testMadeUpIDsDoNotSpendTheDestinationsVerifies)
}

func testMadeUpIDsDoNotSpendTheDestinationsVerifies(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	const tag = "JJJJJJJJJJJJ"
	c := challenge(tag, 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	dest := otp.Limit{Name: "verifies_per_destination", Subject: tag, Count: 3, Window: 10 * time.Minute}
	attacker := otp.Limit{Name: "verifies_per_ip", Subject: "198.51.100.7", Count: 16, Window: 10 * time.Minute}
	victim := otp.Limit{Name: "verifies_per_ip", Subject: "203.0.113.8", Count: 100, Window: 10 * time.Minute}
	for i := range 17 {
		at, err := r.Attempt(ctx, challenge(tag, 100+i, now).ID, attacker, dest, otp.Limit{}, 5, now)
		want := otp.AttemptMissing
		if i == 16 {
			want = otp.AttemptLimited // the attacker's IP limit counted every one
		}
		if err != nil || at.Status != want {
			t.Fatalf("made-up id #%d: Attempt = %+v, %v; want status %v", i+1, at, err, want)
		}
	}
	for i := range 4 {
		at, err := r.Attempt(ctx, c.ID, victim, dest, otp.Limit{}, 5, now)
		want := otp.AttemptOK
		if i == 3 {
			want = otp.AttemptLimited // verifies of the real challenge do count
		}
		if err != nil || at.Status != want {
			t.Fatalf("victim's verify #%d after 17 made-up ids: Attempt = %+v, %v; want status %v", i+1, at, err, want)
		}
	}
}

// A start refused by a shared limit or a paused breaker scope must not
// touch the destination: before, its save ran in the same pipeline and
// replaced (so cancelled) the pending code, and counted the destination's
// resend gap, so someone over their own IP limit could still cancel
// anyone's code by starting a login for their number.
func TestRefusedStartKeepsThePendingChallenge(t *testing.T) {
	onEachRedis(t, testRefusedStartKeepsThePendingChallenge)
}

func testRefusedStartKeepsThePendingChallenge(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	scopes := []string{"cc:IN", "px:+9198"}
	for i, tc := range []struct {
		name  string
		setup func(i int, attackerIP otp.Limit) // makes the attacker's start refused
	}{
		{"ip limit", func(i int, ip otp.Limit) {
			// The attacker's IP has spent its limit on another destination.
			other := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{ip}}
			if res, err := r.Start(ctx, other, challenge(fmt.Sprintf("Z%011d", i), 1, now)); err != nil || res.Limited != nil {
				t.Fatalf("attacker's first start = %+v, %v; want allowed", res, err)
			}
		}},
		{"paused scope", func(int, otp.Limit) {
			paused, _, _ := r.scopeKeys(scopes[0], scopes[1])
			if err := r.rdb.Set(ctx, paused, now.Add(time.Hour).UnixMilli(), time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		tag := fmt.Sprintf("V%011d", i)
		limits := func(ip string, perIP int) []otp.Limit {
			return []otp.Limit{
				{Name: "resend", Subject: tag, Count: 1, Window: time.Minute, PerDestination: true},
				{Name: "sends_per_destination", Subject: tag, Count: 5, Window: 10 * time.Minute, PerDestination: true},
				{Name: "sends_per_ip", Subject: ip, Count: perIP, Window: time.Hour},
			}
		}
		victimIP, attackerIP := fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("198.51.100.%d", i)
		tc.setup(i, limits(attackerIP, 1)[2])
		victim := challenge(tag, 1, now)
		if res, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker, Limits: limits(victimIP, 5)}, victim); err != nil || res.Limited != nil {
			t.Fatalf("%s: victim's start = %+v, %v; want allowed", tc.name, res, err)
		}
		// After the victim's resend gap, the attacker starts a login for
		// the victim's number (scopes: the number's country and prefix).
		later := now.Add(61 * time.Second)
		res, err := r.Start(ctx, otp.Gate{Now: later, Breaker: breaker, Scopes: scopes, Limits: limits(attackerIP, 1)}, challenge(tag, 2, later))
		if err != nil || (res.Limited == nil && res.Paused == "") {
			t.Fatalf("%s: attacker's start = %+v, %v; want refused", tc.name, res, err)
		}
		at, err := r.Attempt(ctx, victim.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, later)
		if err != nil || at.Status != otp.AttemptOK {
			t.Fatalf("%s: victim's verify after the attacker's refused start: Attempt = %+v, %v; want the pending challenge", tc.name, at, err)
		}
		if won, err := r.Consume(ctx, at.Challenge, nil, breaker, later); err != nil || !won {
			t.Errorf("%s: Consume = %v, %v; want the victim's login", tc.name, won, err)
		}
		// Nor did the refused start open a resend gap for the victim.
		if res, err := r.Start(ctx, otp.Gate{Now: later, Breaker: breaker, Limits: limits(victimIP, 5)}, challenge(tag, 3, later)); err != nil || res.Limited != nil {
			t.Errorf("%s: victim's resend after the refused start = %+v, %v; want allowed", tc.name, res, err)
		}
	}
}

// The failures limit counts, across a destination's challenges, the
// verifies whose code is compared (not those of an expired or made-up
// challenge) and refuses verifies once spent, until its window closes,
// without counting them; Consume (after a right code) resets it.
func TestVerifyFailuresPerDestination(t *testing.T) { onEachRedis(t, testVerifyFailuresPerDestination) }

func testVerifyFailuresPerDestination(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	start := func(tag string, i int, expires time.Time) *otp.Challenge {
		t.Helper()
		c := challenge(tag, i, now)
		c.ExpiresAt = expires
		if res, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil || res.Limited != nil {
			t.Fatalf("Start = %+v, %v", res, err)
		}
		return c
	}
	failures := func(tag string) otp.Limit {
		return otp.Limit{Name: "verify_failures_per_destination", Subject: tag, Count: 3, Window: time.Hour}
	}
	attempt := func(what string, c *otp.Challenge, at time.Time, want otp.AttemptStatus) *otp.AttemptResult {
		t.Helper()
		res, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, failures(c.ID[:12]), 5, at)
		if err != nil || res.Status != want {
			t.Fatalf("%s: Attempt = %+v, %v; want status %v", what, res, err, want)
		}
		return res
	}

	// Three failures over two challenges (a resend between them) spend the
	// limit; the fourth verify is refused for the rest of the hour, on this
	// challenge and the next, and does not move the window.
	const tag = "KKKKKKKKKKKK"
	c1 := start(tag, 1, now.Add(time.Minute))
	attempt("failure 1", c1, now, otp.AttemptOK)
	attempt("failure 2", c1, now, otp.AttemptOK)
	c2 := start(tag, 2, now.Add(time.Minute))
	attempt("failure 3 (after a resend)", c2, now, otp.AttemptOK)
	res := attempt("verify after 3 failures", c2, now.Add(time.Minute), otp.AttemptLimited)
	if res.RetryAfter != 59*time.Minute {
		t.Errorf("RetryAfter = %v; want the window's 59m left", res.RetryAfter)
	}
	c3 := start(tag, 3, now.Add(61*time.Minute))
	attempt("verify of a new challenge", c3, now.Add(30*time.Minute), otp.AttemptLimited)
	attempt("verify once the window closed", c3, now.Add(time.Hour), otp.AttemptOK)
	if got := attempt("next verify", c3, now.Add(time.Hour), otp.AttemptOK).Challenge.Attempts; got != 2 {
		t.Errorf("challenge attempts = %d; want 2 (the refused verify counted none)", got)
	}

	// A right code (Consume) before the limit is spent resets it.
	const tag2 = "LLLLLLLLLLLL"
	c4 := start(tag2, 1, now.Add(time.Minute))
	attempt("failure 1", c4, now, otp.AttemptOK)
	attempt("failure 2", c4, now, otp.AttemptOK)
	right := attempt("right code", c4, now, otp.AttemptOK)
	if won, err := r.Consume(ctx, right.Challenge, nil, breaker, now); err != nil || !won {
		t.Fatalf("Consume = %v, %v", won, err)
	}
	c5 := start(tag2, 2, now.Add(time.Minute))
	for i := range 3 {
		attempt(fmt.Sprintf("failure %d after the login", i+1), c5, now, otp.AttemptOK)
	}
	attempt("verify after 3 new failures", c5, now, otp.AttemptLimited)

	// Verifies of an expired challenge (never compared) and of made-up ids
	// count nothing.
	const tag3 = "MMMMMMMMMMMM"
	c6 := start(tag3, 1, now.Add(-time.Second))
	for range 4 {
		attempt("verify of an expired challenge", c6, now, otp.AttemptOK)
		attempt("made-up id", challenge(tag3, 99, now), now, otp.AttemptMissing)
	}
	c7 := start(tag3, 2, now.Add(time.Minute))
	for i := range 3 {
		attempt(fmt.Sprintf("failure %d", i+1), c7, now, otp.AttemptOK)
	}
}

// The cached identity and Magento token of a destination are written
// together: a login that could not get a token leaves none of another
// identity's behind (mailbox variants share one destination tag).
func TestRememberKeepsIdentityAndTokenTogether(t *testing.T) { onEachRedis(t, testRememberTogether) }

func testRememberTogether(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	a := &otp.Identity{ID: 1, Kind: "email", Value: "bob@example.com", MagentoCustomerID: 11, CreatedAt: now}
	b := &otp.Identity{ID: 2, Kind: "email", Value: "bob+x@example.com", MagentoCustomerID: 22, CreatedAt: now}
	c := challenge("RRRRRRRRRRRR", 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	if err := r.Remember(ctx, c.ID, a, "tok-of-11", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Remember(ctx, c.ID, b, "", 0); err != nil { // b's mint failed
		t.Fatal(err)
	}
	at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now)
	if err != nil || at.Identity == nil {
		t.Fatalf("Attempt = %+v, %v; want the cached identity", at, err)
	}
	if at.Identity.MagentoCustomerID != 22 || at.MagentoToken != "" {
		t.Fatalf("cached identity of customer %d with token %q; want customer 22 and no token (not customer 11's)",
			at.Identity.MagentoCustomerID, at.MagentoToken)
	}
}

// A verify refused by the caller's IP limit compares nothing, so it must not
// count as a wrong code nor spend the challenge's attempts: a right code
// sent from a busy address (a shared /64) would otherwise lock the number.
func TestIPRefusedVerifyCountsNoFailure(t *testing.T) { onEachRedis(t, testIPRefusedVerify) }

func testIPRefusedVerify(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	const tag = "IIIIIIIIIIII"
	c := challenge(tag, 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	busy := otp.Limit{Name: "verifies_per_ip", Subject: "2001:db8::/64", Count: 1, Window: time.Hour}
	failures := otp.Limit{Name: "verify_failures_per_destination", Subject: tag, Count: 3, Window: 24 * time.Hour}
	if at, err := r.Attempt(ctx, c.ID, busy, otp.Limit{}, failures, 5, now); err != nil || at.Status != otp.AttemptOK {
		t.Fatalf("first attempt = %+v, %v; want ok", at, err)
	}
	for i := range 8 { // refused by the IP limit: nothing compared
		if at, err := r.Attempt(ctx, c.ID, busy, otp.Limit{}, failures, 5, now); err != nil || at.Status != otp.AttemptLimited {
			t.Fatalf("attempt %d from the busy address = %+v, %v; want limited", i+2, at, err)
		}
	}
	other := otp.Limit{Name: "verifies_per_ip", Subject: "198.51.100.9", Count: 10, Window: time.Hour}
	at, err := r.Attempt(ctx, c.ID, other, otp.Limit{}, failures, 5, now)
	if err != nil || at.Status != otp.AttemptOK || at.Challenge.Attempts != 2 {
		t.Fatalf("attempt from another address = %+v, %v; want ok as the challenge's 2nd attempt (refused ones not counted, no failures lock)", at, err)
	}
}

// While a destination's wrong-code cap is spent, a start is refused without
// counting or replacing anything: no code is sent that could not be
// verified.
func TestStartRefusedWhileFailuresCapSpent(t *testing.T) { onEachRedis(t, testStartFailuresCap) }

func testStartFailuresCap(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	const tag = "FFFFFFFFFFFF"
	failures := otp.Limit{Name: "verify_failures_per_destination", Subject: tag, Count: 2, Window: time.Hour}
	sends := otp.Limit{Name: "sends_per_destination", Subject: tag, Count: 10, Window: time.Hour, PerDestination: true}
	gate := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{sends}, Failures: failures}
	c := challenge(tag, 1, now)
	if res, err := r.Start(ctx, gate, c); err != nil || res.Limited != nil {
		t.Fatalf("Start = %+v, %v; want saved", res, err)
	}
	for range 2 { // two codes compared (and wrong): the cap is spent
		if at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, failures, 5, now); err != nil || at.Status != otp.AttemptOK {
			t.Fatalf("Attempt = %+v, %v", at, err)
		}
	}
	res, err := r.Start(ctx, gate, challenge(tag, 2, now))
	if err != nil || res.Limited == nil || res.Limited.Name != "verify_failures_per_destination" || res.RetryAfter <= 0 || res.RetryAfter > time.Hour {
		t.Fatalf("Start while the cap is spent = %+v, %v; want refused by verify_failures_per_destination for up to an hour", res, err)
	}
	if id, _ := r.rdb.HGet(ctx, r.challengeKey(c.ID), "id").Result(); id != c.ID {
		t.Errorf("the pending challenge is %q; want %q untouched", id, c.ID)
	}
	if n, _ := r.rdb.HGet(ctx, r.destKey(c.ID, "l:sends_per_destination"), "n").Int(); n != 1 {
		t.Errorf("sends_per_destination counted %d; want 1 (the refused start counts nothing)", n)
	}
}
