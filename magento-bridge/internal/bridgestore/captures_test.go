package bridgestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

func TestCapturesRecordedOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c := bridge.Capture{InvoiceID: 7, InvoiceIncrementID: "000000007", OrderID: 3, PaymentID: "pay_1", CaptureID: bridge.CaptureID(7),
		Gateway: "stripe", Amount: 5700, Currency: "USD", Step: bridge.CapturePending}
	for i, want := range []bool{true, false} {
		added, err := s.AddCapture(ctx, c, now)
		if err != nil || added != want {
			t.Fatalf("AddCapture #%d = %v, %v; want %v", i+1, added, err, want)
		}
	}
	// The same capture id under another invoice id is refused too.
	dup := c
	dup.InvoiceID = 8
	if added, err := s.AddCapture(ctx, dup, now); err != nil || added {
		t.Errorf("AddCapture with a recorded capture id = %v, %v; want not added", added, err)
	}
	steps := []struct {
		step, reason, lastError string
		wantPending             bool
		wantReason              string
	}{
		{bridge.CapturePending, "", "checkout 503", true, ""},
		{bridge.CaptureRefused, "checkout refused the capture: expired", "", true, "checkout refused the capture: expired"},
		{bridge.CaptureRefused, "", "comment failed", true, "checkout refused the capture: expired"},
		{bridge.CaptureFailed, "", "", false, "checkout refused the capture: expired"},
	}
	for i, st := range steps {
		if err := s.SetCaptureStep(ctx, c.InvoiceID, st.step, st.reason, st.lastError, now); err != nil {
			t.Fatalf("SetCaptureStep(%s) = %v", st.step, err)
		}
		pending, err := s.PendingCaptures(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if (len(pending) == 1) != st.wantPending {
			t.Errorf("step %s: PendingCaptures = %+v; want pending %v", st.step, pending, st.wantPending)
		}
		all, err := s.Captures(ctx, "", 10)
		if err != nil || len(all) != 1 {
			t.Fatalf("Captures = %+v, %v; want one", all, err)
		}
		if all[0].Step != st.step || all[0].Reason != st.wantReason || all[0].Attempts != i+1 || all[0].CaptureID != c.CaptureID || all[0].Amount != 5700 {
			t.Errorf("after SetCaptureStep(%s, %q) = %+v; want reason %q, %d attempts", st.step, st.reason, all[0], st.wantReason, i+1)
		}
	}
}

// Captures that keep failing do not hold newer ones back.
func TestPendingCapturesFewestAttemptsFirst(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []int64{1, 2} {
		c := bridge.Capture{InvoiceID: id, InvoiceIncrementID: fmt.Sprintf("%09d", id), OrderID: id, PaymentID: fmt.Sprintf("pay_%d", id),
			CaptureID: bridge.CaptureID(id), Gateway: "stripe", Amount: 5700, Currency: "USD", Step: bridge.CapturePending}
		if _, err := s.AddCapture(ctx, c, now); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // invoice 1 keeps failing
		if err := s.SetCaptureStep(ctx, 1, bridge.CapturePending, "", "checkout 503", now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PendingCaptures(ctx, 1)
	if err != nil || len(got) != 1 || got[0].InvoiceID != 2 {
		t.Errorf("PendingCaptures(1) = %+v, %v; want invoice 2, the one not tried yet", got, err)
	}
}

// addCaptures records one capture per step, invoice ids 1, 2, ... in the
// order given, each moved to its step as the capture sync would.
func addCaptures(t *testing.T, s *bridgestore.Store, now time.Time, steps ...string) {
	t.Helper()
	ctx := context.Background()
	for i, step := range steps {
		id := int64(i + 1)
		c := bridge.Capture{InvoiceID: id, InvoiceIncrementID: fmt.Sprintf("%09d", id), OrderID: 100 + id, PaymentID: fmt.Sprintf("pay_%d", id),
			CaptureID: bridge.CaptureID(id), Gateway: "stripe", Amount: 5700, Currency: "USD", Step: bridge.CapturePending}
		if _, err := s.AddCapture(ctx, c, now); err != nil {
			t.Fatal(err)
		}
		var moves [][3]string // step, reason, last error
		switch step {
		case bridge.CapturePending:
			moves = [][3]string{{bridge.CapturePending, "", "checkout 503"}}
		case bridge.CaptureCaptured:
			moves = [][3]string{{bridge.CaptureCaptured, "", ""}}
		case bridge.CaptureDone:
			moves = [][3]string{{bridge.CaptureCaptured, "", ""}, {bridge.CaptureDone, "", ""}}
		case bridge.CaptureRefused:
			moves = [][3]string{{bridge.CaptureRefused, "checkout refused the capture: expired", ""}}
		case bridge.CaptureFailed:
			moves = [][3]string{{bridge.CaptureRefused, "checkout refused the capture: expired", ""}, {bridge.CaptureFailed, "", ""}}
		default:
			t.Fatalf("no step %q", step)
		}
		for _, m := range moves {
			if err := s.SetCaptureStep(ctx, id, m[0], m[1], m[2], now); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestCapturesListedByStep(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	addCaptures(t, s, now, bridge.CaptureFailed, bridge.CapturePending, bridge.CaptureDone, bridge.CaptureFailed, bridge.CaptureRefused)
	tests := []struct {
		step  string
		limit int
		want  []int64 // invoice ids, newest first
	}{
		{"", 100, []int64{5, 4, 3, 2, 1}},
		{"", 2, []int64{5, 4}},
		{bridge.CaptureFailed, 100, []int64{4, 1}},
		{bridge.CapturePending, 100, []int64{2}},
		{bridge.CaptureDone, 100, []int64{3}},
		{bridge.CaptureCaptured, 100, []int64{}},
	}
	for _, tt := range tests {
		got, err := s.Captures(ctx, tt.step, tt.limit)
		if err != nil {
			t.Fatalf("Captures(%q, %d) = %v", tt.step, tt.limit, err)
		}
		ids := []int64{}
		for _, c := range got {
			ids = append(ids, c.InvoiceID)
			if tt.step != "" && c.Step != tt.step {
				t.Errorf("Captures(%q) listed invoice %d at step %s", tt.step, c.InvoiceID, c.Step)
			}
		}
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("Captures(%q, %d) = invoices %v; want %v", tt.step, tt.limit, ids, tt.want)
		}
	}
	pending, err := s.Captures(ctx, bridge.CapturePending, 1)
	if err != nil || len(pending) != 1 {
		t.Fatalf("Captures(pending) = %+v, %v", pending, err)
	}
	want := bridge.Capture{InvoiceID: 2, InvoiceIncrementID: "000000002", OrderID: 102, PaymentID: "pay_2", CaptureID: bridge.CaptureID(2),
		Gateway: "stripe", Amount: 5700, Currency: "USD", Step: bridge.CapturePending, Attempts: 1, LastError: "checkout 503"}
	got := pending[0]
	if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
		t.Errorf("created_at, updated_at = %v, %v; want %v", got.CreatedAt, got.UpdatedAt, now)
	}
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Captures(pending) = %+v; want %+v", got, want)
	}

	st, err := s.Status(ctx, now)
	if err != nil || st.CapturesFailed != 2 || st.CapturesPending != 1 {
		t.Errorf("Status = %+v, %v; want 2 captures failed, 1 pending", st, err)
	}
}

func TestRetryCapture(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	later := now.Add(time.Hour)
	tests := []struct {
		name    string
		step    string // the capture's step; empty: no capture
		invoice int64
		code    string // wanted error code; empty: retried
	}{
		{"failed", bridge.CaptureFailed, 1, ""},
		{"pending", bridge.CapturePending, 1, errs.Conflict},
		{"captured", bridge.CaptureCaptured, 1, errs.Conflict},
		{"done", bridge.CaptureDone, 1, errs.Conflict},
		{"refused, comment owed", bridge.CaptureRefused, 1, errs.Conflict},
		{"unknown invoice", bridge.CaptureFailed, 2, errs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			ctx := context.Background()
			addCaptures(t, s, now, tt.step)
			before, err := s.CaptureByInvoice(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.RetryCapture(ctx, tt.invoice, "cli:ops", later)
			if tt.code != "" {
				if !errs.Is(err, tt.code) || got != nil {
					t.Fatalf("RetryCapture(%d) of a %s capture = %+v, %v; want %s", tt.invoice, tt.step, got, err, tt.code)
				}
				after, err := s.CaptureByInvoice(ctx, 1)
				if err != nil || *after != *before {
					t.Errorf("after a refused retry: %+v, %v; want unchanged %+v", after, err, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("RetryCapture = %v", err)
			}
			wantReason := "retried by cli:ops at " + later.Format(time.RFC3339) + " after 2 attempts; before: checkout refused the capture: expired"
			if got.Step != bridge.CapturePending || got.Attempts != 0 || got.LastError != "" || got.Reason != wantReason ||
				!got.UpdatedAt.Equal(later) || got.CaptureID != bridge.CaptureID(1) {
				t.Errorf("RetryCapture = %+v; want pending, fresh attempts, no error, reason %q, the same capture id", got, wantReason)
			}
			if pending, err := s.PendingCaptures(ctx, 10); err != nil || len(pending) != 1 || pending[0].InvoiceID != 1 {
				t.Errorf("PendingCaptures = %+v, %v; want the retried capture", pending, err)
			}
			if owed, err := s.CaptureOwed(ctx, got.OrderID); err != nil || !owed {
				t.Errorf("CaptureOwed = %v, %v; want true (refunds wait for the retried capture)", owed, err)
			}
			if again, err := s.RetryCapture(ctx, 1, "cli:ops", later); !errs.Is(err, errs.Conflict) {
				t.Errorf("RetryCapture twice = %+v, %v; want conflict", again, err)
			}
			// Checkout refuses it again: the new reason goes first, the
			// retry stays on record.
			if err := s.SetCaptureStep(ctx, 1, bridge.CaptureRefused, "checkout refused the capture: still expired", "", later); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCaptureStep(ctx, 1, bridge.CaptureFailed, "", "", later); err != nil {
				t.Fatal(err)
			}
			c, err := s.CaptureByInvoice(ctx, 1)
			if want := "checkout refused the capture: still expired; " + wantReason; err != nil || c.Reason != want || c.Step != bridge.CaptureFailed {
				t.Errorf("refused again: %+v, %v; want failed with reason %q", c, err, want)
			}
			if _, err := s.RetryCapture(ctx, 1, "admin-api", later); err != nil {
				t.Errorf("RetryCapture after a second refusal = %v", err)
			}
		})
	}
}
