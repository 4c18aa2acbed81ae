package checkout

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// CaptureParams ask to capture an authorised payment.
type CaptureParams struct {
	PaymentID string
	// CaptureID is the caller's id for the capture (magento-bridge sends the
	// Magento invoice), 1 to 64 characters; it is logged and stored.
	CaptureID string
	// Amount is in the payment's minor units and must be the authorised
	// amount: partial capture is not supported.
	Amount int64
}

// Capture takes the money of an authorised payment through the gateway that
// authorised it, for example when the order is invoiced in Magento. It is
// idempotent: a captured payment answers itself again, whatever the capture
// id (a payment is captured once; the first capture id is kept). It writes no
// outbox event: the order exists already.
//
// The gateway's state is read (Lookup) before the capture, so a retry after
// a lost answer never captures twice and a charge captured meanwhile is
// recorded as captured; any answer but a capture is read again, so an
// adapter that answers a repeated capture with an error still ends in
// captured when the charge is.
//
// Errors: errs.Invalid; errs.NotFound; errs.Conflict for another amount than
// the authorised one, a payment that is not authorised, or a capture the
// gateway refused (the payment stays authorised) or cannot make because the
// authorisation is gone (expired or cancelled at the gateway: the payment is
// then marked voided, as nothing was taken); errs.OutcomeUnknown when the
// gateway's answer was lost and a Lookup could not confirm the capture (the
// payment stays authorised: repeat the request); errs.Unavailable when the
// gateway could not be reached (nothing was captured: repeat the request).
func (s *Service) Capture(ctx context.Context, cp CaptureParams) (*Payment, error) {
	if cp.CaptureID == "" || len(cp.CaptureID) > 64 {
		return nil, errs.Invalidf("capture_id", "1 to 64 characters are required")
	}
	if cp.Amount <= 0 {
		return nil, errs.Invalidf("amount", "must be a positive number of minor units")
	}
	p, err := s.store.Payment(ctx, cp.PaymentID)
	if err != nil {
		return nil, err
	}
	switch p.Status {
	case StatusAuthorized, StatusCaptured:
	default:
		return nil, errs.E(errs.Conflict, "Payment %s is %s; only an authorised payment can be captured.", p.ID, p.Status)
	}
	if cp.Amount != p.Amount {
		return nil, errs.E(errs.Conflict, "Payment %s was authorised for %d (%s minor units), not %d: partial capture is not supported; invoice the whole order.",
			p.ID, p.Amount, p.Currency, cp.Amount)
	}
	if p.Status == StatusCaptured {
		if p.CaptureID != "" {
			return p, nil
		}
		return s.markCaptured(ctx, p.ID, cp.CaptureID, gateway.Result{}) // captured elsewhere: keep the caller's id
	}
	gw, ok := s.gws[p.Gateway]
	if !ok {
		return nil, errs.E(errs.Unavailable, "Gateway %s is not configured here.", p.Gateway)
	}
	if p.GatewayReference == "" {
		return nil, errs.E(errs.Conflict, "Payment %s has no gateway reference to capture.", p.ID)
	}
	// The gateway work and its record finish even if the caller goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ChargeTimeout)
	defer cancel()
	req := s.lookupRequest(p)
	// A retry after a lost answer, or a capture made at the gateway itself.
	if out, settled, err := s.settledCapture(ctx, gw, req, p, cp.CaptureID, nil); settled {
		return out, err
	}
	res, cerr := gw.Capture(ctx, p.GatewayReference, p.Amount, p.Currency)
	if cerr == nil && res.Status == gateway.Captured {
		return s.markCaptured(ctx, p.ID, cp.CaptureID, res)
	}
	// Any other answer is checked: a charge captured already may be answered
	// with an error, and a lost answer may hide a capture.
	if out, settled, err := s.settledCapture(ctx, gw, req, p, cp.CaptureID, cerr); settled {
		return out, err
	}
	switch code := errs.Code(cerr); {
	case cerr == nil && res.Status == gateway.Failed:
		return nil, errs.E(errs.Conflict, "Gateway %s refused the capture of payment %s: %s. The payment stays authorised.",
			p.Gateway, p.ID, declineText(res.Decline))
	case cerr == nil:
		return nil, errs.E(errs.OutcomeUnknown, "Gateway %s reports the capture of payment %s %s; the payment stays authorised: repeat the request.",
			p.Gateway, p.ID, res.Status)
	case code == errs.Unavailable:
		return nil, cerr
	case code == errs.Conflict, code == errs.Invalid, code == errs.Unprocessable, code == errs.NotFound:
		return nil, errs.Wrap(errs.Conflict, cerr, "Gateway %s refused the capture of payment %s: %s. The payment stays authorised.",
			p.Gateway, p.ID, errs.As(cerr).Message)
	}
	return nil, errs.Wrap(errs.OutcomeUnknown, cerr, "The capture of payment %s at %s did not answer and a lookup could not confirm it; the payment stays authorised: repeat the request.",
		p.ID, p.Gateway)
}

// settledCapture looks the charge up and reports settled when its state
// decides the capture's answer: captured (recorded as such), failed (the
// authorisation is gone) or processing (a capture the gateway holds as
// pending, as PayPal's PENDING: asking again would be refused, yet the money
// is on its way, so the caller repeats later). A lookup that fails, or any
// other state, settles nothing. cause is the capture call's error, if any.
func (s *Service) settledCapture(ctx context.Context, gw gateway.Gateway, req gateway.ChargeRequest, p *Payment, captureID string, cause error) (*Payment, bool, error) {
	lr, err := gw.Lookup(ctx, req, p.GatewayReference)
	if err != nil {
		return nil, false, nil
	}
	switch lr.Status {
	case gateway.Captured:
		out, err := s.markCaptured(ctx, p.ID, captureID, lr)
		return out, true, err
	case gateway.Failed:
		return nil, true, s.authorisationGone(ctx, p, lr)
	case gateway.Processing:
		return nil, true, errs.Wrap(errs.OutcomeUnknown, cause, "Gateway %s reports the capture of payment %s still processing; the payment stays authorised: repeat the request later.",
			p.Gateway, p.ID)
	}
	return nil, false, nil
}

// lookupRequest is the charge request of the attempt that authorised p, for
// Lookup.
func (s *Service) lookupRequest(p *Payment) gateway.ChargeRequest {
	for i := len(p.Attempts) - 1; i >= 0; i-- {
		if a := p.Attempts[i]; a.Gateway == p.Gateway && a.GatewayReference == p.GatewayReference {
			return s.chargeRequest(p, a, "")
		}
	}
	return gateway.ChargeRequest{PaymentID: p.ID, Amount: p.Amount, Currency: p.Currency}
}

// markCaptured records that the gateway captured an authorised payment: the
// payment, its authorising attempt, when and the caller's capture id. A
// payment captured already keeps its first capture id (or takes this one).
func (s *Service) markCaptured(ctx context.Context, id, captureID string, res gateway.Result) (*Payment, error) {
	var newly bool
	out, err := s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		newly = false
		switch p.Status {
		case StatusCaptured:
			if p.CaptureID == "" {
				p.CaptureID = captureID
			}
			return nil, nil, nil
		case StatusAuthorized:
		default:
			s.log.Error("gateway reports a capture of a payment that is not authorised here: refund it",
				zap.String("payment_id", id), zap.String("status", p.Status), zap.String("gateway", p.Gateway))
			return nil, nil, errs.E(errs.Conflict, "Payment %s is %s; only an authorised payment can be captured.", id, p.Status)
		}
		now := s.now().UTC()
		p.Status, p.CapturedAt, p.CaptureID, p.ReconcileAt = StatusCaptured, capturedAt(now), captureID, nil
		newly = true
		for _, a := range p.Attempts {
			if a.Gateway == p.Gateway && a.GatewayReference == p.GatewayReference {
				a.Status, a.UpdatedAt = string(gateway.Captured), now
				if res.Fee > 0 {
					a.Fee = res.Fee
				}
				return &a, nil, nil
			}
		}
		return nil, nil, nil
	})
	if err != nil {
		return nil, err
	}
	if newly {
		s.log.Info("payment captured", zap.String("payment_id", id), zap.String("gateway", out.Gateway),
			zap.String("capture_id", captureID))
	}
	return out, nil
}

// capturedAt is a capture time as MySQL keeps it (microseconds), so that the
// answer that records it and every later read show the same time.
func capturedAt(now time.Time) *time.Time {
	t := now.Truncate(time.Microsecond)
	return &t
}

// authorisationGone marks an authorised payment voided when its gateway
// reports the charge failed (the authorisation expired or was cancelled
// there: nothing can be captured, nothing was taken) and returns the
// errs.Conflict that says so.
func (s *Service) authorisationGone(ctx context.Context, p *Payment, r gateway.Result) error {
	why := declineText(r.Decline)
	if _, err := s.store.Update(ctx, p.ID, func(p *Payment) (*Attempt, []Event, error) {
		if p.Status == StatusAuthorized {
			p.Status = StatusVoided
			p.ErrorMessage = trimMsg("Not captured: the gateway reports the authorisation " + why)
		}
		return nil, nil, nil
	}); err != nil {
		return err
	}
	return errs.E(errs.Conflict, "Payment %s cannot be captured: gateway %s reports the authorisation %s. Nothing was taken; the payment is voided.",
		p.ID, p.Gateway, why)
}

// declineText is a decline for an operator: its code and the gateway's own.
func declineText(d *gateway.Decline) string {
	if d == nil {
		return "failed"
	}
	t := d.Code
	if d.Raw != "" && d.Raw != d.Code {
		t += " (" + d.Raw + ")"
	}
	if t == "" {
		t = "failed"
	}
	return t
}
