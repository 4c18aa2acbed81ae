package stripegw

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// ParseWebhook verifies the Stripe-Signature header over the raw body with
// the endpoint secret (stripe-go checks the timestamp against the wall
// clock; the adapter checks it against now too, within WebhookTolerance) and
// parses the event, whatever API version it was rendered in.
//
// payment_intent.* events carry the PaymentIntent's state in Result and the
// payment id from its metadata; refund.* and charge.refund.updated events
// carry a Refund. Other events are returned with their id and type only. A
// missing, bad or stale signature is errs.Unauthorized; a body that is not
// an event is errs.Invalid. De-duplication by ID is the caller's concern.
func (g *Gateway) ParseWebhook(_ context.Context, h http.Header, body []byte, now time.Time) (gateway.Event, error) {
	sig := h.Get("Stripe-Signature")
	if sig == "" {
		return gateway.Event{}, errs.E(errs.Unauthorized, "missing Stripe-Signature header")
	}
	ev, err := webhook.ConstructEventWithOptions(body, sig, g.cfg.WebhookSecret.Reveal(), webhook.ConstructEventOptions{
		Tolerance:                g.cfg.WebhookTolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return gateway.Event{}, errs.Wrap(errs.Unauthorized, err, "stripe webhook signature")
	}
	if ts, ok := signatureTime(sig); !ok || now.Sub(ts) > g.cfg.WebhookTolerance || ts.Sub(now) > g.cfg.WebhookTolerance {
		return gateway.Event{}, errs.E(errs.Unauthorized, "stripe webhook signature timestamp outside the tolerance")
	}
	out := gateway.Event{ID: ev.ID, Type: string(ev.Type), Raw: body}
	if ev.Data == nil {
		return out, nil
	}
	switch {
	case strings.HasPrefix(out.Type, "payment_intent."):
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return gateway.Event{}, errs.Wrap(errs.Invalid, err, "stripe webhook payment intent")
		}
		out.Reference = pi.ID
		out.PaymentID = pi.Metadata[MetaPaymentID]
		out.Result = result(&pi)
		if out.Type == "payment_intent.created" {
			// A new intent says nothing about the outcome yet.
			out.Result = gateway.Result{Status: gateway.Processing, Reference: pi.ID}
		}
	case strings.HasPrefix(out.Type, "refund.") || out.Type == "charge.refund.updated":
		var r stripe.Refund
		if err := json.Unmarshal(ev.Data.Raw, &r); err != nil {
			return gateway.Event{}, errs.Wrap(errs.Invalid, err, "stripe webhook refund")
		}
		rr := refundResult(&r)
		out.Refund = &rr
		if r.PaymentIntent != nil {
			out.Reference = r.PaymentIntent.ID
		}
	}
	return out, nil
}

// signatureTime returns the t= timestamp of a Stripe-Signature header.
func signatureTime(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "t" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}
