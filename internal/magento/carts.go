package magento

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CartRef names a cart and how to reach it: a guest's masked id, a
// customer's token, or the numeric id for admin routes.
type CartRef struct {
	kind   authKind
	masked string
	id     int64
	token  string
}

// GuestCart refers to a guest cart by its masked id (/V1/guest-carts/{id}).
func GuestCart(maskedID string) CartRef { return CartRef{kind: authNone, masked: maskedID} }

// CustomerCart refers to the active cart of the customer whose token is
// given (/V1/carts/mine); cartID is the cart's numeric id, which Magento's
// schema requires as quote_id of new items.
func CustomerCart(customerToken string, cartID int64) CartRef {
	return CartRef{kind: authCustomer, token: customerToken, id: cartID}
}

// AdminCart refers to a cart by numeric id through admin routes
// (/V1/carts/{cartId}, ACL Magento_Cart::manage).
func AdminCart(cartID int64) CartRef { return CartRef{kind: authAdmin, id: cartID} }

func (r CartRef) prefix() string {
	switch r.kind {
	case authNone:
		return "/guest-carts/" + url.PathEscape(r.masked)
	case authCustomer:
		return "/carts/mine"
	default:
		return "/carts/" + strconv.FormatInt(r.id, 10)
	}
}

func (r CartRef) quoteID() string {
	if r.kind == authNone {
		return r.masked
	}
	return strconv.FormatInt(r.id, 10)
}

func (r CartRef) call(method, suffix string, body, out any) call {
	return call{method: method, path: r.prefix() + suffix, body: body, out: out, auth: r.kind, token: r.token}
}

// CreateGuestCart creates an empty guest cart and returns its masked id.
func (c *Client) CreateGuestCart(ctx context.Context) (string, error) {
	var id string
	err := c.do(ctx, call{method: http.MethodPost, path: "/guest-carts", out: &id})
	return id, err
}

// CreateCustomerCart creates (or returns) the active cart of the customer
// whose token is given and returns its id.
func (c *Client) CreateCustomerCart(ctx context.Context, customerToken string) (int64, error) {
	var id flexID
	err := c.do(ctx, call{method: http.MethodPost, path: "/carts/mine", auth: authCustomer, token: customerToken, out: &id})
	return int64(id), err
}

// CreateCartForCustomer creates (or returns) a customer's active cart through
// the admin route POST /V1/customers/{id}/carts.
func (c *Client) CreateCartForCustomer(ctx context.Context, customerID int64) (int64, error) {
	var id flexID
	err := c.do(ctx, call{method: http.MethodPost, path: "/customers/" + strconv.FormatInt(customerID, 10) + "/carts", auth: authAdmin, out: &id})
	return int64(id), err
}

// Cart returns the cart. An inactive (ordered) cart is errs.NotFound.
func (c *Client) Cart(ctx context.Context, ref CartRef) (*Cart, error) {
	var out Cart
	if err := c.do(ctx, ref.call(http.MethodGet, "", nil, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

type cartItemBody struct {
	CartItem CartItem `json:"cartItem"`
}

// AddItem adds qty of a product (by SKU) to the cart. Magento answers 400
// (errs.Invalid) when the quantity exceeds salable stock.
func (c *Client) AddItem(ctx context.Context, ref CartRef, sku string, qty float64) (*CartItem, error) {
	var out CartItem
	body := cartItemBody{CartItem{SKU: sku, Qty: qty, QuoteID: ref.quoteID()}}
	if err := c.do(ctx, ref.call(http.MethodPost, "/items", body, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateItem sets an item's quantity.
func (c *Client) UpdateItem(ctx context.Context, ref CartRef, itemID int64, qty float64) (*CartItem, error) {
	var out CartItem
	body := cartItemBody{CartItem{ItemID: itemID, Qty: qty, QuoteID: ref.quoteID()}}
	if err := c.do(ctx, ref.call(http.MethodPut, "/items/"+strconv.FormatInt(itemID, 10), body, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveItem removes an item from the cart.
func (c *Client) RemoveItem(ctx context.Context, ref CartRef, itemID int64) error {
	var ok bool
	return c.do(ctx, ref.call(http.MethodDelete, "/items/"+strconv.FormatInt(itemID, 10), nil, &ok))
}

// Items lists the cart's items.
func (c *Client) Items(ctx context.Context, ref CartRef) ([]CartItem, error) {
	var out []CartItem
	err := c.do(ctx, ref.call(http.MethodGet, "/items", nil, &out))
	return out, err
}

// Totals returns the cart's totals (tax, shipping, discounts).
func (c *Client) Totals(ctx context.Context, ref CartRef) (*Totals, error) {
	var out Totals
	if err := c.do(ctx, ref.call(http.MethodGet, "/totals", nil, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApplyCoupon applies a coupon code; an unknown code is errs.NotFound, as in
// Magento ("The coupon code isn't valid. Verify the code and try again.").
func (c *Client) ApplyCoupon(ctx context.Context, ref CartRef, code string) error {
	var ok bool
	return c.do(ctx, ref.call(http.MethodPut, "/coupons/"+url.PathEscape(code), nil, &ok))
}

// RemoveCoupon removes the cart's coupon.
func (c *Client) RemoveCoupon(ctx context.Context, ref CartRef) error {
	var ok bool
	return c.do(ctx, ref.call(http.MethodDelete, "/coupons", nil, &ok))
}

// EstimateShippingMethods lists the shipping methods and prices for an address.
func (c *Client) EstimateShippingMethods(ctx context.Context, ref CartRef, addr Address) ([]ShippingMethod, error) {
	var out []ShippingMethod
	body := struct {
		Address Address `json:"address"`
	}{addr}
	// The estimate writes nothing; it is safe to retry.
	cl := ref.call(http.MethodPost, "/estimate-shipping-methods", body, &out)
	cl.idempotent = true
	err := c.do(ctx, cl)
	return out, err
}

// SetShippingInformation saves the shipping (and billing) address and method
// and returns the payment methods and updated totals.
func (c *Client) SetShippingInformation(ctx context.Context, ref CartRef, info ShippingInformation) (*PaymentDetails, error) {
	var out PaymentDetails
	body := struct {
		AddressInformation ShippingInformation `json:"addressInformation"`
	}{info}
	if err := c.do(ctx, ref.call(http.MethodPost, "/shipping-information", body, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// PaymentMethods lists the payment methods available to the cart.
func (c *Client) PaymentMethods(ctx context.Context, ref CartRef) ([]PaymentMethod, error) {
	var out []PaymentMethod
	err := c.do(ctx, ref.call(http.MethodGet, "/payment-methods", nil, &out))
	return out, err
}

// PlaceOrderRequest is the payment step of checkout. Email is required for
// guest carts; BillingAddress is optional when shipping information already
// set one.
type PlaceOrderRequest struct {
	Email          string
	PaymentMethod  Payment
	BillingAddress *Address
}

// PlaceOrder saves the payment method and places the order, returning the
// order's entity id. Guest carts use POST .../payment-information, customer
// carts POST /V1/carts/mine/payment-information, admin carts
// PUT /V1/carts/{id}/order.
//
// Placing is a write that is never retried: errs.OutcomeUnknown means the
// order may exist; search with OrdersByQuoteID or OrderByIncrementID before
// trying again. Placing an already ordered cart is errs.NotFound.
func (c *Client) PlaceOrder(ctx context.Context, ref CartRef, req PlaceOrderRequest) (int64, error) {
	var id flexID
	var cl call
	switch ref.kind {
	case authNone:
		cl = ref.call(http.MethodPost, "/payment-information", struct {
			Email          string   `json:"email"`
			PaymentMethod  Payment  `json:"paymentMethod"`
			BillingAddress *Address `json:"billingAddress,omitempty"`
		}{req.Email, req.PaymentMethod, req.BillingAddress}, &id)
	case authCustomer:
		cl = ref.call(http.MethodPost, "/payment-information", struct {
			PaymentMethod  Payment  `json:"paymentMethod"`
			BillingAddress *Address `json:"billingAddress,omitempty"`
		}{req.PaymentMethod, req.BillingAddress}, &id)
	default:
		cl = ref.call(http.MethodPut, "/order", struct {
			PaymentMethod Payment `json:"paymentMethod"`
		}{req.PaymentMethod}, &id)
	}
	if err := c.do(ctx, cl); err != nil {
		return 0, err
	}
	return int64(id), nil
}
