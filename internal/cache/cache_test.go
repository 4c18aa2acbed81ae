package cache_test

import (
	"context"
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/cache/cachetest"
)

// TestOpenSpeaksRESP2: services talk RESP2 (no push-notification checks
// before each reply), and tests' clients use the same options.
func TestOpenSpeaksRESP2(t *testing.T) {
	ctx := context.Background()
	c, err := cache.Open(ctx, cachetest.NewConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	test, _ := cachetest.New(t)
	for _, cl := range []struct {
		name string
		info func() (string, error)
	}{
		{"cache.Open", func() (string, error) { return c.Do(ctx, "CLIENT", "INFO").Text() }},
		{"cachetest.New", func() (string, error) { return test.Do(ctx, "CLIENT", "INFO").Text() }},
	} {
		info, err := cl.info()
		if err != nil {
			t.Fatalf("%s: CLIENT INFO: %v", cl.name, err)
		}
		if !strings.Contains(info, " resp=2") {
			t.Errorf("%s speaks %q; want resp=2", cl.name, info)
		}
	}
}
