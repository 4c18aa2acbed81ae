package bridgestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magefleet/platform/magento-bridge/internal/bridge"
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
		all, err := s.Captures(ctx)
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
