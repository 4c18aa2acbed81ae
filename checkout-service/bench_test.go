package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/database"
)

const benchWorkers = 16

// BenchmarkPayments measures payments per second through
// POST /v1/sessions/{id}/payments (HTTP, Magento re-read of the cart from
// the in-process Magento sandbox, routing, Redis, the sandbox gateway, and
// MySQL: payment row, attempt row, then the capture transaction with its
// outbox row), with benchWorkers concurrent clients. In the same run, a bare
// Go loop with the same concurrency performs the same MySQL statements
// directly, in alternating rounds; the ratio of the two rates is reported.
// Run with
//
//	go test -run x -bench Payments -benchtime 2000x ./checkout-service
func BenchmarkPayments(b *testing.B) {
	// The in-process Magento sandbox answers in microseconds; a real store's
	// concurrency cap (magento.max_concurrent, 8 by default) would make this
	// a benchmark of the cap.
	h := startWith(b, 1, func(c *Config) { c.Magento.MaxConcurrent = 2 * benchWorkers })
	// sessions ready to pay, made outside the timer
	sessions := make([]string, b.N)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				sessions[i] = h.readySessionQuiet(h.guestCart("24-MB01"))
			}
		}()
	}
	wg.Wait()

	db, err := database.Open(context.Background(), h.cfg.MySQL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// The machine is shared: alternate rounds of API payments and bare-loop
	// transactions so that both see the same background load.
	const rounds = 10
	var api, bare time.Duration
	var failed atomic.Int64
	b.ResetTimer()
	for r := range rounds {
		lo, hi := b.N*r/rounds, b.N*(r+1)/rounds
		next.Store(int64(lo))
		t0 := time.Now()
		for range benchWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= hi {
						return
					}
					st, body := h.post(h.bases[0]+"/v1/sessions/"+sessions[i]+"/payments", `{"method":"card","token":"`+sandboxgw.TokenOK+`"}`, "k")
					if st != 201 || !containsStatus(body, "captured") {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		api += time.Since(t0)
		bare += bareLoop(b, db, hi-lo)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d payments did not capture", n)
	}
	apiRate := float64(b.N) / api.Seconds()
	bareRate := float64(b.N) / bare.Seconds()
	b.ReportMetric(apiRate, "payments/s")
	b.ReportMetric(bareRate, "bare-tx/s")
	b.ReportMetric(apiRate/bareRate, "ratio")
	b.Logf("%d payments with %d clients: API %.0f payments/s, bare MySQL loop %.0f tx/s, ratio %.2f", b.N, benchWorkers, apiRate, bareRate, apiRate/bareRate)
}

func containsStatus(body []byte, s string) bool {
	return len(body) > 0 && (string(body) != "") && (indexOf(body, `"status":"`+s+`"`) >= 0)
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// bareLoop runs the MySQL statements of one captured payment n times with
// benchWorkers goroutines: insert the payment, insert the attempt, then one
// transaction that locks the payment, reads its attempts, updates both and
// writes the outbox row.
func bareLoop(b *testing.B, db *sql.DB, n int) time.Duration {
	snap := []byte(`{"quote_id":1,"cart_kind":"guest","email":"a@b.c","items":[{"sku":"24-MB01","name":"Bag","qty":1,"price":3400,"row_total":3400}],"totals":{"subtotal":3400,"shipping":500,"tax":0,"discount":0,"grand_total":3900,"currency":"USD"}}`)
	routing := []byte(`{"rules_version":0,"facts":{"amount":3900,"currency":"USD","method":"card"},"matched_rule":"","selection":"success_rate","candidates":[{"gateway":"sandbox-a","score":0.9,"success_rate":0.9,"samples":0,"fee":143,"reason":"success_rate"}]}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, benchWorkers)
	t0 := time.Now()
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				q := bareQuote.Add(1)
				var rb [12]byte
				rand.Read(rb[:])
				id := "bench_" + hex.EncodeToString(rb[:])
				now := time.Now().UTC()
				if _, err := db.ExecContext(ctx, `INSERT INTO payments (id, session_id, idempotency_key, request_hash, status, amount, currency, method,
					cart_kind, quote_id, order_snapshot, routing, reconcile_at, card_fp, active_quote, created_at, updated_at)
					VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, id, "cs_"+id, "k", "h", "processing", 3900, "USD", "card", "guest",
					q, snap, routing, now, "fp", q, now, now); err != nil {
					errc <- err
					return
				}
				if _, err := db.ExecContext(ctx, `INSERT INTO payment_attempts (payment_id, attempt_no, gateway, idempotency_key, status, created_at, updated_at)
					VALUES (?,?,?,?,?,?,?)`, id, 1, "sandbox-a", "pay_"+id+"_att_1", "pending", now, now); err != nil {
					errc <- err
					return
				}
				var err error
				for try := 0; try < 5; try++ { // as the store does: retry deadlocks
					if err = captureTx(ctx, db, id, snap, now); !database.IsRetryable(err) {
						break
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	select {
	case err := <-errc:
		b.Fatal(fmt.Errorf("bare loop: %w", err))
	default:
	}
	return d
}

var bareQuote atomic.Int64

func init() { bareQuote.Store(1_000_000) }

func captureTx(ctx context.Context, db *sql.DB, id string, snap []byte, now time.Time) error {
	return database.Transact(ctx, db, func(tx *sql.Tx) error {
		var st string
		var s2, r2 []byte
		if err := tx.QueryRowContext(ctx, `SELECT status, order_snapshot, routing FROM payments WHERE id = ? FOR UPDATE`, id).Scan(&st, &s2, &r2); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT attempt_no, status FROM payment_attempts WHERE payment_id = ? ORDER BY attempt_no`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		if _, err := tx.ExecContext(ctx, `UPDATE payments SET status='captured', gateway='sandbox-a', gateway_reference=?, reconcile_at=NULL, captured_at=?, updated_at=? WHERE id=?`, "ref_"+id, now, now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_attempts SET status='captured', gateway_reference=?, updated_at=? WHERE payment_id=? AND attempt_no=1`, "ref_"+id, now, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO outbox (event_id, topic, aggregate_id, payload, status, available_at, created_at) VALUES (?,?,?,?, 'pending', ?, ?)`,
			"payment.captured:"+id, "payment.captured", id, snap, now, now)
		return err
	})
}
