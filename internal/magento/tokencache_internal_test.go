package magento

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestRedisTokenCacheKeepsNoReadFromBeforeAChange: a Get whose Redis read
// began before the token was forgotten (after a 401), replaced or deleted
// must not put what it read into memory: it may be the refused token.
func TestRedisTokenCacheKeepsNoReadFromBeforeAChange(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for _, change := range []struct {
		name string
		do   func(c *RedisTokenCache)
	}{
		{"Forget", func(c *RedisTokenCache) { c.Forget("admin") }},
		{"Set", func(c *RedisTokenCache) { _ = c.Set(ctx, "admin", "t2", time.Hour) }},
		{"Delete", func(c *RedisTokenCache) { _ = c.Delete(ctx, "admin") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			c := NewRedisTokenCache(rdb, "p:").WithLocalHold(10*time.Second, func() time.Time { return now })
			c.mu.Lock()
			gen := c.gen["admin"] // a Get begins: generation read, Redis read in flight
			c.mu.Unlock()
			change.do(c)
			c.keep("admin", "t1-refused", now, time.Hour, gen) // the stale read lands
			c.mu.Lock()
			e, held := c.local["admin"]
			c.mu.Unlock()
			if held && e.token == "t1-refused" {
				t.Errorf("after %s the stale read was kept in memory", change.name)
			}
		})
	}
}
