package razorpaygw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// event is a Razorpay webhook body.
type event struct {
	Entity    string `json:"entity"`
	AccountID string `json:"account_id"`
	Event     string `json:"event"`
	Payload   struct {
		Payment *struct {
			Entity payment `json:"entity"`
		} `json:"payment"`
		Order *struct {
			Entity order `json:"entity"`
		} `json:"order"`
		Refund *struct {
			Entity refund `json:"entity"`
		} `json:"refund"`
	} `json:"payload"`
	CreatedAt int64 `json:"created_at"`
}

// ParseWebhook verifies X-Razorpay-Signature (hex HMAC-SHA256 of the raw
// body with the webhook secret) and parses the event. Its ID is the
// X-Razorpay-Event-Id header, which Razorpay keeps across retries.
//
// payment.* and order.paid events carry the payment's state in Result (the
// payment id as Reference, our payment id from the order's or payment's
// notes); refund.* events carry a Refund. payment.downtime.* and others are
// returned with their id and type. A missing or bad signature, or an event
// created more than WebhookMaxAge before now, is errs.Unauthorized; a missing
// event id or a body that is not an event is errs.Invalid.
func (g *Gateway) ParseWebhook(_ context.Context, h http.Header, body []byte, now time.Time) (gateway.Event, error) {
	sig, err := hex.DecodeString(strings.TrimSpace(h.Get("X-Razorpay-Signature")))
	if err != nil || len(sig) == 0 {
		return gateway.Event{}, errs.E(errs.Unauthorized, "missing or malformed X-Razorpay-Signature")
	}
	mac := hmac.New(sha256.New, []byte(g.cfg.WebhookSecret.Reveal()))
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return gateway.Event{}, errs.E(errs.Unauthorized, "Razorpay webhook signature does not match")
	}
	id := h.Get("X-Razorpay-Event-Id")
	if id == "" {
		return gateway.Event{}, errs.E(errs.Invalid, "missing X-Razorpay-Event-Id")
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Event == "" {
		return gateway.Event{}, errs.E(errs.Invalid, "Razorpay webhook body is not an event")
	}
	if created := time.Unix(ev.CreatedAt, 0); ev.CreatedAt == 0 || now.Sub(created) > g.cfg.WebhookMaxAge {
		return gateway.Event{}, errs.E(errs.Unauthorized, "Razorpay webhook is older than %s", g.cfg.WebhookMaxAge)
	}
	out := gateway.Event{ID: id, Type: ev.Event, Raw: body}
	switch {
	case strings.HasPrefix(ev.Event, "payment.downtime."):
	case strings.HasPrefix(ev.Event, "refund."):
		if ev.Payload.Refund != nil {
			rr := refundResult(&ev.Payload.Refund.Entity)
			out.Refund = &rr
			out.Reference = ev.Payload.Refund.Entity.PaymentID
			out.PaymentID = ev.Payload.Refund.Entity.Notes[NotePaymentID]
		}
	case strings.HasPrefix(ev.Event, "payment.") || ev.Event == "order.paid":
		if ev.Payload.Payment != nil {
			p := &ev.Payload.Payment.Entity
			out.Result = paymentResult(p)
			out.Reference = p.ID
			out.PaymentID = p.Notes[NotePaymentID]
		}
		if ev.Payload.Order != nil && ev.Payload.Order.Entity.Notes[NotePaymentID] != "" {
			out.PaymentID = ev.Payload.Order.Entity.Notes[NotePaymentID]
		}
	}
	return out, nil
}
