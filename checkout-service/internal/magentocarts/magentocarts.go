// Package magentocarts adapts the platform's Magento client to the carts
// checkout needs (checkout.Carts): every cart, total and shipping price is
// Magento's, converted to integer minor units at this boundary.
//
// Guest carts are reached by masked id; a customer's cart either with the
// Magento customer token the app holds (/V1/carts/mine) or, for a customer
// identified only by a verified access token, through the admin routes by the
// cart's numeric id. Carts is safe for concurrent use.
package magentocarts

import (
	"context"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
)

// Carts implements checkout.Carts over a Magento client.
type Carts struct {
	mc *magento.Client
}

var _ checkout.Carts = (*Carts)(nil)

// New returns Carts over mc.
func New(mc *magento.Client) *Carts { return &Carts{mc: mc} }

func ref(r checkout.CartRef) magento.CartRef {
	switch {
	case r.Kind == checkout.KindGuest:
		return magento.GuestCart(r.MaskedID)
	case r.CustomerToken != "":
		return magento.CustomerCart(r.CustomerToken, r.QuoteID)
	default:
		return magento.AdminCart(r.QuoteID)
	}
}

// Resolve finds (or lets Magento create) the customer's active cart.
func (c *Carts) Resolve(ctx context.Context, r checkout.CartRef) (checkout.CartRef, error) {
	var (
		id  int64
		err error
	)
	switch {
	case r.CustomerToken != "":
		id, err = c.mc.CreateCustomerCart(ctx, r.CustomerToken)
	case r.CustomerID != 0:
		id, err = c.mc.CreateCartForCustomer(ctx, r.CustomerID)
	default:
		return r, errs.E(errs.Unauthorized, "A customer token or a customer id is required for a customer's cart.")
	}
	if err != nil {
		return r, err
	}
	r.Kind, r.QuoteID = checkout.KindCustomer, id
	return r, nil
}

// Load returns the cart and Magento's totals.
func (c *Carts) Load(ctx context.Context, r checkout.CartRef) (checkout.CartView, error) {
	mr := ref(r)
	// cart and totals are independent reads: fetch them together
	var (
		tot  *magento.Totals
		terr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tot, terr = c.mc.Totals(ctx, mr)
	}()
	cart, err := c.mc.Cart(ctx, mr)
	<-done
	if err != nil {
		return checkout.CartView{}, err
	}
	if r.Kind == checkout.KindCustomer && r.CustomerID != 0 && cart.Customer.ID != r.CustomerID {
		return checkout.CartView{}, errs.E(errs.NotFound, "No such cart for this customer.")
	}
	if terr != nil {
		return checkout.CartView{}, terr
	}
	cur := tot.QuoteCurrencyCode
	if cur == "" && cart.Currency != nil {
		cur = cart.Currency.QuoteCurrencyCode
	}
	if cur == "" {
		return checkout.CartView{}, errs.E(errs.Unavailable, "Magento reported no currency for the cart.")
	}
	byID := map[int64]magento.TotalsItem{}
	for _, it := range tot.Items {
		byID[it.ItemID] = it
	}
	cv := checkout.CartView{QuoteID: cart.ID, CustomerID: cart.Customer.ID, Email: cart.Customer.Email,
		GroupID: cart.Customer.GroupID, IsVirtual: cart.IsVirtual, Totals: totals(tot), Items: []checkout.Item{}}
	if cv.Email == "" && cart.BillingAddress != nil {
		cv.Email = cart.BillingAddress.Email
	}
	for _, it := range cart.Items {
		item := checkout.Item{ItemID: it.ItemID, SKU: it.SKU, Name: it.Name, Qty: it.Qty,
			Price: magento.MinorUnits(it.Price, cur), RowTotal: magento.MinorUnits(it.Price*it.Qty, cur)}
		if t, ok := byID[it.ItemID]; ok {
			item.Price, item.RowTotal = magento.MinorUnits(t.Price, cur), magento.MinorUnits(t.RowTotal, cur)
		}
		cv.Items = append(cv.Items, item)
	}
	return cv, nil
}

func totals(t *magento.Totals) checkout.Totals {
	cur := t.QuoteCurrencyCode
	return checkout.Totals{Subtotal: magento.MinorUnits(t.Subtotal, cur), Shipping: magento.MinorUnits(t.ShippingAmount, cur),
		Tax: magento.MinorUnits(t.TaxAmount, cur), Discount: magento.MinorUnits(t.DiscountAmount, cur),
		GrandTotal: magento.MinorUnits(t.GrandTotal, cur), Currency: cur}
}

func address(a checkout.Address) magento.Address {
	return magento.Address{Region: a.Region, RegionID: a.RegionID, RegionCode: a.RegionCode, CountryID: a.CountryID,
		Street: a.Street, Company: a.Company, Telephone: a.Telephone, Postcode: a.Postcode, City: a.City,
		Firstname: a.Firstname, Lastname: a.Lastname, Email: a.Email}
}

// EstimateShipping lists Magento's shipping methods for the address.
func (c *Carts) EstimateShipping(ctx context.Context, r checkout.CartRef, a checkout.Address) ([]checkout.ShippingMethod, error) {
	ms, err := c.mc.EstimateShippingMethods(ctx, ref(r), address(a))
	if err != nil {
		return nil, err
	}
	tot, err := c.mc.Totals(ctx, ref(r))
	if err != nil {
		return nil, err
	}
	cur := tot.QuoteCurrencyCode
	out := make([]checkout.ShippingMethod, 0, len(ms))
	for _, m := range ms {
		out = append(out, checkout.ShippingMethod{CarrierCode: m.CarrierCode, MethodCode: m.MethodCode, CarrierTitle: m.CarrierTitle,
			MethodTitle: m.MethodTitle, Amount: magento.MinorUnits(m.Amount, cur), Currency: cur, Available: m.Available, ErrorMessage: m.ErrorMessage})
	}
	return out, nil
}

// SetShipping saves the addresses and method; Magento answers with totals.
func (c *Carts) SetShipping(ctx context.Context, r checkout.CartRef, info checkout.ShippingInfo) (checkout.Totals, error) {
	b := address(info.Billing)
	pd, err := c.mc.SetShippingInformation(ctx, ref(r), magento.ShippingInformation{ShippingAddress: address(info.Shipping),
		BillingAddress: &b, ShippingCarrierCode: info.CarrierCode, ShippingMethodCode: info.MethodCode})
	if err != nil {
		return checkout.Totals{}, err
	}
	return totals(&pd.Totals), nil
}
