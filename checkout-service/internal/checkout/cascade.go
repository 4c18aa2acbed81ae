package checkout

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
)

// The late cascade: a payment held for reconciliation (its latest attempt's
// outcome was unknown) whose held attempt turns out not charged, after a
// technical failure, continues to the next gateway of its routing decision
// the way Pay would have, instead of failing.
//
// Crash safety rests on the attempt rows: the held attempt is recorded as not
// charged before anything else happens, the next attempt row (unique per
// payment and number, with its own idempotency key) is written before the
// gateway is called, and whoever writes attempt n+1 owns it. A reconciler run
// that finds an attempt pending looks it up instead of starting another; one
// that finds the latest attempt not charged (a crash between the two writes)
// resumes the cascade. Nothing cascades while an attempt's outcome is unknown.

// keepToken keeps the card token of a payment being held for reconciliation,
// for a late cascade. Best effort: without it the payment fails as before.
func (s *Service) keepToken(ctx context.Context, paymentID, token string) {
	if token == "" || s.rdb == nil {
		return
	}
	if err := s.rdb.Set(ctx, s.keys.Key("held", paymentID, "token"), token, s.cfg.HeldTokenTTL).Err(); err != nil {
		s.log.Warn("held payment's token not kept: no late cascade", zap.String("payment_id", paymentID), zap.Error(err))
	}
}

var errNoCascade = errors.New("no late cascade")

// lateCascade continues a held payment whose latest attempt was confirmed not
// charged with technical decline d. att is that attempt's resolution to
// record, or nil when it is recorded already (a run interrupted before the
// next attempt). When the cascade cannot run, the payment fails with d as
// before.
func (s *Service) lateCascade(ctx context.Context, p *Payment, att *Attempt, d *gateway.Decline) (*Payment, error) {
	token, candidates, declines, why := s.planCascade(ctx, p)
	if why != "" {
		s.log.Info("no late cascade", zap.String("payment_id", p.ID), zap.String("reason", why))
		return s.fail(ctx, p.ID, att, d)
	}
	n := len(p.Attempts)
	cur, err := s.store.Update(ctx, p.ID, func(q *Payment) (*Attempt, []Event, error) {
		if q.Status != StatusProcessing || len(q.Attempts) != n {
			return nil, nil, errNoCascade // resolved or continued meanwhile
		}
		if att != nil && settled(q.Attempts[n-1].Status) {
			return nil, nil, errNoCascade // another run recorded it and cascades
		}
		rc := s.now().UTC().Add(s.cfg.ReconcileAfter)
		q.ReconcileAt = &rc // if this run stops, a later one resumes
		q.DeclineCode, q.ErrorMessage = d.Code, trimMsg(d.Message)
		return att, nil, nil
	})
	if errors.Is(err, errNoCascade) {
		return s.store.Payment(ctx, p.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := s.at("cascade_resolved"); err != nil {
		return nil, err
	}
	s.log.Info("late cascade", zap.String("payment_id", p.ID), zap.Strings("gateways", candidates))
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ChargeTimeout)
	defer cancel()
	return s.drive(cctx, cur, token, candidates, declines)
}

// settled reports whether an attempt's status is final.
func settled(status string) bool {
	switch status {
	case AttemptPending, string(gateway.Unknown), string(gateway.Processing), string(gateway.RequiresAction):
		return false
	}
	return true
}

// planCascade checks that a late cascade may run and returns the token, the
// gateways left to try in the payment's routing order and the card's
// declines; why says why it may not.
func (s *Service) planCascade(ctx context.Context, p *Payment) (token string, candidates []string, declines int, why string) {
	if p.Status != StatusProcessing {
		return "", nil, 0, "payment is " + p.Status
	}
	if len(p.Attempts) >= s.cfg.MaxAttempts {
		return "", nil, 0, "max_attempts reached"
	}
	for _, a := range p.Attempts[:len(p.Attempts)-1] {
		if !settled(a.Status) {
			return "", nil, 0, "an earlier attempt's outcome is unknown"
		}
	}
	if p.Routing == nil || s.rdb == nil {
		return "", nil, 0, "no routing decision"
	}
	tried := map[string]bool{}
	for _, a := range p.Attempts {
		tried[a.Gateway] = true
	}
	// Eligible now: the router's verdict with the payment's facts, today.
	facts := p.Routing.Facts
	facts.Time = s.now().UTC()
	out := map[string]bool{}
	for _, e := range s.router.Decide(s.rules.Load(), facts, s.snap.Load()).Explanation.Eliminated {
		if e.Reason != routing.ReasonNotListed {
			out[e.Gateway] = true
		}
	}
	for _, c := range p.Routing.Candidates {
		if _, ok := s.gws[c.Gateway]; ok && !tried[c.Gateway] && !out[c.Gateway] && !slices.Contains(candidates, c.Gateway) {
			candidates = append(candidates, c.Gateway)
		}
	}
	if len(candidates) == 0 {
		return "", nil, 0, "no eligible gateway left"
	}
	fp := p.CardFingerprint
	vals, err := getEach(ctx, s.rdb, s.keys.Key("held", p.ID, "token"), s.keys.Key("card", fp, "blocked"), s.keys.Key("card", fp, "declines"))
	if err != nil {
		return "", nil, 0, "token and card checks unavailable"
	}
	token, _ = vals[0].(string)
	if token == "" {
		return "", nil, 0, "card token not kept"
	}
	if vals[1] != nil {
		return "", nil, 0, "card blocked"
	}
	if v, ok := vals[2].(string); ok {
		declines, _ = strconv.Atoi(v)
	}
	if declines >= s.cfg.CardRetryBudget {
		return "", nil, 0, "card retry budget spent"
	}
	// I3: the cart and its totals must still be what the payment charges.
	sess, err := s.sessions.Get(ctx, p.SessionID)
	if err != nil {
		return "", nil, 0, "session unavailable"
	}
	if sess.Cart.QuoteID != 0 && sess.Cart.QuoteID != p.QuoteID {
		return "", nil, 0, "the session's cart changed"
	}
	cv, err := s.carts.Load(ctx, sess.Cart)
	if err != nil {
		return "", nil, 0, "cart unavailable"
	}
	if cv.QuoteID != p.QuoteID || cv.Totals != p.Snapshot.Totals || cv.Totals.GrandTotal != p.Amount ||
		cv.Totals.Currency != p.Currency || !sameItems(cv.Items, p.Snapshot.Items) {
		return "", nil, 0, "the cart or its totals changed"
	}
	return token, candidates, declines, ""
}

func sameItems(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SKU != b[i].SKU || a[i].Qty != b[i].Qty || a[i].Price != b[i].Price || a[i].RowTotal != b[i].RowTotal {
			return false
		}
	}
	return true
}

// getEach reads keys as MGET does (a string, or nil for a missing key) but
// with one GET per key in one pipeline, so the keys may lie in different
// Redis Cluster slots, where MGET fails with CROSSSLOT.
func getEach(ctx context.Context, rdb redis.UniversalClient, keys ...string) ([]any, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	vals := make([]any, len(keys))
	for i, c := range cmds {
		v, err := c.Result()
		if err == nil {
			vals[i] = v
		} else if !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	return vals, nil
}
