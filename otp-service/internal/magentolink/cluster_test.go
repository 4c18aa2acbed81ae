package magentolink

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/magentosandbox"
)

// Two instances sharing a Redis Cluster hand out one token per customer: each
// instance mints at most once per customer, and the token cached first (SET
// NX on the customer's key, wherever its slot lives) is the one every caller
// gets.
func TestClusterTokenCacheSharedByInstances(t *testing.T) {
	srv := httptest.NewServer(magentosandbox.New(magentosandbox.Options{}).Handler())
	t.Cleanup(srv.Close)
	rdb, prefix := cachetest.NewCluster(t)
	a, aMints := newInstance(t, srv.URL, rdb, prefix)
	b, bMints := newInstance(t, srv.URL, rdb, prefix)
	ctx := context.Background()

	for i, tc := range []struct {
		name  string
		first bool // the customer was just created: its first token comes from FirstToken
	}{
		{name: "cached"}, {name: "first token", first: true}, {name: "cached again"}, {name: "first token again", first: true},
	} {
		email := fmt.Sprintf("9198765432%02d.abcdefgh@phone.shop.example", i)
		id, err := a.Create(ctx, email, "Shopper", "Customer")
		if err != nil {
			t.Fatalf("%s: Create = %v", tc.name, err)
		}
		before := aMints.mints.Load() + bMints.mints.Load()
		var first string
		if tc.first {
			if first, _, err = a.FirstToken(ctx, id, email); err != nil || first == "" {
				t.Fatalf("%s: FirstToken = %q, %v", tc.name, first, err)
			}
		}
		var wg sync.WaitGroup
		toks := make([]string, 10)
		for k := range toks {
			link := a
			if k%2 == 1 {
				link = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if toks[k], _, err = link.CustomerToken(ctx, id, email); err != nil {
					t.Errorf("%s: CustomerToken = %v", tc.name, err)
				}
			}()
		}
		wg.Wait()
		want := toks[0]
		if tc.first {
			want = first
		}
		for _, tok := range toks {
			if tok == "" || tok != want {
				t.Fatalf("%s: tokens = %v (first %q); want one shared token", tc.name, toks, first)
			}
		}
		mints := aMints.mints.Load() + bMints.mints.Load() - before
		if tc.first && mints != 1 || mints > 2 {
			t.Errorf("%s: %d mints; want one per instance at most (one in all after FirstToken)", tc.name, mints)
		}
		if ttl := rdb.PTTL(ctx, a.tokenKey(id)).Val(); ttl <= 50*time.Minute || ttl > 55*time.Minute {
			t.Errorf("%s: cached token TTL = %v; want 55m (1h lifetime - 5m)", tc.name, ttl)
		}
	}
}
