// Package delivery sends codes through providers (Twilio, MSG91, SMTP, a
// signed webhook, the sandbox) with failover between them.
//
// A Router holds the ordered provider list of each channel, optionally per
// country; Send tries them in order until one accepts the message. A provider
// that answers with a timeout may still have delivered: failing over then can
// send the same code twice, which is harmless (it is the same code). Routers
// and providers are safe for concurrent use.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/logging"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Provider delivers messages on some channels.
type Provider interface {
	Name() string
	Send(ctx context.Context, m otp.Message) error
}

// Config is the "delivery" section of otp-service's configuration.
type Config struct {
	// Routes maps a channel (sms, whatsapp, voice, email), or
	// "<channel>.<country>" such as sms.in, to provider names tried in order.
	Routes  map[string][]string `mapstructure:"routes" desc:"map of a channel (sms, whatsapp, voice, email) or <channel>.<country> (e.g. sms.in) to the list of provider names tried in order: twilio, twilio_verify, msg91, smtp, webhook, sandbox"`
	Timeout time.Duration       `mapstructure:"timeout" desc:"maximum duration of one delivery request to a provider (HTTP request or SMTP session)"`
	Twilio  TwilioConfig        `mapstructure:"twilio"`
	MSG91   MSG91Config         `mapstructure:"msg91"`
	SMTP    SMTPConfig          `mapstructure:"smtp"`
	Webhook WebhookConfig       `mapstructure:"webhook"`
	Sandbox SandboxConfig       `mapstructure:"sandbox"`
}

// DefaultConfig routes every channel to the sandbox provider.
func DefaultConfig() Config {
	return Config{
		Routes: map[string][]string{
			"sms": {"sandbox"}, "whatsapp": {"sandbox"}, "voice": {"sandbox"}, "email": {"sandbox"},
		},
		Timeout: 5 * time.Second,
		Twilio:  TwilioConfig{BaseURL: "https://api.twilio.com", VerifyBaseURL: "https://verify.twilio.com"},
		MSG91:   MSG91Config{URL: "https://control.msg91.com/api/v5/flow/", CodeVariable: "otp"},
		SMTP:    SMTPConfig{Port: 587},
		Sandbox: SandboxConfig{Keep: 20, TTL: time.Hour},
	}
}

// Validate reports bad routes and provider settings for the providers that
// routes name.
func (c Config) Validate() error {
	var p config.Problems
	used := map[string]bool{}
	for route, names := range c.Routes {
		ch, _, _ := strings.Cut(route, ".")
		switch ch {
		case "sms", "whatsapp", "voice", "email":
		default:
			p.Add("routes", "%q: channel must be sms, whatsapp, voice or email", route)
		}
		if len(names) == 0 {
			p.Add("routes", "%q lists no provider", route)
		}
		for _, n := range names {
			used[n] = true
			switch n {
			case "twilio", "twilio_verify", "msg91", "smtp", "webhook", "sandbox":
			default:
				p.Add("routes", "%q: unknown provider %q", route, n)
			}
		}
	}
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	if used["twilio"] || used["twilio_verify"] {
		p.Merge("twilio", c.Twilio.validate(used["twilio_verify"]))
	}
	if used["msg91"] {
		p.Merge("msg91", c.MSG91.validate())
	}
	if used["smtp"] {
		p.Merge("smtp", c.SMTP.validate())
	}
	if used["webhook"] {
		p.Merge("webhook", c.Webhook.validate())
	}
	return p.Err()
}

// Router sends through the providers routed for a message's channel and
// country, in order.
type Router struct {
	routes    map[string][]Provider
	log       *zap.Logger
	providers map[string]Provider
	failures  *prometheus.CounterVec
}

var _ otp.Sender = (*Router)(nil)

// NewRouter returns a Router over providers (by name) with cfg's routes.
// Provider failures are counted in otp_provider_failures_total{provider,
// channel} when reg is not nil.
func NewRouter(routes map[string][]string, providers map[string]Provider, log *zap.Logger, reg prometheus.Registerer) (*Router, error) {
	r := &Router{routes: map[string][]Provider{}, log: log, providers: providers,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_provider_failures_total", Help: "Messages a provider failed to accept (the next provider was tried), by provider and channel.",
		}, []string{"provider", "channel"})}
	if reg != nil {
		if err := reg.Register(r.failures); err != nil {
			return nil, err
		}
	}
	for route, names := range routes {
		for _, n := range names {
			p, ok := providers[n]
			if !ok {
				return nil, fmt.Errorf("route %s: provider %s is not configured", route, n)
			}
			r.routes[strings.ToLower(route)] = append(r.routes[strings.ToLower(route)], p)
		}
	}
	return r, nil
}

func (r *Router) route(m otp.Message) []Provider {
	if list, ok := r.routes[string(m.Channel)+"."+strings.ToLower(m.Country)]; ok {
		return list
	}
	return r.routes[string(m.Channel)]
}

// Primary implements otp.Sender.
func (r *Router) Primary(m otp.Message) string {
	if list := r.route(m); len(list) > 0 {
		return list[0].Name()
	}
	return ""
}

// Send implements otp.Sender.
func (r *Router) Send(ctx context.Context, m otp.Message) (string, error) {
	list := r.route(m)
	if len(list) == 0 {
		return "", fmt.Errorf("no provider for channel %s", m.Channel)
	}
	var errs []error
	for _, p := range list {
		err := p.Send(ctx, m)
		if err == nil {
			return p.Name(), nil
		}
		r.failures.WithLabelValues(p.Name(), string(m.Channel)).Inc()
		r.log.Warn("provider failed, trying the next", zap.String("provider", p.Name()), zap.String("channel", string(m.Channel)), zap.Error(err))
		errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return "", errors.Join(errs...)
}

// responseError reads a provider's failed answer (a short excerpt, never the
// request, which holds the code), with digit runs that could be a phone
// number or a code masked, since the error is logged.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("status %d: %s", resp.StatusCode, scrub(strings.TrimSpace(string(b))))
}

var digitRun = regexp.MustCompile(`\+?[0-9][0-9 ().-]{4,}[0-9]`)

var emailLike = regexp.MustCompile(`[^\s<>"'@,;:]+@[^\s<>"',;:]+`)

// scrub masks every run of 6 or more digits (phones, codes) and every email
// address in provider text.
func scrub(s string) string {
	s = emailLike.ReplaceAllStringFunc(s, logging.MaskEmail)
	return digitRun.ReplaceAllStringFunc(s, func(m string) string {
		n := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				n++
			}
		}
		if n < 6 {
			return m
		}
		return "[number]"
	})
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
