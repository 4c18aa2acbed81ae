// Package cache builds the platform's Redis client and names its keys.
//
// Redis holds only what may expire or be rebuilt: challenges, limits,
// sessions, routing statistics, locks. The client is go-redis's universal
// client, so one setting picks a single node, Sentinel (master_name) or
// Cluster (several addresses). Keys carry the service's prefix; keys that a
// multi-key script touches together share a hash tag (see Keys.Tagged) so they
// land in one Cluster slot.
package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
)

// Options returns the client options for cfg: a single node, Sentinel
// (master_name) or Cluster (several addresses).
func Options(cfg config.Redis) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:        cfg.Addrs,
		Username:     cfg.Username,
		Password:     cfg.Password.Reveal(),
		DB:           cfg.DB,
		MasterName:   cfg.MasterName,
		PoolSize:     cfg.PoolSize,
		DialTimeout:  3 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		// RESP2: the platform uses no RESP3 feature (push notifications,
		// client-side caching), and with RESP3 go-redis looks for pending
		// push notifications before every reply (3 % of a login's CPU).
		Protocol: 2,
	}
}

// Open returns a universal client for cfg and verifies it with a ping.
func Open(ctx context.Context, cfg config.Redis) (redis.UniversalClient, error) {
	c := redis.NewUniversalClient(Options(cfg))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis at %s: %w", strings.Join(cfg.Addrs, ","), err)
	}
	return c, nil
}

// Keys builds prefixed keys. The zero value adds no prefix. It is safe for
// concurrent use.
type Keys struct{ prefix string }

// NewKeys returns Keys that put prefix (for example "otp:") before every key.
func NewKeys(prefix string) Keys { return Keys{prefix: prefix} }

// Key joins parts with ':' after the prefix.
func (k Keys) Key(parts ...string) string { return k.prefix + strings.Join(parts, ":") }

// Tagged is like Key but wraps tag in a Cluster hash tag, so every key built
// with the same tag maps to one slot and a Lua script may touch them together.
func (k Keys) Tagged(tag string, parts ...string) string {
	return k.prefix + "{" + tag + "}:" + strings.Join(parts, ":")
}

// Prefix returns the prefix.
func (k Keys) Prefix() string { return k.prefix }

// Ping is a readiness check for c.
func Ping(c redis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error { return c.Ping(ctx).Err() }
}

// Missing turns redis.Nil into an errs.NotFound error with msg and returns any
// other error unchanged.
func Missing(err error, format string, args ...any) error {
	if errors.Is(err, redis.Nil) {
		return errs.Wrap(errs.NotFound, err, format, args...)
	}
	return err
}
