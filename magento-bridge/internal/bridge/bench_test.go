package bridge_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

// writesPerOrder are the Magento writes one order needs: shipping
// information, placement, invoice, comment.
const writesPerOrder = 4

// BenchmarkOrderThroughput measures orders synced per second when every
// Magento write takes 300 ms and the cap on requests in flight is C, against
// what the cap allows: C / (writesPerOrder × 300 ms). Run it with
// -benchtime=1x; BRIDGE_BENCH_C and BRIDGE_BENCH_ORDERS change the cap and
// the batch.
func BenchmarkOrderThroughput(b *testing.B) {
	c := envInt("BRIDGE_BENCH_C", 8)
	n := envInt("BRIDGE_BENCH_ORDERS", 15*c)
	const latency = 300 * time.Millisecond
	h := newHarness(b, harnessOptions{cap: c, quiet: true, magentoTimeout: 10 * time.Second})
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: int(latency / time.Millisecond), Methods: []string{"POST", "PUT"}})
	if _, err := h.mc.AdminToken(b.Context()); err != nil { // log in once, outside the measurement
		b.Fatal(err)
	}
	cfg := h.config("bench")
	cfg.Workers = 2 * c
	cfg.PollInterval = 10 * time.Millisecond
	s := h.syncer(cfg, nil, nil)
	var total time.Duration
	orders := 0
	for range b.N {
		fx := h.capture(n)
		b.ResetTimer()
		start := time.Now()
		stop := run(s)
		h.waitDrained(10 * time.Minute)
		elapsed := time.Since(start)
		b.StopTimer()
		stop()
		h.verify(fx)
		total += elapsed
		orders += n
	}
	got := float64(orders) / total.Seconds()
	ideal := float64(c) / (writesPerOrder * latency.Seconds())
	b.ReportMetric(got, "orders/s")
	b.ReportMetric(ideal, "ideal-orders/s")
	b.ReportMetric(100*got/ideal, "%-of-ideal")
	fmt.Printf("order throughput: C=%d, %d writes x %s per order, %d orders in %s: %.2f orders/s; cap allows %.2f orders/s; %.1f%%; at most %d requests in flight at Magento (GOMAXPROCS=%d)\n",
		c, writesPerOrder, latency, orders, total.Round(time.Millisecond), got, ideal, 100*got/ideal, h.inFlight.Max(), runtime.GOMAXPROCS(0))
	if m := h.inFlight.Max(); m > c {
		b.Errorf("Magento served %d requests at once; the cap is %d", m, c)
	}
	if got < 0.9*ideal {
		b.Errorf("throughput %.2f orders/s is below 90%% of the %.2f the cap allows", got, ideal)
	}
}

// BenchmarkFlashSale drains a flash sale's backlog (10,000 captured payments
// by default, BRIDGE_FLASH_ORDERS to change) with two instances and checks
// that every payment became exactly one invoiced order.
func BenchmarkFlashSale(b *testing.B) {
	flashSale(b, envInt("BRIDGE_FLASH_ORDERS", 10000), 16)
}

// TestFlashSaleBacklog is the same drain with a smaller backlog, so it runs
// with every `go test`.
func TestFlashSaleBacklog(t *testing.T) {
	flashSale(t, envInt("BRIDGE_FLASH_TEST_ORDERS", 400), 8)
}

func flashSale(tb testing.TB, n, c int) {
	h := newHarness(tb, harnessOptions{cap: c, quiet: true, magentoTimeout: 10 * time.Second})
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: 2, Methods: []string{"POST", "PUT"}})
	fx := h.capture(n)
	var ss []*bridge.Syncer
	for _, name := range []string{"one", "two"} {
		cfg := h.config(name)
		cfg.Workers = c
		ss = append(ss, h.syncer(cfg, nil, nil))
	}
	start := time.Now()
	stop := run(ss...)
	h.waitDrained(15 * time.Minute)
	elapsed := time.Since(start)
	stop()
	h.verify(fx)
	st := h.status()
	if st.SyncedTotal != int64(n) || st.DeadLetters != 0 {
		tb.Errorf("status = %+v; want %d synced, no dead letters", st, n)
	}
	msg := fmt.Sprintf("flash sale: %d captured payments drained by 2 instances (C=%d) in %s: %.0f orders/s, %d orders in Magento, 0 duplicates, 0 missing (GOMAXPROCS=%d)",
		n, c, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), len(h.sb.Orders()), runtime.GOMAXPROCS(0))
	if b, ok := tb.(*testing.B); ok {
		b.ReportMetric(float64(n)/elapsed.Seconds(), "orders/s")
		fmt.Println(msg)
	} else {
		tb.Log(msg)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
