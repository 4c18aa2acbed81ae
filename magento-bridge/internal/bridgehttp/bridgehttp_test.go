package bridgehttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgehttp"
)

// store is a function-field stand-in for the bridge's store.
type store struct {
	replayed []int64
}

func (s *store) Status(ctx context.Context, now time.Time) (bridge.Status, error) {
	return bridge.Status{Backlog: 3, OldestAgeSeconds: 1.5, InFlight: 1, DeadLetters: 2, SyncedTotal: 40}, nil
}

func (s *store) DeadLetters(ctx context.Context, all bool, limit int) ([]bridge.DeadLetter, error) {
	return []bridge.DeadLetter{{ID: 7, Reason: bridge.ReasonUnplaceable, Status: "open"}}, nil
}

func (s *store) DeadLetterByID(ctx context.Context, id int64) (*bridge.DeadLetter, error) {
	if id != 7 {
		return nil, errs.E(errs.NotFound, "No dead letter %d.", id)
	}
	return &bridge.DeadLetter{ID: 7}, nil
}

func (s *store) Replay(ctx context.Context, id int64, by string, now time.Time) (*bridge.DeadLetter, error) {
	if len(s.replayed) > 0 {
		return nil, errs.E(errs.Conflict, "Dead letter %d was already replayed.", id)
	}
	s.replayed = append(s.replayed, id)
	return &bridge.DeadLetter{ID: id, Status: "replayed"}, nil
}

func (s *store) ForeignOrders(ctx context.Context, limit int) ([]bridge.ForeignOrder, error) {
	return []bridge.ForeignOrder{{OrderID: 12, IncrementID: "000000012", Amount: 5700, Currency: "USD"}}, nil
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

	disabled, _ := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), zap.NewNop())
	(&bridgehttp.Handlers{Store: st, Now: time.Now, Log: zap.NewNop()}).Register(disabled.Engine())
	rec := httptest.NewRecorder()
	disabled.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/admin/dead-letters", nil))
	if rec.Code != http.StatusForbidden {
		t.Errorf("admin API without a token configured = %d; want 403", rec.Code)
	}
}
