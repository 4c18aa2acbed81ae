package paypalgw_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

const captureEvent = `{"id":"WH-2WR32451HC0233532-67976317FL4543714","create_time":"2026-11-27T10:02:00.000Z","resource_type":"capture",
"event_type":"PAYMENT.CAPTURE.COMPLETED","summary":"Payment completed for $ 10.50 USD",
"resource":{"id":"3C679366HH908993F","status":"COMPLETED","amount":{"currency_code":"USD","value":"10.50"},"custom_id":"pay_123:1",
"supplementary_data":{"related_ids":{"order_id":"5O190127TN364711T"}}},"event_version":"1.0","resource_version":"2.0"}`

func webhookHeaders(at time.Time) http.Header {
	h := http.Header{}
	h.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")
	h.Set("PAYPAL-CERT-URL", "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77")
	h.Set("PAYPAL-TRANSMISSION-ID", "69cd13f0-d67a-11e5-baa3-778b53f4ae55")
	h.Set("PAYPAL-TRANSMISSION-SIG", "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==")
	h.Set("PAYPAL-TRANSMISSION-TIME", at.UTC().Format(time.RFC3339))
	return h
}

func TestParseWebhook(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 2, 30, 0, time.UTC)
	with := func(k, v string) http.Header {
		h := webhookHeaders(now)
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	tests := []struct {
		name       string
		header     http.Header
		verify     string
		body       string
		wantErr    string
		wantVerify bool
	}{
		{name: "good", header: webhookHeaders(now), verify: "SUCCESS", body: captureEvent, wantVerify: true},
		{name: "PayPal says no (tampered or forged)", header: webhookHeaders(now), verify: "FAILURE", body: captureEvent, wantErr: errs.Unauthorized, wantVerify: true},
		{name: "stale", header: webhookHeaders(now.Add(-time.Hour)), verify: "SUCCESS", body: captureEvent, wantErr: errs.Unauthorized},
		{name: "foreign certificate host", header: with("PAYPAL-CERT-URL", "https://evil.example/cert.pem"), verify: "SUCCESS", body: captureEvent, wantErr: errs.Unauthorized},
		{name: "look-alike certificate host", header: with("PAYPAL-CERT-URL", "https://api.paypal.com.evil.example/cert.pem"), verify: "SUCCESS", body: captureEvent, wantErr: errs.Unauthorized},
		{name: "certificate over http", header: with("PAYPAL-CERT-URL", "http://api.paypal.com/v1/notifications/certs/CERT-1"), verify: "SUCCESS", body: captureEvent, wantErr: errs.Unauthorized},
		{name: "unsigned", header: with("PAYPAL-TRANSMISSION-SIG", ""), verify: "SUCCESS", body: captureEvent, wantErr: errs.Unauthorized},
		{name: "not an event", header: webhookHeaders(now), verify: "SUCCESS", body: `[1,2]`, wantErr: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.verify = tt.verify
			ev, err := f.gateway(t).ParseWebhook(context.Background(), tt.header, []byte(tt.body), now)
			calls := f.taken()
			verified := false
			for _, c := range calls {
				if c.Path == "/v1/notifications/verify-webhook-signature" {
					verified = true
					body := c.json(t)
					if body["webhook_id"] != webhookID || body["auth_algo"] != "SHA256withRSA" || body["transmission_id"] != "69cd13f0-d67a-11e5-baa3-778b53f4ae55" {
						t.Errorf("verify request = %v", body)
					}
					if !bytes.Contains(c.Body, []byte(`"webhook_event":`+tt.body+`}`)) {
						t.Errorf("verify request does not carry the event byte for byte: %s", c.Body)
					}
				}
			}
			if verified != tt.wantVerify {
				t.Errorf("asked PayPal to verify = %v; want %v", verified, tt.wantVerify)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Fatalf("ParseWebhook() = %+v, %v; want %s", ev, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWebhook() = %v", err)
			}
			if ev.ID != "WH-2WR32451HC0233532-67976317FL4543714" || ev.Type != "PAYMENT.CAPTURE.COMPLETED" ||
				ev.Reference != "5O190127TN364711T" || ev.PaymentID != "pay_123" || ev.Result.Status != gateway.Captured {
				t.Errorf("ParseWebhook() = %+v", ev)
			}
		})
	}

	t.Run("replay has the same id", func(t *testing.T) {
		f := newFake(t)
		g := f.gateway(t)
		a, err1 := g.ParseWebhook(context.Background(), webhookHeaders(now), []byte(captureEvent), now)
		b, err2 := g.ParseWebhook(context.Background(), webhookHeaders(now), []byte(captureEvent), now.Add(time.Minute))
		if err1 != nil || err2 != nil || a.ID != b.ID {
			t.Errorf("replay: %q %v, %q %v; want the same id twice", a.ID, err1, b.ID, err2)
		}
	})
	t.Run("PayPal down", func(t *testing.T) {
		f := newFake(t)
		f.override = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(503)
			return true
		}
		_, err := f.gateway(t).ParseWebhook(context.Background(), webhookHeaders(now), []byte(captureEvent), now)
		wantCode(t, err, errs.Unavailable)
	})
}
