package stripegw

import (
	"strings"

	"github.com/magefleet/platform/internal/magento"
)

// Stripe's own minor units (docs.stripe.com/currencies): these are
// zero-decimal at Stripe; BHD, JOD, KWD, OMR and TND are three-decimal with a
// last digit of 0; everything else, ISK included, is two-decimal.
var (
	stripeZero  = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true}
	stripeThree = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

func stripeExponent(currency string) int {
	switch {
	case stripeZero[currency]:
		return 0
	case stripeThree[currency]:
		return 3
	}
	return 2
}

// toStripeAmount converts minor units of ISO 4217 (the platform's unit, see
// magento.CurrencyExponent) into Stripe's integer amount. It reports false
// when Stripe cannot express the amount: a fraction of a currency Stripe
// treats as zero-decimal, or a three-decimal amount whose last digit is not 0.
func toStripeAmount(minor int64, currency string) (int64, bool) {
	cur := strings.ToUpper(currency)
	diff := stripeExponent(cur) - magento.CurrencyExponent(cur)
	a := minor
	for ; diff > 0; diff-- {
		a *= 10
	}
	for ; diff < 0; diff++ {
		if a%10 != 0 {
			return 0, false
		}
		a /= 10
	}
	if stripeThree[cur] && a%10 != 0 {
		return 0, false
	}
	return a, true
}
