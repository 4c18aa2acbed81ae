package routing

import (
	"math/rand/v2"
	"slices"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
)

// Fee is a gateway's price for one method: PercentBps of the amount plus
// Fixed minor units, plus every add-on whose conditions match.
type Fee struct {
	PercentBps int64   `json:"percent_bps" mapstructure:"percent_bps" desc:"fee in basis points of the amount"`
	Fixed      int64   `json:"fixed" mapstructure:"fixed" desc:"fixed fee per payment, in minor units"`
	Addons     []Addon `json:"addons,omitempty" mapstructure:"addons" desc:"surcharges added when all their conditions hold, e.g. international cards"`
}

// Addon is a surcharge applied when all its conditions hold, e.g.
// international cards: {lhs: country, comparison: not_equal, value: US}.
type Addon struct {
	Name       string      `json:"name" mapstructure:"name" desc:"label of the surcharge, for documentation"`
	PercentBps int64       `json:"percent_bps" mapstructure:"percent_bps" desc:"surcharge in basis points of the amount"`
	Fixed      int64       `json:"fixed" mapstructure:"fixed" desc:"fixed surcharge per payment, in minor units"`
	When       []Condition `json:"when" mapstructure:"when" desc:"conditions that must all hold, each with lhs (a routing fact), comparison and value"`
}

// FeeModel prices a gateway per method; key "default" applies to methods
// without their own entry.
type FeeModel map[string]Fee

// Gateway is what the router knows of one gateway.
type Gateway struct {
	Name    string
	Enabled bool
	Caps    gateway.Capabilities
	Fees    FeeModel
	fees    map[string]compiledFee
}

type compiledFee struct {
	Fee
	when [][]cond
}

// Router holds the gateways; it is immutable and safe for concurrent use.
type Router struct {
	gws   []Gateway
	index map[string]int
	// Rand returns a float in [0,1); math/rand/v2 by default. Tests replace it.
	Rand func() float64
	// ProbePercent of decisions may try a half-open gateway.
	ProbePercent float64
	syms         symtab
}

// NewRouter compiles the gateways' fee models. It returns an errs.Invalid
// error for an invalid add-on condition.
func NewRouter(gws []Gateway) (*Router, error) {
	r := &Router{index: map[string]int{}, Rand: rand.Float64, ProbePercent: 10, syms: symtab{}}
	for i, g := range gws {
		g.fees = map[string]compiledFee{}
		for m, f := range g.Fees {
			cf := compiledFee{Fee: f}
			for j, a := range f.Addons {
				var conds []cond
				for k, c := range a.When {
					cc, err := compileCond("gateways."+g.Name+".fees."+m+".addons["+itoa(j)+"].when["+itoa(k)+"]", c, r.syms)
					if err != nil {
						return nil, err
					}
					conds = append(conds, cc)
				}
				cf.when = append(cf.when, conds)
			}
			g.fees[m] = cf
		}
		r.gws = append(r.gws, g)
		r.index[g.Name] = i
	}
	return r, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Names lists the gateways in configuration order.
func (r *Router) Names() []string {
	out := make([]string, len(r.gws))
	for i, g := range r.gws {
		out[i] = g.Name
	}
	return out
}

// Fee returns what gateway name would charge for a payment with these
// facts, in minor units (rounded half up), and false for an unknown gateway.
func (r *Router) Fee(name string, f Facts) (int64, bool) {
	i, ok := r.index[name]
	if !ok {
		return 0, false
	}
	fv := prepare(f, r.syms)
	return r.gws[i].fee(&fv), true
}

func (g *Gateway) fee(f *factVals) int64 {
	cf, ok := g.fees[f.method]
	if !ok {
		if cf, ok = g.fees["default"]; !ok {
			return 0
		}
	}
	bps, fixed := cf.PercentBps, cf.Fixed
	for i, conds := range cf.when {
		all := true
		for j := range conds {
			if !conds[j].eval(f) {
				all = false
				break
			}
		}
		if all {
			bps += cf.Addons[i].PercentBps
			fixed += cf.Addons[i].Fixed
		}
	}
	return (f.nums[fAmount]*bps+5000)/10000 + fixed
}

// Candidate is a gateway the decision may try, in order.
type Candidate struct {
	Gateway     string  `json:"gateway"`
	Score       float64 `json:"score"`
	SuccessRate float64 `json:"success_rate"` // estimated
	Samples     int64   `json:"samples"`
	Fee         int64   `json:"fee"`
	Reason      string  `json:"reason"` // e.g. "priority 1", "split 70%", "explore"
}

// Elimination says why a gateway is not a candidate.
type Elimination struct {
	Gateway string `json:"gateway"`
	Reason  string `json:"reason"`
}

// Explanation is stored with every payment.
type Explanation struct {
	RulesVersion int           `json:"rules_version"`
	Facts        Facts         `json:"facts"`
	MatchedRule  string        `json:"matched_rule"` // "" when the default selection applied
	Selection    string        `json:"selection"`
	Explored     bool          `json:"explored,omitempty"`
	Candidates   []Candidate   `json:"candidates"`
	Eliminated   []Elimination `json:"eliminated,omitempty"`
}

// Decision is an ordered list of gateways to try.
type Decision struct {
	Gateways    []string
	Explanation Explanation
}

// Elimination reasons.
const (
	ReasonDisabled    = "disabled"
	ReasonMethod      = "method not supported"
	ReasonCurrency    = "currency not supported"
	ReasonCountry     = "country not supported"
	ReasonMinAmount   = "amount below the gateway's minimum"
	ReasonMaxAmount   = "amount above the gateway's maximum"
	ReasonBreakerOpen = "circuit open: technical error rate above threshold"
	ReasonNotProbing  = "circuit half-open: not chosen to probe this time"
	ReasonNotListed   = "not in the selection"
)

// Decide routes a payment. It never returns a gateway that is ineligible.
func (r *Router) Decide(rs *Ruleset, f Facts, snap *Snapshot) Decision {
	fv := prepare(f, r.syms) // for fee add-ons
	var eligible [32]int
	el := eligible[:0]
	var exp Explanation
	exp.Facts = f
	if rs != nil {
		exp.RulesVersion = rs.Doc.Version
	}
	for i := range r.gws {
		if reason := r.ineligible(&r.gws[i], &f, snap); reason != "" {
			exp.Eliminated = append(exp.Eliminated, Elimination{r.gws[i].Name, reason})
			continue
		}
		el = append(el, i)
	}
	var sel *compiledSelection
	var def compiledSelection
	if rs != nil {
		def = rs.def
		rv := prepare(f, rs.syms)
		var buf [2048]uint8
		memo := buf[:]
		if rs.nconds > len(buf) {
			memo = make([]uint8, rs.nconds)
		}
		for _, i := range rs.candidates(f.Currency) {
			if g := rs.guards[i]; f.Amount < g.lo || f.Amount > g.hi {
				continue
			}
			if rs.matchRule(i, &rv, memo) {
				sel = &rs.rules[i].sel
				exp.MatchedRule = rs.rules[i].name
				break
			}
		}
	} else {
		def = compiledSelection{typ: SuccessRate}
	}
	if sel == nil {
		sel = &def
	}
	exp.Selection = sel.typ
	var sr SuccessRateConf
	var bl BlendedConf
	if rs != nil {
		sr, bl = rs.sr, rs.blended
	} else {
		sr, bl = SuccessRateConf{MinSamples: 20, Prior: 0.9}, BlendedConf{SuccessWeight: 1, CostWeight: 1, MarginBps: 2000}
	}
	cands := r.order(sel, el, &fv, f, snap, sr, bl, &exp)
	if sel != &def {
		// the default selection follows as fallback
		for _, c := range r.order(&def, el, &fv, f, snap, sr, bl, nil) {
			if !hasCand(cands, c.Gateway) {
				c.Reason = "fallback: " + c.Reason
				cands = append(cands, c)
			}
		}
	}
	for _, i := range el {
		if !hasCand(cands, r.gws[i].Name) {
			exp.Eliminated = append(exp.Eliminated, Elimination{r.gws[i].Name, ReasonNotListed})
		}
	}
	exp.Candidates = cands
	d := Decision{Explanation: exp, Gateways: make([]string, len(cands))}
	for i, c := range cands {
		d.Gateways[i] = c.Gateway
	}
	return d
}

func hasCand(cs []Candidate, name string) bool {
	for i := range cs {
		if cs[i].Gateway == name {
			return true
		}
	}
	return false
}

func (r *Router) ineligible(g *Gateway, f *Facts, snap *Snapshot) string {
	c := &g.Caps
	switch {
	case !g.Enabled:
		return ReasonDisabled
	case !slices.Contains(c.Methods, f.Method):
		return ReasonMethod
	case !slices.Contains(c.Currencies, f.Currency):
		return ReasonCurrency
	case len(c.Countries) > 0 && !slices.Contains(c.Countries, f.Country):
		return ReasonCountry
	case c.MinAmount > 0 && f.Amount < c.MinAmount:
		return ReasonMinAmount
	case c.MaxAmount > 0 && f.Amount > c.MaxAmount:
		return ReasonMaxAmount
	}
	switch snap.Breaker(g.Name) {
	case BreakerOpen:
		return ReasonBreakerOpen
	case BreakerHalfOpen:
		if r.Rand()*100 >= r.ProbePercent {
			return ReasonNotProbing
		}
	}
	return ""
}

// order ranks the eligible gateways the selection allows.
func (r *Router) order(sel *compiledSelection, el []int, fv *factVals, f Facts, snap *Snapshot, sr SuccessRateConf, bl BlendedConf, exp *Explanation) []Candidate {
	allowed := func(i int) bool {
		return len(sel.gateways) == 0 || slices.Contains(sel.gateways, r.gws[i].Name)
	}
	cand := func(i int, reason string) Candidate {
		g := &r.gws[i]
		rate, n := snap.Rate(g.Name, f.Method, f.Currency, sr)
		return Candidate{Gateway: g.Name, SuccessRate: rate, Samples: n, Fee: g.fee(fv), Reason: reason}
	}
	var out []Candidate
	switch sel.typ {
	case Priority:
		for k, name := range sel.gateways {
			i, ok := r.index[name]
			if ok && slices.Contains(el, i) {
				c := cand(i, "priority "+itoa(k+1))
				c.Score = float64(len(sel.gateways) - k)
				out = append(out, c)
			}
		}
	case VolumeSplit:
		total := 0
		for k, name := range sel.gateways {
			if i, ok := r.index[name]; ok && slices.Contains(el, i) {
				total += sel.splits[k]
			}
		}
		if total == 0 {
			return nil
		}
		pick := r.Rand() * float64(total)
		first := -1
		acc := 0.0
		for k, name := range sel.gateways {
			if i, ok := r.index[name]; ok && slices.Contains(el, i) {
				acc += float64(sel.splits[k])
				if first < 0 && pick < acc {
					first = k
				}
			}
		}
		for k, name := range sel.gateways {
			i, ok := r.index[name]
			if !ok || !slices.Contains(el, i) {
				continue
			}
			c := cand(i, "split "+itoa(sel.splits[k])+"%")
			c.Score = float64(sel.splits[k])
			if k == first {
				c.Score = 1000
				c.Reason = "split " + itoa(sel.splits[k]) + "%: drawn"
			}
			out = append(out, c)
		}
		sortCands(out)
	case SuccessRate, LeastCost, Blended:
		for _, i := range el {
			if !allowed(i) {
				continue
			}
			c := cand(i, sel.typ)
			switch sel.typ {
			case SuccessRate:
				c.Score = c.SuccessRate
			case LeastCost:
				c.Score = -float64(c.Fee)
			case Blended:
				margin := float64(f.Amount * bl.MarginBps / 10000)
				c.Score = bl.SuccessWeight*c.SuccessRate*margin - bl.CostWeight*float64(c.Fee)
			}
			out = append(out, c)
		}
		sortCands(out)
		if len(out) > 1 && sel.typ != LeastCost && sr.HedgingPercent > 0 && r.Rand()*100 < sr.HedgingPercent {
			k := int(r.Rand() * float64(len(out)))
			if k >= len(out) {
				k = len(out) - 1
			}
			c := out[k]
			c.Reason = "explore (hedging " + ftoa(sr.HedgingPercent) + "%)"
			out = append(out[:k], out[k+1:]...)
			out = append([]Candidate{c}, out...)
			if exp != nil {
				exp.Explored = true
			}
		}
	}
	return out
}

func ftoa(f float64) string {
	if f == float64(int(f)) {
		return itoa(int(f))
	}
	return itoa(int(f)) + "." + itoa(int((f-float64(int(f)))*10))
}

func sortCands(cs []Candidate) {
	slices.SortStableFunc(cs, func(a, b Candidate) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
}
