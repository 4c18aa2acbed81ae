package checkout

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/errs"
)

// Rules returns the rule document in force.
func (s *Service) Rules() *routing.Ruleset { return s.rules.Load() }

// SaveRules validates a JSON or YAML rule document and saves it as the next
// version; every instance picks it up on its next poll (this one at once).
// An invalid document is errs.Invalid naming the field; the running rules
// stay.
func (s *Service) SaveRules(ctx context.Context, doc []byte, by string) (*routing.Ruleset, error) {
	rs, err := routing.Parse(doc, s.router.Names())
	if err != nil {
		return nil, err
	}
	rs.Doc.Version = 0
	raw, _ := json.Marshal(rs.Doc)
	v, err := s.store.SaveRules(ctx, raw, by, s.now().UTC())
	if err != nil {
		return nil, err
	}
	rs.Doc.Version = v
	s.rules.Store(rs)
	return rs, nil
}

// ReloadRules loads the newest saved document when it is newer than the one
// in force.
func (s *Service) ReloadRules(ctx context.Context) error {
	rv, err := s.store.LatestRules(ctx)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur := s.rules.Load(); cur != nil && cur.Doc.Version >= rv.Version {
		return nil
	}
	rs, err := routing.Parse(rv.Document, s.router.Names())
	if err != nil {
		// e.g. a gateway removed from the configuration: keep the running rules
		s.log.Error("saved rules are invalid here; keeping the running rules", zap.Int("version", rv.Version), zap.Error(err))
		return nil
	}
	rs.Doc.Version = rv.Version
	s.rules.Store(rs)
	s.log.Info("routing rules loaded", zap.Int("version", rv.Version))
	return nil
}

// RefreshStats reloads the success windows and breaker states.
func (s *Service) RefreshStats(ctx context.Context) (*routing.Snapshot, error) {
	if s.stats == nil {
		return s.snap.Load(), nil
	}
	snap, err := s.stats.Load(ctx, s.router.Names())
	if err != nil {
		return nil, err
	}
	s.snap.Store(snap)
	return snap, nil
}

// RunRouting polls rules and statistics until ctx ends.
func (s *Service) RunRouting(ctx context.Context, rulesEvery, statsEvery time.Duration) error {
	rt := time.NewTicker(rulesEvery)
	st := time.NewTicker(statsEvery)
	defer rt.Stop()
	defer st.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rt.C:
			if err := s.ReloadRules(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("rules poll failed", zap.Error(err))
			}
		case <-st.C:
			if _, err := s.RefreshStats(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("routing stats refresh failed", zap.Error(err))
			}
		}
	}
}

// DryRunDiff is one payment the draft would route differently.
type DryRunDiff struct {
	PaymentID     string        `json:"payment_id"`
	Facts         routing.Facts `json:"facts"`
	ActualGateway string        `json:"actual_gateway,omitempty"`
	CurrentRule   string        `json:"current_rule"`
	CurrentRoute  []string      `json:"current_route"`
	DraftRule     string        `json:"draft_rule"`
	DraftRoute    []string      `json:"draft_route"`
}

// DryRunReport compares a draft with the running rules over recent payments.
type DryRunReport struct {
	CurrentVersion int            `json:"current_version"`
	Evaluated      int            `json:"evaluated"`
	Changed        int            `json:"changed"`
	CurrentFirst   map[string]int `json:"current_first_choice"`
	DraftFirst     map[string]int `json:"draft_first_choice"`
	DraftRuleHits  map[string]int `json:"draft_rule_hits"`
	Differences    []DryRunDiff   `json:"differences"`
}

// DryRun evaluates a draft rule document against the facts of up to limit
// recent payments, beside the rules in force, with today's statistics. Random
// choices (volume splits, exploration) draw the same numbers for both, seeded
// by the payment id, so only rule changes show. An invalid draft is
// errs.Invalid.
func (s *Service) DryRun(ctx context.Context, draft []byte, limit int) (*DryRunReport, error) {
	rs, err := routing.Parse(draft, s.router.Names())
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 5000 {
		limit = 500
	}
	recent, err := s.store.Recent(ctx, limit)
	if err != nil {
		return nil, err
	}
	cur := s.rules.Load()
	snap := s.snap.Load()
	rep := &DryRunReport{CurrentVersion: cur.Doc.Version, CurrentFirst: map[string]int{}, DraftFirst: map[string]int{}, DraftRuleHits: map[string]int{}, Differences: []DryRunDiff{}}
	for _, p := range recent {
		if p.Routing == nil {
			continue
		}
		f := p.Routing.Facts
		a := s.decideSeeded(cur, f, snap, p.ID)
		b := s.decideSeeded(rs, f, snap, p.ID)
		rep.Evaluated++
		if len(a.Gateways) > 0 {
			rep.CurrentFirst[a.Gateways[0]]++
		}
		if len(b.Gateways) > 0 {
			rep.DraftFirst[b.Gateways[0]]++
		}
		rule := b.Explanation.MatchedRule
		if rule == "" {
			rule = "(default)"
		}
		rep.DraftRuleHits[rule]++
		if !sameRoute(a.Gateways, b.Gateways) || a.Explanation.MatchedRule != b.Explanation.MatchedRule {
			rep.Changed++
			if len(rep.Differences) < 200 {
				rep.Differences = append(rep.Differences, DryRunDiff{PaymentID: p.ID, Facts: f, ActualGateway: p.Gateway,
					CurrentRule: a.Explanation.MatchedRule, CurrentRoute: a.Gateways, DraftRule: b.Explanation.MatchedRule, DraftRoute: b.Gateways})
			}
		}
	}
	return rep, nil
}

func (s *Service) decideSeeded(rs *routing.Ruleset, f routing.Facts, snap *routing.Snapshot, seed string) routing.Decision {
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64()
	r := *s.router
	r.Rand = func() float64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float64(x>>11) / float64(1<<53)
	}
	return r.Decide(rs, f, snap)
}

func sameRoute(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// GatewayStats returns the latest statistics and breaker states.
func (s *Service) GatewayStats(ctx context.Context) (*routing.Snapshot, error) {
	return s.RefreshStats(ctx)
}

// Snapshot returns the statistics the router uses now, without refreshing.
func (s *Service) Snapshot() *routing.Snapshot { return s.snap.Load() }
