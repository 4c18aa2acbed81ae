package cachetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The cluster spreads keys over its three masters and refuses what a Cluster
// refuses (a script over keys in two slots), so code tested on it is tested
// against Cluster's rules.
func TestClusterEnforcesSlots(t *testing.T) {
	rdb, prefix := NewCluster(t)
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("NewCluster returned a %T; want *redis.ClusterClient", rdb)
	}
	ctx := context.Background()
	for i := range 30 {
		if err := rdb.Set(ctx, fmt.Sprintf("%s{%d}:k", prefix, i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	perMaster := map[string]int{}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, prefix+"*").Result()
		mu.Lock()
		perMaster[m.Options().Addr] = len(keys)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 {
		t.Fatalf("keys per master = %v; want 3 masters", perMaster)
	}
	for addr, n := range perMaster {
		if n == 0 {
			t.Errorf("master %s holds none of 30 keys with distinct tags (%v)", addr, perMaster)
		}
	}

	script := redis.NewScript(`redis.call('SET', KEYS[1], 1); redis.call('SET', KEYS[2], 2); return 1`)
	if err := script.Run(ctx, rdb, []string{prefix + "{a}:1", prefix + "{a}:2"}).Err(); err != nil {
		t.Errorf("script over one tag = %v; want success", err)
	}
	err = script.Run(ctx, rdb, []string{prefix + "{a}:1", prefix + "{b}:2"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") && !strings.Contains(err.Error(), "different slots") {
		t.Errorf("script over two slots = %v; want a cross-slot error", err)
	}
}

// Each test's keys are deleted on every master when it ends.
func TestClusterDeletesTheTestsKeys(t *testing.T) {
	var prefix string
	t.Run("writer", func(t *testing.T) {
		var rdb redis.UniversalClient
		rdb, prefix = NewCluster(t)
		for i := range 30 {
			if err := rdb.Set(context.Background(), fmt.Sprintf("%s{%d}:k", prefix, i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, a := range NewClusterConfig(t).Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		keys, err := c.Keys(context.Background(), prefix+"*").Result()
		c.Close()
		if err != nil || len(keys) != 0 {
			t.Errorf("%s still holds %v (%v) after the test", a, keys, err)
		}
	}
}
