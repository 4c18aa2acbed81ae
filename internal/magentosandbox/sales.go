package magentosandbox

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/magefleet/platform/internal/magento"
)

const salesResource = "Magento_Sales::sales"

func (s *Sandbox) orderOf(r *http.Request, param string) (*magento.Order, error) {
	id, _ := strconv.ParseInt(r.PathValue(param), 10, 64)
	o, ok := s.st.orders[id]
	if !ok {
		return nil, errf(http.StatusNotFound, msgEntityMissing, nil)
	}
	return o, nil
}

func (s *Sandbox) getOrder(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Sales::actions_view"); err != nil {
		return err
	}
	o, err := s.orderOf(r, "id")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (s *Sandbox) searchOrders(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Sales::actions_view"); err != nil {
		return err
	}
	c, err := parseCriteria(r.URL.Query())
	if err != nil {
		return err
	}
	all := make([]magento.Order, 0, len(s.st.orderOrder))
	for _, id := range s.st.orderOrder {
		all = append(all, *s.st.orders[id])
	}
	items, total := apply(c, all, nil)
	writeJSON(w, http.StatusOK, magento.SearchResult[magento.Order]{Items: items, SearchCriteria: c.echo(), TotalCount: total})
	return nil
}

func (s *Sandbox) addComment(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authAdmin(r, "Magento_Sales::comment"); err != nil {
		return err
	}
	o, err := s.orderOf(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		StatusHistory *magento.OrderStatusHistory `json:"statusHistory"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StatusHistory == nil {
		return required("statusHistory")
	}
	h := *req.StatusHistory
	s.st.nextHistory++
	h.EntityID, h.ParentID, h.EntityName = s.st.nextHistory, o.EntityID, "order"
	h.CreatedAt = ymd(s.opts.Now())
	if h.Status == "" {
		h.Status = o.Status
	} else {
		o.Status = h.Status
	}
	o.StatusHistories = append([]magento.OrderStatusHistory{h}, o.StatusHistories...)
	o.UpdatedAt = h.CreatedAt
	writeJSON(w, http.StatusOK, true)
	return nil
}

type itemsReq struct {
	Capture       bool                     `json:"capture"`
	Notify        bool                     `json:"notify"`
	Items         []magento.ItemQty        `json:"items"`
	AppendComment bool                     `json:"appendComment"`
	Comment       *magento.CreationComment `json:"comment"`
	Arguments     *magento.RefundArguments `json:"arguments"`
}

func (s *Sandbox) invoiceOrder(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authAdmin(r, "Magento_Sales::invoice"); err != nil {
		return err
	}
	o, err := s.orderOf(r, "orderId")
	if err != nil {
		return err
	}
	var req itemsReq
	if err := decode(r, &req); err != nil {
		return err
	}
	remaining := 0.0
	for _, it := range o.Items {
		remaining += it.QtyOrdered - it.QtyInvoiced
	}
	if remaining <= 0 || o.State == "canceled" || o.State == "closed" || o.State == "holded" {
		return errf(http.StatusBadRequest, msgNoInvoice, nil)
	}
	want := map[int64]float64{}
	if len(req.Items) == 0 {
		for _, it := range o.Items {
			want[it.ItemID] = it.QtyOrdered - it.QtyInvoiced
		}
	} else {
		for _, iq := range req.Items {
			want[iq.OrderItemID] += iq.Qty
		}
	}
	var subtotal, tax, discount, qty float64
	byID := map[int64]*magento.OrderItem{}
	for i := range o.Items {
		byID[o.Items[i].ItemID] = &o.Items[i]
	}
	for id, q := range want {
		it, ok := byID[id]
		if !ok || q < 0 || q > it.QtyOrdered-it.QtyInvoiced+1e-9 {
			return errf(http.StatusBadRequest, `We found an invalid quantity to invoice item "%1".`, []string{strconv.FormatInt(id, 10)})
		}
		f := q / it.QtyOrdered
		subtotal += it.RowTotal * f
		tax += it.TaxAmount * f
		discount += it.DiscountAmount * f
		qty += q
	}
	if qty <= 0 {
		return errf(http.StatusBadRequest, msgInvalidQtyInvoice, nil)
	}
	shipping := 0.0
	if o.TotalInvoiced == 0 {
		shipping = o.ShippingAmount
	}
	grand := round2(subtotal - discount + tax + shipping)
	if qty == remaining {
		grand = round2(o.GrandTotal - o.TotalInvoiced)
	}
	// Commit.
	for id, q := range want {
		byID[id].QtyInvoiced += q
	}
	o.TotalInvoiced = round2(o.TotalInvoiced + grand)
	o.BaseTotalInvoiced = o.TotalInvoiced
	o.TotalPaid = o.TotalInvoiced
	o.TotalDue = round2(o.GrandTotal - o.TotalPaid)
	o.Payment.AmountPaid = o.TotalPaid
	o.State, o.Status = "processing", "processing"
	now := ymd(s.opts.Now())
	o.UpdatedAt = now
	s.st.nextInvoice++
	inv := &invoice{EntityID: s.st.nextInvoice, IncrementID: fmt.Sprintf("%09d", s.st.nextInvoice), OrderID: o.EntityID, GrandTotal: grand, Subtotal: round2(subtotal), TaxAmount: round2(tax), Shipping: shipping, TotalQty: qty, Capture: req.Capture, State: magento.InvoicePaid, Currency: o.OrderCurrencyCode, CreatedAt: now, UpdatedAt: now}
	for _, it := range o.Items { // in the order's item order
		if q, ok := want[it.ItemID]; ok {
			inv.Items = append(inv.Items, magento.ItemQty{OrderItemID: it.ItemID, Qty: q})
		}
	}
	s.st.invoices = append(s.st.invoices, inv)
	if req.AppendComment && req.Comment != nil {
		s.st.nextHistory++
		o.StatusHistories = append([]magento.OrderStatusHistory{{Comment: req.Comment.Comment, CreatedAt: now, EntityID: s.st.nextHistory, EntityName: "invoice", IsCustomerNotified: b2i(req.Notify), IsVisibleOnFront: req.Comment.IsVisibleOnFront, ParentID: o.EntityID, Status: o.Status}}, o.StatusHistories...)
	}
	writeJSON(w, http.StatusOK, inv.EntityID)
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Sandbox) refundOrder(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authAdmin(r, "Magento_Sales::creditmemo"); err != nil {
		return err
	}
	o, err := s.orderOf(r, "orderId")
	if err != nil {
		return err
	}
	var req itemsReq
	if err := decode(r, &req); err != nil {
		return err
	}
	available := round2(o.TotalPaid - o.TotalRefunded)
	if available <= 0 || o.State == "closed" || o.State == "canceled" {
		return errf(http.StatusBadRequest, msgNoCreditmemo, nil)
	}
	byID := map[int64]*magento.OrderItem{}
	for i := range o.Items {
		byID[o.Items[i].ItemID] = &o.Items[i]
	}
	want := map[int64]float64{}
	if req.Items == nil {
		for _, it := range o.Items {
			if q := it.QtyInvoiced - it.QtyRefunded; q > 0 {
				want[it.ItemID] = q
			}
		}
	} else {
		for _, iq := range req.Items {
			want[iq.OrderItemID] += iq.Qty
		}
	}
	var subtotal, tax, discount float64
	for id, q := range want {
		it, ok := byID[id]
		if !ok || q < 0 || q > it.QtyInvoiced-it.QtyRefunded+1e-9 {
			return errf(http.StatusBadRequest, "The quantity to refund must not be greater than the unrefunded quantity.", nil)
		}
		f := q / it.QtyOrdered
		subtotal += it.RowTotal * f
		tax += it.TaxAmount * f
		discount += it.DiscountAmount * f
	}
	shippingRefunded := 0.0
	for _, cm := range s.st.creditmemos {
		if cm.OrderID == o.EntityID {
			shippingRefunded += cm.ShippingAmount
		}
	}
	shipping := round2(o.ShippingAmount - shippingRefunded)
	var adjPos, adjNeg float64
	if a := req.Arguments; a != nil {
		if a.ShippingAmount != nil {
			if *a.ShippingAmount > shipping+1e-9 || *a.ShippingAmount < 0 {
				return errf(http.StatusBadRequest, "Maximum shipping amount allowed to refund is: %1", []string{strconv.FormatFloat(shipping, 'f', 2, 64)})
			}
			shipping = *a.ShippingAmount
		}
		adjPos, adjNeg = a.AdjustmentPositive, a.AdjustmentNegative
	}
	grand := round2(subtotal - discount + tax + shipping + adjPos - adjNeg)
	if grand <= 0 {
		return errf(http.StatusBadRequest, "The credit memo's total must be positive.", nil)
	}
	if grand > available+0.0001 {
		return errf(http.StatusBadRequest, msgRefundTooMuch, []string{strconv.FormatFloat(available, 'f', 2, 64)})
	}
	// Commit.
	now := ymd(s.opts.Now())
	s.st.nextCredit++
	cm := &magento.CreditMemo{
		EntityID: s.st.nextCredit, IncrementID: fmt.Sprintf("%09d", s.st.nextCredit), OrderID: o.EntityID,
		InvoiceID: s.lastInvoice(o.EntityID), State: 2, CreatedAt: now, UpdatedAt: now,
		GrandTotal: grand, BaseGrandTotal: grand, Subtotal: round2(subtotal), ShippingAmount: shipping,
		TaxAmount: round2(tax), AdjustmentPositive: adjPos, AdjustmentNegative: adjNeg,
		OrderCurrencyCode: "USD", BaseCurrencyCode: "USD", Items: []magento.CreditMemoItem{},
	}
	itemSeq := int64(len(s.st.creditmemos)*100 + 1)
	for _, it := range o.Items {
		q, ok := want[it.ItemID]
		if !ok {
			continue
		}
		ref := byID[it.ItemID]
		ref.QtyRefunded += q
		ref.AmountRefunded = round2(ref.AmountRefunded + it.Price*q)
		cm.Items = append(cm.Items, magento.CreditMemoItem{BaseCost: 0, BasePrice: it.Price, EntityID: itemSeq, OrderItemID: it.ItemID, Qty: q, ParentID: cm.EntityID, SKU: it.SKU, Name: it.Name, Price: it.Price, RowTotal: round2(it.Price * q)})
		itemSeq++
	}
	s.st.creditmemos = append(s.st.creditmemos, cm)
	o.TotalRefunded = round2(o.TotalRefunded + grand)
	o.BaseTotalRefunded = o.TotalRefunded
	o.TotalOfflineRefunded = round2(o.TotalOfflineRefunded + grand)
	o.Payment.AmountRefunded = o.TotalRefunded
	if math.Abs(o.TotalRefunded-o.TotalPaid) < 0.005 && o.TotalPaid >= o.GrandTotal-0.005 {
		o.State, o.Status = "closed", "closed"
	}
	o.UpdatedAt = now
	if req.AppendComment && req.Comment != nil {
		s.st.nextHistory++
		o.StatusHistories = append([]magento.OrderStatusHistory{{Comment: req.Comment.Comment, CreatedAt: now, EntityID: s.st.nextHistory, EntityName: "creditmemo", IsCustomerNotified: b2i(req.Notify), IsVisibleOnFront: req.Comment.IsVisibleOnFront, ParentID: o.EntityID, Status: o.Status}}, o.StatusHistories...)
	}
	writeJSON(w, http.StatusOK, cm.EntityID)
	return nil
}

func (s *Sandbox) lastInvoice(orderID int64) int64 {
	var id int64
	for _, inv := range s.st.invoices {
		if inv.OrderID == orderID {
			id = inv.EntityID
		}
	}
	return id
}

func (s *Sandbox) searchCreditMemos(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Sales::creditmemo"); err != nil {
		return err
	}
	c, err := parseCriteria(r.URL.Query())
	if err != nil {
		return err
	}
	all := make([]magento.CreditMemo, 0, len(s.st.creditmemos))
	for _, cm := range s.st.creditmemos {
		all = append(all, *cm)
	}
	items, total := apply(c, all, nil)
	writeJSON(w, http.StatusOK, magento.SearchResult[magento.CreditMemo]{Items: items, SearchCriteria: c.echo(), TotalCount: total})
	return nil
}

// invoiceRecord is sales-data-invoice-interface as GET /V1/invoices answers it:
// the fields magento.Invoice reads plus the required total_qty and items.
type invoiceRecord struct {
	magento.Invoice
	Subtotal       float64             `json:"subtotal"`
	BaseSubtotal   float64             `json:"base_subtotal"`
	TaxAmount      float64             `json:"tax_amount"`
	ShippingAmount float64             `json:"shipping_amount"`
	TotalQty       float64             `json:"total_qty"`
	StoreID        int                 `json:"store_id"`
	Items          []invoiceItemRecord `json:"items"`
}

// invoiceItemRecord is sales-data-invoice-item-interface.
type invoiceItemRecord struct {
	EntityID    int64   `json:"entity_id"`
	ParentID    int64   `json:"parent_id"`
	OrderItemID int64   `json:"order_item_id"`
	ProductID   int64   `json:"product_id,omitempty"`
	SKU         string  `json:"sku"`
	Name        string  `json:"name,omitempty"`
	Price       float64 `json:"price"`
	BasePrice   float64 `json:"base_price"`
	Qty         float64 `json:"qty"`
	RowTotal    float64 `json:"row_total"`
}

// invoiceRecordOf renders a recorded invoice. Callers hold at least the read
// lock.
func (s *Sandbox) invoiceRecordOf(inv *invoice) invoiceRecord {
	rec := invoiceRecord{
		Invoice: magento.Invoice{
			EntityID: inv.EntityID, IncrementID: inv.IncrementID, OrderID: inv.OrderID, State: inv.State,
			CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt, GrandTotal: inv.GrandTotal, BaseGrandTotal: inv.GrandTotal,
			OrderCurrencyCode: inv.Currency, BaseCurrencyCode: inv.Currency,
		},
		Subtotal: inv.Subtotal, BaseSubtotal: inv.Subtotal, TaxAmount: inv.TaxAmount, ShippingAmount: inv.Shipping,
		TotalQty: inv.TotalQty, StoreID: 1, Items: []invoiceItemRecord{},
	}
	o := s.st.orders[inv.OrderID]
	if o != nil {
		rec.StoreID = o.StoreID
	}
	for i, iq := range inv.Items {
		item := invoiceItemRecord{EntityID: inv.EntityID*100 + int64(i) + 1, ParentID: inv.EntityID, OrderItemID: iq.OrderItemID, Qty: iq.Qty}
		if o != nil {
			for _, it := range o.Items {
				if it.ItemID == iq.OrderItemID {
					item.ProductID, item.SKU, item.Name, item.Price, item.BasePrice = it.ProductID, it.SKU, it.Name, it.Price, it.BasePrice
					item.RowTotal = round2(it.Price * iq.Qty)
				}
			}
		}
		rec.Items = append(rec.Items, item)
	}
	return rec
}

func (s *Sandbox) searchInvoices(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Sales::sales_invoice"); err != nil {
		return err
	}
	c, err := parseCriteria(r.URL.Query())
	if err != nil {
		return err
	}
	all := make([]invoiceRecord, 0, len(s.st.invoices))
	for _, inv := range s.st.invoices {
		all = append(all, s.invoiceRecordOf(inv))
	}
	items, total := apply(c, all, nil)
	writeJSON(w, http.StatusOK, magento.SearchResult[invoiceRecord]{Items: items, SearchCriteria: c.echo(), TotalCount: total})
	return nil
}
