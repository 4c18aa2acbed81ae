package routing_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
)

// thousandRules builds 1,000 rules of three conditions each, none of which
// matches the benchmark's payment, so every decision evaluates all of them
// before the default selection applies: the worst case.
func thousandRules(tb testing.TB, mode string) []byte {
	tb.Helper()
	doc := routing.Document{DefaultSelection: routing.Selection{Type: routing.Priority, Data: []any{"a", "b"}}}
	currencies := []string{"EUR", "GBP", "INR", "JPY"}
	for i := range 1000 {
		cur, amount, country := currencies[i%4], 1000+i, "US"
		switch mode {
		case "amount-guarded": // USD like the payment; the amount range excludes it
			cur, amount = "USD", 100000+i
		case "full-scan": // USD, amount passes: every rule runs until its country fails
			cur, country = "USD", "GB"
		}
		doc.Rules = append(doc.Rules, routing.Rule{
			Name:      fmt.Sprintf("rule-%d", i),
			Selection: routing.Selection{Type: routing.Priority, Data: []any{"b", "a"}},
			Statements: []routing.Statement{{Condition: []routing.Condition{
				{LHS: "currency", Comparison: "equal", Value: cur},
				{LHS: "country", Comparison: "in", Value: []any{country, "CA"}},
				{LHS: "amount", Comparison: "greater_than", Value: amount},
			}}},
		})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecide1000Rules measures one routing decision over 1,000 rules and
// reports the p99 of individually timed decisions. No rule matches, so the
// default applies after all 1,000 were considered. currency-indexed: the
// rules name other currencies (the currency index skips them); amount-guarded:
// USD like the payment but for larger amounts (the amount guard skips them);
// full-scan: every rule passes both and fails on its second condition, the
// worst case.
func BenchmarkDecide1000Rules(b *testing.B) {
	for _, mode := range []string{"currency-indexed", "amount-guarded", "full-scan"} {
		b.Run(mode, func(b *testing.B) { benchDecide(b, mode) })
	}
}

func benchDecide(b *testing.B, mode string) {
	r := newRouter(b)
	rs, err := routing.Parse(thousandRules(b, mode), r.Names())
	if err != nil {
		b.Fatal(err)
	}
	f := routing.Facts{Amount: 5000, Currency: "USD", Country: "US", Method: gateway.Card, Time: time.Now()}
	if d := r.Decide(rs, f, nil); d.Explanation.MatchedRule != "" {
		b.Fatalf("matched %s; the benchmark wants no match", d.Explanation.MatchedRule)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		d := r.Decide(rs, f, nil)
		lat = append(lat, time.Since(t0))
		if len(d.Gateways) == 0 {
			b.Fatal("no route")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
}
