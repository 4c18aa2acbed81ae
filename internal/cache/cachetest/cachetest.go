// Package cachetest gives tests a client of the real Redis server and a key
// prefix of their own.
//
// The server is taken from TEST_REDIS_ADDR (default 127.0.0.1:6379). A server
// that cannot be reached fails the test: `make test` installs and starts
// Redis.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/config"
)

// Addr returns the test server's address.
func Addr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// NewConfig returns a config.Redis for the test server with a fresh key
// prefix whose keys are deleted when the test ends.
func NewConfig(tb testing.TB) config.Redis {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := config.DefaultRedis("test:" + hex.EncodeToString(b[:]) + ":")
	cfg.Addrs = []string{Addr()}
	cfg.PoolSize = 32
	c := redis.NewClient(&redis.Options{Addr: Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		tb.Fatalf("cachetest: Redis at %s is required (make test installs and starts it): %v", Addr(), err)
	}
	tb.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, cfg.KeyPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return cfg
}

// New returns a client of the test server and the test's key prefix.
func New(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	cfg := NewConfig(tb)
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cfg.Addrs, PoolSize: cfg.PoolSize})
	tb.Cleanup(func() { c.Close() })
	return c, cfg.KeyPrefix
}
