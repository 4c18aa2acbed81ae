package magento

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// TokenCache stores admin tokens with a time to live. Implementations are
// safe for concurrent use; Get reports false for a missing or expired token.
type TokenCache interface {
	Get(ctx context.Context, key string) (token string, ok bool, err error)
	Set(ctx context.Context, key, token string, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// MemoryTokenCache is a TokenCache in process memory, expiring entries by an
// injected clock. Build it with NewMemoryTokenCache.
type MemoryTokenCache struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]memoryEntry
}

type memoryEntry struct {
	token   string
	expires time.Time
}

var _ TokenCache = (*MemoryTokenCache)(nil)

// NewMemoryTokenCache returns an empty cache; now defaults to time.Now.
func NewMemoryTokenCache(now func() time.Time) *MemoryTokenCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryTokenCache{now: now, m: map[string]memoryEntry{}}
}

// Get implements TokenCache.
func (c *MemoryTokenCache) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !c.now().Before(e.expires) {
		delete(c.m, key)
		return "", false, nil
	}
	return e.token, true, nil
}

// Set implements TokenCache.
func (c *MemoryTokenCache) Set(_ context.Context, key, token string, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = memoryEntry{token: token, expires: c.now().Add(ttl)}
	return nil
}

// Delete implements TokenCache.
func (c *MemoryTokenCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

// RedisTokenCache is a TokenCache in Redis, shared by a service's replicas so
// they do not each log in. Keys get Prefix prepended. A token read from
// Redis is also held in process memory for a few seconds (never past its
// Redis expiry), so busy instances do not pay a Redis round trip on every
// Magento call; Forget drops that copy.
type RedisTokenCache struct {
	rdb    redis.UniversalClient
	prefix string
	hold   time.Duration
	now    func() time.Time
	mu     sync.Mutex
	local  map[string]memoryEntry
	// gen counts changes to each key made here (Set, Delete, Forget): a
	// Get whose Redis read started before a change does not keep what it
	// read, which may be the token just refused.
	gen map[string]uint64
}

var _ TokenCache = (*RedisTokenCache)(nil)

// DefaultLocalHold is how long a RedisTokenCache keeps a token in memory.
const DefaultLocalHold = 10 * time.Second

// NewRedisTokenCache returns a cache over rdb whose keys start with prefix.
func NewRedisTokenCache(rdb redis.UniversalClient, prefix string) *RedisTokenCache {
	return &RedisTokenCache{rdb: rdb, prefix: prefix, hold: DefaultLocalHold, now: time.Now,
		local: map[string]memoryEntry{}, gen: map[string]uint64{}}
}

// WithLocalHold sets how long tokens stay in process memory (0: not at
// all) and the clock that times it; it returns c.
func (c *RedisTokenCache) WithLocalHold(hold time.Duration, now func() time.Time) *RedisTokenCache {
	c.hold, c.now = hold, now
	return c
}

// Get implements TokenCache.
func (c *RedisTokenCache) Get(ctx context.Context, key string) (string, bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.local[key]
	gen := c.gen[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.token, true, nil
	}
	var (
		get *redis.StringCmd
		ttl *redis.DurationCmd
	)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, c.prefix+key), p.PTTL(ctx, c.prefix+key)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis get token: %w", err)
	}
	c.keep(key, get.Val(), now, ttl.Val(), gen)
	return get.Val(), true, nil
}

// keep holds token in memory for c.hold or ttl, whichever is shorter,
// unless key changed here since generation gen was read.
func (c *RedisTokenCache) keep(key, token string, now time.Time, ttl time.Duration, gen uint64) {
	if c.hold <= 0 || ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[key] != gen {
		return
	}
	c.local[key] = memoryEntry{token: token, expires: now.Add(min(c.hold, ttl))}
}

// change drops key's in-memory copy and starts a new generation of it.
// It returns the new generation.
func (c *RedisTokenCache) change(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.local, key)
	c.gen[key]++
	return c.gen[key]
}

// Forget drops the in-memory copy of key, so the next Get reads Redis.
func (c *RedisTokenCache) Forget(key string) { c.change(key) }

// Set implements TokenCache.
func (c *RedisTokenCache) Set(ctx context.Context, key, token string, ttl time.Duration) error {
	gen := c.change(key)
	if err := c.rdb.Set(ctx, c.prefix+key, token, ttl).Err(); err != nil {
		return fmt.Errorf("redis set token: %w", err)
	}
	c.keep(key, token, c.now(), ttl, gen)
	return nil
}

// Delete implements TokenCache.
func (c *RedisTokenCache) Delete(ctx context.Context, key string) error {
	c.change(key)
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis delete token: %w", err)
	}
	return nil
}
