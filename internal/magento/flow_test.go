package magento_test

import (
	"context"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

func TestGuestCheckoutInvoiceRefund(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	c := e.client

	masked, err := c.CreateGuestCart(ctx)
	if err != nil || len(masked) != 32 {
		t.Fatalf("CreateGuestCart() = %q, %v; want a 32-char masked id", masked, err)
	}
	ref := magento.GuestCart(masked)
	item, err := c.AddItem(ctx, ref, "MH01-XS-Black", 2)
	if err != nil {
		t.Fatalf("AddItem = %v", err)
	}
	if _, err := c.AddItem(ctx, ref, "24-MB01", 1); err != nil {
		t.Fatalf("AddItem = %v", err)
	}
	if _, err := c.UpdateItem(ctx, ref, item.ItemID, 1); err != nil {
		t.Fatalf("UpdateItem = %v", err)
	}
	if err := c.ApplyCoupon(ctx, ref, "H20"); err != nil {
		t.Fatalf("ApplyCoupon = %v", err)
	}
	methods, err := c.EstimateShippingMethods(ctx, ref, californiaAddress())
	if err != nil || len(methods) != 2 {
		t.Fatalf("EstimateShippingMethods = %v, %v", methods, err)
	}
	pd, err := c.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"})
	if err != nil {
		t.Fatalf("SetShippingInformation = %v", err)
	}
	// 52 + 34 = 86.00; H20 -17.20; tax 8.25% of 68.80 = 5.68 (5.676); flat rate 2 × 5.00.
	tot, err := c.Totals(ctx, ref)
	if err != nil {
		t.Fatalf("Totals = %v", err)
	}
	want := map[string][2]float64{"subtotal": {tot.Subtotal, 86}, "discount": {tot.DiscountAmount, -17.2}, "tax": {tot.TaxAmount, 5.68}, "shipping": {tot.ShippingAmount, 10}, "grand": {tot.GrandTotal, 84.48}, "pd grand": {pd.Totals.GrandTotal, 84.48}}
	for k, v := range want {
		if magento.MinorUnits(v[0], "USD") != magento.MinorUnits(v[1], "USD") {
			t.Errorf("totals %s = %v; want %v", k, v[0], v[1])
		}
	}
	cart, err := c.Cart(ctx, ref)
	if err != nil {
		t.Fatalf("Cart = %v", err)
	}
	orderID, err := c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "ada@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
	if err != nil {
		t.Fatalf("PlaceOrder = %v", err)
	}
	_, err = c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "ada@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("second PlaceOrder = %v; want not_found", err)
	}
	orders, err := c.OrdersByQuoteID(ctx, cart.ID)
	if err != nil || len(orders) != 1 || orders[0].EntityID != orderID {
		t.Fatalf("OrdersByQuoteID(%d) = %+v, %v", cart.ID, orders, err)
	}
	o, err := c.OrderByIncrementID(ctx, orders[0].IncrementID)
	if err != nil || o.IncrementID != "000000001" {
		t.Fatalf("OrderByIncrementID = %+v, %v", o, err)
	}
	if _, err := c.InvoiceOrder(ctx, orderID, magento.InvoiceRequest{Capture: false, Notify: true}); err != nil {
		t.Fatalf("InvoiceOrder = %v", err)
	}
	_, err = c.InvoiceOrder(ctx, orderID, magento.InvoiceRequest{Capture: false, Notify: true})
	if !errs.Is(err, errs.Invalid) || errs.As(err).Message != "The order does not allow an invoice to be created." {
		t.Fatalf("second InvoiceOrder = %v; want invalid", err)
	}
	if err := c.AddOrderComment(ctx, orderID, magento.OrderStatusHistory{Comment: "Paid by card 4242", IsCustomerNotified: 0, IsVisibleOnFront: 0}); err != nil {
		t.Fatalf("AddOrderComment = %v", err)
	}
	if _, err := c.RefundOrderOffline(ctx, orderID, magento.RefundRequest{Items: []magento.ItemQty{{OrderItemID: o.Items[0].ItemID, Qty: 1}}}); err != nil {
		t.Fatalf("RefundOrderOffline = %v", err)
	}
	o, err = c.Order(ctx, orderID)
	if err != nil {
		t.Fatalf("Order = %v", err)
	}
	if magento.MinorUnits(o.TotalInvoiced, "USD") != 8448 || o.TotalRefunded <= 0 || len(o.StatusHistories) != 1 {
		t.Errorf("order after invoice/refund = invoiced %v refunded %v histories %d", o.TotalInvoiced, o.TotalRefunded, len(o.StatusHistories))
	}
	memos, err := c.CreditMemosUpdatedSince(ctx, mustTime(t, o.CreatedAt), 10, 1)
	if err != nil || memos.TotalCount != 1 {
		t.Fatalf("CreditMemosUpdatedSince = %+v, %v", memos, err)
	}
	invoices, err := c.InvoicesUpdatedSince(ctx, mustTime(t, o.CreatedAt), 10, 1)
	if err != nil || invoices.TotalCount != 1 {
		t.Fatalf("InvoicesUpdatedSince = %+v, %v", invoices, err)
	}
	inv := invoices.Items[0]
	if inv.OrderID != orderID || magento.MinorUnits(inv.GrandTotal, inv.OrderCurrencyCode) != 8448 || inv.OrderCurrencyCode != "USD" ||
		inv.State != magento.InvoicePaid || inv.UpdatedAt == "" {
		t.Errorf("invoice = %+v; want order %d's 84.48 USD, paid", inv, orderID)
	}
	none, err := c.InvoicesUpdatedSince(ctx, mustTime(t, inv.UpdatedAt).Add(time.Second), 10, 1)
	if err != nil || none.TotalCount != 0 {
		t.Errorf("InvoicesUpdatedSince(after the invoice) = %+v, %v; want none", none, err)
	}
}
