package otpstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// backends are the Redis deployments every store test runs on (through
// onEachRedis): the single server, and a three-master Cluster, where each
// script's keys must share one slot (their hash tag) and one pipeline spans
// several nodes.
var backends = []struct {
	name string
	open func(testing.TB) (redis.UniversalClient, string)
}{
	{"single", cachetest.New},
	{"cluster", cachetest.NewCluster},
}

// Attempt counts the IP limit (the shared {l} slot) and the destination's
// verify limit and attempts (the destination's slot) in one pipeline, and
// deletes a challenge whose attempts are spent.
func TestAttemptCountsLimitsAndLocks(t *testing.T) { onEachRedis(t, testAttemptCountsLimitsAndLocks) }

func testAttemptCountsLimitsAndLocks(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	for i, tc := range []struct {
		name            string
		ipCount, dCount int
		maxAttempts     int
		want            []otp.AttemptStatus
	}{
		{name: "ip limit", ipCount: 2, dCount: 10, maxAttempts: 5,
			want: []otp.AttemptStatus{otp.AttemptOK, otp.AttemptOK, otp.AttemptLimited}},
		{name: "destination limit", ipCount: 10, dCount: 2, maxAttempts: 5,
			want: []otp.AttemptStatus{otp.AttemptOK, otp.AttemptOK, otp.AttemptLimited}},
		{name: "attempts", ipCount: 10, dCount: 10, maxAttempts: 2,
			want: []otp.AttemptStatus{otp.AttemptOK, otp.AttemptOK, otp.AttemptLocked, otp.AttemptMissing}},
	} {
		c := challenge(fmt.Sprintf("A%011d", i), 1, now)
		if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
			t.Fatal(err)
		}
		ip := otp.Limit{Name: "verifies_per_ip", Subject: fmt.Sprintf("10.0.0.%d", i), Count: tc.ipCount, Window: time.Minute}
		dest := otp.Limit{Name: "verifies_per_destination", Subject: otp.ChallengeTag(c.ID), Count: tc.dCount, Window: time.Minute}
		for n, want := range tc.want {
			at, err := r.Attempt(ctx, c.ID, ip, dest, otp.Limit{}, tc.maxAttempts, now)
			if err != nil || at.Status != want {
				t.Fatalf("%s: Attempt #%d = %+v, %v; want status %v", tc.name, n+1, at, err, want)
			}
			switch want {
			case otp.AttemptOK:
				if at.Challenge.Attempts != n+1 || at.Challenge.KeyID != "k" {
					t.Errorf("%s: Attempt #%d challenge = %+v; want attempt %d of key k", tc.name, n+1, at.Challenge, n+1)
				}
			case otp.AttemptLimited:
				if at.RetryAfter <= 0 || at.RetryAfter > time.Minute {
					t.Errorf("%s: Attempt #%d RetryAfter = %v; want within the minute's window", tc.name, n+1, at.RetryAfter)
				}
			case otp.AttemptLocked:
				if at.Challenge == nil || at.Challenge.ID != c.ID {
					t.Errorf("%s: Attempt #%d locked challenge = %+v; want %s", tc.name, n+1, at.Challenge, c.ID)
				}
			}
		}
	}
}

// Forget drops both cached keys of a destination (one DEL over two keys of
// its slot).
func TestForgetDropsCachedLoginData(t *testing.T) { onEachRedis(t, testForgetDropsCachedLoginData) }

func testForgetDropsCachedLoginData(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	c := challenge("FFFFFFFFFFFF", 1, now)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	id := &otp.Identity{ID: 3, Kind: "email", Value: "a@example.com", CreatedAt: now.Truncate(time.Millisecond)}
	if err := r.Remember(ctx, c.ID, id, "mtok", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Forget(ctx, otp.ChallengeTag(c.ID)); err != nil {
		t.Fatalf("Forget = %v", err)
	}
	at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now)
	if err != nil || at.Status != otp.AttemptOK || at.Identity != nil || at.MagentoToken != "" {
		t.Errorf("Attempt after Forget = %+v, %v; want the challenge without cached identity or token", at, err)
	}
}

// A start whose code could not be sent is undone with its resend gap, so the
// next start of the destination is allowed; DeleteChallenge removes only the
// challenge it names; SetProvider is read back by Attempt.
func TestAbortDeleteAndSetProvider(t *testing.T) { onEachRedis(t, testAbortDeleteAndSetProvider) }

func testAbortDeleteAndSetProvider(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	const tag = "GGGGGGGGGGGG"
	g := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{
		{Name: "resend", Subject: tag, Count: 1, Window: time.Minute, PerDestination: true},
	}}
	start := func(i int) (otp.GateResult, *otp.Challenge) {
		t.Helper()
		c := challenge(tag, i, now)
		res, err := r.Start(ctx, g, c)
		if err != nil {
			t.Fatal(err)
		}
		return res, c
	}
	attempt := func(c *otp.Challenge) *otp.AttemptResult {
		t.Helper()
		at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	_, c1 := start(1)
	if res, _ := start(2); res.Limited == nil || res.Limited.Name != "resend" {
		t.Fatalf("second Start = %+v; want limited by resend", res)
	}
	if err := r.AbortStart(ctx, c1.ID); err != nil {
		t.Fatalf("AbortStart = %v", err)
	}
	if at := attempt(c1); at.Status != otp.AttemptMissing {
		t.Errorf("aborted challenge: Attempt = %v; want missing", at.Status)
	}
	res, c3 := start(3)
	if res.Limited != nil {
		t.Fatalf("Start after AbortStart = %+v; want allowed", res)
	}
	if err := r.SetProvider(ctx, c3.ID, "sandbox"); err != nil {
		t.Fatalf("SetProvider = %v", err)
	}
	if at := attempt(c3); at.Status != otp.AttemptOK || at.Challenge.Provider != "sandbox" {
		t.Errorf("Attempt after SetProvider = %+v; want provider sandbox", at.Challenge)
	}
	if err := r.DeleteChallenge(ctx, c1.ID); err != nil {
		t.Fatalf("DeleteChallenge(replaced) = %v", err)
	}
	if at := attempt(c3); at.Status != otp.AttemptOK {
		t.Errorf("DeleteChallenge of a replaced challenge removed its successor: %v", at.Status)
	}
	if err := r.DeleteChallenge(ctx, c3.ID); err != nil {
		t.Fatalf("DeleteChallenge = %v", err)
	}
	if at := attempt(c3); at.Status != otp.AttemptMissing {
		t.Errorf("Attempt after DeleteChallenge = %v; want missing", at.Status)
	}
}

// One Start runs the shared limits ({l}), the breaker of two scopes (the
// first scope's slot) and the save (the destination's slot) in one pipeline;
// a start refused by a limit takes back the sends it counted, so refusals do
// not push the verified ratio down and trip the breaker.
func TestRefusedStartsDoNotTripTheBreaker(t *testing.T) {
	onEachRedis(t, testRefusedStartsDoNotTripTheBreaker)
}

func testRefusedStartsDoNotTripTheBreaker(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	b := otp.Breaker{Window: 10 * time.Minute, Buckets: 10, MinSent: 2, MinRatio: 0.5, Pause: time.Hour}
	scopes := []string{"cc:IN", "px:+9198"}
	limited := otp.Gate{Now: now, Breaker: b, Scopes: scopes, Limits: []otp.Limit{
		{Name: "sends_global", Subject: "all", Count: 1, Window: time.Hour},
	}}
	c := challenge("HHHHHHHHHHH0", 0, now)
	if res, err := r.Start(ctx, limited, c); err != nil || res.Limited != nil || res.Paused != "" {
		t.Fatalf("first Start = %+v, %v; want allowed", res, err)
	}
	if ok, err := r.Consume(ctx, c, scopes, b, now); !ok || err != nil {
		t.Fatalf("Consume = %v, %v", ok, err)
	}
	for i := 1; i <= 3; i++ {
		res, err := r.Start(ctx, limited, challenge(fmt.Sprintf("HHHHHHHHHHH%d", i), i, now))
		if err != nil || res.Limited == nil || res.Limited.Name != "sends_global" || res.Paused != "" {
			t.Fatalf("Start #%d = %+v, %v; want limited by sends_global", i+1, res, err)
		}
	}
	// 1 sent, 1 verified in each scope; had the refused starts been counted,
	// 4 sent and 1 verified would trip now.
	open := otp.Gate{Now: now, Breaker: b, Scopes: scopes}
	if res, err := r.Start(ctx, open, challenge("HHHHHHHHHHH4", 4, now)); err != nil || res.Paused != "" || len(res.Tripped) != 0 {
		t.Fatalf("Start after refusals = %+v, %v; want allowed", res, err)
	}
	// 2 sent, 1 verified: not below 0.5. A third unverified send trips both
	// scopes.
	if res, _ := r.Start(ctx, open, challenge("HHHHHHHHHHH5", 5, now)); res.Paused != "" {
		t.Fatalf("Start at ratio 0.5 = %+v; want allowed", res)
	}
	res, err := r.Start(ctx, open, challenge("HHHHHHHHHHH6", 6, now))
	if err != nil || res.Paused != "cc:IN" || len(res.Tripped) != 2 {
		t.Fatalf("Start at ratio 1/3 = %+v, %v; want both scopes tripped, paused by cc:IN", res, err)
	}
}
