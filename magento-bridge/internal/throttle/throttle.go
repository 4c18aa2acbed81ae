// Package throttle caps the requests every magento-bridge instance has in
// flight to Magento, together, and adapts that cap to Magento's health.
//
// A Limiter is a counting semaphore in Redis (a sorted set of slot holders
// scored by expiry, so a crashed holder's slot frees itself) whose size
// follows an AIMD rule: it shrinks by a factor when Magento answers with
// server errors, time-outs or above a latency threshold, and grows by about
// one slot per window of healthy answers, never above the configured cap.
// When Redis is unreachable the Limiter falls back to a local semaphore of
// the same size, so the bridge keeps working (less strictly) rather than
// stopping. A Limiter is safe for concurrent use.
package throttle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
)

// Config configures a Limiter.
type Config struct {
	// Key is the Redis key of the semaphore; every instance uses the same.
	Key string
	// Max is the cap on requests in flight across all instances.
	Max int
	// Min is the floor the adaptive limit never goes below (default 1).
	Min int
	// SlotTTL frees a slot whose holder vanished; it must exceed the
	// longest request (the Magento client's timeout).
	SlotTTL time.Duration
	// Slow is the latency above which a request counts as a sign of
	// overload.
	Slow time.Duration
	// Decrease is the factor applied on overload (default 0.7), at most once
	// per Cooldown (default 1s).
	Decrease float64
	Cooldown time.Duration
	// Poll is the wait between attempts to take a slot when all are taken.
	Poll time.Duration
	// Owner prefixes slot ids, for debugging.
	Owner string
}

// Limiter implements bridge.Limiter.
type Limiter struct {
	cfg   Config
	rdb   redis.UniversalClient
	log   *zap.Logger
	local chan struct{}
	id    string // unique per Limiter: slot ids never collide across instances
	seq   atomic.Uint64
	gauge func(float64)

	mu           sync.Mutex
	limit        float64
	lastDecrease time.Time
	redisDown    bool
}

// New returns a Limiter starting at cfg.Max. gauge, when not nil, receives
// the limit after every change.
func New(rdb redis.UniversalClient, cfg Config, gauge func(float64), log *zap.Logger) *Limiter {
	if cfg.Min < 1 {
		cfg.Min = 1
	}
	if cfg.Max < cfg.Min {
		cfg.Max = cfg.Min
	}
	if cfg.Decrease <= 0 || cfg.Decrease >= 1 {
		cfg.Decrease = 0.7
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = time.Minute
	}
	if gauge == nil {
		gauge = func(float64) {}
	}
	l := &Limiter{cfg: cfg, rdb: rdb, log: log, local: make(chan struct{}, cfg.Max), limit: float64(cfg.Max), gauge: gauge,
		id: cfg.Owner + ":" + strconv.FormatUint(rand.Uint64(), 36)}
	gauge(l.limit)
	return l
}

// acquireScript takes a slot when fewer than ARGV[1] are held. It uses
// Redis's clock so instances with skewed clocks agree on expiry.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0`)

// Limit returns the current adaptive limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// Acquire implements bridge.Limiter: it waits for a slot and returns its
// release.
func (l *Limiter) Acquire(ctx context.Context) (func(), error) {
	id := l.id + ":" + strconv.FormatUint(l.seq.Add(1), 10)
	for {
		ok, err := acquireScript.Run(ctx, l.rdb, []string{l.cfg.Key}, l.Limit(), l.cfg.SlotTTL.Milliseconds(), id).Int()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			l.noteRedis(err)
			return l.acquireLocal(ctx)
		}
		l.noteRedis(nil)
		if ok == 1 {
			return func() {
				// A release that fails leaves the slot to expire.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				l.rdb.ZRem(rctx, l.cfg.Key, id)
			}, nil
		}
		t := time.NewTimer(l.cfg.Poll/2 + time.Duration(rand.Int64N(int64(l.cfg.Poll))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (l *Limiter) noteRedis(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && !l.redisDown:
		l.redisDown = true
		l.log.Warn("Redis unreachable: capping Magento requests per instance until it is back", zap.Error(err))
	case err == nil && l.redisDown:
		l.redisDown = false
		l.log.Info("Redis reachable again: Magento cap shared by all instances")
	}
}

func (l *Limiter) acquireLocal(ctx context.Context) (func(), error) {
	select {
	case l.local <- struct{}{}:
		return func() { <-l.local }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Observe implements bridge.Limiter: additive increase on a healthy answer,
// multiplicative decrease on overload.
func (l *Limiter) Observe(latency time.Duration, err error) {
	overloaded := latency > l.cfg.Slow && l.cfg.Slow > 0
	switch errs.Code(err) {
	case errs.Unavailable, errs.Timeout, errs.OutcomeUnknown, errs.RateLimited:
		overloaded = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.limit
	if overloaded {
		now := time.Now()
		if now.Sub(l.lastDecrease) < l.cfg.Cooldown {
			return
		}
		l.lastDecrease = now
		l.limit = max(float64(l.cfg.Min), l.limit*l.cfg.Decrease)
	} else {
		l.limit = min(float64(l.cfg.Max), l.limit+1/l.limit)
	}
	if l.limit != before {
		l.gauge(l.limit)
		if int(l.limit) != int(before) {
			l.log.Debug("Magento concurrency limit changed", zap.Int("limit", int(l.limit)), zap.Bool("overloaded", overloaded))
		}
	}
}

// String describes the limiter for logs.
func (l *Limiter) String() string {
	return fmt.Sprintf("throttle(%s, limit %d of %d)", l.cfg.Key, l.Limit(), l.cfg.Max)
}
