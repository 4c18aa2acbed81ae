package checkoutapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
)

// TestRequestsMatchCheckoutOpenAPI holds the client to checkout-service's
// published contract: every request it sends (refund, void, capture) must
// validate against checkout-service/openapi.yaml, path, body and all, so
// the two services cannot drift apart while each passes its own tests.
func TestRequestsMatchCheckoutOpenAPI(t *testing.T) {
	spec, err := openapi3.NewLoader().LoadFromFile("../../../checkout-service/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = openapi3.Servers{{URL: "http://checkout.test"}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	// validate names the operation r calls, or says how r breaks the spec.
	validate := func(r *http.Request, body []byte) (string, error) {
		vreq := r.Clone(context.Background())
		vreq.URL.Scheme, vreq.URL.Host, vreq.Host = "http", "checkout.test", "checkout.test"
		vreq.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			return "", err
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		return route.Operation.OperationID, openapi3filter.ValidateRequest(context.Background(), in)
	}
	// The check itself must bite: a capture with a field the spec lacks fails.
	bad, _ := http.NewRequest(http.MethodPost, "http://checkout.test/v1/payments/pay_1/capture", nil)
	bad.Header.Set("Content-Type", "application/json")
	if _, err := validate(bad, []byte(`{"capture_id":"magento-inv-3","amount":5700,"price":1}`)); err == nil {
		t.Fatal("a capture with an unknown field validated; the contract check checks nothing")
	}
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		op, err := validate(r, body)
		if err != nil {
			t.Errorf("%s %s %s does not match checkout-service's openapi.yaml: %v", r.Method, r.URL.Path, body, err)
		}
		seen = append(seen, op)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"x","status":"captured"}`))
	}))
	defer srv.Close()
	c := checkoutapi.New(checkoutapi.Config{BaseURL: srv.URL, ServiceToken: "tok", Timeout: 5 * time.Second})
	ctx := context.Background()
	if err := c.Refund(ctx, "pay_1", 1234, "magento-cm-9"); err != nil {
		t.Errorf("Refund: %v", err)
	}
	if err := c.Void(ctx, "pay_1", "Magento order 000000001 cancelled"); err != nil {
		t.Errorf("Void: %v", err)
	}
	if err := c.Capture(ctx, "pay_1", 5700, "magento-inv-3"); err != nil {
		t.Errorf("Capture: %v", err)
	}
	if len(seen) != 3 {
		t.Errorf("operations seen = %v; want refund, void and capture", seen)
	}
}
