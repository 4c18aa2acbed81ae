package gateway

import (
	"slices"
	"strings"

	"github.com/magefleet/platform/internal/config"
)

// CapabilitiesConfig is the configuration form of Capabilities, shared by the
// adapters (key `capabilities` of each gateway's section). The zero value
// takes nothing.
type CapabilitiesConfig struct {
	Methods    []string `mapstructure:"methods" desc:"payment methods this account takes: card, upi, netbanking, wallet, paypal"`
	Currencies []string `mapstructure:"currencies" desc:"upper-case ISO 4217 currencies this account takes"`
	Countries  []string `mapstructure:"countries" desc:"ISO 3166-1 alpha-2 countries it serves; empty: any"`
	MinAmount  int64    `mapstructure:"min_amount" desc:"smallest amount in minor units; 0: none"`
	MaxAmount  int64    `mapstructure:"max_amount" desc:"largest amount in minor units; 0: none"`
}

// Validate checks the capabilities against the methods an adapter
// supports; adapter names it in the messages.
func (c CapabilitiesConfig) Validate(adapter string, supported ...Method) error {
	var p config.Problems
	if len(c.Methods) == 0 {
		p.Add("methods", "must list at least one method")
	}
	for _, m := range c.Methods {
		if !slices.Contains(supported, Method(m)) {
			names := make([]string, len(supported))
			for i, s := range supported {
				names[i] = string(s)
			}
			p.Add("methods", "%s adapter supports %s, got %q", adapter, strings.Join(names, ", "), m)
		}
	}
	for _, cur := range c.Currencies {
		if len(cur) != 3 || strings.ToUpper(cur) != cur {
			p.Add("currencies", "must be upper-case ISO 4217 codes, got %q", cur)
		}
	}
	if c.MinAmount < 0 || c.MaxAmount < 0 || (c.MaxAmount > 0 && c.MaxAmount < c.MinAmount) {
		p.Add("max_amount", "amount limits must be non-negative and max_amount at least min_amount")
	}
	return p.Err()
}

// Capabilities converts the configuration.
func (c CapabilitiesConfig) Capabilities() Capabilities {
	g := Capabilities{
		Currencies: slices.Clone(c.Currencies),
		Countries:  slices.Clone(c.Countries),
		MinAmount:  c.MinAmount,
		MaxAmount:  c.MaxAmount,
	}
	for _, m := range c.Methods {
		g.Methods = append(g.Methods, Method(m))
	}
	return g
}
