package bridgehttp_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/magento-bridge/internal/bridgehttp"
)

func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	spec, err := openapi3.NewLoader().LoadFromFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	spec.Servers = openapi3.Servers{{URL: "http://bridge.test"}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec, router
}

func newAPI(t *testing.T, token config.Secret) *httpserver.Server {
	t.Helper()
	srv, err := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	(&bridgehttp.Handlers{Store: &store{}, AdminToken: token, Now: time.Now, Log: zap.NewNop()}).Register(srv.Engine())
	return srv
}

// TestRoutesMatchOpenAPI keeps openapi.yaml and the routes in step: every
// route under /v1/ is documented, and every documented operation is served.
func TestRoutesMatchOpenAPI(t *testing.T) {
	spec, _ := loadSpec(t)
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	served := map[string]bool{}
	for _, r := range newAPI(t, "secret-admin-token").Engine().Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			continue // /metrics and the health checks are the shared server's
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		served[r.Method+" "+path] = true
		if item := spec.Paths.Value(path); item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s %s is served but not in openapi.yaml", r.Method, path)
		}
	}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which is not served", method, path)
			}
		}
	}
}

// TestResponsesMatchOpenAPI checks the status, foreign-order and capture
// answers, errors included, against openapi.yaml; a request the spec calls
// invalid must be the one the handlers answer 400.
func TestResponsesMatchOpenAPI(t *testing.T) {
	_, router := loadSpec(t)
	validate := func(req *http.Request, status int, header http.Header, body []byte) (reqErr, respErr error) {
		t.Helper()
		vreq := req.Clone(context.Background())
		vreq.URL.Scheme, vreq.URL.Host, vreq.Host = "http", "bridge.test", "bridge.test"
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			t.Fatalf("%s %s: no route in openapi.yaml: %v", req.Method, req.URL, err)
		}
		opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
		reqErr = openapi3filter.ValidateRequest(context.Background(), in)
		respErr = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts})
		return reqErr, respErr
	}
	// The check must bite: a capture with a field the spec lacks fails.
	bad := httptest.NewRequest(http.MethodGet, "/v1/admin/captures", nil)
	if _, err := validate(bad, 200, http.Header{"Content-Type": {"application/json"}},
		[]byte(`{"captures":[{"invoice_id":1,"invoice_increment_id":"000000001","order_id":1,"payment_id":"pay_1","capture_id":"magento-inv-1",`+
			`"gateway":"stripe","amount":5700,"currency":"USD","step":"failed","reason":"","attempts":1,"last_error":"",`+
			`"created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z","email":"jane@example.com"}]}`)); err == nil {
		t.Fatal("a capture with an undocumented field validated; the check checks nothing")
	}

	srv, disabled := newAPI(t, "secret-admin-token"), newAPI(t, "")
	tests := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/status", "", 200},
		{"GET", "/v1/admin/foreign-orders", "secret-admin-token", 200},
		{"GET", "/v1/admin/dead-letters?all=true", "secret-admin-token", 200},
		{"GET", "/v1/admin/dead-letters/7", "secret-admin-token", 200},
		{"GET", "/v1/admin/dead-letters/8", "secret-admin-token", 404},
		{"POST", "/v1/admin/dead-letters/7/replay", "secret-admin-token", 200},
		{"POST", "/v1/admin/dead-letters/7/replay", "secret-admin-token", 409},
		{"GET", "/v1/admin/foreign-orders?limit=0", "secret-admin-token", 400},
		{"GET", "/v1/admin/captures", "", 401},
		{"GET", "/v1/admin/captures", "secret-admin-token", 200},
		{"GET", "/v1/admin/captures?step=failed&limit=5", "secret-admin-token", 200},
		{"GET", "/v1/admin/captures?step=stuck", "secret-admin-token", 400},
		{"GET", "/v1/admin/captures?limit=1001", "secret-admin-token", 400},
		{"POST", "/v1/admin/captures/9/retry", "", 401},
		{"POST", "/v1/admin/captures/9/retry", "secret-admin-token", 200},
		{"POST", "/v1/admin/captures/10/retry", "secret-admin-token", 409},
		{"POST", "/v1/admin/captures/11/retry", "secret-admin-token", 404},
		{"POST", "/v1/admin/captures/x/retry", "secret-admin-token", 400},
		{"POST", "/v1/admin/captures/0/retry", "secret-admin-token", 400},
		{"POST", "/v1/admin/captures/9/retry", "disabled", 403},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		s := srv
		if tt.token == "disabled" {
			s = disabled
		} else if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d %s; want %d", tt.method, tt.path, rec.Code, rec.Body, tt.want)
			continue
		}
		reqErr, respErr := validate(req, rec.Code, rec.Header(), rec.Body.Bytes())
		if respErr != nil {
			t.Errorf("%s %s answered %d %s, which does not match openapi.yaml: %v", tt.method, tt.path, rec.Code, rec.Body, respErr)
		}
		if (reqErr != nil) != (tt.want == http.StatusBadRequest) {
			t.Errorf("%s %s answered %d; openapi.yaml says of the request: %v", tt.method, tt.path, rec.Code, reqErr)
		}
	}
}
