package bridgehttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgehttp"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

// store is a function-field stand-in for the bridge's store.
type store struct {
	replayed []int64
	steps    []string // the steps Captures was asked for
}

func (s *store) Status(ctx context.Context, now time.Time) (bridge.Status, error) {
	return bridge.Status{Backlog: 3, OldestAgeSeconds: 1.5, InFlight: 1, DeadLetters: 2, SyncedTotal: 40}, nil
}

// deadLetter is a dead letter as the store returns one: an attempt's
// history, a payload, and after a replay the operator's entry (no step).
func deadLetter(id int64, status string) *bridge.DeadLetter {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d := &bridge.DeadLetter{ID: id, OutboxID: 3, EventID: "payment.captured:pay_1", PaymentID: "pay_1", Reason: bridge.ReasonUnplaceable,
		Error: "the cart was emptied", Attempts: 1, Status: status, CreatedAt: at,
		History: []bridge.Attempt{{At: at, Attempt: 1, Worker: "w1", Step: bridge.StepPlacing, Outcome: "dead", Code: "invalid", Error: "the cart was emptied"}},
		Payload: json.RawMessage(`{"payment_id":"pay_1"}`)}
	if status == "replayed" {
		d.ReplayedAt = &at
		d.History = append(d.History, bridge.Attempt{At: at, Worker: "admin-api", Outcome: "replayed", Error: "dead letter 7 replayed"})
		d.Payload = json.RawMessage(`"not json"`)
	}
	return d
}

func (s *store) DeadLetters(ctx context.Context, all bool, limit int) ([]bridge.DeadLetter, error) {
	return []bridge.DeadLetter{*deadLetter(7, "open"), {ID: 8, Reason: bridge.ReasonPoison, Status: "open"}}, nil
}

func (s *store) DeadLetterByID(ctx context.Context, id int64) (*bridge.DeadLetter, error) {
	if id != 7 {
		return nil, errs.E(errs.NotFound, "No dead letter %d.", id)
	}
	return deadLetter(7, "open"), nil
}

func (s *store) Replay(ctx context.Context, id int64, by string, now time.Time) (*bridge.DeadLetter, error) {
	if len(s.replayed) > 0 {
		return nil, errs.E(errs.Conflict, "Dead letter %d was already replayed.", id)
	}
	s.replayed = append(s.replayed, id)
	return deadLetter(id, "replayed"), nil
}

func (s *store) ForeignOrders(ctx context.Context, limit int) ([]bridge.ForeignOrder, error) {
	return []bridge.ForeignOrder{{OrderID: 12, IncrementID: "000000012", Amount: 5700, Currency: "USD"}}, nil
}

func (s *store) Captures(ctx context.Context, step string, limit int) ([]bridge.Capture, error) {
	s.steps = append(s.steps, step)
	return []bridge.Capture{{InvoiceID: 9, InvoiceIncrementID: "000000009", OrderID: 12, PaymentID: "pay_9", CaptureID: bridge.CaptureID(9),
		Gateway: "stripe", Amount: 5700, Currency: "USD", Step: bridge.CaptureFailed, Reason: "checkout refused the capture"}}, nil
}

func (s *store) RetryCapture(ctx context.Context, invoiceID int64, by string, now time.Time) (*bridge.Capture, error) {
	switch invoiceID {
	case 9:
		return &bridge.Capture{InvoiceID: 9, CaptureID: bridge.CaptureID(9), Step: bridge.CapturePending}, nil
	case 10:
		return nil, errs.E(errs.Conflict, "The capture of invoice 10 is done; only a failed capture can be retried.")
	}
	return nil, errs.E(errs.NotFound, "No capture for invoice %d.", invoiceID)
}

func TestAPI(t *testing.T) {
	srv, err := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st := &store{}
	(&bridgehttp.Handlers{Store: st, AdminToken: "secret-admin-token", Now: time.Now, Log: zap.NewNop()}).Register(srv.Engine())
	tests := []struct {
		method, path, token string
		want                int
		body                string
	}{
		{"GET", "/v1/status", "", 200, `"synced_total":40`},
		{"GET", "/v1/admin/dead-letters", "", 401, `"unauthorized"`},
		{"GET", "/v1/admin/dead-letters", "nope", 401, `"unauthorized"`},
		{"GET", "/v1/admin/dead-letters", "secret-admin-token", 200, `"reason":"unplaceable"`},
		{"GET", "/v1/admin/dead-letters?limit=0", "secret-admin-token", 400, `"limit"`},
		{"GET", "/v1/admin/dead-letters/7", "secret-admin-token", 200, `"id":7`},
		{"GET", "/v1/admin/dead-letters/8", "secret-admin-token", 404, `"not_found"`},
		{"GET", "/v1/admin/dead-letters/x", "secret-admin-token", 400, `"invalid"`},
		{"POST", "/v1/admin/dead-letters/7/replay", "", 401, `"unauthorized"`},
		{"POST", "/v1/admin/dead-letters/7/replay", "secret-admin-token", 200, `"status":"replayed"`},
		{"POST", "/v1/admin/dead-letters/7/replay", "secret-admin-token", 409, `"conflict"`},
		{"GET", "/v1/admin/foreign-orders", "", 401, `"unauthorized"`},
		{"GET", "/v1/admin/foreign-orders", "secret-admin-token", 200, `"increment_id":"000000012"`},
		{"GET", "/v1/admin/captures", "", 401, `"unauthorized"`},
		{"GET", "/v1/admin/captures", "nope", 401, `"unauthorized"`},
		{"GET", "/v1/admin/captures", "secret-admin-token", 200, `"capture_id":"magento-inv-9"`},
		{"GET", "/v1/admin/captures?step=failed", "secret-admin-token", 200, `"step":"failed"`},
		{"GET", "/v1/admin/captures?step=stuck", "secret-admin-token", 400, `"step":"must be one of pending, captured, done, refused, failed"`},
		{"GET", "/v1/admin/captures?limit=1001", "secret-admin-token", 400, `"limit":`},
		{"GET", "/v1/admin/captures?limit=x", "secret-admin-token", 400, `"limit":"must be a number"`},
		{"POST", "/v1/admin/captures/9/retry", "", 401, `"unauthorized"`},
		{"POST", "/v1/admin/captures/9/retry", "secret-admin-token", 200, `"step":"pending"`},
		{"POST", "/v1/admin/captures/10/retry", "secret-admin-token", 409, `"conflict"`},
		{"POST", "/v1/admin/captures/11/retry", "secret-admin-token", 404, `"not_found"`},
		{"POST", "/v1/admin/captures/x/retry", "secret-admin-token", 400, `"invoice_id":`},
		{"POST", "/v1/admin/captures/-1/retry", "secret-admin-token", 400, `"invalid"`},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s = %d %s; want %d with %s", tt.method, tt.path, rec.Code, rec.Body, tt.want, tt.body)
		}
	}
	if len(st.replayed) != 1 {
		t.Errorf("replayed %v; want dead letter 7 once", st.replayed)
	}
	if fmt.Sprintf("%q", st.steps) != `["" "failed"]` {
		t.Errorf("Captures asked for steps %q; want every step, then failed (invalid queries never reach the store)", st.steps)
	}

	disabled, _ := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), zap.NewNop())
	(&bridgehttp.Handlers{Store: st, Now: time.Now, Log: zap.NewNop()}).Register(disabled.Engine())
	rec := httptest.NewRecorder()
	disabled.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/admin/dead-letters", nil))
	if rec.Code != http.StatusForbidden {
		t.Errorf("admin API without a token configured = %d; want 403", rec.Code)
	}
}

// The capture endpoints against the real store: a failed capture is retried
// once, pending again, and the status counts it.
func TestCaptureRetryWithStore(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	db := databasetest.New(t, os.DirFS(filepath.Join(root, "checkout-service", "migrations")), os.DirFS(filepath.Join(root, "magento-bridge", "migrations")))
	s := bridgestore.New(db)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, c := range []bridge.Capture{
		{InvoiceID: 41, InvoiceIncrementID: "000000041", OrderID: 4, PaymentID: "pay_41", CaptureID: bridge.CaptureID(41), Gateway: "stripe",
			Amount: 5700, Currency: "USD", Step: bridge.CaptureRefused, Reason: "the payment is voided, not authorised"},
		{InvoiceID: 42, InvoiceIncrementID: "000000042", OrderID: 5, PaymentID: "pay_42", CaptureID: bridge.CaptureID(42), Gateway: "stripe",
			Amount: 1250, Currency: "EUR", Step: bridge.CapturePending},
	} {
		if _, err := s.AddCapture(ctx, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCaptureStep(ctx, 41, bridge.CaptureFailed, "", "", now); err != nil { // commented
		t.Fatal(err)
	}
	srv, err := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	(&bridgehttp.Handlers{Store: s, AdminToken: "secret-admin-token", Now: time.Now, Log: zap.NewNop()}).Register(srv.Engine())
	do := func(method, path string, want int) string {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer secret-admin-token")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("%s %s = %d %s; want %d", method, path, rec.Code, rec.Body, want)
		}
		return rec.Body.String()
	}
	status := func() bridge.Status {
		t.Helper()
		var st bridge.Status
		if err := json.Unmarshal([]byte(do("GET", "/v1/status", http.StatusOK)), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st.CapturesFailed != 1 || st.CapturesPending != 1 {
		t.Errorf("status = %+v; want 1 capture failed, 1 pending", st)
	}
	var list struct{ Captures []bridge.Capture }
	if err := json.Unmarshal([]byte(do("GET", "/v1/admin/captures?step=failed", http.StatusOK)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Captures) != 1 || list.Captures[0].InvoiceID != 41 || list.Captures[0].Amount != 5700 || list.Captures[0].Currency != "USD" ||
		list.Captures[0].Reason != "the payment is voided, not authorised" || list.Captures[0].CreatedAt.IsZero() {
		t.Fatalf("failed captures = %+v; want invoice 41 with its reason", list.Captures)
	}

	do("POST", "/v1/admin/captures/42/retry", http.StatusConflict) // pending
	do("POST", "/v1/admin/captures/43/retry", http.StatusNotFound)
	var got bridge.Capture
	if err := json.Unmarshal([]byte(do("POST", "/v1/admin/captures/41/retry", http.StatusOK)), &got); err != nil {
		t.Fatal(err)
	}
	if got.InvoiceID != 41 || got.Step != bridge.CapturePending || got.CaptureID != bridge.CaptureID(41) || !strings.HasPrefix(got.Reason, "retried by admin-api at ") {
		t.Errorf("retry = %+v; want invoice 41 pending, the retry on record", got)
	}
	do("POST", "/v1/admin/captures/41/retry", http.StatusConflict)
	body := do("GET", "/v1/admin/captures?step=pending", http.StatusOK)
	if !strings.Contains(body, `"invoice_id":41`) || !strings.Contains(body, `"invoice_id":42`) {
		t.Errorf("pending captures = %s; want invoices 41 and 42", body)
	}
	if st := status(); st.CapturesFailed != 0 || st.CapturesPending != 2 {
		t.Errorf("status after the retry = %+v; want no capture failed, 2 pending", st)
	}
}
