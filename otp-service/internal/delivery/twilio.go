package delivery

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// TwilioConfig configures Twilio's Programmable Messaging and Voice (provider
// "twilio") and Twilio Verify with our own code (provider "twilio_verify").
type TwilioConfig struct {
	AccountSID string        `mapstructure:"account_sid" desc:"Twilio account SID, required for providers twilio and twilio_verify"`
	AuthToken  config.Secret `mapstructure:"auth_token" desc:"Twilio auth token of account_sid"`
	// From is the sender number (or use MessagingServiceSID for SMS).
	From                string `mapstructure:"from" desc:"sender phone number (E.164) for voice calls, and for SMS when messaging_service_sid is empty"`
	MessagingServiceSID string `mapstructure:"messaging_service_sid" desc:"Twilio Messaging Service SID used as the SMS sender instead of from"`
	// WhatsAppFrom is the WhatsApp sender (E.164, without "whatsapp:").
	WhatsAppFrom string `mapstructure:"whatsapp_from" desc:"WhatsApp sender number (E.164, without the whatsapp: prefix)"`
	// VerifyServiceSID is the Verify service; Verify mode sends our code as
	// CustomCode, so checking stays here (Twilio must enable custom codes).
	VerifyServiceSID string `mapstructure:"verify_service_sid" desc:"Twilio Verify service SID for provider twilio_verify, which sends our code as CustomCode (custom codes must be enabled)"`
	BaseURL          string `mapstructure:"base_url" desc:"base URL of Twilio's REST API for messages and calls"`
	VerifyBaseURL    string `mapstructure:"verify_base_url" desc:"base URL of Twilio's Verify API"`
}

func (c TwilioConfig) validate(verify bool) error {
	var p config.Problems
	if c.AccountSID == "" || c.AuthToken == "" {
		p.Add("account_sid", "account_sid and auth_token must be set")
	}
	p.URL("base_url", c.BaseURL)
	if verify {
		p.URL("verify_base_url", c.VerifyBaseURL)
		if c.VerifyServiceSID == "" {
			p.Add("verify_service_sid", "must be set for twilio_verify")
		}
	} else if c.From == "" && c.MessagingServiceSID == "" {
		p.Add("from", "from or messaging_service_sid must be set")
	}
	return p.Err()
}

// Twilio sends SMS, WhatsApp and voice calls through Twilio's REST API
// (form-encoded POSTs with HTTP basic auth). With Verify set it uses Twilio
// Verify's Verifications endpoint instead.
type Twilio struct {
	cfg    TwilioConfig
	hc     *http.Client
	verify bool
}

// NewTwilio returns the messaging provider, or the Verify provider when
// verify is true.
func NewTwilio(cfg TwilioConfig, hc *http.Client, verify bool) *Twilio {
	return &Twilio{cfg: cfg, hc: hc, verify: verify}
}

// Name implements Provider.
func (t *Twilio) Name() string {
	if t.verify {
		return "twilio_verify"
	}
	return "twilio"
}

// Send implements Provider.
func (t *Twilio) Send(ctx context.Context, m otp.Message) error {
	var (
		endpoint string
		form     = url.Values{}
	)
	switch {
	case t.verify:
		endpoint = strings.TrimRight(t.cfg.VerifyBaseURL, "/") + "/v2/Services/" + url.PathEscape(t.cfg.VerifyServiceSID) + "/Verifications"
		form.Set("To", m.To)
		form.Set("Channel", string(m.Channel))
		form.Set("CustomCode", m.Code)
		if m.Locale != "" {
			form.Set("Locale", m.Locale)
		}
	case m.Channel == otp.Voice:
		endpoint = t.accountURL("Calls.json")
		form.Set("To", m.To)
		form.Set("From", t.cfg.From)
		form.Set("Twiml", "<Response><Say>"+html.EscapeString(m.Body)+"</Say></Response>")
	case m.Channel == otp.WhatsApp:
		endpoint = t.accountURL("Messages.json")
		form.Set("To", "whatsapp:"+m.To)
		form.Set("From", "whatsapp:"+t.cfg.WhatsAppFrom)
		form.Set("Body", m.Body)
	case m.Channel == otp.SMS:
		endpoint = t.accountURL("Messages.json")
		form.Set("To", m.To)
		if t.cfg.MessagingServiceSID != "" {
			form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
		} else {
			form.Set("From", t.cfg.From)
		}
		form.Set("Body", m.Body)
	default:
		return fmt.Errorf("twilio: channel %s not supported", m.Channel)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken.Reveal())
	resp, err := t.hc.Do(req)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("twilio: %w", responseError(resp))
	}
	return nil
}

func (t *Twilio) accountURL(resource string) string {
	return strings.TrimRight(t.cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.cfg.AccountSID) + "/" + resource
}
