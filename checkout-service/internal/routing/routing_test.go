package routing_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/internal/errs"
)

var caps = gateway.Capabilities{Methods: []gateway.Method{gateway.Card, gateway.UPI}, Currencies: []string{"USD", "INR", "EUR"}}

func newRouter(t testing.TB) *routing.Router {
	t.Helper()
	r, err := routing.NewRouter([]routing.Gateway{
		{Name: "a", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 290, Fixed: 30,
			Addons: []routing.Addon{{Name: "international", PercentBps: 150, When: []routing.Condition{{LHS: "country", Comparison: "not_equal", Value: "US"}}}}}}},
		{Name: "b", Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 150, Fixed: 25}, "upi": {PercentBps: 0, Fixed: 0}}},
		{Name: "c", Enabled: true, Caps: gateway.Capabilities{Methods: []gateway.Method{gateway.Card}, Currencies: []string{"INR"}, MaxAmount: 100000}},
		{Name: "off", Enabled: false, Caps: caps},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const doc = `
default_selection: {type: priority, data: [a, b]}
rules:
  - name: big-usd
    selection: {type: priority, data: [b, a]}
    statements:
      - condition:
          - {lhs: amount, comparison: greater_than, value: 100000}
          - {lhs: currency, comparison: equal, value: USD}
  - name: inr-cards
    selection: {type: priority, data: [c, off, a]}
    statements:
      - condition: [{lhs: currency, comparison: equal, value: INR}, {lhs: method, comparison: equal, value: card}]
  - name: visa-bins-app
    selection: {type: priority, data: [b]}
    statements:
      - condition: [{lhs: card_bin, comparison: between, value: ["411111", "411199"]}]
        nested:
          - condition: [{lhs: channel, comparison: equal, value: app}]
          - condition: [{lhs: customer_group, comparison: in, value: ["3", "4"]}]
  - name: night
    selection: {type: least_cost}
    statements:
      - condition: [{lhs: time_of_day, comparison: between, value: ["22:00", "06:00"]}]
  - name: mastercard
    selection: {type: volume_split, data: [{gateway: a, split: 50}, {gateway: b, split: 50}]}
    statements:
      - condition: [{lhs: card_network, comparison: in, value: [mastercard]}, {lhs: country, comparison: not_in, value: [DE]}]
`

func TestRuleEvaluation(t *testing.T) {
	r := newRouter(t)
	r.Rand = func() float64 { return 0.99 }
	rs, err := routing.Parse([]byte(doc), r.Names())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	noon := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	night := time.Date(2026, 1, 1, 23, 30, 0, 0, time.UTC)
	cases := []struct {
		name  string
		f     routing.Facts
		rule  string
		route []string
	}{
		{"default", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, Time: noon}, "", []string{"a", "b"}},
		{"big usd", routing.Facts{Amount: 200000, Currency: "USD", Method: gateway.Card, Time: noon}, "big-usd", []string{"b", "a"}},
		{"boundary is not greater", routing.Facts{Amount: 100000, Currency: "USD", Method: gateway.Card, Time: noon}, "", []string{"a", "b"}},
		{"inr card skips disabled gateway", routing.Facts{Amount: 5000, Currency: "INR", Method: gateway.Card, Time: noon}, "inr-cards", []string{"c", "a", "b"}},
		{"inr card above c's max", routing.Facts{Amount: 500000, Currency: "INR", Method: gateway.Card, Time: noon}, "inr-cards", []string{"a", "b"}},
		{"bin and app", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, CardBIN: "41111122", Channel: "app", Time: noon}, "visa-bins-app", []string{"b", "a"}},
		{"bin and group", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, CardBIN: "411150", CustomerGroup: "4", Time: noon}, "visa-bins-app", []string{"b", "a"}},
		{"bin on web, guest", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, CardBIN: "411150", Channel: "web", Time: noon}, "", []string{"a", "b"}},
		{"night least cost", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, Time: night}, "night", []string{"b", "a"}},
		{"mastercard not DE", routing.Facts{Amount: 5000, Currency: "EUR", Country: "FR", Method: gateway.Card, CardNetwork: "MasterCard", Time: noon}, "mastercard", []string{"b", "a"}},
		{"mastercard DE", routing.Facts{Amount: 5000, Currency: "EUR", Country: "DE", Method: gateway.Card, CardNetwork: "mastercard", Time: noon}, "", []string{"a", "b"}},
		{"paypal: nobody", routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.PayPal, Time: noon}, "", []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := r.Decide(rs, c.f, nil)
			if d.Explanation.MatchedRule != c.rule || !equal(d.Gateways, c.route) {
				t.Fatalf("Decide(%+v) = rule %q route %v; want %q %v (%+v)", c.f, d.Explanation.MatchedRule, d.Gateways, c.rule, c.route, d.Explanation)
			}
			for _, g := range d.Gateways {
				if g == "off" {
					t.Fatalf("a disabled gateway was chosen")
				}
			}
		})
	}
}

func equal(a, b []string) bool {
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

func TestParseErrorsNameTheField(t *testing.T) {
	names := []string{"a", "b"}
	cases := []struct{ doc, field string }{
		{`{"rules": []}`, "default_selection.type"},
		{`{"default_selection": {"type": "priority", "data": ["zz"]}}`, "default_selection.data[0]"},
		{`{"default_selection": {"type": "volume_split", "data": [{"gateway": "a", "split": 60}, {"gateway": "b", "split": 30}]}}`, "default_selection.data"},
		{`{"default_selection": {"type": "priority", "data": ["a"]}, "rules": [{"name": "x", "selection": {"type": "priority", "data": ["a"]}, "statements": [{"condition": [{"lhs": "amount", "comparison": "greater_than", "value": "lots"}]}]}]}`, "rules[0].statements[0].condition[0].value"},
		{`{"default_selection": {"type": "priority", "data": ["a"]}, "rules": [{"name": "x", "selection": {"type": "priority", "data": ["a"]}, "statements": [{"condition": [{"lhs": "colour", "comparison": "equal", "value": "red"}]}]}]}`, "rules[0].statements[0].condition[0].lhs"},
		{`{"default_selection": {"type": "priority", "data": ["a"]}, "price": 1}`, "price"},
		{`{"default_selection": {"type": "priority", "data": ["a"]}, "rules": [{"name": "x", "selection": {"type": "priority", "data": ["a"]}, "statements": []}]}`, "rules[0].statements"},
		{`{"default_selection": {"type": "priority", "data": ["a"]}, "success_rate": {"hedging_percent": 120}}`, "success_rate.hedging_percent"},
	}
	for _, c := range cases {
		_, err := routing.Parse([]byte(c.doc), names)
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid {
			t.Errorf("Parse(%s) = %v; want invalid", c.doc, err)
			continue
		}
		if _, ok := e.Fields[c.field]; !ok {
			t.Errorf("Parse(%s) fields = %v; want %s", c.doc, e.Fields, c.field)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(doc))
	f.Add([]byte(`{"default_selection": {"type": "priority", "data": ["a", "b"]}, "rules": []}`))
	f.Add([]byte(`{"default_selection": {"type": "volume_split", "data": [{"gateway": "a", "split": 100}]}}`))
	f.Add([]byte(`{"default_selection": {"type": "success_rate"}, "rules": [{"name": "n", "selection": {"type": "blended"}, "statements": [{"condition": [{"lhs": "card_bin", "comparison": "in", "value": ["411111", 52000000]}], "nested": [{"condition": [{"lhs": "time_of_day", "comparison": "less_than", "value": "09:00"}]}]}]}]}`))
	f.Add([]byte("rules: [\n- name: x\n"))
	r := newRouter(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := routing.Parse(data, r.Names())
		if err != nil {
			if errs.Code(err) != errs.Invalid {
				t.Fatalf("Parse error code = %s; want invalid (%v)", errs.Code(err), err)
			}
			return
		}
		// a parsed document decides without panicking and never picks a disabled gateway
		d := r.Decide(rs, routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card, CardBIN: "41111111", Time: time.Unix(0, 0)}, nil)
		for _, g := range d.Gateways {
			if g == "off" {
				t.Fatal("disabled gateway chosen")
			}
		}
		// and its canonical form parses again
		if _, err := routing.Parse(rs.Raw, r.Names()); err != nil {
			t.Fatalf("re-parse of %s: %v", rs.Raw, err)
		}
	})
}

func TestVolumeSplitDistribution(t *testing.T) {
	r := newRouter(t)
	rng := rand.New(rand.NewPCG(1, 2))
	r.Rand = rng.Float64
	rs, err := routing.Parse([]byte(`{"default_selection": {"type": "volume_split", "data": [{"gateway": "a", "split": 70}, {"gateway": "b", "split": 30}]}}`), r.Names())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	counts := map[string]int{}
	for range n {
		d := r.Decide(rs, routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card}, nil)
		counts[d.Gateways[0]]++
		if len(d.Gateways) != 2 {
			t.Fatalf("route = %v; want both gateways (the other as fallback)", d.Gateways)
		}
	}
	share := float64(counts["a"]) / n
	if share < 0.68 || share > 0.72 {
		t.Fatalf("share of a = %.3f; want 0.70 ± 0.02 (%v)", share, counts)
	}
}

func TestFees(t *testing.T) {
	r := newRouter(t)
	cases := []struct {
		gw   string
		f    routing.Facts
		want int64
	}{
		{"a", routing.Facts{Amount: 10000, Currency: "USD", Country: "US", Method: gateway.Card}, 290 + 30},
		{"a", routing.Facts{Amount: 10000, Currency: "USD", Country: "GB", Method: gateway.Card}, 290 + 150 + 30},
		{"a", routing.Facts{Amount: 1, Currency: "USD", Country: "US", Method: gateway.Card}, 0 + 30},  // 0.029 rounds to 0
		{"a", routing.Facts{Amount: 50, Currency: "USD", Country: "US", Method: gateway.Card}, 1 + 30}, // 1.45 rounds to 1
		{"a", routing.Facts{Amount: 52, Currency: "USD", Country: "US", Method: gateway.Card}, 2 + 30}, // 1.508 rounds to 2
		{"b", routing.Facts{Amount: 10000, Currency: "INR", Method: gateway.UPI}, 0},
		{"b", routing.Facts{Amount: 10000, Currency: "INR", Method: gateway.Card}, 150 + 25},
		{"c", routing.Facts{Amount: 10000, Currency: "INR", Method: gateway.Card}, 0},
	}
	for _, c := range cases {
		if got, _ := r.Fee(c.gw, c.f); got != c.want {
			t.Errorf("Fee(%s, %+v) = %d; want %d", c.gw, c.f, got, c.want)
		}
	}
}

func TestLeastCostAndBlended(t *testing.T) {
	r := newRouter(t)
	r.Rand = func() float64 { return 0.99 }
	f := routing.Facts{Amount: 10000, Currency: "USD", Country: "US", Method: gateway.Card}
	lc, _ := routing.Parse([]byte(`{"default_selection": {"type": "least_cost"}}`), r.Names())
	if d := r.Decide(lc, f, nil); !equal(d.Gateways, []string{"b", "a"}) {
		t.Fatalf("least cost = %v; want [b a]", d.Gateways)
	}
	// b is cheaper but fails far more often: blended prefers a.
	snap := &routing.Snapshot{}
	snap.SetRate("a", gateway.Card, "USD", routing.Counts{OK: 980, Declined: 20})
	snap.SetRate("b", gateway.Card, "USD", routing.Counts{OK: 500, Declined: 500})
	bl, _ := routing.Parse([]byte(`{"default_selection": {"type": "blended"}, "blended": {"success_weight": 1, "cost_weight": 1, "margin_bps": 2000}}`), r.Names())
	d := r.Decide(bl, f, snap)
	if !equal(d.Gateways, []string{"a", "b"}) {
		t.Fatalf("blended = %v; want [a b] (%+v)", d.Gateways, d.Explanation.Candidates)
	}
	// with cost weighted heavily, b wins again
	bl2, _ := routing.Parse([]byte(`{"default_selection": {"type": "blended"}, "blended": {"success_weight": 0.01, "cost_weight": 1, "margin_bps": 2000}}`), r.Names())
	if d := r.Decide(bl2, f, snap); d.Gateways[0] != "b" {
		t.Fatalf("cost-weighted blended = %v; want b first", d.Gateways)
	}
}

func TestBreakerEliminatesAndProbes(t *testing.T) {
	r := newRouter(t)
	rs, _ := routing.Parse([]byte(`{"default_selection": {"type": "priority", "data": ["a", "b"]}}`), r.Names())
	f := routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card}
	snap := &routing.Snapshot{}
	snap.SetBreaker("a", routing.BreakerOpen)
	d := r.Decide(rs, f, snap)
	if !equal(d.Gateways, []string{"b"}) {
		t.Fatalf("open breaker route = %v; want [b]", d.Gateways)
	}
	snap.SetBreaker("a", routing.BreakerHalfOpen)
	r.Rand = func() float64 { return 0.05 } // within the 10% probe share
	if d := r.Decide(rs, f, snap); !equal(d.Gateways, []string{"a", "b"}) {
		t.Fatalf("probing route = %v; want [a b]", d.Gateways)
	}
	r.Rand = func() float64 { return 0.5 }
	if d := r.Decide(rs, f, snap); !equal(d.Gateways, []string{"b"}) {
		t.Fatalf("not probing route = %v; want [b]", d.Gateways)
	}
}

func TestNoRuleCanPickIneligible(t *testing.T) {
	r := newRouter(t)
	rs, err := routing.Parse([]byte(`{"default_selection": {"type": "priority", "data": ["off"]}}`), r.Names())
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decide(rs, routing.Facts{Amount: 5000, Currency: "USD", Method: gateway.Card}, nil)
	if len(d.Gateways) != 0 {
		t.Fatalf("route = %v; want none", d.Gateways)
	}
	_ = context.Background
}
