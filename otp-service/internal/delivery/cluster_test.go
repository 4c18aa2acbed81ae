package delivery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// On a Redis Cluster each destination's messages live under its own hash tag,
// so the send pipeline (LPUSH, LTRIM, PEXPIRE) runs in one slot however many
// destinations are written at once, and reads see each list newest first and
// bounded.
func TestClusterSandboxKeepsEachDestination(t *testing.T) {
	rdb, prefix := cachetest.NewCluster(t)
	sb := NewSandbox(rdb, prefix, SandboxConfig{Keep: 3, TTL: time.Minute}, time.Now)
	ctx := context.Background()
	var dests []string
	for i := range 12 {
		dests = append(dests, fmt.Sprintf("+9198765432%02d", i))
	}
	var wg sync.WaitGroup
	for _, to := range dests {
		wg.Add(1)
		go func() { // destinations in parallel, each one's messages in order
			defer wg.Done()
			for _, body := range []string{"1", "2", "3", "4"} {
				if err := sb.Send(ctx, otp.Message{To: to, Channel: otp.SMS, Body: to + ":" + body}); err != nil {
					t.Errorf("Send(%s) = %v", to, err)
				}
			}
		}()
	}
	wg.Wait()
	for _, to := range dests {
		for _, tc := range []struct {
			limit int
			want  []string
		}{{0, []string{"4", "3", "2"}}, {2, []string{"4", "3"}}} {
			msgs, err := sb.Messages(ctx, to, tc.limit)
			var got []string
			for _, m := range msgs {
				got = append(got, m.Body)
			}
			want := make([]string, len(tc.want))
			for i, b := range tc.want {
				want[i] = to + ":" + b
			}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Messages(%s, limit %d) = %v, %v; want %v", to, tc.limit, got, err, want)
			}
		}
		if ttl := rdb.PTTL(ctx, sb.key(to)).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("TTL of %s's messages = %v; want up to 1m", to, ttl)
		}
	}
}
