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
// they do not each log in. Keys get Prefix prepended.
type RedisTokenCache struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ TokenCache = (*RedisTokenCache)(nil)

// NewRedisTokenCache returns a cache over rdb whose keys start with prefix.
func NewRedisTokenCache(rdb redis.UniversalClient, prefix string) *RedisTokenCache {
	return &RedisTokenCache{rdb: rdb, prefix: prefix}
}

// Get implements TokenCache.
func (c *RedisTokenCache) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := c.rdb.Get(ctx, c.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis get token: %w", err)
	}
	return v, true, nil
}

// Set implements TokenCache.
func (c *RedisTokenCache) Set(ctx context.Context, key, token string, ttl time.Duration) error {
	if err := c.rdb.Set(ctx, c.prefix+key, token, ttl).Err(); err != nil {
		return fmt.Errorf("redis set token: %w", err)
	}
	return nil
}

// Delete implements TokenCache.
func (c *RedisTokenCache) Delete(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis delete token: %w", err)
	}
	return nil
}
