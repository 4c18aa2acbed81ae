package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
)

// PayParams ask to pay a session.
type PayParams struct {
	SessionID      string
	Subject        string
	IdempotencyKey string
	Method         gateway.Method
	Token          string
	// CardNetwork and CardBIN are optional routing hints from the client
	// (the BIN is the first 6 to 8 digits, never the full number).
	CardNetwork string
	CardBIN     string
	Channel     string
}

// Hash is the request's fingerprint for idempotency comparisons.
func (p PayParams) Hash() string {
	b, _ := json.Marshal([]string{string(p.Method), p.Token, p.CardNetwork, p.CardBIN})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Pay charges the session's cart through the routed gateways. The same
// idempotency key and request return the same payment; the same key with
// another request is errs.Conflict. The payment's status is captured,
// authorized, requires_action (see NextAction), processing (held for
// reconciliation: the outcome is not known yet) or failed.
func (s *Service) Pay(ctx context.Context, p PayParams) (*Payment, error) {
	if p.IdempotencyKey == "" || len(p.IdempotencyKey) > 255 {
		return nil, errs.Invalidf("Idempotency-Key", "a header of 1 to 255 characters is required")
	}
	hash := p.Hash()
	fp := fingerprint(p.Token)
	// Three independent reads at once: an earlier payment with this key, the
	// session, and the card's block and decline counters.
	var (
		wg              sync.WaitGroup
		prev            *Payment
		prevErr, cardEr error
		card            []any
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		prev, prevErr = s.store.PaymentByIdempotency(ctx, p.SessionID, p.IdempotencyKey)
	}()
	go func() {
		defer wg.Done()
		card, cardEr = getEach(ctx, s.rdb, s.keys.Key("card", fp, "blocked"), s.keys.Key("card", fp, "declines"))
	}()
	sess, err := s.Session(ctx, p.SessionID, p.Subject)
	wg.Wait()
	if prevErr == nil {
		return replay(prev, hash)
	} else if !errs.Is(prevErr, errs.NotFound) {
		return nil, prevErr
	}
	if err != nil {
		return nil, err
	}
	if sess.Email == "" || (!sess.IsVirtual && (sess.ShippingAddress == nil || sess.CarrierCode == "")) {
		return nil, errs.E(errs.Unprocessable, "Set the address and the shipping method before paying.")
	}
	if cardEr != nil {
		s.log.Warn("card checks unavailable", zap.Error(cardEr))
		card = []any{nil, nil}
	}
	if card[0] != nil {
		return nil, &errs.Error{Code: "card_blocked", Status: 422, Message: "This card cannot be used. Please use another payment method."}
	}
	declines := 0
	if v, ok := card[1].(string); ok {
		declines, _ = strconv.Atoi(v)
	}
	// I3: the amount is Magento's, read now.
	cv, err := s.carts.Load(ctx, sess.Cart)
	if err != nil {
		return nil, err
	}
	if cv.QuoteID != sess.Cart.QuoteID {
		return nil, errs.E(errs.Conflict, "The cart changed; start the checkout again.")
	}
	if cv.Totals.GrandTotal <= 0 || len(cv.Items) == 0 {
		return nil, errs.E(errs.Unprocessable, "The cart has nothing to pay.")
	}
	sess.Items, sess.Totals = cv.Items, cv.Totals
	facts := routing.Facts{Amount: cv.Totals.GrandTotal, Currency: cv.Totals.Currency, Country: s.cfg.Country,
		Method: p.Method, CardNetwork: p.CardNetwork, CardBIN: p.CardBIN, CustomerGroup: sess.CustomerGroup,
		Channel: firstNonEmpty(p.Channel, sess.Channel), Time: s.now().UTC()}
	if sess.ShippingAddress != nil && sess.ShippingAddress.CountryID != "" {
		facts.Country = sess.ShippingAddress.CountryID
	}
	d := s.router.Decide(s.rules.Load(), facts, s.snap.Load())
	if len(d.Gateways) == 0 {
		var why []string
		for _, e := range d.Explanation.Eliminated {
			why = append(why, e.Gateway+": "+e.Reason)
		}
		return nil, &errs.Error{Code: "no_eligible_gateway", Status: 422,
			Message: "No payment gateway can take this payment (" + strings.Join(why, "; ") + ")."}
	}
	now := s.now().UTC()
	rc := now.Add(s.cfg.ReconcileAfter)
	pay := &Payment{ID: newID("pay_"), SessionID: sess.ID, IdempotencyKey: p.IdempotencyKey, RequestHash: hash,
		Status: StatusProcessing, Amount: cv.Totals.GrandTotal, Currency: cv.Totals.Currency, Method: string(p.Method),
		CartKind: sess.Cart.Kind, QuoteID: cv.QuoteID, CustomerID: sess.Cart.CustomerID, Snapshot: snapshot(sess, cv),
		Routing: &d.Explanation, CardFingerprint: fp, ReconcileAt: &rc, CreatedAt: now, UpdatedAt: now}
	err = s.store.CreatePayment(ctx, pay)
	if errorsIs(err, ErrCartBusy) && s.supersede(ctx, pay.QuoteID) {
		err = s.store.CreatePayment(ctx, pay)
	}
	switch {
	case errorsIs(err, ErrDuplicateKey):
		prev, err := s.store.PaymentByIdempotency(ctx, p.SessionID, p.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		return replay(prev, hash)
	case err != nil:
		return nil, err
	}
	if err := s.at("payment_created"); err != nil {
		return nil, err
	}
	// The gateway work finishes even if the shopper's connection drops.
	wctx, cancel := context.WithTimeout(context.WithValue(context.WithoutCancel(ctx), liveKey{}, true), s.cfg.ChargeTimeout)
	defer cancel()
	out, err := s.drive(wctx, pay, p.Token, d.Gateways, declines)
	if err != nil {
		return nil, err
	}
	sess.PaymentID = out.ID
	if out.Status == StatusCaptured || out.Status == StatusAuthorized {
		sess.Status = SessionPaid
	}
	if err := s.save(wctx, sess); err != nil {
		s.log.Warn("session not updated with payment", zap.String("payment_id", out.ID), zap.Error(err))
	}
	return out, nil
}

// supersede frees a quote held by a payment waiting for the shopper's action
// (an abandoned 3-D Secure page) so that the shopper can pay another way: the
// waiting charge is voided at the gateway and looked up again, and only a
// charge confirmed not taken is failed. It reports whether the quote is free.
func (s *Service) supersede(ctx context.Context, quoteID int64) bool {
	old, err := s.store.LivePayment(ctx, quoteID)
	if err != nil || old.Status != StatusRequiresAction || len(old.Attempts) == 0 {
		return false
	}
	att := old.Attempts[len(old.Attempts)-1]
	gw, ok := s.gws[att.Gateway]
	if !ok || att.GatewayReference == "" {
		return false
	}
	if _, err := gw.Void(ctx, att.GatewayReference); err != nil {
		// e.g. the shopper completed it meanwhile: the lookup tells
		s.log.Info("waiting payment not voided", zap.String("payment_id", old.ID), zap.Error(err))
	}
	res, err := gw.Lookup(ctx, s.chargeRequest(old, att, ""), att.GatewayReference)
	if err != nil {
		return false
	}
	if res.Status == gateway.Captured || res.Status == gateway.Authorized {
		_, _ = s.succeed(ctx, old.ID, att, res) // the shopper finished after all
		return false
	}
	if res.Status != gateway.Failed && res.Status != gateway.NotFound {
		return false
	}
	att.Status = string(gateway.Failed)
	d := &gateway.Decline{Code: "superseded", Bucket: gateway.ShopperFixable, Message: "Replaced by a newer payment attempt."}
	setDecline(&att, "", d)
	p, err := s.fail(ctx, old.ID, &att, d)
	return err == nil && p.Status == StatusFailed
}

func replay(prev *Payment, hash string) (*Payment, error) {
	if prev.RequestHash != hash {
		return nil, &errs.Error{Code: "idempotency_conflict", Status: 409,
			Message: "This Idempotency-Key was used with a different request."}
	}
	return prev, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func fingerprint(token string) string {
	h := sha256.Sum256([]byte("card:" + token))
	return hex.EncodeToString(h[:16])
}

func snapshot(sess *Session, cv CartView) paymentevent.Snapshot {
	return paymentevent.Snapshot{QuoteID: cv.QuoteID, MaskedQuoteID: sess.Cart.MaskedID, CartKind: sess.Cart.Kind,
		CustomerID: cv.CustomerID, Email: sess.Email, Phone: sess.Phone, ShippingAddress: sess.ShippingAddress,
		BillingAddress: sess.BillingAddress, ShippingCarrier: sess.CarrierCode, ShippingMethod: sess.MethodCode,
		Items: cv.Items, Totals: cv.Totals}
}

func (s *Service) chargeRequest(p *Payment, a Attempt, token string) gateway.ChargeRequest {
	ret := strings.ReplaceAll(s.cfg.ReturnURL, "{payment}", p.ID)
	return gateway.ChargeRequest{PaymentID: p.ID, Attempt: a.No, IdempotencyKey: a.IdempotencyKey, Amount: p.Amount,
		Currency: p.Currency, Method: gateway.Method(p.Method), Token: token,
		Customer:  gateway.Customer{Email: p.Snapshot.Email, Phone: p.Snapshot.Phone, Country: countryOf(p)},
		ReturnURL: ret, Description: fmt.Sprintf("Cart %d", p.QuoteID), Capture: s.cfg.Capture,
		Metadata: map[string]string{"payment_id": p.ID, "quote_id": fmt.Sprint(p.QuoteID)}}
}

func countryOf(p *Payment) string {
	if p.Snapshot.ShippingAddress != nil {
		return p.Snapshot.ShippingAddress.CountryID
	}
	return ""
}

// technical builds a technical decline for an error.
func technical(code, msg string) *gateway.Decline {
	return &gateway.Decline{Code: code, Message: msg, Bucket: gateway.Technical}
}

// resolve turns a charge's answer into a state the router can act on. Any
// technical failure, unreachable gateway or unknown outcome is looked up:
// only a NotFound (or a gateway-confirmed failure) lets the caller cascade.
// When the lookup itself fails, an errs.Unavailable charge (provably not
// sent) counts as not charged and anything else stays unknown.
func (s *Service) resolve(ctx context.Context, gw gateway.Gateway, req gateway.ChargeRequest, res gateway.Result, err error) gateway.Result {
	switch {
	case err == nil && res.Status == gateway.Failed && res.Decline != nil && res.Decline.Bucket == gateway.Technical:
		// fall through to the lookup
	case err == nil:
		return res
	}
	lr, lerr := gw.Lookup(ctx, req, res.Reference)
	if lerr != nil {
		if errs.Is(err, errs.Unavailable) {
			// The adapter says the request provably never reached the
			// gateway (and the gateway cannot be asked): nothing was charged.
			return gateway.Result{Status: gateway.NotFound, Decline: technical("gateway_unavailable", "The payment gateway is unavailable.")}
		}
		return gateway.Result{Status: gateway.Unknown, Reference: res.Reference}
	}
	switch lr.Status {
	case gateway.NotFound:
		d := res.Decline
		if d == nil && errs.Is(err, errs.Unavailable) {
			d = technical("gateway_unavailable", "The payment gateway is unavailable.")
		}
		if d == nil {
			d = technical(errs.Code(err), "The payment gateway did not complete the payment.")
		}
		return gateway.Result{Status: gateway.NotFound, Decline: d, Reference: res.Reference}
	case gateway.Failed:
		if lr.Decline == nil {
			lr.Decline = res.Decline
		}
		if lr.Decline == nil {
			lr.Decline = technical("processing_error", "The payment gateway did not complete the payment.")
		}
	}
	return lr
}

func outcomeOf(r gateway.Result) string {
	switch r.Status {
	case gateway.Captured, gateway.Authorized, gateway.RequiresAction:
		return routing.OutcomeOK
	case gateway.Failed, gateway.NotFound:
		if r.Decline != nil && r.Decline.Bucket != gateway.Technical {
			return routing.OutcomeDecline
		}
	}
	return routing.OutcomeTechnical
}

// drive tries the candidates in order until one takes the payment, a
// decline stops the cascade, or an outcome is unknown. pay.Attempts are the
// attempts made so far (a late cascade from the reconciler continues them):
// they count against MaxAttempts and say whether the one generic cascade and
// the one 3-D Secure step-up were used already.
func (s *Service) drive(ctx context.Context, pay *Payment, token string, candidates []string, declines int) (*Payment, error) {
	genericUsed := usedBucket(pay.Attempts, gateway.Generic)
	stepUpUsed := usedBucket(pay.Attempts, gateway.Authentication)
	var last *gateway.Decline
	queue := append([]string(nil), candidates...)
	threeDS := false // the next attempt is the step-up
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if len(pay.Attempts) >= s.cfg.MaxAttempts {
			break
		}
		gw, ok := s.gws[name]
		if !ok {
			continue
		}
		if declines >= s.cfg.CardRetryBudget {
			last = &gateway.Decline{Code: "retry_budget_exceeded", Bucket: gateway.ShopperFixable,
				Message: "This card was tried too often. Please use another payment method."}
			break
		}
		stepUp := threeDS
		threeDS = false
		now := s.now().UTC()
		att := Attempt{No: len(pay.Attempts) + 1, Gateway: name, Status: AttemptPending, CreatedAt: now, UpdatedAt: now}
		att.IdempotencyKey = fmt.Sprintf("pay_%s_att_%d", pay.ID, att.No)
		if err := s.store.InsertAttempt(ctx, pay.ID, att); err != nil {
			if errs.Is(err, errs.Conflict) {
				// Another driver (a reconciler, a webhook) wrote this attempt
				// first and owns it: never a second charge.
				return s.store.Payment(ctx, pay.ID)
			}
			return nil, err // the payment stays processing; the reconciler resolves it
		}
		pay.Attempts = append(pay.Attempts, att)
		if err := s.at("attempt_written"); err != nil {
			return nil, err
		}
		req := s.chargeRequest(pay, att, token)
		req.ThreeDS = stepUp
		start := time.Now()
		res, cerr := gw.Charge(ctx, req)
		if err := s.at("charged"); err != nil {
			return nil, err
		}
		res = s.resolve(ctx, gw, req, res, cerr)
		att.LatencyMS = time.Since(start).Milliseconds()
		s.record(ctx, name, pay, res)
		switch res.Status {
		case gateway.Captured, gateway.Authorized:
			return s.succeed(ctx, pay.ID, att, res)
		case gateway.RequiresAction:
			return s.hold(ctx, pay.ID, att, res, StatusRequiresAction, s.cfg.ActionTimeout)
		case gateway.Processing, gateway.Unknown, "":
			// Outcome unknown: never cascade; the reconciler looks it up and,
			// once it is confirmed not charged, may cascade with the token.
			s.keepToken(ctx, pay.ID, token)
			return s.hold(ctx, pay.ID, att, res, StatusProcessing, s.cfg.ReconcileAfter)
		}
		// Failed or NotFound: nothing was charged.
		d := res.Decline
		if d == nil {
			d = technical("processing_error", "The payment could not be processed.")
		}
		if stepUp && d.Bucket == gateway.Authentication {
			d = stepUpFailed(d)
		}
		last = d
		if d.Bucket != gateway.Technical {
			s.spendBudget(ctx, pay.CardFingerprint) // an issuer saw this card and said no
			declines++
		}
		att.Status = string(gateway.Failed)
		if res.Status == gateway.NotFound {
			att.Status = AttemptNotCharged
		}
		setDecline(&att, res.Reference, d)
		if _, err := s.store.Update(ctx, pay.ID, func(p *Payment) (*Attempt, []Event, error) {
			p.DeclineCode, p.ErrorMessage = d.Code, trimMsg(d.Message)
			return &att, nil, nil
		}); err != nil {
			return nil, err
		}
		pay.Attempts[len(pay.Attempts)-1] = att
		cascade := false
		switch d.Bucket {
		case gateway.Technical, gateway.Capability:
			cascade = true
		case gateway.Generic:
			cascade = !genericUsed
			genericUsed = true
		case gateway.Authentication:
			// Step up to 3-D Secure on the same gateway, once per payment:
			// the shopper gets requires_action, never a silent loop.
			if !stepUpUsed {
				stepUpUsed, cascade, threeDS = true, true, true
				queue = append([]string{name}, queue...)
			}
		case gateway.Hard:
			s.block(ctx, pay.CardFingerprint)
		}
		if !cascade {
			break
		}
	}
	if last == nil {
		last = technical("no_gateway_attempted", "No payment gateway could take the payment.")
	}
	return s.fail(ctx, pay.ID, nil, last)
}

// usedBucket reports whether an attempt was declined in bucket b: a generic
// decline spends the one generic cascade, an authentication decline the one
// step-up.
func usedBucket(atts []Attempt, b gateway.Bucket) bool {
	for _, a := range atts {
		if a.DeclineBucket == string(b) {
			return true
		}
	}
	return false
}

// isStepUp reports whether att is a 3-D Secure step-up: the attempt before
// it was an authentication decline.
func isStepUp(p *Payment, att Attempt) bool {
	for i, a := range p.Attempts {
		if a.No == att.No {
			return i > 0 && p.Attempts[i-1].DeclineBucket == string(gateway.Authentication)
		}
	}
	return false
}

// stepUpFailed is the decline of a step-up attempt whose authentication
// failed: the payment stops there.
func stepUpFailed(d *gateway.Decline) *gateway.Decline {
	raw := d.Raw
	if raw == "" {
		raw = d.Code
	}
	return &gateway.Decline{Code: "authentication_failed", Bucket: gateway.Authentication, Raw: raw,
		Message: "The card could not be authenticated with 3-D Secure; nothing was charged. Please use another payment method."}
}

func setDecline(a *Attempt, ref string, d *gateway.Decline) {
	if ref != "" {
		a.GatewayReference = ref
	}
	if d != nil {
		a.DeclineCode, a.DeclineBucket, a.ErrorMessage = d.Code, string(d.Bucket), trimMsg(d.Message)
	}
	a.UpdatedAt = time.Now().UTC()
}

// record counts an attempt's outcome in the shared windows, off the
// payment's critical path: statistics are best effort.
func (s *Service) record(ctx context.Context, gw string, p *Payment, r gateway.Result) {
	if s.stats == nil {
		return
	}
	method, currency, outcome := gateway.Method(p.Method), p.Currency, outcomeOf(r)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.stats.Record(ctx, gw, method, currency, outcome); err != nil {
			s.log.Warn("routing stats not recorded", zap.String("gateway", gw), zap.Error(err))
		}
	}()
}

// Wait waits for background work (statistics) to finish; tests and
// shutdown call it.
func (s *Service) Wait() { s.bg.Wait() }

// spendBudget counts an issuer decline against the card's retry budget.
func (s *Service) spendBudget(ctx context.Context, fp string) {
	k := s.keys.Key("card", fp, "declines")
	n, err := s.rdb.Incr(ctx, k).Result()
	if err != nil {
		s.log.Warn("card retry budget not counted", zap.Error(err))
		return
	}
	if n == 1 {
		s.rdb.Expire(ctx, k, s.cfg.CardBudgetWindow)
	}
}

func (s *Service) block(ctx context.Context, fp string) {
	if err := s.rdb.Set(ctx, s.keys.Key("card", fp, "blocked"), "1", s.cfg.CardBudgetWindow).Err(); err != nil {
		s.log.Warn("card not blocked", zap.Error(err))
	}
}

// succeed records a capture or authorisation and, in the same transaction,
// the outbox event.
func (s *Service) succeed(ctx context.Context, id string, att Attempt, res gateway.Result) (*Payment, error) {
	out, err := s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		now := s.now().UTC()
		att.Status, att.GatewayReference, att.Fee, att.UpdatedAt = string(res.Status), res.Reference, res.Fee, now
		att.DeclineCode, att.DeclineBucket, att.ErrorMessage = "", "", ""
		if p.Status == StatusCaptured || p.Status == StatusAuthorized {
			if p.Gateway != att.Gateway || p.GatewayReference != res.Reference {
				s.log.Error("second successful charge for one payment: refund it", zap.String("payment_id", id),
					zap.String("gateway", att.Gateway), zap.String("reference", res.Reference))
			}
			if p.Status == StatusAuthorized && res.Status == gateway.Captured && p.GatewayReference == res.Reference {
				p.Status, p.CapturedAt = StatusCaptured, capturedAt(now)
				return &att, s.announce(p, now), nil
			}
			return &att, nil, nil
		}
		if p.Status == StatusFailed {
			s.log.Warn("late success after the payment was failed", zap.String("payment_id", id))
		}
		p.Status = string(res.Status)
		p.Gateway, p.GatewayReference = att.Gateway, res.Reference
		p.DeclineCode, p.ErrorMessage, p.NextAction, p.ReconcileAt = "", "", nil, nil
		if res.Status == gateway.Captured {
			p.CapturedAt = capturedAt(now) // an authorisation is captured later (Capture)
		}
		return &att, s.announce(p, now), nil
	})
	if err != nil {
		return nil, err
	}
	if !live(ctx) {
		s.markPaid(ctx, out)
	}
	return out, nil
}

type liveKey struct{}

// live reports whether ctx belongs to a Pay request, which updates the
// session itself.
func live(ctx context.Context) bool { return ctx.Value(liveKey{}) != nil }

// announce returns the payment.captured event when the payment's state calls
// for one.
func (s *Service) announce(p *Payment, now time.Time) []Event {
	if p.Status != StatusCaptured && !(p.Status == StatusAuthorized && s.cfg.AnnounceAuthorized) {
		return nil
	}
	n := 0
	for _, a := range p.Attempts {
		if a.Status != AttemptPending {
			n++
		}
	}
	summary := fmt.Sprintf("paid through %s (%s)", p.Gateway, p.GatewayReference)
	if p.Routing != nil {
		rule := p.Routing.MatchedRule
		if rule == "" {
			rule = "default"
		}
		summary = fmt.Sprintf("routed by rule %q (%s, rules v%d); paid through %s after %d attempt(s)",
			rule, p.Routing.Selection, p.Routing.RulesVersion, p.Gateway, max(n, 1))
	}
	ev := paymentevent.Captured{Version: paymentevent.Version, PaymentID: p.ID, QuoteID: p.QuoteID, CartKind: p.CartKind,
		CustomerID: p.CustomerID, Email: p.Snapshot.Email, Amount: p.Amount, Currency: p.Currency, Status: p.Status,
		Gateway: p.Gateway, TransactionID: p.GatewayReference, Method: p.Method, RoutingSummary: summary,
		Attempts: max(n, 1), CapturedAt: now.Format(time.RFC3339), Order: p.Snapshot}
	b, _ := json.Marshal(ev)
	return []Event{{EventID: paymentevent.CapturedEventID(p.ID), Topic: paymentevent.TopicCaptured, AggregateID: p.ID, Payload: b}}
}

func (s *Service) markPaid(ctx context.Context, p *Payment) {
	sess, err := s.sessions.Get(ctx, p.SessionID)
	if err != nil {
		return
	}
	sess.Status, sess.PaymentID = SessionPaid, p.ID
	_ = s.save(ctx, sess)
}

// hold records a pending state and when to look again.
func (s *Service) hold(ctx context.Context, id string, att Attempt, res gateway.Result, status string, after time.Duration) (*Payment, error) {
	return s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		now := s.now().UTC()
		att.Status = string(res.Status)
		if res.Status == "" {
			att.Status = string(gateway.Unknown)
		}
		att.GatewayReference, att.UpdatedAt = res.Reference, now
		if isTerminal(p.Status) {
			return &att, nil, nil
		}
		rc := now.Add(after)
		p.Status, p.ReconcileAt, p.NextAction = status, &rc, res.NextAction
		if status == StatusRequiresAction {
			p.DeclineCode, p.ErrorMessage = "", "" // e.g. the authentication_required that led to the step-up
		}
		p.Gateway = att.Gateway
		if res.Reference != "" {
			p.GatewayReference = res.Reference
		}
		return &att, nil, nil
	})
}

// fail marks the payment failed and frees its cart for another payment.
func (s *Service) fail(ctx context.Context, id string, att *Attempt, d *gateway.Decline) (*Payment, error) {
	return s.store.Update(ctx, id, func(p *Payment) (*Attempt, []Event, error) {
		if isTerminal(p.Status) {
			return att, nil, nil
		}
		p.Status, p.ReconcileAt, p.NextAction = StatusFailed, nil, nil
		p.DeclineCode, p.ErrorMessage = d.Code, trimMsg(d.Message)
		return att, nil, nil
	})
}
