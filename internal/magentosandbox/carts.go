package magentosandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/magefleet/platform/internal/magento"
)

type cartKind int

const (
	guestKind cartKind = iota
	mineKind
	adminKind
)

func (k cartKind) prefix() string {
	switch k {
	case guestKind:
		return "/V1/guest-carts/{cartId}"
	case mineKind:
		return "/V1/carts/mine"
	}
	return "/V1/carts/{cartId}"
}

type cartFunc func(w http.ResponseWriter, r *http.Request, q *quote) error

// cartOp resolves the cart of a request under the right lock: a guest's
// masked id, a customer's token, or an admin's cart id. An inactive cart is
// 404 like Magento's getActive.
func (s *Sandbox) cartOp(k cartKind, fn cartFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodGet {
			s.mu.RLock()
			defer s.mu.RUnlock()
		} else {
			s.mu.Lock()
			defer s.mu.Unlock()
		}
		q, err := s.resolveCart(k, r)
		if err != nil {
			return err
		}
		return fn(w, r, q)
	}
}

func noSuchCart(v any) error {
	return errf(http.StatusNotFound, msgNoSuchEntity, map[string]string{"fieldName": "cartId", "fieldValue": fmt.Sprint(v)})
}

func (s *Sandbox) resolveCart(k cartKind, r *http.Request) (*quote, error) {
	switch k {
	case guestKind:
		masked := r.PathValue("cartId")
		id, ok := s.st.masks[masked]
		if !ok {
			return nil, noSuchCart(masked)
		}
		q := s.st.quotes[id]
		if !q.IsActive {
			return nil, noSuchCart(q.ID)
		}
		return q, nil
	case mineKind:
		cid, err := s.authCustomer(r)
		if err != nil {
			return nil, err
		}
		q := s.st.activeQuoteOf(cid)
		if q == nil {
			return nil, errf(http.StatusNotFound, msgNoSuchEntity, map[string]string{"fieldName": "customerId", "fieldValue": strconv.FormatInt(cid, 10)})
		}
		return q, nil
	default:
		if err := s.authAdmin(r, "Magento_Cart::manage"); err != nil {
			return nil, err
		}
		raw := r.PathValue("cartId")
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, noSuchCart(raw)
		}
		q, ok := s.st.quotes[id]
		if !ok || !q.IsActive {
			return nil, noSuchCart(id)
		}
		return q, nil
	}
}

func (s *Sandbox) createGuestCart(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	q := s.st.newQuote(info(r).storeID, 0, s.opts.Now(), true)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, q.Masked)
	return nil
}

func (s *Sandbox) createMineCart(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cid, err := s.authCustomer(r)
	if err != nil {
		return err
	}
	q := s.st.activeQuoteOf(cid)
	if q == nil {
		q = s.st.newQuote(info(r).storeID, cid, s.opts.Now(), false)
	}
	writeJSON(w, http.StatusOK, q.ID)
	return nil
}

func (s *Sandbox) createCustomerCartAdmin(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authAdmin(r, "Magento_Cart::manage"); err != nil {
		return err
	}
	raw := r.PathValue("customerId")
	cid, _ := strconv.ParseInt(raw, 10, 64)
	if _, ok := s.st.customers[cid]; !ok {
		return errf(http.StatusNotFound, msgNoSuchEntity, map[string]string{"fieldName": "customerId", "fieldValue": raw})
	}
	q := s.st.activeQuoteOf(cid)
	if q == nil {
		q = s.st.newQuote(info(r).storeID, cid, s.opts.Now(), false)
	}
	writeJSON(w, http.StatusOK, q.ID)
	return nil
}

// cartJSON renders a quote as CartInterface.
func (s *Sandbox) cartJSON(q *quote) magento.Cart {
	c := magento.Cart{
		ID: q.ID, CreatedAt: ymd(q.CreatedAt), UpdatedAt: ymd(q.UpdatedAt), IsActive: q.IsActive,
		Items: make([]magento.CartItem, 0, len(q.Items)), ItemsCount: len(q.Items),
		CustomerIsGuest: q.CustomerID == 0, StoreID: q.StoreID, ReservedOrderID: q.ReservedOrderID,
		CustomerTaxClassID: 3,
		Currency:           &magento.CartCurrency{GlobalCurrencyCode: "USD", BaseCurrencyCode: "USD", StoreCurrencyCode: "USD", QuoteCurrencyCode: "USD", StoreToBaseRate: 0, StoreToQuoteRate: 0, BaseToGlobalRate: 1, BaseToQuoteRate: 1},
		BillingAddress:     q.BillingAddr,
	}
	for _, it := range q.Items {
		c.Items = append(c.Items, itemJSON(q, it))
		c.ItemsQty += it.Qty
	}
	if cust, ok := s.st.customers[q.CustomerID]; ok {
		c.Customer = cust.Customer
	} else {
		c.Customer = magento.Customer{Email: q.Email}
	}
	return c
}

func itemJSON(q *quote, it *quoteItem) magento.CartItem {
	return magento.CartItem{ItemID: it.ID, SKU: it.SKU, Qty: it.Qty, Name: it.Name, Price: it.Price, ProductType: "simple", QuoteID: strconv.FormatInt(q.ID, 10)}
}

func (s *Sandbox) getCart(w http.ResponseWriter, r *http.Request, q *quote) error {
	writeJSON(w, http.StatusOK, s.cartJSON(q))
	return nil
}

func (s *Sandbox) listItems(w http.ResponseWriter, r *http.Request, q *quote) error {
	out := make([]magento.CartItem, 0, len(q.Items))
	for _, it := range q.Items {
		out = append(out, itemJSON(q, it))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type cartItemReq struct {
	CartItem *struct {
		ItemID *int64   `json:"item_id"`
		SKU    string   `json:"sku"`
		Qty    *float64 `json:"qty"`
	} `json:"cartItem"`
}

// checkQty validates a requested quantity for a product as Magento's
// CartItemPersister and stock validation do.
func checkQty(p *product, qty float64) error {
	if qty <= 0 {
		return errf(http.StatusBadRequest, msgInvalidValue, map[string]any{"fieldName": "qty", "value": qty})
	}
	if p.Qty <= 0 {
		return errf(http.StatusBadRequest, msgOutOfStock, nil)
	}
	if qty > p.Qty {
		return errf(http.StatusBadRequest, msgQtyNotAvailable, nil)
	}
	return nil
}

func (s *Sandbox) addItem(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req cartItemReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.CartItem == nil {
		return required("cartItem")
	}
	if req.CartItem.Qty == nil {
		return required("qty")
	}
	p, ok := s.st.products[req.CartItem.SKU]
	if !ok {
		return errf(http.StatusNotFound, msgProductMissing, nil)
	}
	qty := *req.CartItem.Qty
	var existing *quoteItem
	for _, it := range q.Items {
		if it.SKU == p.SKU {
			existing = it
		}
	}
	total := qty
	if existing != nil {
		total += existing.Qty
	}
	if qty <= 0 {
		return checkQty(p, qty)
	}
	if err := checkQty(p, total); err != nil {
		return err
	}
	if existing == nil {
		s.st.nextItem++
		existing = &quoteItem{ID: s.st.nextItem, ProductID: p.ID, SKU: p.SKU, Name: p.Name, Price: p.Price, Taxable: p.Taxable}
		q.Items = append(q.Items, existing)
	}
	existing.Qty = total
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, itemJSON(q, existing))
	return nil
}

func (s *Sandbox) findItem(q *quote, r *http.Request) (*quoteItem, int, error) {
	raw := r.PathValue("itemId")
	id, _ := strconv.ParseInt(raw, 10, 64)
	for i, it := range q.Items {
		if it.ID == id {
			return it, i, nil
		}
	}
	return nil, 0, errf(http.StatusNotFound, msgItemMissing, []string{strconv.FormatInt(q.ID, 10), raw})
}

func (s *Sandbox) updateItem(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req cartItemReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.CartItem == nil {
		return required("cartItem")
	}
	if req.CartItem.Qty == nil {
		return required("qty")
	}
	it, _, err := s.findItem(q, r)
	if err != nil {
		return err
	}
	if err := checkQty(s.st.products[it.SKU], *req.CartItem.Qty); err != nil {
		return err
	}
	it.Qty = *req.CartItem.Qty
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, itemJSON(q, it))
	return nil
}

func (s *Sandbox) removeItem(w http.ResponseWriter, r *http.Request, q *quote) error {
	_, i, err := s.findItem(q, r)
	if err != nil {
		return err
	}
	q.Items = append(q.Items[:i:i], q.Items[i+1:]...)
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, true)
	return nil
}

// Coupons: one cart price rule, H20, 20% off item rows.
const couponH20 = "H20"

func (s *Sandbox) getCoupon(w http.ResponseWriter, r *http.Request, q *quote) error {
	writeJSON(w, http.StatusOK, q.Coupon)
	return nil
}

func (s *Sandbox) setCoupon(w http.ResponseWriter, r *http.Request, q *quote) error {
	code := r.PathValue("couponCode")
	if len(q.Items) == 0 {
		return errf(http.StatusNotFound, `The "%1" Cart doesn't contain products.`, []string{strconv.FormatInt(q.ID, 10)})
	}
	if !strings.EqualFold(code, couponH20) {
		return errf(http.StatusNotFound, msgCouponInvalid, nil)
	}
	q.Coupon = couponH20
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, true)
	return nil
}

func (s *Sandbox) removeCoupon(w http.ResponseWriter, r *http.Request, q *quote) error {
	q.Coupon = ""
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, true)
	return nil
}

// Shipping carriers.
const (
	flatRatePerItem   = 5.0
	tableRate         = 10.0
	tableRateFreeFrom = 100.0
)

func (s *Sandbox) shippingMethods(q *quote) []magento.ShippingMethod {
	t := s.totals(q, "", "")
	flat := round2(flatRatePerItem * t.qty)
	table := tableRate
	if t.subtotal-t.discount >= tableRateFreeFrom {
		table = 0
	}
	return []magento.ShippingMethod{
		{CarrierCode: "flatrate", MethodCode: "flatrate", CarrierTitle: "Flat Rate", MethodTitle: "Fixed", Amount: flat, BaseAmount: flat, Available: true, PriceExclTax: flat, PriceInclTax: flat},
		{CarrierCode: "tablerate", MethodCode: "bestway", CarrierTitle: "Best Way", MethodTitle: "Table Rate", Amount: table, BaseAmount: table, Available: true, PriceExclTax: table, PriceInclTax: table},
	}
}

type addressReq struct {
	Address *magento.Address `json:"address"`
}

func validateAddress(a *magento.Address, field string) error {
	if a == nil {
		return required(field)
	}
	if a.CountryID == "" {
		return required("countryId")
	}
	return nil
}

func (s *Sandbox) estimateShipping(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req addressReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateAddress(req.Address, "address"); err != nil {
		return err
	}
	if len(q.Items) == 0 {
		writeJSON(w, http.StatusOK, []magento.ShippingMethod{})
		return nil
	}
	writeJSON(w, http.StatusOK, s.shippingMethods(q))
	return nil
}

type shippingInfoReq struct {
	AddressInformation *magento.ShippingInformation `json:"addressInformation"`
}

func (s *Sandbox) shippingInformation(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req shippingInfoReq
	if err := decode(r, &req); err != nil {
		return err
	}
	ai := req.AddressInformation
	if ai == nil {
		return required("addressInformation")
	}
	if err := validateAddress(&ai.ShippingAddress, "shipping_address"); err != nil {
		return err
	}
	known := false
	for _, m := range s.shippingMethods(q) {
		if m.CarrierCode == ai.ShippingCarrierCode && m.MethodCode == ai.ShippingMethodCode {
			known = true
		}
	}
	if !known {
		return errf(http.StatusBadRequest, msgCarrierMissing, []string{ai.ShippingCarrierCode, ai.ShippingMethodCode})
	}
	if len(q.Items) == 0 {
		return errf(http.StatusBadRequest, msgShippingMissing, nil)
	}
	ship := ai.ShippingAddress
	q.ShippingAddr = &ship
	if ai.BillingAddress != nil {
		b := *ai.BillingAddress
		q.BillingAddr = &b
	} else if q.BillingAddr == nil {
		b := ship
		q.BillingAddr = &b
	}
	if q.Email == "" {
		q.Email = ship.Email
	}
	q.Carrier, q.Method = ai.ShippingCarrierCode, ai.ShippingMethodCode
	q.UpdatedAt = s.opts.Now()
	writeJSON(w, http.StatusOK, magento.PaymentDetails{PaymentMethods: paymentMethods(), Totals: s.totalsJSON(q)})
	return nil
}

func paymentMethods() []magento.PaymentMethod {
	return []magento.PaymentMethod{{Code: "checkmo", Title: "Check / Money order"}, {Code: "purchaseorder", Title: "Purchase Order"}}
}

func (s *Sandbox) paymentMethods(w http.ResponseWriter, r *http.Request, q *quote) error {
	writeJSON(w, http.StatusOK, paymentMethods())
	return nil
}

func (s *Sandbox) getTotals(w http.ResponseWriter, r *http.Request, q *quote) error {
	writeJSON(w, http.StatusOK, s.totalsJSON(q))
	return nil
}

// calc is a quote's computed totals.
type calc struct {
	qty, subtotal, discount, shipping, tax, grand float64
	rows                                          []rowCalc
}

type rowCalc struct {
	item                 *quoteItem
	row, discount, tax   float64
	taxPercent, discPerc float64
}

// totals computes a quote's totals for a carrier/method ("" for the quote's
// own selection): H20 takes 20% off each row, tax applies to the discounted
// rows of taxable items shipped to the tax region, shipping is untaxed.
func (s *Sandbox) totals(q *quote, carrier, method string) calc {
	if carrier == "" {
		carrier, method = q.Carrier, q.Method
	}
	var c calc
	taxed := false
	if a := q.ShippingAddr; a != nil && s.opts.TaxRate > 0 {
		taxed = strings.EqualFold(a.CountryID, s.opts.TaxCountry) && (strings.EqualFold(a.RegionCode, s.opts.TaxRegionCode) || a.RegionID == 12 && s.opts.TaxRegionCode == "CA")
	}
	// Magento's default tax algorithm (TOTAL_BASE_CALCULATION) rounds each
	// row's tax carrying the rounding delta to the next row, so the rows add
	// up to the rounded total.
	delta := 0.0
	for _, it := range q.Items {
		rc := rowCalc{item: it, row: round2(it.Price * it.Qty)}
		if q.Coupon == couponH20 {
			rc.discPerc = 20
			rc.discount = round2(rc.row * 0.20)
		}
		if taxed && it.Taxable {
			rc.taxPercent = round2(s.opts.TaxRate * 100)
			raw := (rc.row-rc.discount)*s.opts.TaxRate + delta
			rc.tax = round2(raw)
			delta = raw - rc.tax
		}
		c.qty += it.Qty
		c.subtotal += rc.row
		c.discount += rc.discount
		c.tax += rc.tax
		c.rows = append(c.rows, rc)
	}
	c.subtotal, c.discount, c.tax = round2(c.subtotal), round2(c.discount), round2(c.tax)
	switch {
	case carrier == "flatrate":
		c.shipping = round2(flatRatePerItem * c.qty)
	case carrier == "tablerate":
		c.shipping = tableRate
		if c.subtotal-c.discount >= tableRateFreeFrom {
			c.shipping = 0
		}
	}
	c.grand = round2(c.subtotal - c.discount + c.shipping + c.tax)
	return c
}

func (s *Sandbox) totalsJSON(q *quote) magento.Totals {
	c := s.totals(q, "", "")
	t := magento.Totals{
		GrandTotal: c.grand, BaseGrandTotal: c.grand, Subtotal: c.subtotal, BaseSubtotal: c.subtotal,
		DiscountAmount: -c.discount, BaseDiscountAmount: -c.discount,
		SubtotalWithDiscount: round2(c.subtotal - c.discount), BaseSubtotalWithDiscount: round2(c.subtotal - c.discount),
		ShippingAmount: c.shipping, BaseShippingAmount: c.shipping, TaxAmount: c.tax, BaseTaxAmount: c.tax,
		SubtotalInclTax: round2(c.subtotal + c.tax), BaseSubtotalInclTax: round2(c.subtotal + c.tax),
		ShippingInclTax: c.shipping, BaseShippingInclTax: c.shipping,
		BaseCurrencyCode: "USD", QuoteCurrencyCode: "USD", CouponCode: q.Coupon, ItemsQty: int(c.qty),
		Items: make([]magento.TotalsItem, 0, len(c.rows)),
	}
	for _, rc := range c.rows {
		it := rc.item
		t.Items = append(t.Items, magento.TotalsItem{
			ItemID: it.ID, Price: it.Price, BasePrice: it.Price, Qty: it.Qty, RowTotal: rc.row, BaseRowTotal: rc.row,
			RowTotalWithDiscount: round2(rc.row - rc.discount), TaxAmount: rc.tax, BaseTaxAmount: rc.tax, TaxPercent: rc.taxPercent,
			DiscountAmount: rc.discount, BaseDiscountAmount: rc.discount, DiscountPercent: rc.discPerc,
			PriceInclTax: round2(it.Price * (1 + rc.taxPercent/100)), BasePriceInclTax: round2(it.Price * (1 + rc.taxPercent/100)),
			RowTotalInclTax: round2(rc.row + rc.tax), BaseRowTotalInclTax: round2(rc.row + rc.tax),
			Options: "[]", WeeeTaxApplied: "[]", Name: it.Name,
		})
	}
	t.TotalSegments = []magento.TotalSegment{
		{Code: "subtotal", Title: "Subtotal", Value: c.subtotal},
		{Code: "shipping", Title: "Shipping & Handling", Value: c.shipping},
	}
	if c.discount != 0 {
		t.TotalSegments = append(t.TotalSegments, magento.TotalSegment{Code: "discount", Title: "Discount (" + q.Coupon + ")", Value: -c.discount})
	}
	t.TotalSegments = append(t.TotalSegments,
		magento.TotalSegment{Code: "tax", Title: "Tax", Value: c.tax},
		magento.TotalSegment{Code: "grand_total", Title: "Grand Total", Value: c.grand, Area: "footer"},
	)
	return t
}
