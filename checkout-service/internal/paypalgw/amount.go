package paypalgw

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/magefleet/platform/internal/magento"
)

// noDecimals lists currencies PayPal takes in whole units only, although
// ISO 4217 gives HUF and TWD two decimals
// (developer.paypal.com/api/rest/reference/currency-codes).
var noDecimals = map[string]bool{"HUF": true, "JPY": true, "TWD": true}

func paypalExponent(currency string) int {
	if noDecimals[currency] {
		return 0
	}
	return magento.CurrencyExponent(currency)
}

// Value formats minor units of ISO 4217 (the platform's unit, see
// magento.CurrencyExponent) as PayPal's decimal string: 1050 USD is "10.50",
// 500 JPY is "500", 1234 KWD is "1.234", 150000 HUF is "1500". It reports
// false when PayPal cannot express the amount (a fraction of a currency it
// takes in whole units) or the amount is not positive. No floating point is
// involved.
func Value(minor int64, currency string) (string, bool) {
	cur := strings.ToUpper(currency)
	if minor <= 0 {
		return "", false
	}
	iso, pp := magento.CurrencyExponent(cur), paypalExponent(cur)
	for ; iso > pp; iso-- {
		if minor%10 != 0 {
			return "", false
		}
		minor /= 10
	}
	s := strconv.FormatInt(minor, 10)
	if pp == 0 {
		return s, true
	}
	if len(s) <= pp {
		s = strings.Repeat("0", pp-len(s)+1) + s
	}
	return s[:len(s)-pp] + "." + s[len(s)-pp:], true
}

// Minor parses one of PayPal's decimal strings into minor units of ISO 4217.
func Minor(value, currency string) (int64, error) {
	cur := strings.ToUpper(currency)
	whole, frac, _ := strings.Cut(value, ".")
	pp, iso := paypalExponent(cur), magento.CurrencyExponent(cur)
	if len(frac) > pp || whole == "" || strings.HasPrefix(whole, "-") {
		return 0, fmt.Errorf("paypal amount %q %s: bad format", value, cur)
	}
	frac += strings.Repeat("0", iso-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("paypal amount %q %s: %w", value, cur, err)
	}
	return n, nil
}
