package paypalgw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/checkout-service/internal/paypalgw"
)

const (
	clientID     = "client-id"
	clientSecret = "client-secret"
	webhookID    = "WH1234567890"
	specHost     = "paypal.test"
)

// The official PayPal OpenAPI files (read-only), beside the repository.
var specFiles = []string{"paypal-checkout-orders-v2.json", "paypal-payments-v2.json", "paypal-notifications-webhooks-v1.json"}

// specs holds one router per PayPal OpenAPI document, each serving at
// http://paypal.test; loaded once per test binary.
var specs struct {
	once    sync.Once
	err     error
	routers []routers.Router
}

// specDir walks up from the working directory to go.mod and returns
// ../shared/reference/gateways from there.
func specDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "gateways"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func loadSpecs(tb testing.TB) []routers.Router {
	tb.Helper()
	specs.once.Do(func() {
		dir, err := specDir()
		if err != nil {
			specs.err = err
			return
		}
		for _, f := range specFiles {
			loader := openapi3.NewLoader()
			doc, err := loader.LoadFromFile(filepath.Join(dir, f))
			if err != nil {
				specs.err = fmt.Errorf("load %s: %w", f, err)
				return
			}
			doc.Servers = openapi3.Servers{{URL: "http://" + specHost}}
			r, err := gorillamux.NewRouter(doc)
			if err != nil {
				specs.err = fmt.Errorf("router %s: %w", f, err)
				return
			}
			specs.routers = append(specs.routers, r)
		}
	})
	if specs.err != nil {
		tb.Fatalf("PayPal OpenAPI specs (../shared/reference/gateways): %v", specs.err)
	}
	return specs.routers
}

// lookaheadMatcher implements the one regular-expression feature the PayPal
// files use that Go's RE2 lacks: patterns of the form ^(?!\d+$)REST, which
// mean "not all digits, and matches ^REST".
type lookaheadMatcher struct{ rest *regexp.Regexp }

var allDigits = regexp.MustCompile(`^\d+$`)

func (m lookaheadMatcher) MatchString(s string) bool {
	return !allDigits.MatchString(s) && m.rest.MatchString(s)
}

func compileRegex(expr string) (openapi3.RegexMatcher, error) {
	if rest, ok := strings.CutPrefix(expr, `^(?!\d+$)`); ok {
		re, err := regexp.Compile("^" + rest)
		if err != nil {
			return nil, err
		}
		return lookaheadMatcher{re}, nil
	}
	return regexp.Compile(expr)
}

// sent is one request the adapter made.
type sent struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func (s sent) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Body, &m); err != nil {
		tb.Fatalf("%s %s body %q: %v", s.Method, s.Path, s.Body, err)
	}
	return m
}

// fakePayPal is a small stateful PayPal. Every request but the token
// request is validated against the official OpenAPI document, and so is
// every answer it gives.
type fakePayPal struct {
	t        testing.TB
	routers  []routers.Router
	mu       sync.Mutex
	calls    []sent
	tokens   int
	token    string
	orders   map[string]map[string]any
	byReqID  map[string]string
	next     int
	verify   string // verification_status to answer
	override func(w http.ResponseWriter, r *http.Request) bool
	srv      *httptest.Server
}

func newFake(tb testing.TB) *fakePayPal {
	tb.Helper()
	f := &fakePayPal{t: tb, routers: loadSpecs(tb), orders: map[string]map[string]any{}, byReqID: map[string]string{}, verify: "SUCCESS"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakePayPal) gateway(tb testing.TB) *paypalgw.Gateway {
	tb.Helper()
	return newGateway(tb, f.srv.URL)
}

func newGateway(tb testing.TB, baseURL string) *paypalgw.Gateway {
	tb.Helper()
	cfg := paypalgw.DefaultConfig()
	cfg.ClientID, cfg.ClientSecret, cfg.WebhookID, cfg.BaseURL = clientID, clientSecret, webhookID, baseURL
	cfg.Capabilities.Currencies = []string{"USD", "JPY", "HUF", "KWD"}
	g, err := paypalgw.New(cfg, &http.Client{Timeout: 2 * time.Second}, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g
}

func (f *fakePayPal) taken() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// route finds the operation of r in the PayPal documents.
func (f *fakePayPal) route(r *http.Request) (*routers.Route, map[string]string, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", specHost
	rr := r.Clone(r.Context())
	rr.URL, rr.Host = &u, specHost
	var lastErr error
	for _, router := range f.routers {
		route, params, err := router.FindRoute(rr)
		if err == nil {
			return route, params, nil
		}
		lastErr = err
	}
	return nil, nil, lastErr
}

func (f *fakePayPal) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		RegexCompiler:         compileRegex,
		AuthenticationFunc: func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
			if got := in.RequestValidationInput.Request.Header.Get("Authorization"); got != "Bearer "+f.currentToken() {
				return fmt.Errorf("authorization %q is not the issued bearer token", got)
			}
			return nil
		},
	}
}

func (f *fakePayPal) currentToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

func (f *fakePayPal) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, sent{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	override := f.override
	f.mu.Unlock()

	if r.URL.Path == "/v1/oauth2/token" {
		f.issueToken(w, r, body)
		return
	}
	route, params, err := f.route(r)
	if err != nil {
		f.t.Errorf("%s %s is not a PayPal operation: %v", r.Method, r.URL.Path, err)
		w.WriteHeader(404)
		return
	}
	vr := r.Clone(r.Context())
	vr.Body = io.NopCloser(bytes.NewReader(body))
	opts := f.options()
	if r.URL.Path == "/v1/notifications/verify-webhook-signature" {
		// The one exception to the documents: webhook_event reuses the
		// "event" schema, whose properties are all readOnly (it is a
		// response object), yet the operation exists to send a received
		// event back, and the document's own example does so with id,
		// event_type and resource. readOnly is waived for this operation
		// only; the rest of the schema still applies.
		opts.ExcludeReadOnlyValidations = true
	}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		if r.Header.Get("Authorization") != "Bearer "+f.currentToken() {
			// An outdated token: PayPal answers 401 and the adapter renews.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_token","error_description":"Token signature verification failed"}`)
			return
		}
		f.t.Errorf("%s %s violates the PayPal OpenAPI spec: %v\nbody: %s", r.Method, r.URL.Path, err, body)
	}
	// Injected faults answer after the request itself was checked.
	if override != nil && override(w, r) {
		return
	}

	status, answer := f.answer(r, params, body)
	h := http.Header{}
	if answer != nil {
		h.Set("Content-Type", "application/json")
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: f.options()}
	out.SetBodyBytes(answer)
	if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
		f.t.Errorf("fixture answer to %s %s violates the PayPal OpenAPI spec: %v\nanswer: %s", r.Method, r.URL.Path, err, answer)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	w.Write(answer)
}

func (f *fakePayPal) issueToken(w http.ResponseWriter, r *http.Request, body []byte) {
	u, p, ok := r.BasicAuth()
	if !ok || u != clientID || p != clientSecret || string(body) != "grant_type=client_credentials" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Method != "POST" {
		f.t.Errorf("token request: basic %v %q, body %q, type %q", ok, u, body, r.Header.Get("Content-Type"))
		w.WriteHeader(401)
		return
	}
	f.mu.Lock()
	f.tokens++
	f.token = fmt.Sprintf("A21AAtoken%d", f.tokens)
	tok := f.token
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"scope":"https://uri.paypal.com/services/payments/payment","access_token":%q,"token_type":"Bearer","app_id":"APP-80W284485P519543T","expires_in":32400,"nonce":"2024-01-01T00:00:00Zabc"}`, tok)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func apiError(name, issue, message string) []byte {
	msg := message
	if name == "UNPROCESSABLE_ENTITY" {
		msg = "The requested action could not be performed, semantically incorrect, or failed business validation."
	}
	return mustJSON(map[string]any{"name": name, "message": msg, "debug_id": "f1e2d3c4b5a69",
		"details": []any{map[string]any{"issue": issue, "description": message}}})
}

// answer plays PayPal for one validated request.
func (f *fakePayPal) answer(r *http.Request, params map[string]string, body []byte) (int, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	path := r.URL.Path
	switch {
	case r.Method == "POST" && path == "/v2/checkout/orders":
		rid := r.Header.Get("PayPal-Request-Id")
		if id, ok := f.byReqID[rid]; ok && rid != "" {
			return 200, mustJSON(f.orders[id])
		}
		f.next++
		id := fmt.Sprintf("5O190127TN36471%dT", f.next)
		pu := req["purchase_units"].([]any)[0].(map[string]any)
		o := map[string]any{
			"id": id, "intent": req["intent"], "status": "PAYER_ACTION_REQUIRED",
			"payment_source": map[string]any{"paypal": map[string]any{}},
			"purchase_units": []any{map[string]any{"reference_id": pu["reference_id"], "custom_id": pu["custom_id"], "amount": pu["amount"]}},
			"create_time":    "2026-11-27T10:00:00Z",
			"links": []any{
				map[string]any{"href": f.srv.URL + "/v2/checkout/orders/" + id, "rel": "self", "method": "GET"},
				map[string]any{"href": "https://www.sandbox.paypal.com/checkoutnow?token=" + id, "rel": "payer-action", "method": "GET"},
			},
		}
		f.orders[id] = o
		f.byReqID[rid] = id
		return 201, mustJSON(o)
	case r.Method == "GET" && strings.HasPrefix(path, "/v2/checkout/orders/"):
		o, ok := f.orders[params["id"]]
		if !ok {
			return 404, notFound()
		}
		return 200, mustJSON(o)
	case r.Method == "POST" && strings.HasSuffix(path, "/capture") && strings.HasPrefix(path, "/v2/checkout/orders/"):
		o := f.orders[params["id"]]
		if o["status"] == "COMPLETED" {
			return 422, apiError("UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.")
		}
		pu := o["purchase_units"].([]any)[0].(map[string]any)
		amount := pu["amount"].(map[string]any)
		o["status"] = "COMPLETED"
		pu["payments"] = map[string]any{"captures": []any{map[string]any{
			"id": "3C679366HH908993F", "status": "COMPLETED", "amount": amount, "final_capture": true, "custom_id": pu["custom_id"],
			"seller_receivable_breakdown": map[string]any{
				"gross_amount": amount,
				"paypal_fee":   map[string]any{"currency_code": amount["currency_code"], "value": "0.66"},
				"net_amount":   amount,
			},
			"create_time": "2026-11-27T10:01:00Z",
		}}}
		return 201, mustJSON(o)
	case r.Method == "POST" && strings.HasSuffix(path, "/authorize"):
		o := f.orders[params["id"]]
		pu := o["purchase_units"].([]any)[0].(map[string]any)
		o["status"] = "COMPLETED"
		pu["payments"] = map[string]any{"authorizations": []any{map[string]any{
			"id": "0AW2184448108334S", "status": "CREATED", "amount": pu["amount"], "custom_id": pu["custom_id"],
			"expiration_time": "2026-12-26T10:01:00Z",
		}}}
		return 201, mustJSON(o)
	case r.Method == "POST" && strings.HasPrefix(path, "/v2/payments/authorizations/") && strings.HasSuffix(path, "/capture"):
		for _, o := range f.orders {
			pu := o["purchase_units"].([]any)[0].(map[string]any)
			p, _ := pu["payments"].(map[string]any)
			if p == nil || p["authorizations"] == nil {
				continue
			}
			a := p["authorizations"].([]any)[0].(map[string]any)
			if a["id"] != params["authorization_id"] {
				continue
			}
			a["status"] = "CAPTURED"
			c := map[string]any{"id": "7TK53561YB803214S", "status": "COMPLETED", "amount": req["amount"], "final_capture": true, "custom_id": pu["custom_id"]}
			if c["amount"] == nil {
				c["amount"] = pu["amount"]
			}
			p["captures"] = []any{c}
			return 201, mustJSON(c)
		}
		return 404, notFound()
	case r.Method == "POST" && strings.HasSuffix(path, "/void"):
		for _, o := range f.orders {
			pu := o["purchase_units"].([]any)[0].(map[string]any)
			if p, _ := pu["payments"].(map[string]any); p != nil && p["authorizations"] != nil {
				if a := p["authorizations"].([]any)[0].(map[string]any); a["id"] == params["authorization_id"] {
					a["status"] = "VOIDED"
				}
			}
		}
		return 204, nil
	case r.Method == "POST" && strings.HasSuffix(path, "/refund"):
		rf := map[string]any{"id": "1JU08902781691411", "status": "COMPLETED", "amount": req["amount"], "custom_id": req["custom_id"]}
		if rf["amount"] == nil {
			delete(rf, "amount")
		}
		return 201, mustJSON(rf)
	case r.Method == "POST" && path == "/v1/notifications/verify-webhook-signature":
		return 200, mustJSON(map[string]any{"verification_status": f.verify})
	}
	f.t.Errorf("fake PayPal has no answer for %s %s", r.Method, path)
	return 500, apiError("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", "no fixture")
}

// approve plays the buyer approving order id on PayPal.
func (f *fakePayPal) approve(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[id]["status"] = "APPROVED"
}

// notFound is PayPal's 404 body, word for word as its OpenAPI file
// enumerates it.
func notFound() []byte {
	return mustJSON(map[string]any{"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "debug_id": "f1e2d3c4b5a69",
		"details": []any{map[string]any{"issue": "INVALID_RESOURCE_ID", "description": "Specified resource ID does not exist. Please check the resource ID and try again."}}})
}
