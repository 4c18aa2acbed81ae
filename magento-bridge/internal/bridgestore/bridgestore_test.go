package bridgestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

func newStore(t *testing.T) (*bridgestore.Store, *sql.DB) {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	db := databasetest.New(t, os.DirFS(filepath.Join(root, "checkout-service", "migrations")), os.DirFS(filepath.Join(root, "magento-bridge", "migrations")))
	return bridgestore.New(db), db
}

func addEvents(t *testing.T, db *sql.DB, n int, at time.Time) {
	t.Helper()
	for i := range n {
		if _, err := db.Exec(`INSERT INTO outbox (event_id, topic, aggregate_id, payload, available_at, created_at) VALUES (?, ?, ?, '{}', ?, ?)`,
			fmt.Sprintf("e%d", i), paymentevent.TopicCaptured, fmt.Sprintf("pay_%d", i), at, at); err != nil {
			t.Fatal(err)
		}
	}
	// Another topic is not the bridge's to claim.
	if _, err := db.Exec(`INSERT INTO outbox (event_id, topic, aggregate_id, payload, available_at, created_at) VALUES ('other', 'payment.refunded', 'x', '{}', ?, ?)`, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestClaimsNeverOverlap(t *testing.T) {
	s, db := newStore(t)
	now := time.Now().UTC()
	addEvents(t, db, 60, now)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("w%d", w)
			for {
				evs, err := s.Claim(context.Background(), owner, 2, now, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(evs) == 0 {
					return
				}
				mu.Lock()
				for _, ev := range evs {
					if prev, dup := seen[ev.OutboxID]; dup {
						t.Errorf("event %d claimed by %s and %s", ev.OutboxID, prev, owner)
					}
					seen[ev.OutboxID] = owner
					if ev.Attempts != 1 || ev.Topic != paymentevent.TopicCaptured {
						t.Errorf("claimed %+v; want attempt 1 of a payment.captured event", ev)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Fatalf("claimed %d events; want 60", len(seen))
	}
	// Leases hold until they lapse, then the events are claimable again.
	if evs, _ := s.Claim(context.Background(), "late", 10, now.Add(59*time.Second), time.Minute); len(evs) != 0 {
		t.Errorf("claimed %d leased events", len(evs))
	}
	evs, err := s.Claim(context.Background(), "late", 100, now.Add(61*time.Second), time.Minute)
	if err != nil || len(evs) != 60 || evs[0].Attempts != 2 {
		t.Errorf("after the leases lapsed: %d events (attempt %d), %v; want all 60 at attempt 2", len(evs), evs[0].Attempts, err)
	}
	st, err := s.Status(context.Background(), now.Add(61*time.Second))
	if err != nil || st.Backlog != 60 || st.InFlight != 60 || st.OldestAgeSeconds < 60 {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

func TestOrderLeaseIsFenced(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	p := bridge.Progress{PaymentID: "pay_1", EventID: "e1", QuoteID: 7, Gateway: "stripe", TransactionID: "pi_1", Amount: 100, Currency: "USD"}
	if _, err := s.BeginOrder(ctx, p, "a", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginOrder(ctx, p, "b", now.Add(time.Second), time.Minute); !errs.Is(err, bridge.CodeBusy) {
		t.Errorf("BeginOrder by b while a holds the lease = %v; want busy", err)
	}
	other := p
	other.PaymentID, other.EventID = "pay_2", "e2"
	if _, err := s.BeginOrder(ctx, other, "c", now, time.Minute); !errs.Is(err, bridge.CodeCartTaken) {
		t.Errorf("BeginOrder of another payment on the same cart = %v; want cart_taken", err)
	}
	// b takes over after the lease lapsed; a is fenced out.
	got, err := s.BeginOrder(ctx, p, "b", now.Add(2*time.Minute), time.Minute)
	if err != nil || got.Step != bridge.StepNew {
		t.Fatalf("BeginOrder after expiry = %+v, %v", got, err)
	}
	p.Step = bridge.StepPlacing
	if err := s.SaveProgress(ctx, p, "a", now, time.Minute); !errs.Is(err, bridge.CodeLostLease) {
		t.Errorf("SaveProgress by the old owner = %v; want lost_lease", err)
	}
	if err := s.SaveProgress(ctx, p, "b", now, time.Minute); err != nil {
		t.Errorf("SaveProgress by the owner = %v", err)
	}
	// SaveProgress with an unchanged clock still counts as ours.
	if err := s.SaveProgress(ctx, p, "b", now, time.Minute); err != nil {
		t.Errorf("SaveProgress repeated = %v", err)
	}
}
