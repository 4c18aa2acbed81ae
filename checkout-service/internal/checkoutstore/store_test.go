package checkoutstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/checkoutstore"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
)

func newStore(t *testing.T) *checkoutstore.Store {
	t.Helper()
	return checkoutstore.New(databasetest.New(t, os.DirFS("../../migrations")))
}

func payment(id string, quote int64, now time.Time) *checkout.Payment {
	rc := now
	return &checkout.Payment{ID: id, SessionID: "cs_" + id, IdempotencyKey: "k", RequestHash: "h", Status: checkout.StatusProcessing,
		Amount: 1000, Currency: "USD", Method: "card", CartKind: "guest", QuoteID: quote, ReconcileAt: &rc, CreatedAt: now, UpdatedAt: now}
}

func TestUniqueGuards(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.CreatePayment(ctx, payment("pay_1", 1, now)); err != nil {
		t.Fatal(err)
	}
	dup := payment("pay_2", 2, now)
	dup.SessionID = "cs_pay_1"
	if err := s.CreatePayment(ctx, dup); !errors.Is(err, checkout.ErrDuplicateKey) {
		t.Fatalf("same session and key = %v; want ErrDuplicateKey", err)
	}
	if err := s.CreatePayment(ctx, payment("pay_3", 1, now)); !errors.Is(err, checkout.ErrCartBusy) {
		t.Fatalf("same quote = %v; want ErrCartBusy", err)
	}
	// a failed payment frees its quote
	if _, err := s.Update(ctx, "pay_1", func(p *checkout.Payment) (*checkout.Attempt, []checkout.Event, error) {
		p.Status = checkout.StatusFailed
		return nil, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePayment(ctx, payment("pay_3", 1, now)); err != nil {
		t.Fatalf("after failure: %v", err)
	}
	if _, err := s.Payment(ctx, "nope"); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown payment = %v", err)
	}
}

func TestOutboxEventOnceAndRollback(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	s.CreatePayment(ctx, payment("pay_1", 1, now))
	ev := checkout.Event{EventID: "payment.captured:pay_1", Topic: "payment.captured", AggregateID: "pay_1", Payload: []byte(`{"a":1}`)}
	for range 2 {
		if _, err := s.Update(ctx, "pay_1", func(p *checkout.Payment) (*checkout.Attempt, []checkout.Event, error) {
			p.Status = checkout.StatusCaptured
			return nil, []checkout.Event{ev}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// an error inside the transaction writes nothing
	boom := errors.New("boom")
	if _, err := s.Update(ctx, "pay_1", func(p *checkout.Payment) (*checkout.Attempt, []checkout.Event, error) {
		p.Status = checkout.StatusFailed
		return nil, []checkout.Event{{EventID: "x", Topic: "t", AggregateID: "pay_1", Payload: []byte(`{}`)}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	p, _ := s.Payment(ctx, "pay_1")
	if p.Status != checkout.StatusCaptured {
		t.Fatalf("status = %s; want captured", p.Status)
	}
	recent, _ := s.Recent(ctx, 10)
	if len(recent) != 1 {
		t.Fatalf("recent = %d", len(recent))
	}
}

func TestReconcileClaimsAreExclusive(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 40 {
		if err := s.CreatePayment(ctx, payment(fmt.Sprintf("pay_%02d", i), int64(i+1), now.Add(-time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := s.DueForReconcile(ctx, now, time.Minute, 40)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, id := range ids {
				seen[id]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
	if len(seen) != 40 {
		t.Fatalf("claimed %d of 40", len(seen))
	}
	if ids, _ := s.DueForReconcile(ctx, now, time.Minute, 40); len(ids) != 0 {
		t.Fatalf("leased payments claimed again: %v", ids)
	}
}

func TestWebhookLeaseBackoffAndParking(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ev := checkout.WebhookEvent{Gateway: "sandbox-a", EventID: "evt_1", Type: "charge.updated",
		Event: gateway.Event{ID: "evt_1", Reference: "ref", Result: gateway.Result{Status: gateway.Captured}}, Raw: []byte(`{"id":"evt_1"}`)}
	if fresh, err := s.InsertWebhook(ctx, ev, now); err != nil || !fresh {
		t.Fatalf("insert = %v, %v", fresh, err)
	}
	if fresh, _ := s.InsertWebhook(ctx, ev, now); fresh {
		t.Fatal("duplicate stored twice")
	}
	got, err := s.ClaimWebhooks(ctx, now, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Event.Result.Status != gateway.Captured {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, _ := s.ClaimWebhooks(ctx, now, time.Minute, 10); len(again) != 0 {
		t.Fatal("a leased event was claimed again")
	}
	// failures back off, then park
	for i := 0; i < 12; i++ {
		s.FinishWebhook(ctx, "sandbox-a", "evt_1", now, errors.New("no payment yet"))
		now = now.Add(10 * time.Minute)
		got, _ = s.ClaimWebhooks(ctx, now, time.Minute, 10)
		if len(got) == 0 {
			break
		}
	}
	if got, _ = s.ClaimWebhooks(ctx, now.Add(time.Hour), time.Minute, 10); len(got) != 0 {
		t.Fatalf("a parked event was claimed: %+v", got)
	}
}

func TestRefundReservations(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	s.CreatePayment(ctx, payment("pay_1", 1, now))
	r := &checkout.Refund{ID: "cm-1", PaymentID: "pay_1", Amount: 600, Currency: "USD", Status: checkout.RefundPending, RequestHash: "h", CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.CreateRefund(ctx, r); errs.Code(err) != errs.Conflict {
		t.Fatalf("refund of a processing payment = %v; want conflict", err)
	}
	s.Update(ctx, "pay_1", func(p *checkout.Payment) (*checkout.Attempt, []checkout.Event, error) {
		p.Status, p.Gateway = checkout.StatusCaptured, "sandbox-a"
		return nil, nil, nil
	})
	out, created, err := s.CreateRefund(ctx, r)
	if err != nil || !created || out.Gateway != "sandbox-a" {
		t.Fatalf("refund = %+v, %v, %v", out, created, err)
	}
	r2 := *r
	r2.ID = "cm-2"
	if _, _, err := s.CreateRefund(ctx, &r2); errs.Code(err) != errs.Unprocessable {
		t.Fatalf("second 600 of 1000 = %v; want unprocessable (reserved)", err)
	}
	out.Status = checkout.RefundFailed
	if err := s.FinishRefund(ctx, out); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.CreateRefund(ctx, &r2); err != nil || !created {
		t.Fatalf("after the failed refund released its reservation: %v", err)
	}
	if _, created, _ := s.CreateRefund(ctx, r); created {
		t.Fatal("a refund id was used twice")
	}
}
