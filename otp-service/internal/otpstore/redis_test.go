package otpstore

import (
	"context"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

func newRedis(t *testing.T) *Redis {
	t.Helper()
	rdb, prefix := cachetest.New(t)
	r := NewRedis(rdb, prefix)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

var breaker = otp.Breaker{Window: 10 * time.Minute, Buckets: 10, MinSent: 4, MinRatio: 0.5, Pause: time.Hour}

func TestGateCountsEachLimit(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	now := time.Now()
	g := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{
		{Name: "a", Subject: "x", Count: 2, Window: time.Minute},
		{Name: "b", Subject: "y", Count: 3, Window: time.Hour},
	}}
	for i := 1; i <= 4; i++ {
		res, err := r.Gate(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i <= 2 && res.Limited != nil:
			t.Fatalf("Gate #%d limited by %v; want allowed", i, res.Limited.Name)
		case i == 3 && (res.Limited == nil || res.Limited.Name != "a"):
			t.Fatalf("Gate #3 = %+v; want limited by a", res)
		case i == 4 && (res.RetryAfter <= time.Minute || res.RetryAfter > time.Hour):
			t.Fatalf("Gate #4 RetryAfter = %v; want the longest wait (b's hour)", res.RetryAfter)
		}
	}
}

func TestBreakerTripsOnLowVerifiedRatio(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	now := time.Now()
	scopes := []string{"cc:IN"}
	check := func() otp.GateResult {
		t.Helper()
		res, err := r.Gate(ctx, otp.Gate{Now: now, Breaker: breaker, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	c := &otp.Challenge{ID: "AAAAAAAAAAAAbbbbbbbbbbbbbbbbbbbb", ExpiresAt: now.Add(time.Minute)}
	for range 4 {
		if res := check(); res.Paused != "" {
			t.Fatalf("paused before any evidence: %+v", res)
		}
		if err := r.SaveChallenge(ctx, c, scopes, breaker, now); err != nil {
			t.Fatal(err)
		}
	}
	// 4 sent, 2 verified: ratio 0.5 is not below 0.5.
	for range 2 {
		if _, err := r.Consume(ctx, c, scopes, breaker, now); err != nil {
			t.Fatal(err)
		}
		_ = r.SaveChallenge(ctx, c, nil, breaker, now)
	}
	if res := check(); res.Paused != "" {
		t.Fatalf("paused at ratio 0.5: %+v", res)
	}
	_ = r.SaveChallenge(ctx, c, scopes, breaker, now) // 5 sent, 2 verified: 0.4
	res := check()
	if res.Paused != "cc:IN" || len(res.Tripped) != 1 || res.PausedFor != time.Hour {
		t.Fatalf("Gate at ratio 0.4 = %+v; want tripped and paused for 1h", res)
	}
	if res := check(); res.Paused != "cc:IN" || len(res.Tripped) != 0 {
		t.Fatalf("Gate after trip = %+v; want paused, not tripped again", res)
	}
}
