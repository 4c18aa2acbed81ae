package bridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/paymentevent"
)

// run drives one payment from its persisted step to StepDone (short of the
// final Complete). Every Magento write that could create an order is preceded
// by a persisted step that tells the next attempt to look before writing.
// Later steps are recorded only when an attempt stops early: invoice and
// comment are guarded by reads of the order, and a lost "placed" step is
// recovered by the look-up that StepPlacing forces. This keeps the happy path
// at four commits (claim, begin, placing, complete).
func (s *Syncer) run(ctx context.Context, log *zap.Logger, c *paymentevent.Captured, p *Progress, worker string) (err error) {
	dirty := false
	defer func() {
		var f *failure
		if err == nil || !dirty || ctx.Err() != nil || errors.As(err, &f) && f.kind == "lost" {
			return
		}
		if serr := s.save(ctx, p, worker); serr != nil {
			log.Warn("record progress", zap.String("step", string(p.Step)), zap.Error(serr))
		}
	}()
	var order *magento.Order
	if p.Step == StepNew || p.Step == StepPlacing {
		id, err := s.place(ctx, log, c, p, worker)
		if err != nil {
			return err
		}
		p.Step, p.OrderID, dirty = StepPlaced, id, true
	}
	o, err := s.magento.Order(ctx, p.OrderID)
	if err != nil {
		return retry(p.Step, err)
	}
	order = o
	if p.IncrementID == "" {
		p.IncrementID = o.IncrementID
	}
	if p.Step == StepPlaced {
		if err := s.invoice(ctx, log, c, p, order); err != nil {
			return err
		}
		p.Step, dirty = StepInvoiced, true
	}
	if p.Step == StepInvoiced {
		if err := s.comment(ctx, log, c, p, order); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syncer) save(ctx context.Context, p *Progress, worker string) error {
	err := s.persist(ctx, func() error { return s.store.SaveProgress(ctx, *p, worker, s.now(), s.cfg.Lease) })
	if err != nil {
		if errs.Is(err, CodeLostLease) {
			return &failure{"lost", p.Step, err}
		}
		return retry(p.Step, err)
	}
	return nil
}

// persist runs a database write that records what Magento already did,
// retrying it for up to a third of the lease while MySQL is unreachable (a
// restart or failover), so the work survives a short outage without waiting
// for the lease to lapse.
func (s *Syncer) persist(ctx context.Context, write func() error) error {
	deadline := time.Now().Add(s.cfg.Lease / 3)
	wait := 50 * time.Millisecond
	for {
		err := write()
		if err == nil || errs.Is(err, CodeLostLease) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		s.sleep(ctx, wait+s.jitter(wait))
		wait = min(2*wait, time.Second)
	}
}

// place returns the id of the payment's order, placing it only when Magento
// provably has none for the cart.
func (s *Syncer) place(ctx context.Context, log *zap.Logger, c *paymentevent.Captured, p *Progress, worker string) (int64, error) {
	if p.Step == StepPlacing {
		// An earlier attempt may have placed it: look before writing.
		mine, foreign, err := s.findOrder(ctx, log, c)
		switch {
		case err != nil:
			return 0, retry(StepPlacing, err)
		case mine != nil:
			log.Info("found the order an earlier attempt placed", zap.Int64("order_id", mine.EntityID))
			return mine.EntityID, nil
		case foreign != nil:
			return 0, unplaceable(StepPlacing, fmt.Errorf("cart already became order %s, not placed for this payment", foreign.IncrementID))
		}
	}
	ref := magento.AdminCart(c.QuoteID)
	if c.Order.ShippingAddress != nil {
		if _, err := s.magento.SetShippingInformation(ctx, ref, shippingInformation(c)); err != nil {
			return s.placeFailure(ctx, log, c, StepNew, err)
		}
	}
	p.Step = StepPlacing
	if err := s.save(ctx, p, worker); err != nil {
		return 0, err
	}
	id, err := s.magento.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: c.Email, PaymentMethod: s.paymentMethod(c)})
	if err == nil {
		return id, nil
	}
	return s.placeFailure(ctx, log, c, StepPlacing, err)
}

// placeFailure decides what a failed cart write means. Whatever the error,
// Magento is asked first whether the cart already became an order: one placed
// for this payment is adopted, one placed otherwise makes the payment
// unplaceable.
func (s *Syncer) placeFailure(ctx context.Context, log *zap.Logger, c *paymentevent.Captured, step Step, err error) (int64, error) {
	if errs.Is(err, errs.Unauthorized) || errs.Is(err, errs.Forbidden) {
		return 0, retry(step, err) // our credentials or ACL: fixable, not the event's fault
	}
	mine, foreign, ferr := s.findOrder(ctx, log, c)
	switch {
	case ferr != nil:
		return 0, retry(step, errors.Join(err, ferr))
	case mine != nil:
		log.Info("cart write failed but the order exists; adopting it", zap.Int64("order_id", mine.EntityID), zap.NamedError("write_error", err))
		return mine.EntityID, nil
	case foreign != nil:
		// The shopper also used Magento's own checkout, or another payment
		// got there first: never adopt it.
		return 0, unplaceable(step, fmt.Errorf("cart already became order %s, not placed for this payment: %w", foreign.IncrementID, err))
	}
	switch {
	case errs.Is(err, errs.Invalid) || errs.Is(err, errs.Unprocessable):
		// Magento refuses the cart for good: out of stock, emptied, an address
		// or method it will not take. It created nothing.
		return 0, unplaceable(step, err)
	case errs.Is(err, errs.NotFound) && step == StepNew:
		// The cart is gone or inactive and no order came from it.
		return 0, unplaceable(step, err)
	}
	return 0, retry(step, err)
}

// findOrder looks up the orders placed from the payment's cart. mine is the
// one placed for this payment (with purchaseorder: the one carrying its
// reference; with checkmo: the oldest), foreign one placed otherwise. Two
// orders for one payment would break the invariant: they are reported and
// the oldest is used.
func (s *Syncer) findOrder(ctx context.Context, log *zap.Logger, c *paymentevent.Captured) (mine, foreign *magento.Order, err error) {
	orders, err := s.magento.OrdersByQuoteID(ctx, c.QuoteID)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(orders, func(i, j int) bool { return orders[i].EntityID < orders[j].EntityID })
	var ids []string
	for i := range orders {
		o := &orders[i]
		if s.cfg.PaymentMethod == "checkmo" || ours(o, c) {
			ids = append(ids, o.IncrementID)
			if mine == nil {
				mine = o
			}
		} else if foreign == nil {
			foreign = o
		}
	}
	if len(ids) > 1 {
		s.metrics.DuplicateOrders.Inc()
		log.Error("ALERT: Magento holds several orders for one payment's cart", zap.Strings("increment_ids", ids))
	}
	return mine, foreign, nil
}

// ours reports whether an order carries this payment's purchase-order
// reference: placed for it by some attempt, whatever the recorded step says.
func ours(o *magento.Order, c *paymentevent.Captured) bool {
	return o.Payment != nil && o.Payment.PONumber != "" && o.Payment.PONumber == poNumber(c)
}

func (s *Syncer) paymentMethod(c *paymentevent.Captured) magento.Payment {
	if s.cfg.PaymentMethod == "checkmo" {
		return magento.Payment{Method: "checkmo"}
	}
	return magento.Payment{Method: "purchaseorder", PONumber: poNumber(c)}
}

func poNumber(c *paymentevent.Captured) string {
	po := c.Gateway + " " + c.TransactionID
	if len(po) > 255 {
		po = po[:255]
	}
	return po
}

func shippingInformation(c *paymentevent.Captured) magento.ShippingInformation {
	ship := address(c.Order.ShippingAddress, c.Email)
	bill := ship
	if c.Order.BillingAddress != nil {
		bill = address(c.Order.BillingAddress, c.Email)
	}
	return magento.ShippingInformation{
		ShippingAddress:     ship,
		BillingAddress:      &bill,
		ShippingCarrierCode: c.Order.ShippingCarrier,
		ShippingMethodCode:  c.Order.ShippingMethod,
	}
}

func address(a *paymentevent.Address, email string) magento.Address {
	if a == nil {
		return magento.Address{Email: email}
	}
	out := magento.Address{
		Region: a.Region, RegionID: a.RegionID, RegionCode: a.RegionCode, CountryID: a.CountryID,
		Street: a.Street, Company: a.Company, Telephone: a.Telephone, Postcode: a.Postcode, City: a.City,
		Firstname: a.Firstname, Lastname: a.Lastname, Email: a.Email,
	}
	if out.Email == "" {
		out.Email = email
	}
	return out
}

// invoiced reports whether Magento already holds an invoice for the order.
func invoiced(o *magento.Order) bool { return o.TotalInvoiced > 0 || o.BaseTotalInvoiced > 0 }

// invoice invoices the order offline with the transaction id, unless it is
// invoiced already (read first: Magento has no idempotency keys) or the
// payment is only authorised.
func (s *Syncer) invoice(ctx context.Context, log *zap.Logger, c *paymentevent.Captured, p *Progress, o *magento.Order) error {
	if got := magento.MinorUnits(o.GrandTotal, o.OrderCurrencyCode); o.OrderCurrencyCode != "" &&
		(got != c.Amount || !strings.EqualFold(o.OrderCurrencyCode, c.Currency)) {
		s.metrics.AmountMismatch.Inc()
		log.Error("ALERT: Magento's order total differs from the amount charged",
			zap.Int64("order_total", got), zap.String("order_currency", o.OrderCurrencyCode),
			zap.Int64("charged", c.Amount), zap.String("currency", c.Currency))
	}
	if c.Status == "authorized" || invoiced(o) {
		return nil
	}
	id, err := s.magento.InvoiceOrder(ctx, o.EntityID, magento.InvoiceRequest{
		Capture: false, Notify: true, AppendComment: true,
		Comment: &magento.CreationComment{Comment: "Transaction ID: " + c.TransactionID + " (" + c.Gateway + ", captured on secure checkout)"},
	})
	if err == nil {
		p.InvoiceID = id
		return nil
	}
	// Did it happen anyway? Read before deciding.
	again, rerr := s.magento.Order(ctx, o.EntityID)
	if rerr == nil && invoiced(again) {
		*o = *again
		return nil
	}
	if errs.Is(err, errs.Invalid) && rerr == nil {
		return poison(StepPlaced, err)
	}
	return retry(StepPlaced, err)
}

// commentMarker identifies the bridge's comment on an order, so a retry can
// tell whether an earlier attempt added it.
func commentMarker(paymentID string) string { return "[secure-checkout payment " + paymentID + "]" }

func (s *Syncer) comment(ctx context.Context, log *zap.Logger, c *paymentevent.Captured, p *Progress, o *magento.Order) error {
	marker := commentMarker(c.PaymentID)
	for _, h := range o.StatusHistories {
		if strings.Contains(h.Comment, marker) {
			return nil
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Paid on secure checkout: %s %s through %s, transaction %s", formatMinor(c.Amount, c.Currency), c.Currency, c.Gateway, c.TransactionID)
	if c.Method != "" {
		fmt.Fprintf(&b, " (%s)", c.Method)
	}
	if c.Status == "authorized" {
		b.WriteString("; authorised only, not yet captured")
	}
	if c.RoutingSummary != "" {
		fmt.Fprintf(&b, ". Routing: %s", c.RoutingSummary)
	}
	b.WriteString(". " + marker)
	err := s.magento.AddOrderComment(ctx, o.EntityID, magento.OrderStatusHistory{
		Comment: b.String(), ParentID: o.EntityID, Status: o.Status,
	})
	if err != nil {
		// An unknown outcome is settled by the next attempt's read of the
		// status history.
		return retry(StepInvoiced, err)
	}
	return nil
}

// formatMinor renders minor units as a decimal amount.
func formatMinor(amount int64, currency string) string {
	exp := magento.CurrencyExponent(currency)
	if exp == 0 {
		return fmt.Sprintf("%d", amount)
	}
	div := int64(1)
	for range exp {
		div *= 10
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%0*d", sign, amount/div, exp, amount%div)
}
