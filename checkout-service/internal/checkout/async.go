package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// Payment returns a payment with its attempts.
func (s *Service) Payment(ctx context.Context, id string) (*Payment, error) {
	return s.store.Payment(ctx, id)
}

// Reconcile resolves an in-flight payment by asking the gateway about its
// latest attempt. It is safe to call at any time from any instance.
func (s *Service) Reconcile(ctx context.Context, id string) (*Payment, error) {
	p, err := s.store.Payment(ctx, id)
	if err != nil {
		return nil, err
	}
	if isTerminal(p.Status) {
		return s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
			p.ReconcileAt = nil
			return nil, nil, nil
		})
	}
	now := s.now().UTC()
	if len(p.Attempts) == 0 {
		if now.Sub(p.CreatedAt) < s.cfg.ChargeTimeout {
			return s.reschedule(ctx, id, p.CreatedAt.Add(s.cfg.ChargeTimeout))
		}
		return s.fail(ctx, id, nil, technical("not_attempted", "The payment was interrupted before any gateway was tried."))
	}
	att := p.Attempts[len(p.Attempts)-1]
	switch att.Status {
	case string(gateway.Failed), AttemptNotCharged:
		// interrupted between a decline and the next attempt: a technical
		// one (nothing charged, no issuer decision) resumes the cascade
		d := &gateway.Decline{Code: att.DeclineCode, Message: att.ErrorMessage, Bucket: gateway.Bucket(att.DeclineBucket)}
		if d.Bucket == gateway.Technical {
			return s.lateCascade(ctx, p, nil, d)
		}
		return s.fail(ctx, id, nil, d)
	}
	gw, ok := s.gws[att.Gateway]
	if !ok {
		return s.reschedule(ctx, id, now.Add(s.cfg.ReconcileAfter))
	}
	req := s.chargeRequest(p, att, "")
	res, err := gw.Lookup(ctx, req, att.GatewayReference)
	if err != nil {
		s.log.Info("reconcile lookup failed", zap.String("payment_id", id), zap.Error(err))
		return s.reschedule(ctx, id, now.Add(s.cfg.ReconcileAfter))
	}
	return s.apply(ctx, p, att, res, true)
}

// apply moves a payment on from a gateway's report about one attempt
// (Lookup, a webhook, a 3-D Secure return). States only move forward. A held
// payment's latest attempt confirmed not charged after a technical failure
// cascades to the next gateway (lateCascade) when it can, else fails.
func (s *Service) apply(ctx context.Context, p *Payment, att Attempt, res gateway.Result, fromLookup bool) (*Payment, error) {
	now := s.now().UTC()
	switch res.Status {
	case gateway.Captured, gateway.Authorized:
		if res.Reference == "" {
			res.Reference = att.GatewayReference
		}
		return s.succeed(ctx, p.ID, att, res)
	case gateway.Failed:
		if p.Status == StatusCaptured || p.Status == StatusAuthorized {
			return p, nil
		}
		d := res.Decline
		if d == nil {
			d = technical("processing_error", "The payment failed.")
		}
		if d.Bucket == gateway.Authentication && isStepUp(p, att) {
			d = stepUpFailed(d) // the one step-up failed: stop, never loop
		}
		att.Status = string(gateway.Failed)
		setDecline(&att, res.Reference, d)
		if d.Bucket == gateway.Technical && latest(p, att) {
			return s.lateCascade(ctx, p, &att, d)
		}
		return s.fail(ctx, p.ID, &att, d)
	case gateway.NotFound:
		if !fromLookup {
			return p, nil
		}
		if now.Sub(att.CreatedAt) < s.cfg.ChargeTimeout {
			// the charge may still be in flight from the request that wrote it
			return s.reschedule(ctx, p.ID, att.CreatedAt.Add(s.cfg.ChargeTimeout))
		}
		att.Status = AttemptNotCharged
		d := technical("not_charged", "The payment was interrupted; nothing was charged. Please try again.")
		setDecline(&att, "", d)
		if latest(p, att) {
			return s.lateCascade(ctx, p, &att, d)
		}
		return s.fail(ctx, p.ID, &att, d)
	case gateway.RequiresAction:
		if p.Status == StatusRequiresAction && now.Sub(att.CreatedAt) > s.cfg.ActionTimeout && fromLookup {
			if gw, ok := s.gws[att.Gateway]; ok && att.GatewayReference != "" {
				if _, err := gw.Void(ctx, att.GatewayReference); err != nil {
					s.log.Info("void of an expired action failed", zap.String("payment_id", p.ID), zap.Error(err))
					return s.reschedule(ctx, p.ID, now.Add(s.cfg.ReconcileAfter))
				}
			}
			att.Status = string(gateway.Failed)
			d := &gateway.Decline{Code: "action_expired", Bucket: gateway.Authentication, Message: "The payment was not confirmed in time."}
			setDecline(&att, "", d)
			return s.fail(ctx, p.ID, &att, d)
		}
		return s.reschedule(ctx, p.ID, att.CreatedAt.Add(s.cfg.ActionTimeout))
	}
	// processing or unknown: look again later
	return s.reschedule(ctx, p.ID, now.Add(s.cfg.ReconcileAfter))
}

// latest reports whether att is the payment's latest attempt.
func latest(p *Payment, att Attempt) bool {
	return len(p.Attempts) > 0 && p.Attempts[len(p.Attempts)-1].No == att.No
}

func (s *Service) reschedule(ctx context.Context, id string, at time.Time) (*Payment, error) {
	return s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		if !isTerminal(p.Status) {
			p.ReconcileAt = &at
		}
		return nil, nil, nil
	})
}

// RefreshByReference re-reads a charge after the shopper returned from a
// gateway action (3-D Secure) and applies its state.
func (s *Service) RefreshByReference(ctx context.Context, gatewayName, reference string) (*Payment, error) {
	p, err := s.store.PaymentByReference(ctx, gatewayName, reference)
	if err != nil {
		return nil, err
	}
	if isTerminal(p.Status) {
		return p, nil
	}
	return s.Reconcile(ctx, p.ID)
}

// RunReconciler resolves due payments every interval until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.ReconcileDue(ctx)
	}
}

// ReconcileDue resolves the payments due now and returns how many it tried.
func (s *Service) ReconcileDue(ctx context.Context) int {
	ids, err := s.store.DueForReconcile(ctx, s.now().UTC(), time.Minute, 50)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reconciler: claim failed", zap.Error(err))
		}
		return 0
	}
	for _, id := range ids {
		if _, err := s.Reconcile(ctx, id); err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler: payment not resolved", zap.String("payment_id", id), zap.Error(err))
		}
	}
	return len(ids)
}

// ReceiveWebhook verifies a webhook on its raw body and stores it for
// asynchronous application. duplicate is true when the event was already
// received: it changes nothing.
func (s *Service) ReceiveWebhook(ctx context.Context, gatewayName string, h map[string][]string, body []byte) (duplicate bool, err error) {
	gw, ok := s.gws[gatewayName]
	if !ok {
		return false, errs.E(errs.NotFound, "No gateway %q.", gatewayName)
	}
	ev, err := gw.ParseWebhook(ctx, h, body, s.now())
	if err != nil {
		return false, err
	}
	if ev.ID == "" {
		sum := sha256.Sum256(body)
		ev.ID = "sha256:" + hex.EncodeToString(sum[:])
	}
	ev.Raw = nil
	fresh, err := s.store.InsertWebhook(ctx, WebhookEvent{Gateway: gatewayName, EventID: ev.ID, Type: ev.Type, Event: ev, Raw: body}, s.now().UTC())
	if err != nil {
		return false, err
	}
	if fresh {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return !fresh, nil
}

// RunWebhooks applies stored webhooks until ctx ends.
func (s *Service) RunWebhooks(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		s.ApplyWebhooks(ctx)
	}
}

// ApplyWebhooks applies claimed webhook events and returns how many.
func (s *Service) ApplyWebhooks(ctx context.Context) int {
	evs, err := s.store.ClaimWebhooks(ctx, s.now().UTC(), time.Minute, 50)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhooks: claim failed", zap.Error(err))
		}
		return 0
	}
	for _, ev := range evs {
		aerr := s.applyWebhook(ctx, ev)
		if err := s.store.FinishWebhook(ctx, ev.Gateway, ev.EventID, s.now().UTC(), aerr); err != nil {
			s.log.Warn("webhooks: not finished", zap.String("event_id", ev.EventID), zap.Error(err))
		}
	}
	return len(evs)
}

func (s *Service) applyWebhook(ctx context.Context, we WebhookEvent) error {
	ev := we.Event
	if ev.Refund != nil {
		return nil // refunds are settled synchronously; the event is kept for audit
	}
	var (
		p   *Payment
		err error
	)
	if ev.Reference != "" {
		p, err = s.store.PaymentByReference(ctx, we.Gateway, ev.Reference)
	}
	if (p == nil || err != nil) && ev.PaymentID != "" {
		p, err = s.store.Payment(ctx, ev.PaymentID)
	}
	if err != nil {
		return fmt.Errorf("webhook %s: %w", we.EventID, err)
	}
	if p == nil {
		return fmt.Errorf("webhook %s names no charge", we.EventID)
	}
	var att *Attempt
	for i := len(p.Attempts) - 1; i >= 0; i-- {
		a := p.Attempts[i]
		if a.Gateway == we.Gateway && (ev.Reference == "" || a.GatewayReference == ev.Reference || a.GatewayReference == "") {
			att = &a
			break
		}
	}
	if att == nil {
		return fmt.Errorf("webhook %s: payment %s has no attempt at %s", we.EventID, p.ID, we.Gateway)
	}
	res := ev.Result
	if res.Reference == "" {
		res.Reference = ev.Reference
	}
	_, err = s.apply(ctx, p, *att, res, false)
	return err
}

// RefundParams ask to refund part or all of a captured payment.
type RefundParams struct {
	PaymentID string
	RefundID  string // the caller's id; one refund per id
	Amount    int64
}

// Refund returns money through the gateway that took it, once per refund id.
// Errors: errs.NotFound, errs.Conflict (not captured, or the refund id was
// used for another amount or payment), errs.Unprocessable (more than the
// refundable balance); errs.OutcomeUnknown or errs.Unavailable when the
// gateway did not answer: repeat the same request.
func (s *Service) Refund(ctx context.Context, rp RefundParams) (*Refund, error) {
	if rp.Amount <= 0 {
		return nil, errs.Invalidf("amount", "must be a positive number of minor units")
	}
	if rp.RefundID == "" || len(rp.RefundID) > 64 {
		return nil, errs.Invalidf("refund_id", "1 to 64 characters are required")
	}
	p, err := s.store.Payment(ctx, rp.PaymentID)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", rp.PaymentID, rp.Amount)))
	now := s.now().UTC()
	r := &Refund{ID: rp.RefundID, PaymentID: p.ID, Amount: rp.Amount, Currency: p.Currency, Status: RefundPending,
		Gateway: p.Gateway, RequestHash: hex.EncodeToString(sum[:]), CreatedAt: now, UpdatedAt: now}
	out, created, err := s.store.CreateRefund(ctx, r)
	if err != nil {
		return nil, err
	}
	if !created {
		if out.RequestHash != r.RequestHash {
			return nil, &errs.Error{Code: "idempotency_conflict", Status: 409, Message: "This refund_id was used for another payment or amount."}
		}
		if out.Status != RefundPending {
			return out, nil
		}
	}
	gw, ok := s.gws[out.Gateway]
	if !ok {
		return nil, errs.E(errs.Unavailable, "Gateway %s is not configured here.", out.Gateway)
	}
	res, err := gw.Refund(ctx, gateway.RefundRequest{RefundID: out.ID, Reference: p.GatewayReference, Amount: out.Amount,
		Currency: out.Currency, IdempotencyKey: "refund_" + out.ID})
	if err != nil {
		return nil, err // stays pending; the same request retries with the same key
	}
	out.GatewayReference, out.UpdatedAt = res.Reference, s.now().UTC()
	switch res.Status {
	case gateway.Captured:
		out.Status = RefundSucceeded
	case gateway.Failed:
		out.Status = RefundFailed
		if res.Decline != nil {
			out.ErrorMessage = trimMsg(res.Decline.Message)
		}
	default:
		out.Status = RefundPending
	}
	if err := s.store.FinishRefund(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}
