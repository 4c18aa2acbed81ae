package magentosandbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/magefleet/platform/internal/magentosandbox"
)

// BenchmarkCartReads measures guest cart reads (GET cart and GET totals,
// alternating) through the handler over real HTTP loopback with keep-alive
// connections. It reports reads/s; the target is at least 5,000 on 2 cores.
func BenchmarkCartReads(b *testing.B) {
	sb := magentosandbox.New(magentosandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	cart, err := sb.CreateGuestCartWithItems(
		magentosandbox.CartLine{SKU: "MH01-XS-Black", Qty: 2},
		magentosandbox.CartLine{SKU: "24-MB01", Qty: 1},
		magentosandbox.CartLine{SKU: "WS03-M-Blue", Qty: 1},
	)
	if err != nil {
		b.Fatal(err)
	}
	urls := []string{
		srv.URL + "/rest/V1/guest-carts/" + cart.MaskedID,
		srv.URL + "/rest/V1/guest-carts/" + cart.MaskedID + "/totals",
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer hc.CloseIdleConnections()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			res, err := hc.Get(urls[i%2])
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
			i++
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "reads/s")
}
