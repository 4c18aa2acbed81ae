package magentosandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/magefleet/platform/internal/magento"
)

type paymentReq struct {
	Email          string           `json:"email"`
	PaymentMethod  *magento.Payment `json:"paymentMethod"`
	BillingAddress *magento.Address `json:"billingAddress"`
}

func (s *Sandbox) getSelectedPayment(w http.ResponseWriter, r *http.Request, q *quote) error {
	writeJSON(w, http.StatusOK, magento.Payment{Method: q.paymentMethod()})
	return nil
}

func (q *quote) paymentMethod() string {
	if q.payment == nil {
		return ""
	}
	return q.payment.Method
}

func validatePayment(p *magento.Payment) error {
	if p == nil {
		return required("paymentMethod")
	}
	switch p.Method {
	case "checkmo":
	case "purchaseorder":
		if p.PONumber == "" {
			return errf(http.StatusBadRequest, msgPONumber, nil)
		}
	default:
		return errf(http.StatusBadRequest, msgPaymentNotAvail, nil)
	}
	return nil
}

func (s *Sandbox) setSelectedPayment(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req struct {
		Method *magento.Payment `json:"method"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Method == nil {
		return required("method")
	}
	if err := validatePayment(req.Method); err != nil {
		return err
	}
	p := *req.Method
	q.payment = &p
	writeJSON(w, http.StatusOK, strconv.FormatInt(q.ID, 10))
	return nil
}

// paymentInformation is POST .../payment-information: save the payment
// method (and billing address) and place the order.
func (s *Sandbox) paymentInformation(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req paymentReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if q.CustomerID == 0 && req.Email == "" {
		return required("email")
	}
	if req.PaymentMethod == nil {
		return required("paymentMethod")
	}
	id, err := s.place(q, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, id)
	return nil
}

// placeOrderPut is PUT .../order with an optional paymentMethod.
func (s *Sandbox) placeOrderPut(w http.ResponseWriter, r *http.Request, q *quote) error {
	var req paymentReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.PaymentMethod == nil {
		req.PaymentMethod = q.payment
	}
	id, err := s.place(q, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, id)
	return nil
}

// place converts the quote into an order. Nothing changes unless every check
// passes. The caller holds the write lock.
func (s *Sandbox) place(q *quote, req paymentReq) (int64, error) {
	if err := validatePayment(req.PaymentMethod); err != nil {
		return 0, err
	}
	if len(q.Items) == 0 {
		return 0, errf(http.StatusBadRequest, msgEmptyCart, nil)
	}
	if q.ShippingAddr == nil {
		return 0, errf(http.StatusBadRequest, msgShippingAddress, nil)
	}
	if q.Carrier == "" {
		return 0, errf(http.StatusBadRequest, msgShippingMissing, nil)
	}
	for _, it := range q.Items {
		p := s.st.products[it.SKU]
		if p.Qty < it.Qty {
			return 0, errf(http.StatusBadRequest, msgQtyNotAvailable, nil)
		}
	}
	billing := q.BillingAddr
	if req.BillingAddress != nil {
		billing = req.BillingAddress
	}
	if billing == nil {
		billing = q.ShippingAddr
	}
	email := req.Email
	if email == "" {
		email = q.Email
	}
	first, last := billing.Firstname, billing.Lastname
	var customerID int64
	guest := 1
	if cust, ok := s.st.customers[q.CustomerID]; ok {
		email, first, last, customerID, guest = cust.Email, cust.Firstname, cust.Lastname, cust.ID, 0
	}

	if s.opts.RacyPlacement {
		// Magento checks the quote, then spends a while in payment and
		// inventory code before it deactivates the quote; a second call can
		// pass the same checks meanwhile.
		s.mu.Unlock()
		time.Sleep(s.opts.RacyPlacementWindow)
		s.mu.Lock()
	}
	// Commit.
	now := s.opts.Now()
	if q.ReservedOrderID == "" || !q.IsActive {
		// A racing second placement reserves another id, as Magento does
		// when the first order already took the quote's.
		s.st.nextReserved++
		q.ReservedOrderID = fmt.Sprintf("%09d", s.st.nextReserved)
	}
	c := s.totals(q, "", "")
	s.st.nextOrder++
	o := &magento.Order{
		EntityID: s.st.nextOrder, IncrementID: q.ReservedOrderID, QuoteID: q.ID, State: "new", Status: "pending",
		StoreID: q.StoreID, CreatedAt: ymd(now), UpdatedAt: ymd(now), CustomerEmail: email, CustomerFirstname: first,
		CustomerLastname: last, CustomerID: customerID, CustomerIsGuest: guest, CouponCode: q.Coupon,
		BaseCurrencyCode: "USD", OrderCurrencyCode: "USD", GrandTotal: c.grand, BaseGrandTotal: c.grand,
		Subtotal: c.subtotal, BaseSubtotal: c.subtotal, DiscountAmount: -c.discount, ShippingAmount: c.shipping,
		ShippingDescription: shippingDescription(q.Carrier), TaxAmount: c.tax, TotalDue: c.grand,
		TotalQtyOrdered: c.qty, TotalItemCount: len(q.Items),
	}
	for _, rc := range c.rows {
		it := rc.item
		s.st.nextOrderItm++
		o.Items = append(o.Items, magento.OrderItem{
			ItemID: s.st.nextOrderItm, OrderID: o.EntityID, QuoteItemID: it.ID, SKU: it.SKU, Name: it.Name,
			ProductID: it.ProductID, ProductType: "simple", Price: it.Price, BasePrice: it.Price,
			PriceInclTax: round2(it.Price * (1 + rc.taxPercent/100)), QtyOrdered: it.Qty, RowTotal: rc.row,
			BaseRowTotal: rc.row, TaxAmount: rc.tax, TaxPercent: rc.taxPercent, DiscountAmount: rc.discount,
		})
		s.st.products[it.SKU].Qty -= it.Qty
	}
	o.BillingAddress = orderAddress(billing, "billing", o.EntityID, email)
	shipAddr := orderAddress(q.ShippingAddr, "shipping", o.EntityID, email)
	shipAddr.EntityID++
	assignments, _ := json.Marshal([]magento.ShippingAssignment{{
		Shipping: magento.OrderShipping{Address: shipAddr, Method: q.Carrier + "_" + q.Method, Total: &magento.ShippingTotal{ShippingAmount: c.shipping, BaseShippingAmount: c.shipping, ShippingInclTax: c.shipping, BaseShippingInclTax: c.shipping}},
		Items:    o.Items,
	}})
	o.ExtensionAttributes = magento.Extension{"shipping_assignments": assignments}
	pay := req.PaymentMethod
	title := "Check / Money order"
	if pay.Method == "purchaseorder" {
		title = "Purchase Order"
	}
	o.Payment = &magento.OrderPayment{AccountStatus: "", AdditionalInformation: []string{title}, CcLast4: "", Method: pay.Method, EntityID: o.EntityID, ParentID: o.EntityID, PONumber: pay.PONumber, AmountOrdered: c.grand}
	s.st.orders[o.EntityID] = o
	s.st.orderOrder = append(s.st.orderOrder, o.EntityID)
	q.IsActive = false
	q.payment = pay
	q.UpdatedAt = now
	return o.EntityID, nil
}

func shippingDescription(carrier string) string {
	if carrier == "tablerate" {
		return "Best Way - Table Rate"
	}
	return "Flat Rate - Fixed"
}

func orderAddress(a *magento.Address, kind string, orderID int64, email string) *magento.OrderAddress {
	if a.Email != "" {
		email = a.Email
	}
	return &magento.OrderAddress{
		AddressType: kind, City: a.City, CountryID: a.CountryID, Email: email, EntityID: orderID*2 - 1,
		Firstname: a.Firstname, Lastname: a.Lastname, ParentID: orderID, Postcode: a.Postcode, Region: a.Region,
		RegionCode: a.RegionCode, RegionID: a.RegionID, Street: a.Street, Telephone: a.Telephone,
	}
}
