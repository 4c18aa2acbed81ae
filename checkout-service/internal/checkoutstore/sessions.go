package checkoutstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/errs"
)

// Sessions keeps checkout sessions in Redis as JSON with a TTL.
type Sessions struct {
	rdb  redis.UniversalClient
	keys cache.Keys
}

var _ checkout.Sessions = (*Sessions)(nil)

// NewSessions returns Sessions under prefix.
func NewSessions(rdb redis.UniversalClient, prefix string) *Sessions {
	return &Sessions{rdb: rdb, keys: cache.NewKeys(prefix + "session:")}
}

// Put stores s for ttl.
func (x *Sessions) Put(ctx context.Context, s *checkout.Session, ttl time.Duration) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := x.rdb.Set(ctx, x.keys.Key(s.ID), b, ttl).Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "Checkout sessions are unavailable; try again shortly.")
	}
	return nil
}

// Get returns a session; errs.NotFound when unknown or expired.
func (x *Sessions) Get(ctx context.Context, id string) (*checkout.Session, error) {
	b, err := x.rdb.Get(ctx, x.keys.Key(id)).Bytes()
	if err == redis.Nil {
		return nil, errs.E(errs.NotFound, "No checkout session %s (it may have expired).", id)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "Checkout sessions are unavailable; try again shortly.")
	}
	var s checkout.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	return &s, nil
}
