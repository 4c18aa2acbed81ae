// Package routing decides which payment gateways try a payment, in which
// order, and why.
//
// A decision runs in three steps. Eligibility first: a gateway that is
// disabled, cannot take the method, currency, country or amount, or whose
// circuit breaker is open is never a candidate, whatever a rule says. Then
// the rule document: the first rule whose statements match the payment's
// facts picks a selection (a priority list, a volume split, or a dynamic
// strategy: success rate with bandit exploration, least cost, or a blended
// objective); no match uses the default selection. Last, the selection orders
// the eligible gateways; the rest of the default selection follows as
// fallback. Every Decision carries an Explanation.
//
// Rule documents are JSON or YAML in a shape modelled on Hyperswitch's
// advanced routing; see Document. Parse refuses an invalid document with an
// errs.Invalid error naming the field and the reason. A Ruleset is immutable
// and safe for concurrent use; a decision allocates little and does not touch
// the network (statistics come in as a Snapshot).
package routing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// Document is a versioned rule document.
//
//	{
//	  "default_selection": {"type": "priority", "data": ["sandbox-a", "sandbox-b"]},
//	  "rules": [
//	    {"name": "big-usd-cards",
//	     "selection": {"type": "volume_split", "data": [{"gateway": "sandbox-a", "split": 70}, {"gateway": "sandbox-b", "split": 30}]},
//	     "statements": [{"condition": [
//	        {"lhs": "amount", "comparison": "greater_than", "value": 10000},
//	        {"lhs": "currency", "comparison": "equal", "value": "USD"}]}]}
//	  ],
//	  "success_rate": {"min_samples": 20, "hedging_percent": 10},
//	  "blended": {"success_weight": 1, "cost_weight": 1, "margin_bps": 2000}
//	}
//
// Conditions in one statement are ANDed; statements are ORed; a statement's
// nested statements are ORed among themselves and ANDed with their parent.
type Document struct {
	// Version is assigned by the store when the document is saved.
	Version          int             `json:"version,omitempty" yaml:"version,omitempty"`
	Description      string          `json:"description,omitempty" yaml:"description,omitempty"`
	DefaultSelection Selection       `json:"default_selection" yaml:"default_selection"`
	Rules            []Rule          `json:"rules" yaml:"rules"`
	SuccessRate      SuccessRateConf `json:"success_rate" yaml:"success_rate"`
	Blended          BlendedConf     `json:"blended" yaml:"blended"`
}

// Rule is one named rule.
type Rule struct {
	Name       string      `json:"name" yaml:"name"`
	Selection  Selection   `json:"selection" yaml:"selection"`
	Statements []Statement `json:"statements" yaml:"statements"`
}

// Statement is a conjunction of conditions with optional nested branches.
type Statement struct {
	Condition []Condition `json:"condition" yaml:"condition"`
	Nested    []Statement `json:"nested,omitempty" yaml:"nested,omitempty"`
}

// Condition compares one fact with a value.
//
// lhs is one of amount (minor units), currency, country, method,
// card_network, card_bin (the first 6 to 8 digits), customer_group, channel
// (web or app) and time_of_day ("HH:MM", UTC). comparison is one of equal,
// not_equal, greater_than, greater_or_equal, less_than, less_or_equal (amount,
// card_bin, time_of_day), in and not_in (a list), and between ([low, high],
// inclusive; for time_of_day a window that may cross midnight).
type Condition struct {
	LHS        string `json:"lhs" yaml:"lhs"`
	Comparison string `json:"comparison" yaml:"comparison"`
	Value      any    `json:"value" yaml:"value"`
}

// Selection types.
const (
	Priority    = "priority"
	VolumeSplit = "volume_split"
	SuccessRate = "success_rate"
	LeastCost   = "least_cost"
	Blended     = "blended"
)

// Selection is what a rule (or the default) picks.
//
// priority: data is a list of gateway names. volume_split: data is a list of
// {"gateway", "split"} whose splits sum to 100. success_rate, least_cost and
// blended: data optionally restricts the candidates to a list of gateway
// names; empty means every eligible gateway.
type Selection struct {
	Type string `json:"type" yaml:"type"`
	Data any    `json:"data,omitempty" yaml:"data,omitempty"`
}

// SuccessRateConf tunes success-rate routing.
type SuccessRateConf struct {
	// MinSamples below which a gateway's rate is blended with the prior.
	MinSamples int `json:"min_samples,omitempty" yaml:"min_samples,omitempty"`
	// HedgingPercent of decisions explore: a random eligible candidate goes
	// first, so every gateway keeps fresh statistics.
	HedgingPercent float64 `json:"hedging_percent,omitempty" yaml:"hedging_percent,omitempty"`
	// Prior is the success rate assumed without data (default 0.9).
	Prior float64 `json:"prior,omitempty" yaml:"prior,omitempty"`
}

// BlendedConf weighs the blended objective:
// success_weight × P(success) × margin − cost_weight × fee, where margin is
// margin_bps of the amount.
type BlendedConf struct {
	SuccessWeight float64 `json:"success_weight,omitempty" yaml:"success_weight,omitempty"`
	CostWeight    float64 `json:"cost_weight,omitempty" yaml:"cost_weight,omitempty"`
	MarginBps     int64   `json:"margin_bps,omitempty" yaml:"margin_bps,omitempty"`
}

// Facts describe a payment for routing.
type Facts struct {
	Amount        int64          `json:"amount"`
	Currency      string         `json:"currency"`
	Country       string         `json:"country,omitempty"`
	Method        gateway.Method `json:"method"`
	CardNetwork   string         `json:"card_network,omitempty"`
	CardBIN       string         `json:"card_bin,omitempty"`
	CustomerGroup string         `json:"customer_group,omitempty"`
	Channel       string         `json:"channel,omitempty"`
	Time          time.Time      `json:"time"`
}

// Ruleset is a parsed, compiled rule document.
type Ruleset struct {
	Doc     Document
	Raw     json.RawMessage
	rules   []compiledRule
	def     compiledSelection
	sr      SuccessRateConf
	blended BlendedConf
	// byCurrency lists, in document order, the rules that can match a
	// payment in that currency; anyCurrency those that can match a currency
	// no rule names.
	byCurrency  map[string][]int32
	anyCurrency []int32
	syms        symtab
	// guards[i] is the amount range outside which rule i cannot match.
	guards []guard
	// nconds is the number of distinct conditions; conds[id] is one of them.
	nconds int
	conds  []*cond
	// flat[i] lists the condition ids of rule i when it is one statement
	// without nested branches (the common shape), so that matching it walks
	// one contiguous slice; nil otherwise.
	flat [][]int32
}

type guard struct{ lo, hi int64 }

type compiledRule struct {
	name  string
	sel   compiledSelection
	stmts []compiledStmt
}

type compiledStmt struct {
	conds  []cond
	nested []compiledStmt
}

type compiledSelection struct {
	typ      string
	gateways []string
	splits   []int // volume_split, parallel to gateways
}

type fact uint8

const (
	fAmount fact = iota
	fCurrency
	fCountry
	fMethod
	fNetwork
	fBIN
	fGroup
	fChannel
	fTime
)

var factNames = map[string]fact{
	"amount": fAmount, "currency": fCurrency, "country": fCountry, "method": fMethod,
	"card_network": fNetwork, "card_bin": fBIN, "customer_group": fGroup, "channel": fChannel, "time_of_day": fTime,
}

func (f fact) numeric() bool { return f == fAmount || f == fBIN || f == fTime }

type op uint8

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opIn
	opNotIn
	opBetween
)

var opNames = map[string]op{
	"equal": opEq, "not_equal": opNe, "greater_than": opGt, "greater_or_equal": opGe,
	"less_than": opLt, "less_or_equal": opLe, "in": opIn, "not_in": opNotIn, "between": opBetween,
}

type cond struct {
	f      fact
	op     op
	id     int32   // equal conditions share an id, so a decision evaluates each once
	n1, n2 int64   // numeric operands, or the symbol of a string operand
	nset   []int64 // in / not_in: numbers or symbols
}

// symtab numbers the strings conditions name, so that a decision compares
// integers only. A fact value no condition names gets -1.
type symtab map[string]int64

func (t symtab) id(s string) int64 {
	if n, ok := t[s]; ok {
		return n
	}
	n := int64(len(t))
	t[s] = n
	return n
}

func (t symtab) lookup(s string) int64 {
	if n, ok := t[s]; ok {
		return n
	}
	return -1
}

// Parse reads a JSON or YAML rule document, validates it against the known
// gateway names and compiles it. It returns an errs.Invalid error naming the
// first offending field (e.g. "rules[2].statements[0].condition[1].value").
func Parse(data []byte, gateways []string) (*Ruleset, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errs.Invalidf("document", "is empty")
	}
	var raw []byte
	if data[0] == '{' {
		raw = data
	} else {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, errs.Invalidf("document", "is neither JSON nor YAML: %v", err)
		}
		j, err := json.Marshal(normalizeYAML(v))
		if err != nil {
			return nil, errs.Invalidf("document", "cannot be represented as JSON: %v", err)
		}
		raw = j
	}
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return nil, errs.Invalidf(strings.Trim(f, `"`), "is not a field of a rule document")
		}
		return nil, errs.Invalidf("document", "is not a valid rule document: %s", strings.TrimPrefix(msg, "json: "))
	}
	if dec.More() {
		return nil, errs.Invalidf("document", "holds more than one JSON value")
	}
	return Compile(doc, gateways)
}

// Compile validates and compiles doc.
func Compile(doc Document, gateways []string) (*Ruleset, error) {
	known := map[string]bool{}
	for _, g := range gateways {
		known[g] = true
	}
	rs := &Ruleset{Doc: doc, syms: symtab{}}
	var err error
	if rs.def, err = compileSelection("default_selection", doc.DefaultSelection, known); err != nil {
		return nil, err
	}
	if len(doc.Rules) > 10000 {
		return nil, errs.Invalidf("rules", "at most 10000 rules, got %d", len(doc.Rules))
	}
	names := map[string]bool{}
	for i, r := range doc.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			return nil, errs.Invalidf(p+".name", "is required")
		}
		if names[r.Name] {
			return nil, errs.Invalidf(p+".name", "%q is used by an earlier rule", r.Name)
		}
		names[r.Name] = true
		cr := compiledRule{name: r.Name}
		if cr.sel, err = compileSelection(p+".selection", r.Selection, known); err != nil {
			return nil, err
		}
		if len(r.Statements) == 0 {
			return nil, errs.Invalidf(p+".statements", "at least one statement is required")
		}
		if cr.stmts, err = compileStmts(p+".statements", r.Statements, 0, rs.syms); err != nil {
			return nil, err
		}
		rs.rules = append(rs.rules, cr)
	}
	sr := doc.SuccessRate
	switch {
	case sr.MinSamples < 0:
		return nil, errs.Invalidf("success_rate.min_samples", "must not be negative")
	case sr.HedgingPercent < 0 || sr.HedgingPercent > 100:
		return nil, errs.Invalidf("success_rate.hedging_percent", "must be between 0 and 100")
	case sr.Prior < 0 || sr.Prior > 1:
		return nil, errs.Invalidf("success_rate.prior", "must be between 0 and 1")
	}
	if sr.MinSamples == 0 {
		sr.MinSamples = 20
	}
	if sr.Prior == 0 {
		sr.Prior = 0.9
	}
	rs.sr = sr
	b := doc.Blended
	if b.SuccessWeight < 0 || b.CostWeight < 0 {
		return nil, errs.Invalidf("blended", "weights must not be negative")
	}
	if b.MarginBps < 0 || b.MarginBps > 10000 {
		return nil, errs.Invalidf("blended.margin_bps", "must be between 0 and 10000")
	}
	if b.SuccessWeight == 0 && b.CostWeight == 0 {
		b.SuccessWeight, b.CostWeight = 1, 1
	}
	if b.MarginBps == 0 {
		b.MarginBps = 2000
	}
	rs.blended = b
	rs.index()
	rs.repack()
	rs.guard()
	rs.dedupe()
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, errs.Invalidf("document", "cannot be encoded: %v", err)
	}
	rs.Raw = raw
	return rs, nil
}

// index builds the currency index: most rule sets split by currency first,
// so a decision only evaluates the rules that can apply.
func (rs *Ruleset) index() {
	names := make([]string, len(rs.syms))
	for name, id := range rs.syms {
		names[id] = name
	}
	sets := make([][]string, len(rs.rules)) // nil: any currency
	named := map[string]bool{}
	for i, r := range rs.rules {
		var set []string
		for _, st := range r.stmts {
			var s []string
			for _, c := range st.conds {
				if c.f == fCurrency && c.op == opEq {
					s = []string{names[c.n1]}
				} else if c.f == fCurrency && c.op == opIn {
					s = s[:0:0]
					for _, id := range c.nset {
						s = append(s, names[id])
					}
				}
			}
			if s == nil {
				set = nil
				break
			}
			set = append(set, s...)
		}
		sets[i] = set
		for _, c := range set {
			named[c] = true
		}
	}
	rs.byCurrency = map[string][]int32{}
	for i, set := range sets {
		if set == nil {
			rs.anyCurrency = append(rs.anyCurrency, int32(i))
			for c := range named {
				rs.byCurrency[c] = append(rs.byCurrency[c], int32(i))
			}
			continue
		}
		for _, c := range set {
			if l := rs.byCurrency[c]; len(l) == 0 || l[len(l)-1] != int32(i) {
				rs.byCurrency[c] = append(l, int32(i))
			}
		}
	}
}

// repack copies every rule's statements and conditions into two contiguous
// arrays, so that a scan over many rules walks memory in order.
func (rs *Ruleset) repack() {
	var nStmts, nConds int
	var count func([]compiledStmt)
	count = func(ss []compiledStmt) {
		nStmts += len(ss)
		for _, st := range ss {
			nConds += len(st.conds)
			count(st.nested)
		}
	}
	for _, r := range rs.rules {
		count(r.stmts)
	}
	stmts := make([]compiledStmt, 0, nStmts)
	conds := make([]cond, 0, nConds)
	var pack func([]compiledStmt) []compiledStmt
	pack = func(ss []compiledStmt) []compiledStmt {
		lo := len(stmts)
		for _, st := range ss {
			clo := len(conds)
			conds = append(conds, st.conds...)
			stmts = append(stmts, compiledStmt{conds: conds[clo:len(conds):len(conds)]})
		}
		out := stmts[lo:len(stmts):len(stmts)]
		for i, st := range ss {
			if len(st.nested) > 0 {
				out[i].nested = pack(st.nested)
			}
		}
		return out
	}
	for i := range rs.rules {
		rs.rules[i].stmts = pack(rs.rules[i].stmts)
	}
}

// dedupe numbers the distinct conditions; rules often repeat conditions
// (the same currency, country or channel), and a decision then evaluates
// each distinct one once.
func (rs *Ruleset) dedupe() {
	ids := map[string]int32{}
	var walk func([]compiledStmt)
	walk = func(ss []compiledStmt) {
		for si := range ss {
			for ci := range ss[si].conds {
				c := &ss[si].conds[ci]
				k := fmt.Sprint(c.f, c.op, c.n1, c.n2, c.nset)
				id, ok := ids[k]
				if !ok {
					id = int32(len(ids))
					ids[k] = id
					rs.conds = append(rs.conds, c)
				}
				c.id = id
			}
			walk(ss[si].nested)
		}
	}
	for i := range rs.rules {
		walk(rs.rules[i].stmts)
	}
	rs.nconds = len(ids)
	rs.flat = make([][]int32, len(rs.rules))
	for i := range rs.rules {
		st := rs.rules[i].stmts
		if len(st) != 1 || len(st[0].nested) != 0 {
			continue
		}
		ids := make([]int32, len(st[0].conds))
		for ci := range st[0].conds {
			ids[ci] = st[0].conds[ci].id
		}
		rs.flat[i] = ids
	}
}

// guard computes each rule's amount range from its statements' amount
// conditions: a cheap test that skips most rules before any condition runs.
func (rs *Ruleset) guard() {
	rs.guards = make([]guard, len(rs.rules))
	for i, r := range rs.rules {
		g := guard{lo: math.MaxInt64, hi: math.MinInt64}
		for _, st := range r.stmts {
			lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
			for _, c := range st.conds {
				if c.f != fAmount {
					continue
				}
				switch c.op {
				case opEq:
					lo, hi = max(lo, c.n1), min(hi, c.n1)
				case opGt:
					lo = max(lo, c.n1+1)
				case opGe:
					lo = max(lo, c.n1)
				case opLt:
					hi = min(hi, c.n1-1)
				case opLe:
					hi = min(hi, c.n1)
				case opBetween:
					lo, hi = max(lo, c.n1), min(hi, c.n2)
				}
			}
			g.lo, g.hi = min(g.lo, lo), max(g.hi, hi)
		}
		rs.guards[i] = g
	}
}

// candidates returns the indexes of the rules that can match currency.
func (rs *Ruleset) candidates(currency string) []int32 {
	if l, ok := rs.byCurrency[currency]; ok {
		return l
	}
	return rs.anyCurrency
}

func compileStmts(path string, stmts []Statement, depth int, syms symtab) ([]compiledStmt, error) {
	if depth > 8 {
		return nil, errs.Invalidf(path, "nesting deeper than 8 levels")
	}
	out := make([]compiledStmt, 0, len(stmts))
	for i, s := range stmts {
		p := fmt.Sprintf("%s[%d]", path, i)
		if len(s.Condition) == 0 && len(s.Nested) == 0 {
			return nil, errs.Invalidf(p+".condition", "a statement needs at least one condition")
		}
		cs := compiledStmt{}
		for j, c := range s.Condition {
			cc, err := compileCond(fmt.Sprintf("%s.condition[%d]", p, j), c, syms)
			if err != nil {
				return nil, err
			}
			cs.conds = append(cs.conds, cc)
		}
		if len(s.Nested) > 0 {
			n, err := compileStmts(p+".nested", s.Nested, depth+1, syms)
			if err != nil {
				return nil, err
			}
			cs.nested = n
		}
		out = append(out, cs)
	}
	return out, nil
}

func compileCond(p string, c Condition, syms symtab) (cond, error) {
	f, ok := factNames[c.LHS]
	if !ok {
		return cond{}, errs.Invalidf(p+".lhs", "%q is not one of amount, currency, country, method, card_network, card_bin, customer_group, channel, time_of_day", c.LHS)
	}
	o, ok := opNames[c.Comparison]
	if !ok {
		return cond{}, errs.Invalidf(p+".comparison", "%q is not one of equal, not_equal, greater_than, greater_or_equal, less_than, less_or_equal, in, not_in, between", c.Comparison)
	}
	cc := cond{f: f, op: o}
	vp := p + ".value"
	switch o {
	case opIn, opNotIn:
		list, ok := c.Value.([]any)
		if !ok || len(list) == 0 {
			return cond{}, errs.Invalidf(vp, "must be a non-empty list for %s", c.Comparison)
		}
		for k, v := range list {
			if f.numeric() {
				n, err := number(f, v)
				if err != nil {
					return cond{}, errs.Invalidf(fmt.Sprintf("%s[%d]", vp, k), "%v", err)
				}
				cc.nset = append(cc.nset, n)
			} else {
				s, err := str(f, v)
				if err != nil {
					return cond{}, errs.Invalidf(fmt.Sprintf("%s[%d]", vp, k), "%v", err)
				}
				cc.nset = append(cc.nset, syms.id(s))
			}
		}
	case opBetween:
		list, ok := c.Value.([]any)
		if !ok || len(list) != 2 || !f.numeric() {
			return cond{}, errs.Invalidf(vp, "between needs a [low, high] pair on amount, card_bin or time_of_day")
		}
		var err error
		if cc.n1, err = number(f, list[0]); err != nil {
			return cond{}, errs.Invalidf(vp+"[0]", "%v", err)
		}
		if cc.n2, err = number(f, list[1]); err != nil {
			return cond{}, errs.Invalidf(vp+"[1]", "%v", err)
		}
		if f != fTime && cc.n1 > cc.n2 {
			return cond{}, errs.Invalidf(vp, "low must not exceed high")
		}
	case opGt, opGe, opLt, opLe:
		if !f.numeric() {
			return cond{}, errs.Invalidf(p+".comparison", "%s applies only to amount, card_bin and time_of_day", c.Comparison)
		}
		fallthrough
	default:
		var err error
		if f.numeric() {
			cc.n1, err = number(f, c.Value)
		} else {
			var sv string
			sv, err = str(f, c.Value)
			cc.n1 = syms.id(sv)
		}
		if err != nil {
			return cond{}, errs.Invalidf(vp, "%v", err)
		}
	}
	return cc, nil
}

func number(f fact, v any) (int64, error) {
	switch f {
	case fTime:
		s, ok := v.(string)
		if !ok {
			return 0, fmt.Errorf("must be a time of day \"HH:MM\"")
		}
		t, err := time.Parse("15:04", s)
		if err != nil {
			return 0, fmt.Errorf("must be a time of day \"HH:MM\", got %q", s)
		}
		return int64(t.Hour()*60 + t.Minute()), nil
	case fBIN:
		s := fmt.Sprint(v)
		if n, ok := v.(json.Number); ok {
			s = n.String()
		}
		if len(s) < 6 || len(s) > 8 {
			return 0, fmt.Errorf("a BIN has 6 to 8 digits, got %q", s)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("a BIN has 6 to 8 digits, got %q", s)
		}
		return binNorm(s), nil
	}
	var n int64
	var err error
	switch x := v.(type) {
	case json.Number:
		n, err = x.Int64()
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		n = int64(x)
		if float64(n) != x {
			err = fmt.Errorf("not an integer")
		}
	default:
		err = fmt.Errorf("not a number")
	}
	if err != nil {
		return 0, fmt.Errorf("amount must be an integer number of minor units")
	}
	if n < 0 {
		return 0, fmt.Errorf("amount must not be negative")
	}
	return n, nil
}

// binNorm pads a BIN to 8 digits so that 6- and 8-digit BINs compare.
func binNorm(s string) int64 {
	for len(s) < 8 {
		s += "0"
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func str(f fact, v any) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("must be a non-empty string")
	}
	switch f {
	case fCurrency:
		if len(s) != 3 {
			return "", fmt.Errorf("a currency is an ISO 4217 code such as USD, got %q", s)
		}
		return strings.ToUpper(s), nil
	case fCountry:
		if len(s) != 2 {
			return "", fmt.Errorf("a country is an ISO 3166-1 alpha-2 code such as US, got %q", s)
		}
		return strings.ToUpper(s), nil
	case fMethod:
		switch gateway.Method(s) {
		case gateway.Card, gateway.UPI, gateway.NetBanking, gateway.Wallet, gateway.PayPal:
			return s, nil
		}
		return "", fmt.Errorf("a method is card, upi, netbanking, wallet or paypal, got %q", s)
	case fChannel:
		if s != "web" && s != "app" {
			return "", fmt.Errorf("a channel is web or app, got %q", s)
		}
	case fNetwork:
		return strings.ToLower(s), nil
	}
	return s, nil
}

func compileSelection(p string, s Selection, known map[string]bool) (compiledSelection, error) {
	cs := compiledSelection{typ: s.Type}
	names := func(allowEmpty bool) error {
		if s.Data == nil && allowEmpty {
			return nil
		}
		list, ok := s.Data.([]any)
		if !ok || (len(list) == 0 && !allowEmpty) {
			return errs.Invalidf(p+".data", "must be a non-empty list of gateway names")
		}
		for i, v := range list {
			n, ok := v.(string)
			if !ok || !known[n] {
				return errs.Invalidf(fmt.Sprintf("%s.data[%d]", p, i), "%v is not a configured gateway", v)
			}
			if slices.Contains(cs.gateways, n) {
				return errs.Invalidf(fmt.Sprintf("%s.data[%d]", p, i), "%s is listed twice", n)
			}
			cs.gateways = append(cs.gateways, n)
		}
		return nil
	}
	switch s.Type {
	case Priority:
		return cs, names(false)
	case SuccessRate, LeastCost, Blended:
		return cs, names(true)
	case VolumeSplit:
		list, ok := s.Data.([]any)
		if !ok || len(list) == 0 {
			return cs, errs.Invalidf(p+".data", "must be a non-empty list of {gateway, split}")
		}
		total := 0
		for i, v := range list {
			ip := fmt.Sprintf("%s.data[%d]", p, i)
			m, ok := v.(map[string]any)
			if !ok {
				return cs, errs.Invalidf(ip, "must be {\"gateway\": name, \"split\": percent}")
			}
			for k := range m {
				if k != "gateway" && k != "split" {
					return cs, errs.Invalidf(ip+"."+k, "is not a field of a split")
				}
			}
			n, _ := m["gateway"].(string)
			if !known[n] {
				return cs, errs.Invalidf(ip+".gateway", "%v is not a configured gateway", m["gateway"])
			}
			if slices.Contains(cs.gateways, n) {
				return cs, errs.Invalidf(ip+".gateway", "%s is listed twice", n)
			}
			sp, err := number(fAmount, m["split"])
			if err != nil || sp <= 0 || sp > 100 {
				return cs, errs.Invalidf(ip+".split", "must be an integer percentage between 1 and 100")
			}
			total += int(sp)
			cs.gateways = append(cs.gateways, n)
			cs.splits = append(cs.splits, int(sp))
		}
		if total != 100 {
			return cs, errs.Invalidf(p+".data", "splits must sum to 100, got %d", total)
		}
		return cs, nil
	case "":
		return cs, errs.Invalidf(p+".type", "is required")
	}
	return cs, errs.Invalidf(p+".type", "%q is not one of priority, volume_split, success_rate, least_cost, blended", s.Type)
}

func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
		return x
	}
	return v
}

// matchRule reports whether rule i matches; the top level is evaluated
// without recursion, as most statements have no nested branches.
func (rs *Ruleset) matchRule(i int32, f *factVals, memo []uint8) bool {
	if ids := rs.flat[i]; ids != nil {
		for _, id := range ids {
			m := memo[id]
			if m == 0 {
				m = 2
				if rs.conds[id].eval(f) {
					m = 1
				}
				memo[id] = m
			}
			if m != 1 {
				return false
			}
		}
		return true
	}
	stmts := rs.rules[i].stmts
	for si := range stmts {
		st := &stmts[si]
		ok := true
		for ci := range st.conds {
			c := &st.conds[ci]
			m := memo[c.id]
			if m == 0 {
				m = 2
				if c.eval(f) {
					m = 1
				}
				memo[c.id] = m
			}
			if m != 1 {
				ok = false
				break
			}
		}
		if ok && (len(st.nested) == 0 || matchAny(st.nested, f)) {
			return true
		}
	}
	return false
}

// match reports whether the facts satisfy the statements (ORed).
func matchAny(stmts []compiledStmt, f *factVals) bool {
	for i := range stmts {
		if matchStmt(&stmts[i], f) {
			return true
		}
	}
	return false
}

func matchStmt(s *compiledStmt, f *factVals) bool {
	for i := range s.conds {
		if !s.conds[i].eval(f) {
			return false
		}
	}
	if len(s.nested) > 0 {
		return matchAny(s.nested, f)
	}
	return true
}

// factVals are the facts prepared for comparison: numbers, or the symbols
// of strings.
type factVals struct {
	nums   [9]int64
	has    [9]bool
	method string
}

func prepare(f Facts, syms symtab) factVals {
	var v factVals
	v.method = string(f.Method)
	v.nums[fAmount], v.has[fAmount] = f.Amount, true
	str := func(k fact, s string) {
		if s != "" {
			v.nums[k], v.has[k] = syms.lookup(s), true
		}
	}
	str(fCurrency, f.Currency)
	str(fCountry, f.Country)
	str(fMethod, string(f.Method))
	if f.CardNetwork != "" {
		str(fNetwork, strings.ToLower(f.CardNetwork))
	}
	if len(f.CardBIN) >= 6 {
		b := f.CardBIN
		if len(b) > 8 {
			b = b[:8]
		}
		v.nums[fBIN], v.has[fBIN] = binNorm(b), true
	}
	str(fGroup, f.CustomerGroup)
	str(fChannel, f.Channel)
	t := f.Time.UTC()
	v.nums[fTime], v.has[fTime] = int64(t.Hour()*60+t.Minute()), !f.Time.IsZero()
	return v
}

func (c *cond) eval(f *factVals) bool {
	if !f.has[c.f] {
		// An unknown fact matches only negative comparisons.
		return c.op == opNe || c.op == opNotIn
	}
	n := f.nums[c.f]
	switch c.op {
	case opEq:
		return n == c.n1
	case opNe:
		return n != c.n1
	case opGt:
		return n > c.n1
	case opGe:
		return n >= c.n1
	case opLt:
		return n < c.n1
	case opLe:
		return n <= c.n1
	case opIn:
		return slices.Contains(c.nset, n)
	case opNotIn:
		return !slices.Contains(c.nset, n)
	case opBetween:
		if c.f == fTime && c.n1 > c.n2 { // crosses midnight
			return n >= c.n1 || n <= c.n2
		}
		return n >= c.n1 && n <= c.n2
	}
	return false
}
