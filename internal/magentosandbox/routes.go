package magentosandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/magefleet/platform/internal/magento"
)

type ctxKey struct{}

// reqInfo carries what the outer handler learnt about a REST request.
type reqInfo struct {
	storeID int
	orig    *http.Request // before the /rest/<store> prefix was removed
}

func info(r *http.Request) reqInfo {
	ri, _ := r.Context().Value(ctxKey{}).(reqInfo)
	return ri
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Sandbox) routes() http.Handler {
	api := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) {
		api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				writeErr(w, err)
			}
		})
	}
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errf(http.StatusNotFound, msgNoRoute, nil))
	})

	// Authentication.
	h("POST /V1/integration/admin/token", s.adminToken)
	h("POST /V1/tfa/provider/google/authenticate", s.tfaAuthenticate)
	h("POST /V1/integration/customer/token", s.customerToken)

	// Carts: the same operations through guest, customer and admin routes.
	h("POST /V1/guest-carts", s.createGuestCart)
	h("POST /V1/carts/mine", s.createMineCart)
	h("POST /V1/customers/{customerId}/carts", s.createCustomerCartAdmin)
	for _, k := range []cartKind{guestKind, mineKind, adminKind} {
		p := k.prefix()
		h("GET "+p, s.cartOp(k, s.getCart))
		h("GET "+p+"/items", s.cartOp(k, s.listItems))
		h("POST "+p+"/items", s.cartOp(k, s.addItem))
		h("PUT "+p+"/items/{itemId}", s.cartOp(k, s.updateItem))
		h("DELETE "+p+"/items/{itemId}", s.cartOp(k, s.removeItem))
		h("GET "+p+"/totals", s.cartOp(k, s.getTotals))
		h("GET "+p+"/coupons", s.cartOp(k, s.getCoupon))
		h("PUT "+p+"/coupons/{couponCode}", s.cartOp(k, s.setCoupon))
		h("DELETE "+p+"/coupons", s.cartOp(k, s.removeCoupon))
		h("POST "+p+"/estimate-shipping-methods", s.cartOp(k, s.estimateShipping))
		h("POST "+p+"/shipping-information", s.cartOp(k, s.shippingInformation))
		h("GET "+p+"/payment-methods", s.cartOp(k, s.paymentMethods))
		h("GET "+p+"/selected-payment-method", s.cartOp(k, s.getSelectedPayment))
		h("PUT "+p+"/selected-payment-method", s.cartOp(k, s.setSelectedPayment))
		h("PUT "+p+"/order", s.cartOp(k, s.placeOrderPut))
		if k != adminKind {
			h("POST "+p+"/payment-information", s.cartOp(k, s.paymentInformation))
		}
	}

	// Sales.
	h("GET /V1/orders/{id}", s.getOrder)
	h("GET /V1/orders", s.searchOrders)
	h("POST /V1/orders/{id}/comments", s.addComment)
	h("POST /V1/order/{orderId}/invoice", s.invoiceOrder)
	h("POST /V1/order/{orderId}/refund", s.refundOrder)
	h("GET /V1/creditmemos", s.searchCreditMemos)
	h("GET /V1/invoices", s.searchInvoices)

	// Customers and catalog.
	h("POST /V1/customers", s.createCustomer)
	h("GET /V1/customers/search", s.searchCustomers)
	h("GET /V1/customers/me", s.getMe)
	h("GET /V1/customers/{customerId}", s.getCustomer)
	h("GET /V1/store/storeConfigs", s.storeConfigs)
	h("GET /V1/products/{sku}", s.getProduct)
	h("GET /V1/products", s.searchProducts)

	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /__sandbox/faults", s.postFaults)
	ctl.HandleFunc("DELETE /__sandbox/faults", s.deleteFaults)
	ctl.HandleFunc("GET /__sandbox/faults", s.getFaults)
	ctl.HandleFunc("GET /__sandbox/orders", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Orders()) })
	ctl.HandleFunc("GET /__sandbox/invoices", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Invoices()) })
	ctl.HandleFunc("GET /__sandbox/creditmemos", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.CreditMemos()) })

	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/__sandbox/"):
			ctl.ServeHTTP(w, r)
		case r.URL.Path == "/graphql":
			s.graphql(w, r)
		default:
			rest, ok := strings.CutPrefix(r.URL.Path, "/rest/")
			if !ok {
				writeErr(w, errf(http.StatusNotFound, msgNoRoute, nil))
				return
			}
			storeID := 1
			if !strings.HasPrefix(rest, "V1/") {
				code, tail, _ := strings.Cut(rest, "/")
				id, known := s.stores[code]
				if !known || code == "all" {
					writeErr(w, errf(http.StatusNotFound, msgNoRoute, nil))
					return
				}
				storeID, rest = id, tail
			}
			r2 := r.WithContext(context.WithValue(r.Context(), ctxKey{}, reqInfo{storeID: storeID, orig: r}))
			u := *r.URL
			u.Path, u.RawPath = "/"+rest, ""
			r2.URL = &u
			api.ServeHTTP(w, r2)
		}
	})
	return s.withFaults(root)
}

// decode reads a JSON body into v as Magento's deserializer would: malformed
// JSON is 400 "Decoding error.", a wrong type 400 naming the value.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return errf(http.StatusBadRequest, msgDecoding, nil)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errf(http.StatusBadRequest, `The "%1" value's type is invalid. The "%2" type was expected. Verify and try again.`, []string{te.Value, te.Type.String()})
		}
		return errf(http.StatusBadRequest, msgDecoding, nil)
	}
	return nil
}

func required(field string) error {
	return errf(http.StatusBadRequest, msgRequired, map[string]string{"fieldName": field})
}

// bearer returns the bearer token of a request, if any.
func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authAdmin accepts an unexpired admin user token, the integration's
// OAuth-signed requests, or the integration token as bearer when allowed.
// Callers hold at least the read lock.
func (s *Sandbox) authAdmin(r *http.Request, resource string) error {
	denied := errf(http.StatusUnauthorized, msgNotAuthorized, map[string]string{"resources": resource})
	authz := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(authz, "OAuth "):
		orig := info(r).orig
		if orig == nil {
			orig = r
		}
		key, tok, ok := magento.VerifyOAuth1(orig, s.opts.ConsumerSecret, s.opts.AccessTokenSecret)
		if ok && key == s.opts.ConsumerKey && tok == s.opts.AccessToken {
			return nil
		}
		return denied
	case bearer(r) != "":
		tok := bearer(r)
		if tok == s.opts.AccessToken {
			if s.opts.IntegrationAsBearer {
				return nil
			}
			return denied
		}
		t, ok := s.st.tokens[tok]
		if ok && t.admin != "" && s.opts.Now().Before(t.expires) {
			return nil
		}
		return denied
	}
	return denied
}

// authCustomer returns the customer id of an unexpired customer token.
// Callers hold at least the read lock.
func (s *Sandbox) authCustomer(r *http.Request) (int64, error) {
	t, ok := s.st.tokens[bearer(r)]
	if !ok || t.customerID == 0 || !s.opts.Now().Before(t.expires) {
		return 0, errf(http.StatusUnauthorized, msgNotAuthorized, map[string]string{"resources": "self"})
	}
	return t.customerID, nil
}
