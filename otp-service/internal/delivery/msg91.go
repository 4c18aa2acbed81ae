package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// MSG91Config configures MSG91's Flow API for Indian SMS. Indian SMS must
// follow a DLT-registered template: the flow's text lives at MSG91 and
// receives the code as the variable CodeVariable.
type MSG91Config struct {
	URL     string        `mapstructure:"url" desc:"MSG91 Flow API endpoint that SMS are POSTed to"`
	AuthKey config.Secret `mapstructure:"auth_key" desc:"MSG91 auth key sent in the authkey header"`
	// TemplateID is MSG91's flow/template id; DLTTemplateID the template's
	// DLT registration (DLT_TE_ID), sent along so MSG91 can check it.
	TemplateID    string `mapstructure:"template_id" desc:"MSG91 flow/template id of the SMS text"`
	DLTTemplateID string `mapstructure:"dlt_template_id" desc:"DLT registration id (DLT_TE_ID) of the template, required by Indian DLT rules"`
	Sender        string `mapstructure:"sender" desc:"sender id (DLT header) of the SMS; empty uses the flow's default"`
	CodeVariable  string `mapstructure:"code_variable" desc:"name of the flow variable that receives the code"`
}

func (c MSG91Config) validate() error {
	var p config.Problems
	p.URL("url", c.URL)
	if c.AuthKey == "" {
		p.Add("auth_key", "must be set")
	}
	if c.TemplateID == "" || c.DLTTemplateID == "" {
		p.Add("template_id", "template_id and dlt_template_id must be set (DLT rules)")
	}
	if c.CodeVariable == "" {
		p.Add("code_variable", "must be set")
	}
	return p.Err()
}

// MSG91 sends SMS through MSG91's Flow API.
type MSG91 struct {
	cfg MSG91Config
	hc  *http.Client
}

// NewMSG91 returns the provider.
func NewMSG91(cfg MSG91Config, hc *http.Client) *MSG91 { return &MSG91{cfg: cfg, hc: hc} }

// Name implements Provider.
func (p *MSG91) Name() string { return "msg91" }

// Send implements Provider.
func (p *MSG91) Send(ctx context.Context, m otp.Message) error {
	if m.Channel != otp.SMS {
		return fmt.Errorf("msg91: channel %s not supported", m.Channel)
	}
	body := map[string]any{
		"template_id": p.cfg.TemplateID,
		"DLT_TE_ID":   p.cfg.DLTTemplateID,
		"short_url":   "0",
		"recipients":  []map[string]string{{"mobiles": strings.TrimPrefix(m.To, "+"), p.cfg.CodeVariable: m.Code}},
	}
	if p.cfg.Sender != "" {
		body["sender"] = p.cfg.Sender
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("authkey", p.cfg.AuthKey.Reveal())
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("msg91: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("msg91: %w", responseError(resp))
	}
	// MSG91 answers 200 with {"type":"error"} for refused requests.
	var out struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("msg91: unreadable answer: %w", err)
	}
	if out.Type != "success" {
		return fmt.Errorf("msg91: %s: %s", out.Type, scrub(out.Message))
	}
	return nil
}
