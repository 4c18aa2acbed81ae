package paypalgw

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// Webhook headers PayPal signs a delivery with.
const (
	HeaderAuthAlgo         = "PAYPAL-AUTH-ALGO"
	HeaderCertURL          = "PAYPAL-CERT-URL"
	HeaderTransmissionID   = "PAYPAL-TRANSMISSION-ID"
	HeaderTransmissionSig  = "PAYPAL-TRANSMISSION-SIG"
	HeaderTransmissionTime = "PAYPAL-TRANSMISSION-TIME"
)

type webhookEvent struct {
	ID           string          `json:"id"`
	EventType    string          `json:"event_type"`
	ResourceType string          `json:"resource_type"`
	Resource     json.RawMessage `json:"resource"`
}

// ParseWebhook checks the delivery's headers (all five present, the
// certificate URL on one of CertHosts over https, the transmission time
// within WebhookTolerance of now), has PayPal verify the signature through
// POST /v1/notifications/verify-webhook-signature with the configured
// webhook id and the raw event, then parses the event.
//
// CHECKOUT.ORDER.* events carry the order's state; PAYMENT.CAPTURE.* and
// PAYMENT.AUTHORIZATION.* events the capture's or authorisation's, with the
// order id as Reference and our payment id from custom_id;
// PAYMENT.CAPTURE.REFUNDED and other refund events carry a Refund. Errors: a
// missing header, foreign certificate host, stale transmission or failed
// verification is errs.Unauthorized; a body that is not an event
// errs.Invalid; PayPal unreachable errs.Unavailable (answer 5xx so PayPal
// retries).
func (g *Gateway) ParseWebhook(ctx context.Context, h http.Header, body []byte, now time.Time) (gateway.Event, error) {
	v := map[string]string{}
	for key, header := range map[string]string{
		"auth_algo": HeaderAuthAlgo, "cert_url": HeaderCertURL, "transmission_id": HeaderTransmissionID,
		"transmission_sig": HeaderTransmissionSig, "transmission_time": HeaderTransmissionTime,
	} {
		if v[key] = h.Get(header); v[key] == "" {
			return gateway.Event{}, errs.E(errs.Unauthorized, "missing %s header", header)
		}
	}
	u, err := url.Parse(v["cert_url"])
	if err != nil || u.Scheme != "https" || !slices.Contains(g.cfg.CertHosts, strings.ToLower(u.Hostname())) {
		return gateway.Event{}, errs.E(errs.Unauthorized, "PayPal webhook certificate URL is not on PayPal's hosts")
	}
	sent, err := time.Parse(time.RFC3339, v["transmission_time"])
	if err != nil || now.Sub(sent) > g.cfg.WebhookTolerance || sent.Sub(now) > g.cfg.WebhookTolerance {
		return gateway.Event{}, errs.E(errs.Unauthorized, "PayPal webhook transmission time outside the tolerance")
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.EventType == "" {
		return gateway.Event{}, errs.E(errs.Invalid, "PayPal webhook body is not an event")
	}
	fields, err := json.Marshal(map[string]string{
		"auth_algo":         v["auth_algo"],
		"cert_url":          v["cert_url"],
		"transmission_id":   v["transmission_id"],
		"transmission_sig":  v["transmission_sig"],
		"transmission_time": v["transmission_time"],
		"webhook_id":        g.cfg.WebhookID,
	})
	if err != nil {
		return gateway.Event{}, err
	}
	// The event goes back exactly as received (encoding/json would compact
	// and re-escape it): PayPal checks the signature over those bytes.
	req := append(fields[:len(fields)-1:len(fields)-1], `,"webhook_event":`...)
	req = append(append(req, body...), '}')
	var res struct {
		VerificationStatus string `json:"verification_status"`
	}
	if err := g.do(ctx, "paypal verify webhook signature", http.MethodPost, "/v1/notifications/verify-webhook-signature", "", rawJSON(req), &res, false); err != nil {
		if ae := apiErr(err); ae != nil && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusTooManyRequests {
			return gateway.Event{}, errs.Wrap(errs.Unauthorized, err, "PayPal refused to verify the webhook")
		}
		if errs.Is(err, errs.Unavailable) || errs.Is(err, errs.Timeout) {
			return gateway.Event{}, err
		}
		return gateway.Event{}, errs.Wrap(errs.Unavailable, err, "paypal verify webhook signature")
	}
	if res.VerificationStatus != "SUCCESS" {
		return gateway.Event{}, errs.E(errs.Unauthorized, "PayPal did not verify the webhook signature")
	}
	return parseEvent(g, &ev, body)
}

func parseEvent(g *Gateway, ev *webhookEvent, body []byte) (gateway.Event, error) {
	out := gateway.Event{ID: ev.ID, Type: ev.EventType, Raw: body}
	switch {
	case strings.HasPrefix(ev.EventType, "CHECKOUT.ORDER."):
		var o order
		if err := json.Unmarshal(ev.Resource, &o); err != nil {
			return gateway.Event{}, errs.Wrap(errs.Invalid, err, "PayPal webhook order")
		}
		out.Reference = o.ID
		out.Result = g.orderResult(&o)
		if len(o.PurchaseUnits) > 0 {
			out.PaymentID = paymentOf(o.PurchaseUnits[0].CustomID)
		}
	case ev.ResourceType == "refund" || strings.HasSuffix(ev.EventType, ".REFUNDED") || strings.HasSuffix(ev.EventType, ".REVERSED"):
		var r refund
		if err := json.Unmarshal(ev.Resource, &r); err != nil {
			return gateway.Event{}, errs.Wrap(errs.Invalid, err, "PayPal webhook refund")
		}
		rr := refundResult(&r)
		out.Refund = &rr
	case strings.HasPrefix(ev.EventType, "PAYMENT.CAPTURE.") || strings.HasPrefix(ev.EventType, "PAYMENT.AUTHORIZATION."):
		var c capture
		if err := json.Unmarshal(ev.Resource, &c); err != nil {
			return gateway.Event{}, errs.Wrap(errs.Invalid, err, "PayPal webhook payment")
		}
		if c.SupplementaryData != nil {
			out.Reference = c.SupplementaryData.RelatedIDs.OrderID
		}
		out.PaymentID = paymentOf(c.CustomID)
		if strings.HasPrefix(ev.EventType, "PAYMENT.CAPTURE.") {
			out.Result = captureResult(out.Reference, &c)
		} else {
			out.Result = authorizationResult(out.Reference, &c)
		}
	}
	return out, nil
}

// paymentOf returns the payment id of a custom_id "<payment id>:<attempt>".
func paymentOf(customID string) string {
	if i := strings.LastIndex(customID, ":"); i > 0 {
		return customID[:i]
	}
	return customID
}
