package magentoschema_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/magento/magentoschema"
)

func mustValidator(t *testing.T) *magentoschema.Validator {
	t.Helper()
	v, err := magentoschema.Default()
	if err != nil {
		t.Fatalf("Default() = %v", err)
	}
	return v
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRoutePath(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/rest/V1/guest-carts", "/V1/guest-carts", true},
		{"/rest/default/V1/guest-carts/abc", "/V1/guest-carts/abc", true},
		{"/rest/fr/V1/orders", "/V1/orders", true},
		{"/graphql", "", false},
		{"/rest/default/V2/x", "", false},
		{"/__sandbox/faults", "", false},
	}
	for _, tt := range tests {
		got, ok := magentoschema.RoutePath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RoutePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidateRequest(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name, method, url, body string
		op                      string
		wantErr                 bool
	}{
		{"create guest cart", "POST", "/rest/V1/guest-carts", "", "quoteGuestCartManagementV1CreateEmptyCartPost", false},
		{"add item", "POST", "/rest/default/V1/guest-carts/abc/items", `{"cartItem":{"sku":"MH01-XS-Black","qty":1,"quote_id":"abc"}}`, "", false},
		{"add item missing quote_id", "POST", "/rest/default/V1/guest-carts/abc/items", `{"cartItem":{"sku":"MH01-XS-Black","qty":1}}`, "", true},
		{"add item qty string", "POST", "/rest/default/V1/guest-carts/abc/items", `{"cartItem":{"sku":"x","qty":"1","quote_id":"abc"}}`, "", true},
		{"mine cart", "GET", "/rest/V1/carts/mine", "", "quoteCartManagementV1GetCartForCustomerGet", false},
		{"unknown route", "GET", "/rest/V1/nope", "", "", true},
		{"B2B op refused", "POST", "/rest/V1/carts/guest-carts/abc/giftCards", `{}`, "", true},
		{"tfa exception ok", "POST", "/rest/V1/tfa/provider/google/authenticate", `{"username":"a","password":"b","otp":"123456"}`, "", false},
		{"tfa exception still strict", "POST", "/rest/V1/tfa/provider/google/authenticate", `{"username":"a","password":"b"}`, "", true},
		{"orders search", "GET", "/rest/V1/orders?searchCriteria[filterGroups][0][filters][0][field]=quote_id&searchCriteria[filterGroups][0][filters][0][value]=1&searchCriteria[pageSize]=10", "", "salesOrderRepositoryV1GetListGet", false},
		{"order by id (path declared twice with different names)", "GET", "/rest/V1/orders/12", "", "salesOrderRepositoryV1GetGet", false},
		{"order address by parent_id", "PUT", "/rest/V1/orders/12", `{"entity":{"address_type":"billing","city":"c","country_id":"US","firstname":"f","lastname":"l","postcode":"p","telephone":"t"}}`, "salesOrderAddressRepositoryV1SavePut", false},
		{"orders search bad pageSize", "GET", "/rest/V1/orders?searchCriteria[pageSize]=ten", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := magentoschema.Exchange{Method: tt.method, URL: mustURL(t, tt.url), Header: http.Header{}, Body: []byte(tt.body)}
			err := v.ValidateRequest(context.Background(), x)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidateRequest(%s %s) = %v; wantErr %v", tt.method, tt.url, err, tt.wantErr)
			}
			if tt.op != "" {
				op, err := v.OperationID(tt.method, x.URL)
				if err != nil || op != tt.op {
					t.Errorf("OperationID = %q, %v; want %q", op, err, tt.op)
				}
			}
		})
	}
}

func TestValidateResponseErrorParameters(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr bool
	}{
		{"named parameters object", 404, `{"message":"No such entity with %fieldName = %fieldValue","parameters":{"fieldName":"cartId","fieldValue":"abc"}}`, false},
		{"positional parameters list", 400, `{"message":"The %1 is invalid","parameters":["sku"]}`, false},
		{"no parameters", 401, `{"message":"The consumer isn't authorized to access %resources."}`, false},
		{"object of a scalar list (2FA)", 401, `{"message":"Please use the 2fa provider-specific endpoints to obtain a token.","parameters":{"active_providers":["google"]}}`, false},
		{"object of nested objects refused", 401, `{"message":"x","parameters":{"a":[{"b":1}]}}`, true},
		{"nested parameters refused", 400, `{"message":"x","parameters":[{"a":{"b":1}}]}`, true},
		{"missing message refused", 400, `{"parameters":["x"]}`, true},
		{"message wrong type refused", 400, `{"message":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := magentoschema.Exchange{Method: "GET", URL: mustURL(t, "/rest/V1/guest-carts/abc"), Header: http.Header{}, Status: tt.status, RespHeader: http.Header{"Content-Type": {"application/json"}}, RespBody: []byte(tt.body)}
			err := v.ValidateResponse(context.Background(), x)
			if (err != nil) != tt.wantErr {
				t.Errorf("ValidateResponse(%s) = %v; wantErr %v", tt.body, err, tt.wantErr)
			}
		})
	}
}

func TestValidateResponseSuccess(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name, method, url string
		body              string
		wantErr           bool
	}{
		{"cart id string", "POST", "/rest/V1/guest-carts", `"abcdefabcdefabcdefabcdefabcdefab"`, false},
		{"cart id number refused", "POST", "/rest/V1/guest-carts", `12`, true},
		{"store configs missing fields refused", "GET", "/rest/V1/store/storeConfigs", `[{"id":1}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := magentoschema.Exchange{Method: tt.method, URL: mustURL(t, tt.url), Header: http.Header{}, Status: 200, RespHeader: http.Header{"Content-Type": {"application/json"}}, RespBody: []byte(tt.body)}
			err := v.ValidateResponse(context.Background(), x)
			if (err != nil) != tt.wantErr {
				t.Errorf("ValidateResponse(%s) = %v; wantErr %v", strings.TrimSpace(tt.body), err, tt.wantErr)
			}
		})
	}
}

func TestMiddlewareAndTransportReport(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name       string
		method     string
		path, body string
		status     int
		answer     string
		wantReport bool
	}{
		{"valid exchange", "POST", "/rest/V1/guest-carts", "", 200, `"abc"`, false},
		{"invalid response body", "POST", "/rest/V1/guest-carts", "", 200, `{"id":1}`, true},
		{"invalid request answered 200", "POST", "/rest/V1/guest-carts/x/items", `{"cartItem":{"qty":1}}`, 200, `{"qty":1,"quote_id":"x"}`, true},
		{"invalid request refused with a valid error", "POST", "/rest/V1/guest-carts/x/items", `{"cartItem":{"qty":1}}`, 400, `{"message":"%fieldName is a required field.","parameters":{"fieldName":"quote_id"}}`, false},
		{"error body without message", "GET", "/rest/V1/guest-carts/x", "", 404, `{"error":"nope"}`, true},
		{"outside the REST API", "POST", "/graphql", `{}`, 200, `{"data":{}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var server, client []error
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.answer)
			})
			srv := httptest.NewServer(v.Middleware(h, func(err error) { server = append(server, err) }))
			defer srv.Close()
			hc := &http.Client{Transport: v.Transport(nil, func(err error) { client = append(client, err) })}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != tt.answer || res.StatusCode != tt.status {
				t.Errorf("middleware altered the answer: %d %s", res.StatusCode, b)
			}
			if got := len(server) > 0; got != tt.wantReport {
				t.Errorf("server reports = %v; want report %v", server, tt.wantReport)
			}
			// The client side reports request errors even when the server
			// refused them, so only compare on the response side.
			if tt.status < 400 && (len(client) > 0) != tt.wantReport {
				t.Errorf("client reports = %v; want report %v", client, tt.wantReport)
			}
		})
	}
}
