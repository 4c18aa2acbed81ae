package magento

import (
	"math"
	"strconv"
	"strings"
)

// zeroDecimal lists ISO 4217 currencies without minor units, and threeDecimal
// those with three.
var (
	zeroDecimal  = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true, "KMF": true, "KRW": true, "PYG": true, "RWF": true, "UGX": true, "UYI": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true}
	threeDecimal = map[string]bool{"BHD": true, "IQD": true, "JOD": true, "KWD": true, "LYD": true, "OMR": true, "TND": true}
)

// CurrencyExponent returns the number of minor-unit digits of an ISO 4217
// currency code: 0 for JPY, 3 for KWD, 2 otherwise.
func CurrencyExponent(currency string) int {
	c := strings.ToUpper(currency)
	switch {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// MinorUnits converts one of Magento's float amounts into integer minor units
// of currency, rounding half away from zero on the amount's shortest decimal
// form (so 1.005 USD is 101 cents, not 100 as float arithmetic would give).
func MinorUnits(amount float64, currency string) int64 {
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return 0
	}
	exp := CurrencyExponent(currency)
	s := strconv.FormatFloat(math.Abs(amount), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) <= exp {
		frac += "0"
	}
	digits := whole + frac[:exp]
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0
	}
	if frac[exp] >= '5' {
		n++
	}
	if amount < 0 {
		n = -n
	}
	return n
}

// Amount converts integer minor units into the float Magento expects on the
// wire.
func Amount(minor int64, currency string) float64 {
	s := strconv.FormatInt(minor, 10)
	exp := CurrencyExponent(currency)
	if exp == 0 {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= exp {
		s = "0" + s
	}
	s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	if neg {
		s = "-" + s
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
