// Package cachetest gives tests a client of a real Redis and a key prefix of
// their own.
//
// New and NewConfig use the single server at TEST_REDIS_ADDR (default
// 127.0.0.1:6379). A server that cannot be reached fails the test: `make
// test` installs and starts Redis.
//
// NewCluster and NewClusterConfig use a three-master Redis Cluster that the
// test binary starts from the redis-server and redis-cli binaries on first
// use and that dies with it. Missing binaries fail the test: `make test`
// installs them.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache"
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
	cfg := config.DefaultRedis(newPrefix())
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
		deleteKeys(c, cfg.KeyPrefix)
	})
	return cfg
}

// New returns a client of the test server and the test's key prefix.
func New(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return open(tb, NewConfig(tb))
}

// open returns a universal client for cfg, closed when the test ends: a
// plain client for one address, a Cluster client for several.
func open(tb testing.TB, cfg config.Redis) (redis.UniversalClient, string) {
	tb.Helper()
	c := redis.NewUniversalClient(cache.Options(cfg))
	tb.Cleanup(func() { c.Close() })
	return c, cfg.KeyPrefix
}

// newPrefix returns a fresh key prefix. It holds no '{', so the hash tags
// that follow it decide a key's Cluster slot.
func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

// deleteKeys deletes the keys under prefix on the one server c talks to.
func deleteKeys(c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
