package magento_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

// TestSchemaCoverage calls every client operation once against the sandbox.
// The client's transport validates each request and response against the
// swagger file (failures fail the test) and records the operation it routed
// to; the test then checks the full list, so a new client method cannot
// bypass the schema unnoticed.
func TestSchemaCoverage(t *testing.T) {
	v := schema(t)
	sb := magentosandbox.New(magentosandbox.Options{})
	report := func(err error) { t.Errorf("schema: %v", err) }
	srv := httptest.NewServer(v.Middleware(sb.Handler(), report))
	defer srv.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	base := v.Transport(http.DefaultTransport, report)
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if op, err := v.OperationID(r.Method, r.URL); err == nil {
			mu.Lock()
			seen[op] = true
			mu.Unlock()
		}
		return base.RoundTrip(r)
	})
	c := mustClient(t, srv.URL, nil, magento.WithHTTPClient(&http.Client{Transport: rt}))
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	masked, err := c.CreateGuestCart(ctx)
	must("CreateGuestCart", err)
	g := magento.GuestCart(masked)
	it, err := c.AddItem(ctx, g, "MP01-32-Black", 2)
	must("AddItem", err)
	_, err = c.UpdateItem(ctx, g, it.ItemID, 3)
	must("UpdateItem", err)
	_, err = c.AddItem(ctx, g, "24-MB02", 1)
	must("AddItem", err)
	last, err := c.Items(ctx, g)
	must("Items", err)
	must("RemoveItem", c.RemoveItem(ctx, g, last[1].ItemID))
	must("ApplyCoupon", c.ApplyCoupon(ctx, g, "H20"))
	must("RemoveCoupon", c.RemoveCoupon(ctx, g))
	_, err = c.EstimateShippingMethods(ctx, g, californiaAddress())
	must("EstimateShippingMethods", err)
	_, err = c.SetShippingInformation(ctx, g, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"})
	must("SetShippingInformation", err)
	_, err = c.PaymentMethods(ctx, g)
	must("PaymentMethods", err)
	_, err = c.Totals(ctx, g)
	must("Totals", err)
	cart, err := c.Cart(ctx, g)
	must("Cart", err)
	orderID, err := c.PlaceOrder(ctx, g, magento.PlaceOrderRequest{Email: "ada@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
	must("PlaceOrder", err)
	_, err = c.Order(ctx, orderID)
	must("Order", err)
	_, err = c.OrdersByQuoteID(ctx, cart.ID)
	must("OrdersByQuoteID", err)
	_, err = c.InvoiceOrder(ctx, orderID, magento.InvoiceRequest{Notify: true, AppendComment: true, Comment: &magento.CreationComment{Comment: "captured by gateway"}})
	must("InvoiceOrder", err)
	must("AddOrderComment", c.AddOrderComment(ctx, orderID, magento.OrderStatusHistory{Comment: "note"}))
	ship := 0.0
	_, err = c.RefundOrderOffline(ctx, orderID, magento.RefundRequest{Arguments: &magento.RefundArguments{ShippingAmount: &ship, AdjustmentNegative: 1}})
	must("RefundOrderOffline", err)
	_, err = c.CreditMemosUpdatedSince(ctx, time.Now().Add(-time.Hour), 10, 1)
	must("CreditMemosUpdatedSince", err)
	invoices, err := c.InvoicesUpdatedSince(ctx, time.Now().Add(-time.Hour), 10, 1)
	must("InvoicesUpdatedSince", err)
	if len(invoices.Items) != 1 || invoices.Items[0].OrderID != orderID || invoices.Items[0].IncrementID == "" || invoices.Items[0].GrandTotal <= 0 {
		t.Errorf("InvoicesUpdatedSince = %+v; want the order's invoice", invoices)
	}
	cust, err := c.CreateCustomer(ctx, magento.Customer{Email: "cov@example.com", Firstname: "C", Lastname: "V"}, "Passw0rd!")
	must("CreateCustomer", err)
	_, err = c.CustomerByEmail(ctx, "cov@example.com", 1)
	must("CustomerByEmail", err)
	_, err = c.Customer(ctx, cust.ID)
	must("Customer", err)
	tok, err := c.CustomerToken(ctx, "cov@example.com", "Passw0rd!")
	must("CustomerToken", err)
	_, err = c.Me(ctx, tok)
	must("Me", err)
	mineID, err := c.CreateCustomerCart(ctx, tok)
	must("CreateCustomerCart", err)
	m := magento.CustomerCart(tok, mineID)
	_, err = c.AddItem(ctx, m, "24-MB01", 1)
	must("AddItem(mine)", err)
	_, err = c.Cart(ctx, m)
	must("Cart(mine)", err)
	_, err = c.SetShippingInformation(ctx, m, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "tablerate", ShippingMethodCode: "bestway"})
	must("SetShippingInformation(mine)", err)
	_, err = c.PlaceOrder(ctx, m, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "checkmo"}})
	must("PlaceOrder(mine)", err)
	adminCart, err := c.CreateCartForCustomer(ctx, cust.ID)
	must("CreateCartForCustomer", err)
	a := magento.AdminCart(adminCart)
	_, err = c.AddItem(ctx, a, "24-MB01", 1)
	must("AddItem(admin)", err)
	_, err = c.SetShippingInformation(ctx, a, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"})
	must("SetShippingInformation(admin)", err)
	_, err = c.PlaceOrder(ctx, a, magento.PlaceOrderRequest{PaymentMethod: magento.Payment{Method: "checkmo"}})
	must("PlaceOrder(admin)", err)
	_, err = c.StoreConfigs(ctx)
	must("StoreConfigs", err)
	_, err = c.Product(ctx, "24-MB01")
	must("Product", err)
	_, err = c.SearchProducts(ctx, magento.Where("category_id", "eq", "3"))
	must("SearchProducts", err)

	want := []string{
		"checkoutGuestPaymentInformationManagementV1SavePaymentInformationAndPlaceOrderPost",
		"checkoutGuestShippingInformationManagementV1SaveAddressInformationPost",
		"checkoutPaymentInformationManagementV1SavePaymentInformationAndPlaceOrderPost",
		"checkoutShippingInformationManagementV1SaveAddressInformationPost",
		"catalogProductRepositoryV1GetGet",
		"catalogProductRepositoryV1GetListGet",
		"customerAccountManagementV1CreateAccountPost",
		"customerCustomerRepositoryV1GetByIdGet",
		"customerCustomerRepositoryV1GetListGet",
		"integrationAdminTokenServiceV1CreateAdminAccessTokenPost",
		"integrationCustomerTokenServiceV1CreateCustomerAccessTokenPost",
		"quoteCartItemRepositoryV1SavePost",
		"quoteCartManagementV1CreateEmptyCartForCustomerPost",
		"quoteCartManagementV1GetCartForCustomerGet",
		"quoteCartManagementV1PlaceOrderPut",
		"quoteGuestCartItemRepositoryV1DeleteByIdDelete",
		"quoteGuestCartItemRepositoryV1GetListGet",
		"quoteGuestCartItemRepositoryV1SavePost",
		"quoteGuestCartItemRepositoryV1SavePut",
		"quoteGuestCartManagementV1CreateEmptyCartPost",
		"quoteGuestCartRepositoryV1GetGet",
		"quoteGuestCartTotalRepositoryV1GetGet",
		"quoteGuestCouponManagementV1RemoveDelete",
		"quoteGuestCouponManagementV1SetPut",
		"quoteGuestPaymentMethodManagementV1GetListGet",
		"quoteGuestShipmentEstimationV1EstimateByExtendedAddressPost",
		"salesCreditmemoRepositoryV1GetListGet",
		"salesInvoiceOrderV1ExecutePost",
		"salesInvoiceRepositoryV1GetListGet",
		"salesOrderManagementV1AddCommentPost",
		"salesOrderRepositoryV1GetGet",
		"salesOrderRepositoryV1GetListGet",
		"salesRefundOrderV1ExecutePost",
		"storeStoreConfigManagerV1GetStoreConfigsGet",
	}
	var got []string
	for op := range seen {
		got = append(got, op)
	}
	sort.Strings(got)
	sort.Strings(want)
	for _, op := range want {
		if !seen[op] {
			t.Errorf("operation %s not exercised", op)
		}
	}
	for _, op := range got {
		if !slices.Contains(want, op) {
			t.Errorf("operation %s exercised but not listed", op)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
