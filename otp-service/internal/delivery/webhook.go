package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// WebhookConfig configures the generic signed HTTP webhook, for any gateway
// this service has no provider for.
type WebhookConfig struct {
	URL    string        `mapstructure:"url" desc:"URL the message is POSTed to as JSON by provider webhook"`
	Secret config.Secret `mapstructure:"secret" desc:"HMAC-SHA256 key (at least 32 bytes) signing each request in the X-OTP-Signature header"`
}

func (c WebhookConfig) validate() error {
	var p config.Problems
	p.URL("url", c.URL)
	if len(c.Secret.Reveal()) < 32 {
		p.Add("secret", "must be at least 32 bytes")
	}
	return p.Err()
}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>." + body)>"; receivers recompute it over the raw body and refuse
// timestamps older than a few minutes.
const SignatureHeader = "X-OTP-Signature"

// Webhook POSTs the message as JSON with an HMAC signature header.
type Webhook struct {
	cfg WebhookConfig
	hc  *http.Client
	now func() time.Time
}

// NewWebhook returns the provider.
func NewWebhook(cfg WebhookConfig, hc *http.Client, now func() time.Time) *Webhook {
	return &Webhook{cfg: cfg, hc: hc, now: now}
}

// Name implements Provider.
func (w *Webhook) Name() string { return "webhook" }

// WebhookPayload is the webhook's JSON body.
type WebhookPayload struct {
	To      string `json:"to"`
	Channel string `json:"channel"`
	Country string `json:"country,omitempty"`
	Locale  string `json:"locale,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	Code    string `json:"code"`
	SentAt  string `json:"sent_at"`
}

// Sign returns the signature header value for body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Send implements Provider.
func (w *Webhook) Send(ctx context.Context, m otp.Message) error {
	now := w.now()
	body, err := json.Marshal(WebhookPayload{To: m.To, Channel: string(m.Channel), Country: m.Country, Locale: m.Locale,
		Subject: m.Subject, Body: m.Body, Code: m.Code, SentAt: now.UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign([]byte(w.cfg.Secret.Reveal()), now, body))
	resp, err := w.hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %w", responseError(resp))
	}
	return nil
}
