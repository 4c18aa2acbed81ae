package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// SMTPConfig configures email delivery.
type SMTPConfig struct {
	Host     string        `mapstructure:"host" desc:"SMTP server host name, also used for TLS verification"`
	Port     int           `mapstructure:"port" desc:"SMTP server TCP port; STARTTLS is used when offered"`
	Username string        `mapstructure:"username" desc:"SMTP AUTH PLAIN user name; empty skips authentication"`
	Password config.Secret `mapstructure:"password" desc:"SMTP AUTH password of username"`
	From     string        `mapstructure:"from" desc:"sender address of code emails, e.g. Shop <no-reply@shop.example>"`
	// AllowPlaintext permits a server without STARTTLS (local relays and
	// tests only); credentials are still never sent in the clear except to
	// localhost.
	AllowPlaintext bool `mapstructure:"allow_plaintext" desc:"permit a server without STARTTLS (local relays and tests only); credentials still go in the clear only to localhost"`
}

func (c SMTPConfig) validate() error {
	var p config.Problems
	if c.Host == "" {
		p.Add("host", "must be set")
	}
	if c.Port < 1 || c.Port > 65535 {
		p.Add("port", "must be a TCP port")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		p.Add("from", "must be an email address: %v", err)
	}
	return p.Err()
}

// SMTP sends email with net/smtp, upgrading with STARTTLS.
type SMTP struct {
	cfg     SMTPConfig
	timeout time.Duration
}

// NewSMTP returns the provider.
func NewSMTP(cfg SMTPConfig, timeout time.Duration) *SMTP { return &SMTP{cfg: cfg, timeout: timeout} }

// Name implements Provider.
func (s *SMTP) Name() string { return "smtp" }

// Send implements Provider. Errors mask the addresses and numbers the
// server may echo, since they are logged.
func (s *SMTP) Send(ctx context.Context, m otp.Message) error {
	if err := s.send(ctx, m); err != nil {
		return errors.New(scrub(err.Error()))
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, m otp.Message) error {
	if m.Channel != otp.Email {
		return fmt.Errorf("smtp: channel %s not supported", m.Channel)
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	deadline := time.Now().Add(s.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	} else if !s.cfg.AllowPlaintext {
		return fmt.Errorf("smtp: %s does not offer STARTTLS", addr)
	}
	if s.cfg.Username != "" {
		// PlainAuth itself refuses to send credentials unencrypted except
		// to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password.Reveal(), s.cfg.Host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from, _ := mail.ParseAddress(s.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp mail: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(s.message(from, m)); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return c.Quit()
}

func (s *SMTP) message(from *mail.Address, m otp.Message) []byte {
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: <%s>\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), s.cfg.Host)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n")
	b.WriteString("Auto-Submitted: auto-generated\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Body))
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
