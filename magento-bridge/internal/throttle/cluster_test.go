package throttle_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/magento-bridge/internal/throttle"
)

// On a Redis Cluster the semaphore's script touches its one key: two
// semaphores (their keys in different slots), each shared by two instances,
// hold their caps at once and free every slot on release, and no instance
// falls back to its local cap.
func TestClusterCapsSharedByInstances(t *testing.T) {
	rdb, prefix := cachetest.NewCluster(t)
	ctx := context.Background()
	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(core)
	type sem struct {
		key       string
		cap       int
		cur, peak atomic.Int64
		limiters  []*throttle.Limiter
	}
	sems := []*sem{{key: prefix + "{a}:slots", cap: 3}, {key: prefix + "{b}:slots", cap: 2}}
	for _, s := range sems {
		cfg := throttle.Config{Key: s.key, Max: s.cap, SlotTTL: time.Minute, Poll: 2 * time.Millisecond}
		s.limiters = []*throttle.Limiter{throttle.New(rdb, cfg, nil, log), throttle.New(rdb, cfg, nil, log)}
	}
	var wg sync.WaitGroup
	for i := range 16 {
		s := sems[i%2]
		l := s.limiters[i/2%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				release, err := l.Acquire(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				n := s.cur.Add(1)
				for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				s.cur.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	for _, e := range logs.All() {
		t.Errorf("logged %s %q %v; want no warnings (the Redis semaphore in use)", e.Level, e.Message, e.ContextMap())
	}
	for _, s := range sems {
		if p := s.peak.Load(); p > int64(s.cap) {
			t.Errorf("%s: peak in flight = %d; want at most the cap of %d", s.key, p, s.cap)
		}
		if n, err := rdb.ZCard(ctx, s.key).Result(); err != nil || n != 0 {
			t.Errorf("%s: %d slots (%v) held after every release; want 0", s.key, n, err)
		}
	}
}
