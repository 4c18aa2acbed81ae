package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/faultproxy"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

func TestHappyPath(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(6)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	if st := h.status(); st.SyncedTotal != 6 || st.DeadLetters != 0 || st.Backlog != 0 {
		t.Errorf("status = %+v; want 6 synced, no backlog, no dead letters", st)
	}
}

func TestMagentoUnavailableForAWhile(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(8)
	h.sb.SetFaults(magentosandbox.Fault{ErrorRate: 1, ErrorStatus: 503})
	stop := run(h.syncer(h.config("a"), nil, nil))
	defer stop()
	time.Sleep(1500 * time.Millisecond)
	if n := len(h.sb.Orders()); n != 0 {
		t.Fatalf("%d orders while Magento answered 503; want 0", n)
	}
	if got := h.limiters[0].Limit(); got >= h.cap {
		t.Errorf("concurrency limit during the outage = %d; want it cut below the cap of %d", got, h.cap)
	}
	h.sb.ClearFaults()
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	if got := sum(h.metrics.Retries); got == 0 {
		t.Errorf("no retries counted while Magento was down")
	}
}

func TestTimeoutAfterCommitPlacesOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{magentoTimeout: 400 * time.Millisecond})
	fx := h.capture(5)
	// Every placement and every invoice commits and then never answers.
	h.sb.SetFaults(
		magentosandbox.Fault{TimeoutAfterCommit: true, Path: `/order$`, Methods: []string{"PUT"}},
		magentosandbox.Fault{TimeoutAfterCommit: true, Path: `/invoice$`, Methods: []string{"POST"}},
	)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(60 * time.Second)
	stop()
	h.verify(fx)
}

// killingMagento commits a placement in Magento and then "kills" the worker
// before it can record anything, the way kill -9 would.
type killingMagento struct {
	bridge.Magento
	kill func()
}

func (k *killingMagento) PlaceOrder(ctx context.Context, ref magento.CartRef, req magento.PlaceOrderRequest) (int64, error) {
	id, err := k.Magento.PlaceOrder(ctx, ref, req)
	k.kill()
	return id, err
}

func TestWorkerKilledMidEvent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	ctx, kill := context.WithCancel(context.Background())
	cfg := h.config("doomed")
	cfg.ReleaseOnStop = false // a killed process hands nothing back
	doomed := h.syncer(cfg, nil, &killingMagento{Magento: h.magentoFor("doomed"), kill: kill})
	if n, err := doomed.RunOnce(ctx, "doomed/0"); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v; want 1 event", n, err)
	}
	if n := len(h.sb.Orders()); n != 1 {
		t.Fatalf("%d orders after the kill; want the 1 Magento committed", n)
	}
	heir := h.syncer(h.config("heir"), nil, nil)
	if n, err := heir.RunOnce(context.Background(), "heir/0"); n != 0 || err != nil {
		t.Fatalf("RunOnce before the lease lapsed = %d, %v; want nothing claimable", n, err)
	}
	h.clock.Advance(11 * time.Second) // past the 10 s lease
	if n, err := heir.RunOnce(context.Background(), "heir/0"); n != 1 || err != nil {
		t.Fatalf("RunOnce after the lease lapsed = %d, %v; want 1", n, err)
	}
	h.verify(fx)
	if st := h.status(); st.SyncedTotal != 1 || st.Backlog != 0 {
		t.Errorf("status = %+v", st)
	}
}

func TestTwoInstancesShareOneOutbox(t *testing.T) {
	h := newHarness(t, harnessOptions{cap: 3})
	fx := h.capture(40)
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: 20, Methods: []string{"POST", "PUT"}})
	stop := run(h.syncer(h.config("one"), nil, nil), h.syncer(h.config("two"), nil, nil))
	h.waitDrained(60 * time.Second)
	stop()
	h.verify(fx)
	var one, two int
	rows, err := h.db.Query(`SELECT history FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var hist string
		rows.Scan(&hist)
		one += strings.Count(hist, `"worker":"one/`)
		two += strings.Count(hist, `"worker":"two/`)
	}
	t.Logf("events completed by instance one: %d, by instance two: %d", one, two)
	if m := h.inFlight.Max(); m > h.cap {
		t.Errorf("Magento served %d requests at once; the shared cap is %d", m, h.cap)
	}
	if one == 0 || two == 0 {
		t.Errorf("one instance did all the work (%d / %d)", one, two)
	}
}

func TestMySQLRestartDuringRun(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(30)
	store, proxy := h.proxiedStore()
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: 30, Methods: []string{"POST", "PUT"}})
	cfg := h.config("a")
	cfg.Lease = 3 * time.Second
	stop := run(h.syncer(cfg, store, nil))
	defer stop()
	time.Sleep(400 * time.Millisecond)
	proxy.Cut()
	t.Logf("MySQL cut with %d orders placed", len(h.sb.Orders()))
	time.Sleep(2 * time.Second)
	proxy.Restore()
	h.waitDrained(60 * time.Second)
	stop()
	h.verify(fx)
}

func TestDuplicateEventsMakeOneOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(3)
	for i, f := range fx {
		h.addEvent(f, fmt.Sprintf("replayed:%d:%s", i, f.PaymentID))
		h.addEvent(f, fmt.Sprintf("again:%d:%s", i, f.PaymentID))
	}
	stop := run(h.syncer(h.config("a"), nil, nil), h.syncer(h.config("b"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	var done int
	h.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE status = 'done'`).Scan(&done)
	if done != 9 {
		t.Errorf("%d outbox rows done; want all 9", done)
	}
}

func TestNoOrderWithoutPayment(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cart, _ := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: testSKU, Qty: 1})
	ghost := fixture{PaymentID: "pay_ghost", QuoteID: cart.QuoteID, TransactionID: "pi_ghost", Amount: 5700}
	h.addEvent(ghost, "payment.captured:pay_ghost")
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(10 * time.Second)
	stop()
	if n := len(h.sb.Orders()); n != 0 {
		t.Fatalf("%d orders for an event without a payment; want 0", n)
	}
	dls, err := h.store.DeadLetters(context.Background(), false, 10)
	if err != nil || len(dls) != 1 || dls[0].Reason != bridge.ReasonNoPayment {
		t.Fatalf("dead letters = %+v, %v; want one no_payment", dls, err)
	}
}

func TestUnplaceableThenReplay(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	if err := h.sb.SetStock(testSKU, 0); err != nil {
		t.Fatal(err)
	}
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(10 * time.Second)
	stop()
	if n := len(h.sb.Orders()); n != 0 {
		t.Fatalf("%d orders with the product out of stock", n)
	}
	dls, err := h.store.DeadLetters(context.Background(), false, 10)
	if err != nil || len(dls) != 1 || dls[0].Reason != bridge.ReasonUnplaceable || len(dls[0].History) == 0 {
		t.Fatalf("dead letters = %+v, %v; want one unplaceable with its history", dls, err)
	}
	if !strings.Contains(string(dls[0].Payload), `"masked_quote_id":"[redacted]"`) {
		t.Errorf("dead letter payload %s shows the masked cart id", dls[0].Payload)
	}
	if got := sum(h.metrics.Unplaceable); got != 1 {
		t.Errorf("unplaceable alerts = %v; want 1", got)
	}
	if calls := h.checkout.Calls(); len(calls) != 0 {
		t.Errorf("refunded %+v although refund_unplaceable is off", calls)
	}
	// The operator restocks and replays.
	h.sb.SetStock(testSKU, 100)
	if _, err := h.store.Replay(context.Background(), dls[0].ID, "test", h.clock.Now()); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if _, err := h.store.Replay(context.Background(), dls[0].ID, "test", h.clock.Now()); !errs.Is(err, errs.Conflict) {
		t.Errorf("second replay = %v; want conflict", err)
	}
	stop = run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(10 * time.Second)
	stop()
	h.verify(fx)
}

func TestUnplaceableRefundedWhenConfigured(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	h.sb.SetStock(testSKU, 0)
	cfg := h.config("a")
	cfg.RefundUnplaceable = true
	// The refund is still in flight when the syncer is stopped (the event
	// is dead-lettered before it): stopping must not abandon it.
	h.checkout.mu.Lock()
	h.checkout.delay = 300 * time.Millisecond
	h.checkout.mu.Unlock()
	stop := run(h.syncer(cfg, nil, nil))
	h.waitDrained(10 * time.Second)
	stop()
	calls := h.checkout.Calls()
	if len(calls) != 1 || calls[0].PaymentID != fx[0].PaymentID || calls[0].Amount != fx[0].Amount || calls[0].Auth != "Bearer svc-token" {
		t.Fatalf("refund calls = %+v; want one full refund of %s", calls, fx[0].PaymentID)
	}
	dls, _ := h.store.DeadLetters(context.Background(), false, 10)
	if len(dls) != 1 || !dls[0].Refunded {
		refunded := make([]bool, len(dls))
		for i, d := range dls {
			refunded[i] = d.Refunded
		}
		t.Errorf("%d dead letters, refunded %v; want one marked refunded", len(dls), refunded)
	}
}

func TestRedisRestartDuringRun(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(20)
	proxy, err := faultproxy.Start(cachetest.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	h.rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{proxy.Addr()}, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	defer h.rdb.Close()
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: 30, Methods: []string{"POST", "PUT"}})
	stop := run(h.syncer(h.config("a"), nil, nil))
	defer stop()
	time.Sleep(300 * time.Millisecond)
	proxy.Down()
	time.Sleep(1500 * time.Millisecond)
	proxy.Up()
	h.waitDrained(60 * time.Second)
	stop()
	h.verify(fx)
}

// stallingMagento holds the first shipping-information call until released,
// the way a worker stalls (GC pause, network) while its lease lapses.
type stallingMagento struct {
	bridge.Magento
	entered, release chan struct{}
	once             sync.Once
}

func (s *stallingMagento) SetShippingInformation(ctx context.Context, ref magento.CartRef, info magento.ShippingInformation) (*magento.PaymentDetails, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.Magento.SetShippingInformation(ctx, ref, info)
}

func TestStalledWorkerIsFencedOut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(1)
	stall := &stallingMagento{Magento: h.magentoFor("zombie"), entered: make(chan struct{}), release: make(chan struct{})}
	cfg := h.config("zombie")
	cfg.RefundUnplaceable = true
	zombie := h.syncer(cfg, nil, stall)
	done := make(chan struct{})
	go func() {
		defer close(done)
		zombie.RunOnce(context.Background(), "zombie/0")
	}()
	<-stall.entered
	h.clock.Advance(11 * time.Second) // its lease lapses while it stalls
	heir := h.syncer(h.config("heir"), nil, nil)
	if n, err := heir.RunOnce(context.Background(), "heir/0"); n != 1 || err != nil {
		t.Fatalf("heir RunOnce = %d, %v", n, err)
	}
	close(stall.release) // the zombie wakes up and carries on with a stale view
	<-done
	h.verify(fx)
	if calls := h.checkout.Calls(); len(calls) != 0 {
		t.Errorf("the stalled worker refunded %+v", calls)
	}
	if dls, _ := h.store.DeadLetters(context.Background(), true, 10); len(dls) != 0 {
		t.Errorf("dead letters = %+v; want none", dls)
	}
	if got := sum(h.metrics.LostLeases); got != 1 {
		t.Errorf("lost leases = %v; want 1", got)
	}
}
