package otpstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/magefleet/platform/otp-service/internal/otp"
)

func TestKeysExpireAfterTheirWindows(t *testing.T) { onEachRedis(t, testKeysExpireAfterTheirWindows) }

// testKeysExpireAfterTheirWindows: a limit's key lives until a minute after
// its window closes, however many events follow the first; a breaker
// window's key lives two windows from its newest bucket, and a new bucket
// drops the one that left the window.
func testKeysExpireAfterTheirWindows(t *testing.T, r *Redis) {
	ctx := context.Background()
	now := time.Now()
	limit := otp.Limit{Name: "ip", Subject: "203.0.113.9", Count: 100, Window: 10 * time.Minute}
	g := otp.Gate{Now: now, Breaker: breaker, Scopes: []string{"cc:IN"}, Limits: []otp.Limit{limit}}
	ttl := func(key string) time.Duration {
		t.Helper()
		d, err := r.rdb.PTTL(ctx, key).Result()
		if err != nil || d <= 0 {
			t.Fatalf("PTTL(%s) = %v, %v; want a time to live", key, d, err)
		}
		return d
	}
	_, sent, _ := r.scopeKeys("cc:IN", "cc:IN")
	// Starts 0, 2 and 4 minutes in (the same limit window; breaker
	// buckets are a minute long), then one in the same bucket.
	for i, at := range []time.Duration{0, 2 * time.Minute, 4 * time.Minute, 4*time.Minute + time.Second} {
		g.Now = now.Add(at)
		if _, err := r.Start(ctx, g, challenge("BBBBBBBBBBBB", i, g.Now)); err != nil {
			t.Fatal(err)
		}
		if got, left := ttl(r.limitKey(limit)), limit.Window-at; got < left || got > limit.Window+time.Minute {
			t.Errorf("start at %v: limit key TTL = %v; want between the window's %v left and %v", at, got, left, limit.Window+time.Minute)
		}
		if got := ttl(sent); got < breaker.Window || got > 2*breaker.Window {
			t.Errorf("start at %v: breaker key TTL = %v; want between %v and %v", at, got, breaker.Window, 2*breaker.Window)
		}
	}
	// A start a whole window later opens a new limit window and a bucket
	// n buckets on, so the first bucket is dropped.
	g.Now = now.Add(breaker.Window)
	if _, err := r.Start(ctx, g, challenge("BBBBBBBBBBBB", 9, g.Now)); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.rdb.HGet(ctx, r.limitKey(limit), "n").Int(); n != 1 {
		t.Errorf("limit count after its window = %d; want 1 (a new window)", n)
	}
	fields, err := r.rdb.HKeys(ctx, sent).Result()
	if err != nil {
		t.Fatal(err)
	}
	first := bucket(breaker, now)
	for _, f := range fields {
		if f == strconv.FormatInt(first, 10) {
			t.Errorf("bucket %s outlived the window: fields %v", f, fields)
		}
	}
}
