package throttle_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/magento-bridge/internal/throttle"
)

func TestCapSharedByInstances(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	cfg := throttle.Config{Key: prefix + "slots", Max: 3, SlotTTL: time.Minute, Poll: 2 * time.Millisecond}
	a := throttle.New(rdb, cfg, nil, zaptest.NewLogger(t))
	b := throttle.New(rdb, cfg, nil, zaptest.NewLogger(t))
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 12 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				release, err := l.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(3 * time.Millisecond)
				cur.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak in flight = %d; want at most the cap of 3 (and the cap used)", p)
	}
}

func TestAdaptiveLimit(t *testing.T) {
	rdb, prefix := cachetest.New(t)
	var gauge atomic.Value
	l := throttle.New(rdb, throttle.Config{Key: prefix + "slots", Max: 10, Slow: time.Second, Cooldown: time.Nanosecond},
		func(v float64) { gauge.Store(v) }, zaptest.NewLogger(t))
	if got := l.Limit(); got != 10 {
		t.Fatalf("Limit() = %d; want 10 to start", got)
	}
	for _, err := range []error{errs.E(errs.Unavailable, "503"), errs.E(errs.OutcomeUnknown, "timeout"), nil} {
		time.Sleep(time.Millisecond)
		if err != nil {
			l.Observe(10*time.Millisecond, err)
		} else {
			l.Observe(2*time.Second, nil) // slow answers count as overload too
		}
	}
	if got := l.Limit(); got != 3 { // 10 × 0.7³ = 3.43
		t.Errorf("Limit() after three overloads = %d; want 3", got)
	}
	l.Observe(time.Millisecond, errs.E(errs.Invalid, "bad address")) // the caller's fault, not Magento's health
	for range 200 {
		l.Observe(50*time.Millisecond, nil)
	}
	if got := l.Limit(); got != 10 {
		t.Errorf("Limit() after recovery = %d; want back at the cap of 10", got)
	}
	if v, _ := gauge.Load().(float64); v != 10 {
		t.Errorf("gauge = %v; want 10", v)
	}
}

func TestRedisDownFallsBackToLocalCap(t *testing.T) {
	dead := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	l := throttle.New(dead, throttle.Config{Key: "x", Max: 2}, nil, zaptest.NewLogger(t))
	r1, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx); err == nil {
		t.Fatalf("a third slot was granted with a local cap of 2")
	}
	r1()
	r2()
}
