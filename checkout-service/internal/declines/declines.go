// Package declines classifies what went wrong with a call to a payment
// gateway: issuer decline codes into the router's buckets
// (../shared/reference/payments.md, "Declines"), and transport failures into
// the errs codes the gateway interface promises (errs.Unavailable when nothing
// reached the gateway, errs.OutcomeUnknown when a write may have happened).
//
// The gateway-neutral decline vocabulary is Stripe's (decline_code and code),
// because it is the most complete public one; the other adapters translate
// their own codes into it before calling New.
package declines

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// buckets maps a gateway-neutral decline code to its bucket. Codes not listed
// are Generic: at most one cascade, then ask the shopper.
var buckets = map[string]gateway.Bucket{
	// Technical: the issuer or the network did not decide.
	"processing_error":      gateway.Technical,
	"issuer_not_available":  gateway.Technical,
	"try_again_later":       gateway.Technical,
	"reenter_transaction":   gateway.Technical,
	"gateway_error":         gateway.Technical,
	"server_error":          gateway.Technical,
	"bank_unavailable":      gateway.Technical,
	"not_confirmed":         gateway.Technical,
	"rate_limit":            gateway.Technical,
	"authentication_failed": gateway.ShopperFixable,

	// Authentication needed: step up to 3-D Secure.
	"authentication_required":        gateway.Authentication,
	"offline_pin_required":           gateway.Authentication,
	"online_or_offline_pin_required": gateway.Authentication,

	// Generic issuer declines.
	"generic_decline":         gateway.Generic,
	"card_declined":           gateway.Generic,
	"do_not_honor":            gateway.Generic,
	"call_issuer":             gateway.Generic,
	"no_action_taken":         gateway.Generic,
	"not_permitted":           gateway.Generic,
	"transaction_not_allowed": gateway.Generic,
	"service_not_allowed":     gateway.Generic,
	"approve_with_id":         gateway.Generic,
	"issuer_declined":         gateway.Generic,
	"transaction_refused":     gateway.Generic,
	"canceled":                gateway.Generic,

	// The shopper can fix it.
	"insufficient_funds":                gateway.ShopperFixable,
	"incorrect_cvc":                     gateway.ShopperFixable,
	"invalid_cvc":                       gateway.ShopperFixable,
	"expired_card":                      gateway.ShopperFixable,
	"card_velocity_exceeded":            gateway.ShopperFixable,
	"withdrawal_count_limit_exceeded":   gateway.ShopperFixable,
	"incorrect_number":                  gateway.ShopperFixable,
	"invalid_number":                    gateway.ShopperFixable,
	"invalid_expiry_month":              gateway.ShopperFixable,
	"invalid_expiry_year":               gateway.ShopperFixable,
	"incorrect_zip":                     gateway.ShopperFixable,
	"incorrect_pin":                     gateway.ShopperFixable,
	"invalid_pin":                       gateway.ShopperFixable,
	"pin_try_exceeded":                  gateway.ShopperFixable,
	"duplicate_transaction":             gateway.ShopperFixable,
	"new_account_information_available": gateway.ShopperFixable,
	"payment_method_invalid":            gateway.ShopperFixable,
	"instrument_declined":               gateway.ShopperFixable,
	"payment_cancelled":                 gateway.ShopperFixable,
	"testmode_decline":                  gateway.ShopperFixable,

	// Capability mismatch: an eligibility matter, not a retry.
	"card_not_supported":     gateway.Capability,
	"currency_not_supported": gateway.Capability,
	"amount_too_small":       gateway.Capability,
	"amount_too_large":       gateway.Capability,
	"method_not_supported":   gateway.Capability,
	"amount_not_supported":   gateway.Capability,

	// Hard: never retry, flag for review.
	"lost_card":                        gateway.Hard,
	"stolen_card":                      gateway.Hard,
	"pickup_card":                      gateway.Hard,
	"fraudulent":                       gateway.Hard,
	"do_not_try_again":                 gateway.Hard,
	"restricted_card":                  gateway.Hard,
	"merchant_blacklist":               gateway.Hard,
	"invalid_account":                  gateway.Hard,
	"security_violation":               gateway.Hard,
	"stop_payment_order":               gateway.Hard,
	"revocation_of_authorization":      gateway.Hard,
	"revocation_of_all_authorizations": gateway.Hard,
	"highest_risk_level":               gateway.Hard,
}

// messages are the texts shown to the shopper, by bucket.
var messages = map[gateway.Bucket]string{
	gateway.Technical:      "The payment could not be processed. Please try again.",
	gateway.Authentication: "Your bank asks you to confirm this payment.",
	gateway.Generic:        "Your payment was declined. Please use another payment method or contact your bank.",
	gateway.ShopperFixable: "Your payment was declined. Please check your payment details or use another payment method.",
	gateway.Capability:     "This payment method cannot be used for this payment. Please choose another one.",
	gateway.Hard:           "Your payment was declined. Please use another payment method.",
}

// specific are shopper texts more precise than the bucket's.
var specific = map[string]string{
	"insufficient_funds":     "Your card has insufficient funds. Please use another payment method.",
	"incorrect_cvc":          "The card's security code is incorrect.",
	"invalid_cvc":            "The card's security code is incorrect.",
	"expired_card":           "Your card has expired. Please use another card.",
	"incorrect_number":       "The card number is incorrect.",
	"invalid_number":         "The card number is incorrect.",
	"card_velocity_exceeded": "Your card's spending limit was reached. Please use another payment method.",
	"authentication_failed":  "The payment could not be confirmed with your bank. Please try again or use another payment method.",
}

// Bucket returns the bucket of a gateway-neutral decline code; unknown codes
// are Generic.
func Bucket(code string) gateway.Bucket {
	if b, ok := buckets[strings.ToLower(code)]; ok {
		return b
	}
	return gateway.Generic
}

// Known reports whether code is in the decline table.
func Known(code string) bool {
	_, ok := buckets[strings.ToLower(code)]
	return ok
}

// New returns a Decline for a gateway-neutral code, with its bucket and a
// shopper message; raw is the gateway's own code, kept for support. An empty
// code becomes generic_decline.
func New(code, raw string) *gateway.Decline {
	code = strings.ToLower(code)
	if code == "" {
		code = "generic_decline"
	}
	b := Bucket(code)
	msg, ok := specific[code]
	if !ok {
		msg = messages[b]
	}
	return &gateway.Decline{Code: code, Message: msg, Bucket: b, Raw: raw}
}

// Failed returns a Failed Result for reference with the decline of code.
func Failed(reference, code, raw string) gateway.Result {
	return gateway.Result{Status: gateway.Failed, Reference: reference, Decline: New(code, raw)}
}

// NotSent reports whether err proves that a request never reached the
// gateway: the connection was never established (refused, DNS, no route), or
// the context ended before dialling finished.
func NotSent(err error) bool {
	if err == nil {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}

// Transport classifies a failed HTTP exchange (no response) for operation op
// (e.g. "stripe create payment intent"): errs.Unavailable when nothing was
// sent or when the operation is a read (write false), errs.OutcomeUnknown
// when a write may have reached the gateway.
func Transport(err error, op string, write bool) error {
	var ue *url.Error
	cause := err
	if errors.As(err, &ue) {
		// url.Error repeats the URL; the cause is enough and carries no query.
		cause = ue.Err
	}
	switch {
	case NotSent(err):
		return errs.Wrap(errs.Unavailable, cause, "%s: gateway unreachable", op)
	case !write:
		if errors.Is(err, context.DeadlineExceeded) {
			return errs.Wrap(errs.Timeout, cause, "%s: gateway did not answer in time", op)
		}
		return errs.Wrap(errs.Unavailable, cause, "%s: gateway failed", op)
	default:
		return errs.Wrap(errs.OutcomeUnknown, cause, "%s: no answer from gateway; look the charge up before retrying", op)
	}
}

// Status classifies an HTTP error status from the gateway for operation op
// when the body said nothing more specific: 5xx (and 409 for a request in
// flight) is errs.OutcomeUnknown for writes; any other status means the
// gateway refused the request, so nothing was done (errs.Unavailable, 429
// included; errs.NotFound for 404).
func Status(status int, op string, write bool, cause error) error {
	switch {
	case status >= 500 && write:
		return errs.Wrap(errs.OutcomeUnknown, cause, "%s: gateway answered %d; look the charge up before retrying", op, status)
	case status >= 500:
		return errs.Wrap(errs.Unavailable, cause, "%s: gateway answered %d", op, status)
	case status == 429:
		return errs.Wrap(errs.Unavailable, cause, "%s: gateway rate limit", op)
	case status == 404:
		return errs.Wrap(errs.NotFound, cause, "%s: not found at the gateway", op)
	default:
		return errs.Wrap(errs.Unavailable, cause, "%s: gateway refused the request (%d)", op, status)
	}
}
