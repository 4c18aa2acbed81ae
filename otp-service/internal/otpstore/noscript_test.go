package otpstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// TestClusterShardLosesScripts: on a Cluster one shard may lose its scripts
// (a restart, or a promoted replica, which never loaded them) while the
// others keep theirs. (The test flushes scripts only on the Cluster this
// test binary started: the single test server is shared with other
// packages' tests.) Commands of a pipeline that ran on the other shards
// must not run again when the failed ones are retried.
func TestClusterShardLosesScripts(t *testing.T) {
	r := newRedis(t, cachetest.NewCluster)
	cc, ok := r.rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cachetest.NewCluster gave a %T; want a *redis.ClusterClient", r.rdb)
	}
	ctx := context.Background()
	now := time.Now()
	master := func(key string) *redis.Client {
		t.Helper()
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// A challenge whose destination lives on another shard than key.
	apart := func(key string, i int) *otp.Challenge {
		t.Helper()
		for _, tag := range []string{"AAAAAAAAAAAA", "BBBBBBBBBBBB", "CCCCCCCCCCCC", "DDDDDDDDDDDD", "EEEEEEEEEEEE", "FFFFFFFFFFFF"} {
			c := challenge(tag, i, now)
			if master(r.challengeKey(c.ID)).Options().Addr != master(key).Options().Addr {
				return c
			}
		}
		t.Fatal("every tag maps to the same shard")
		return nil
	}

	// Start: the destination's shard lost its scripts; the shared limit
	// (another shard) must be counted once.
	limit := otp.Limit{Name: "g", Subject: "all", Count: 2, Window: time.Hour}
	g := otp.Gate{Now: now, Breaker: breaker, Limits: []otp.Limit{limit}}
	for i := range 2 {
		c := apart(r.limitKey(limit), i)
		if err := master(r.challengeKey(c.ID)).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := r.Start(ctx, g, c)
		if err != nil || res.Limited != nil {
			t.Fatalf("Start #%d with the destination's shard flushed = %+v, %v; want allowed (limit 2)", i+1, res, err)
		}
		if at, err := r.Attempt(ctx, c.ID, otp.Limit{}, otp.Limit{}, otp.Limit{}, 5, now); err != nil || at.Status != otp.AttemptOK || at.Challenge.Attempts != 1 {
			t.Fatalf("Attempt after Start #%d = %+v, %v; want the saved challenge, attempt 1", i+1, at, err)
		}
	}

	// Consume: the breaker scope's shard lost its scripts; the challenge
	// (another shard) is consumed once and the right code wins.
	scopes := []string{"cc:IN"}
	paused, _, ver := r.scopeKeys(scopes[0], scopes[0])
	c := apart(paused, 7)
	if _, err := r.Start(ctx, otp.Gate{Now: now, Breaker: breaker}, c); err != nil {
		t.Fatal(err)
	}
	if err := master(paused).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	won, err := r.Consume(ctx, c, scopes, breaker, now)
	if err != nil || !won {
		t.Fatalf("Consume with the scope's shard flushed = %v, %v; want true", won, err)
	}
	if n, _ := r.rdb.HGet(ctx, ver, strconv.FormatInt(bucket(breaker, now), 10)).Int(); n != 1 {
		t.Errorf("verified count = %d; want 1", n)
	}
}
