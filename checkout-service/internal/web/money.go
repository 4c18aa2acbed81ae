package web

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/magefleet/platform/internal/magento"
)

// numberFormat is how a locale writes numbers and where it puts the currency.
type numberFormat struct {
	decimal  string
	group    string
	indian   bool // 12,34,567: groups of two after the first three
	suffix   bool // "12,50 €" rather than "€12.50"
	spaceSym bool // a space between symbol and number
}

var locales = map[string]numberFormat{
	"en-US": {decimal: ".", group: ","},
	"en-GB": {decimal: ".", group: ","},
	"en-AU": {decimal: ".", group: ","},
	"en-CA": {decimal: ".", group: ","},
	"en-IN": {decimal: ".", group: ",", indian: true},
	"hi-IN": {decimal: ".", group: ",", indian: true},
	"ja-JP": {decimal: ".", group: ","},
	"de-DE": {decimal: ",", group: ".", suffix: true, spaceSym: true},
	"es-ES": {decimal: ",", group: ".", suffix: true, spaceSym: true},
	"it-IT": {decimal: ",", group: ".", suffix: true, spaceSym: true},
	"nl-NL": {decimal: ",", group: ".", spaceSym: true},
	"fr-FR": {decimal: ",", group: "\u202f", suffix: true, spaceSym: true},
	"de-CH": {decimal: ".", group: "’", spaceSym: true},
}

// symbols are the currency signs shoppers expect; others show the ISO code.
var symbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "JPY": "¥", "AUD": "A$", "CAD": "CA$", "CHF": "CHF",
}

// Money formats integer minor units for a locale. It is safe for concurrent
// use; the zero value formats like en-US.
type Money struct{ f numberFormat }

// NewMoney returns the formatter for a BCP 47 locale such as "en-IN";
// ok is false (and en-US is used) when the locale is not known.
func NewMoney(locale string) (m Money, ok bool) {
	f, ok := locales[locale]
	if !ok {
		return Money{f: locales["en-US"]}, false
	}
	return Money{f: f}, true
}

// Format renders minor units of currency: 123456 "INR" in en-IN is
// "₹1,234.56", in de-DE 123456 "EUR" is "1.234,56 €". No floats are involved.
func (m Money) Format(minor int64, currency string) string {
	f := m.f
	if f.decimal == "" {
		f = locales["en-US"]
	}
	currency = strings.ToUpper(currency)
	exp := magento.CurrencyExponent(currency)
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = uint64(-minor)
	}
	digits := strconv.FormatUint(u, 10)
	for len(digits) <= exp {
		digits = "0" + digits
	}
	whole, frac := digits[:len(digits)-exp], digits[len(digits)-exp:]
	var b strings.Builder
	if neg {
		b.WriteString("−") // U+2212 MINUS SIGN reads better than a hyphen
	}
	sym, ok := symbols[currency]
	if !ok {
		sym = currency
	}
	space := f.spaceSym || utf8.RuneCountInString(sym) > 1 && !strings.ContainsAny(sym, "$")
	if !f.suffix {
		b.WriteString(sym)
		if space {
			b.WriteString("\u00a0")
		}
	}
	b.WriteString(group(whole, f))
	if exp > 0 {
		b.WriteString(f.decimal)
		b.WriteString(frac)
	}
	if f.suffix {
		b.WriteString("\u00a0")
		b.WriteString(sym)
	}
	return b.String()
}

func group(whole string, f numberFormat) string {
	if len(whole) <= 3 {
		return whole
	}
	head, tail := whole[:len(whole)-3], whole[len(whole)-3:]
	size := 3
	if f.indian {
		size = 2
	}
	var parts []string
	for len(head) > size {
		parts = append([]string{head[len(head)-size:]}, parts...)
		head = head[:len(head)-size]
	}
	parts = append([]string{head}, parts...)
	return strings.Join(append(parts, tail), f.group)
}
