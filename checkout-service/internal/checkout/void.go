package checkout

import (
	"context"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// Void releases an authorised, uncaptured payment's hold at the gateway that
// placed it, for example when the order was cancelled in Magento before
// capture. It is idempotent: voiding a voided payment answers the payment
// again. A captured payment is refused with errs.Conflict (refund it
// instead), as is any payment not authorised. A gateway whose answer is lost
// leaves the payment authorised with errs.OutcomeUnknown, so the caller
// retries; gateways answer a repeated void with the charge's state.
func (s *Service) Void(ctx context.Context, id, reason string) (*Payment, error) {
	p, err := s.store.Payment(ctx, id)
	if err != nil {
		return nil, err
	}
	switch p.Status {
	case StatusVoided:
		return p, nil
	case StatusAuthorized:
	case StatusCaptured:
		return nil, errs.E(errs.Conflict, "Payment %s was captured; refund it instead of voiding.", id)
	default:
		return nil, errs.E(errs.Conflict, "Payment %s is %s; only an authorised payment can be voided.", id, p.Status)
	}
	gw, ok := s.gws[p.Gateway]
	if !ok {
		return nil, errs.E(errs.Unavailable, "Gateway %s is not configured here.", p.Gateway)
	}
	res, err := gw.Void(ctx, p.GatewayReference)
	if err != nil {
		return nil, err
	}
	// A void answers with the charge's state: failed (cancelled) is what we
	// want; anything else means the money was taken meanwhile.
	if res.Status != gateway.Failed {
		return nil, errs.E(errs.Conflict, "Payment %s could not be voided: the gateway reports it %s.", id, res.Status)
	}
	out, err := s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		switch p.Status {
		case StatusVoided:
		case StatusAuthorized:
			p.Status = StatusVoided
			p.ErrorMessage = trimMsg("Voided: " + reason)
		default:
			return nil, nil, errs.E(errs.Conflict, "Payment %s is %s; only an authorised payment can be voided.", id, p.Status)
		}
		return nil, nil, nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("payment voided", zap.String("payment_id", id), zap.String("gateway", p.Gateway))
	return out, nil
}
