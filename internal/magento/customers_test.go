package magento_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

func TestCustomersAndCustomerCart(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	c := e.client

	created, err := c.CreateCustomer(ctx, magento.Customer{Email: "grace@example.com", Firstname: "Grace", Lastname: "Hopper",
		Addresses: []magento.CustomerAddress{{CountryID: "US", RegionID: 12, Street: []string{"1 Navy Way"}, Telephone: "+14155550199", Postcode: "94105", City: "SF", Firstname: "Grace", Lastname: "Hopper", DefaultBilling: true, DefaultShipping: true}},
	}, "Secret-pass1")
	if err != nil {
		t.Fatalf("CreateCustomer = %v", err)
	}
	if created.ID == 0 || created.ExtensionAttributes == nil || created.ExtensionAttributes.AssistanceAllowed != magento.AssistanceAllowed {
		t.Errorf("created = %+v; want an id and assistance_allowed 2", created)
	}
	_, err = c.CreateCustomer(ctx, magento.Customer{Email: "GRACE@example.com", Firstname: "G", Lastname: "H"}, "")
	if e := errs.As(err); e.Code != errs.Invalid || e.Message != "A customer with the same email address already exists in an associated website." {
		t.Errorf("duplicate CreateCustomer = %v", err)
	}
	got, err := c.CustomerByEmail(ctx, "grace@example.com", 1)
	if err != nil || got.ID != created.ID {
		t.Fatalf("CustomerByEmail = %+v, %v", got, err)
	}
	if _, err := c.CustomerByEmail(ctx, "nobody@example.com", 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("CustomerByEmail(missing) = %v; want not_found", err)
	}
	byPhone, err := c.SearchCustomers(ctx, magento.Where("billing_telephone", "like", "%5550199"))
	if err != nil || byPhone.TotalCount != 1 {
		t.Errorf("SearchCustomers(billing_telephone) = %+v, %v", byPhone, err)
	}
	if cu, err := c.Customer(ctx, created.ID); err != nil || cu.Email != "grace@example.com" {
		t.Errorf("Customer = %+v, %v", cu, err)
	}
	if _, err := c.Customer(ctx, 999); !errs.Is(err, errs.NotFound) {
		t.Errorf("Customer(999) = %v; want not_found", err)
	}

	// Passwordless login for a verified phone: the admin-only GraphQL mutation.
	tok, err := c.GenerateCustomerTokenAsAdmin(ctx, "grace@example.com")
	if err != nil || tok == "" {
		t.Fatalf("GenerateCustomerTokenAsAdmin = %q, %v", tok, err)
	}
	if me, err := c.Me(ctx, tok); err != nil || me.ID != created.ID {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	cartID, err := c.CreateCustomerCart(ctx, tok)
	if err != nil {
		t.Fatalf("CreateCustomerCart = %v", err)
	}
	ref := magento.CustomerCart(tok, cartID)
	if _, err := c.AddItem(ctx, ref, "WS03-M-Blue", 2); err != nil {
		t.Fatalf("AddItem(mine) = %v", err)
	}
	if _, err := c.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		t.Fatalf("SetShippingInformation(mine) = %v", err)
	}
	orderID, err := c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "purchaseorder", PONumber: "PO-1"}})
	if err != nil {
		t.Fatalf("PlaceOrder(mine) = %v", err)
	}
	o, err := c.Order(ctx, orderID)
	if err != nil || o.CustomerID != created.ID || o.CustomerIsGuest != 0 || o.Payment.PONumber != "PO-1" {
		t.Errorf("Order = %+v, %v", o, err)
	}
	sa, err := o.ShippingAssignments()
	if err != nil || len(sa) != 1 || sa[0].Shipping.Address.City != "San Francisco" || sa[0].Shipping.Method != "flatrate_flatrate" {
		t.Errorf("ShippingAssignments = %+v, %v", sa, err)
	}

	// Admin cart for a customer.
	adminCartID, err := c.CreateCartForCustomer(ctx, created.ID)
	if err != nil {
		t.Fatalf("CreateCartForCustomer = %v", err)
	}
	aref := magento.AdminCart(adminCartID)
	it, err := c.AddItem(ctx, aref, "24-MB04", 1)
	if err != nil {
		t.Fatalf("AddItem(admin) = %v", err)
	}
	if err := c.RemoveItem(ctx, aref, it.ItemID); err != nil {
		t.Fatalf("RemoveItem(admin) = %v", err)
	}
	items, err := c.Items(ctx, aref)
	if err != nil || len(items) != 0 {
		t.Errorf("Items after remove = %v, %v", items, err)
	}
	if _, err := c.AddItem(ctx, aref, "24-MB04", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetShippingInformation(ctx, aref, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		t.Fatal(err)
	}
	if pm, err := c.PaymentMethods(ctx, aref); err != nil || len(pm) != 2 {
		t.Errorf("PaymentMethods = %v, %v", pm, err)
	}
	if _, err := c.PlaceOrder(ctx, aref, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "checkmo"}}); err != nil {
		t.Fatalf("PlaceOrder(admin) = %v", err)
	}
}

func TestCustomerPasswordToken(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	tok, err := e.client.CustomerToken(ctx, "roni_cost@example.com", "roni_cost3@example.com")
	if err != nil || tok == "" {
		t.Fatalf("CustomerToken = %q, %v", tok, err)
	}
	if _, err := e.client.CustomerToken(ctx, "roni_cost@example.com", "wrong"); !errs.Is(err, errs.Unauthorized) {
		t.Errorf("CustomerToken(wrong) = %v; want unauthorized", err)
	}
}

func TestGenerateCustomerTokenAsAdminPreconditions(t *testing.T) {
	tests := []struct {
		name     string
		sb       magentosandbox.Options
		tweak    func(*magento.Config)
		email    string
		setup    func(*testing.T, *env)
		wantCode string
	}{
		{"ok", magentosandbox.Options{}, nil, "roni_cost@example.com", nil, ""},
		{"login as customer disabled", magentosandbox.Options{DisableLoginAsCustomer: true}, nil, "roni_cost@example.com", nil, errs.Unauthorized},
		{"unknown customer", magentosandbox.Options{}, nil, "ghost@example.com", nil, errs.Invalid},
		{"customer refused assistance", magentosandbox.Options{}, nil, "no@example.com", func(t *testing.T, e *env) {
			t.Helper()
			ext := &magento.CustomerExtension{AssistanceAllowed: magento.AssistanceDenied}
			if _, err := e.client.CreateCustomer(context.Background(), magento.Customer{Email: "no@example.com", Firstname: "N", Lastname: "O", ExtensionAttributes: ext}, ""); err != nil {
				t.Fatal(err)
			}
		}, errs.Unauthorized},
		{"integration without admin user refused locally", magentosandbox.Options{}, oauthConfig("sandbox-consumer-secret"), "roni_cost@example.com", nil, errs.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.sb, tt.tweak)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			tok, err := e.client.GenerateCustomerTokenAsAdmin(context.Background(), tt.email)
			if errs.Code(err) != tt.wantCode || (err == nil) != (tok != "") {
				t.Errorf("GenerateCustomerTokenAsAdmin(%s) = %q, %v; want code %q", tt.email, tok, err, tt.wantCode)
			}
		})
	}
}

// TestGraphQLShape pins the mutation's wire shape (GraphQL is not in the
// swagger file): POST /graphql, admin bearer token, the documented mutation.
func TestGraphQLShape(t *testing.T) {
	var got struct {
		path, auth, store string
		body              magento.GraphQLRequest
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/integration/admin/token") {
			w.Write([]byte(`"admintok"`))
			return
		}
		got.path, got.auth, got.store = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Store")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		w.Write([]byte(`{"data":{"generateCustomerTokenAsAdmin":{"customer_token":"ctok"}}}`))
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, nil)
	tok, err := c.GenerateCustomerTokenAsAdmin(context.Background(), "a@example.com")
	if err != nil || tok != "ctok" {
		t.Fatalf("GenerateCustomerTokenAsAdmin = %q, %v", tok, err)
	}
	if got.path != "/graphql" || got.auth != "Bearer admintok" || got.store != "default" || got.body.Variables["email"] != "a@example.com" ||
		!strings.Contains(got.body.Query, "generateCustomerTokenAsAdmin(input: {customer_email: $email})") ||
		!strings.Contains(got.body.Query, "customer_token") {
		t.Errorf("request = %+v", got)
	}
}

func TestCatalogAndStore(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{StoreCodes: []string{"fr"}}, func(c *magento.Config) { c.StoreCode = "fr" })
	ctx := context.Background()
	stores, err := e.client.StoreConfigs(ctx)
	if err != nil || len(stores) != 2 || stores[0].BaseCurrencyCode != "USD" {
		t.Fatalf("StoreConfigs = %+v, %v", stores, err)
	}
	p, err := e.client.Product(ctx, "MH01-XS-Black")
	if err != nil || p.Price != 52 {
		t.Fatalf("Product = %+v, %v", p, err)
	}
	if _, err := e.client.Product(ctx, "NOPE"); !errs.Is(err, errs.NotFound) {
		t.Errorf("Product(NOPE) = %v; want not_found", err)
	}
	res, err := e.client.SearchProducts(ctx, magento.Where("sku", "like", "MH01-%").And("price", "gteq", "50").Page(5, 1))
	if err != nil || res.TotalCount != 15 || len(res.Items) != 5 {
		t.Errorf("SearchProducts = %d items of %d, %v; want 5 of 15", len(res.Items), res.TotalCount, err)
	}
}

// Magento's email column compares case- and accent-insensitively
// (utf8mb4_general_ci), so `email eq jane@gmáil.com` finds jane@gmail.com.
// CustomerByEmail returns only a customer whose email is the one asked for
// (ignoring ASCII case).
func TestCustomerByEmailExactMatch(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	jane, err := e.client.CreateCustomer(ctx, magento.Customer{Email: "jane@gmail.com", Firstname: "Jane", Lastname: "Doe"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"jane@gmail.com", "JANE@Gmail.COM"} {
		if got, err := e.client.CustomerByEmail(ctx, email, 1); err != nil || got.ID != jane.ID {
			t.Errorf("CustomerByEmail(%q) = %+v, %v; want customer %d", email, got, err, jane.ID)
		}
	}
	for _, email := range []string{"jane@gmáil.com", "jáne@gmail.com", "JANE@GMÄIL.COM"} {
		if got, err := e.client.CustomerByEmail(ctx, email, 1); !errs.Is(err, errs.NotFound) {
			t.Errorf("CustomerByEmail(%q) = %+v, %v; want not_found (Magento's collation matched jane@gmail.com)", email, got, err)
		}
	}

	// Whatever the server answers, only an exact match is returned: the
	// right customer among others, or none.
	answer := func(emails ...string) *magento.Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/integration/admin/token") {
				w.Write([]byte(`"admintok"`))
				return
			}
			res := magento.SearchResult[magento.Customer]{TotalCount: len(emails)}
			for i, em := range emails {
				res.Items = append(res.Items, magento.Customer{ID: int64(i + 1), Email: em, Firstname: "F", Lastname: "L"})
			}
			_ = json.NewEncoder(w).Encode(res)
		}))
		t.Cleanup(srv.Close)
		return mustClient(t, srv.URL, nil)
	}
	tests := []struct {
		ask     string
		answers []string
		wantID  int64 // 0: not found
	}{
		{"jane@gmail.com", []string{"jane@gmáil.com"}, 0},
		{"jane@gmail.com", []string{"jane@gmáil.com", "JANE@gmail.com"}, 2},
		{"jane@example.com", []string{"jane@examplе.com"}, 0},      // Cyrillic е
		{"kate@example.com", []string{"\u212aate@example.com"}, 0}, // Kelvin sign, which Unicode folds to k
		{"jane@example.com", []string{"other@example.com"}, 0},
		{"jane@example.com", nil, 0},
		{"jane@example.com", []string{"jane@example.com"}, 1},
	}
	for _, tt := range tests {
		got, err := answer(tt.answers...).CustomerByEmail(ctx, tt.ask, 1)
		switch {
		case tt.wantID == 0 && !errs.Is(err, errs.NotFound):
			t.Errorf("CustomerByEmail(%q) with answers %q = %+v, %v; want not_found", tt.ask, tt.answers, got, err)
		case tt.wantID != 0 && (err != nil || got.ID != tt.wantID):
			t.Errorf("CustomerByEmail(%q) with answers %q = %+v, %v; want customer %d", tt.ask, tt.answers, got, err, tt.wantID)
		}
	}

	// Across websites there may be more look-alikes than one page holds:
	// the exact match is looked for on the following pages too.
	var pages []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/integration/admin/token") {
			w.Write([]byte(`"admintok"`))
			return
		}
		page := r.URL.Query().Get("searchCriteria[currentPage]")
		pages = append(pages, page)
		res := magento.SearchResult[magento.Customer]{TotalCount: 12}
		for i := range 10 {
			res.Items = append(res.Items, magento.Customer{ID: int64(100 + i), Email: "jane@gmáil.com", Firstname: "F", Lastname: "L"})
		}
		if page == "2" {
			res.Items = []magento.Customer{{ID: 7, Email: "Jane@gmail.com", Firstname: "F", Lastname: "L"}}
		}
		_ = json.NewEncoder(w).Encode(res)
	}))
	t.Cleanup(srv.Close)
	if got, err := mustClient(t, srv.URL, nil).CustomerByEmail(ctx, "jane@gmail.com", 0); err != nil || got.ID != 7 || fmt.Sprint(pages) != "[1 2]" {
		t.Errorf("CustomerByEmail over two pages = %+v, %v after pages %v; want customer 7 from page 2", got, err, pages)
	}
}
