// Package checkoutapi is magento-bridge's client of checkout-service's payment
// API: refunds (POST /v1/payments/{id}/refunds, idempotent per refund_id),
// voids (POST /v1/payments/{id}/void) and captures of authorised payments
// (POST /v1/payments/{id}/capture, idempotent: a captured payment answers 200),
// authenticated with the service token.
//
// A Client is safe for concurrent use. Errors are *errs.Error values: the
// code checkout answered with for a 4xx (errs.Invalid, errs.NotFound,
// errs.Conflict, errs.Unprocessable, ...), errs.OutcomeUnknown for a 5xx or
// a request that may have been sent, and errs.Unavailable when checkout could
// not be reached. A 4xx is checkout's final word on the request; the other
// two may succeed when retried with the same idempotency key.
package checkoutapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
)

// Config configures a Client.
type Config struct {
	BaseURL      string        `mapstructure:"base_url" desc:"checkout-service origin, for refunds, voids and captures"`
	ServiceToken config.Secret `mapstructure:"service_token" desc:"bearer token checkout-service accepts from services (one of its admin.service_tokens)"`
	Timeout      time.Duration `mapstructure:"timeout" desc:"timeout of one request to checkout-service"`
}

// Validate checks the section.
func (c Config) Validate() error {
	var p config.Problems
	p.URL("base_url", c.BaseURL)
	if c.ServiceToken == "" {
		p.Add("service_token", "must be set to checkout-service's service token")
	}
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	return p.Err()
}

// Client calls checkout-service.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}
}

// Refund refunds amount (minor units) of a payment; checkout refunds each
// refundID at most once.
func (c *Client) Refund(ctx context.Context, paymentID string, amount int64, refundID string) error {
	_, err := c.post(ctx, "/v1/payments/"+url.PathEscape(paymentID)+"/refunds", map[string]any{"amount": amount, "refund_id": refundID})
	return err
}

// Void releases a payment's authorisation. errs.NotFound when checkout has no
// such payment or no void endpoint.
func (c *Client) Void(ctx context.Context, paymentID, reason string) error {
	_, err := c.post(ctx, "/v1/payments/"+url.PathEscape(paymentID)+"/void", map[string]any{"reason": reason})
	return err
}

// Capture captures a payment's whole authorisation: amount (minor units)
// must equal the authorised amount, as checkout has no partial capture.
// captureID ("magento-inv-<invoice id>") names the request; a payment that is
// captured already answers 200 whatever the id, so a retry is safe.
// errs.Conflict when checkout refuses for good (the amount is not the
// authorised amount, the payment is not authorised any more, or the gateway
// refused the capture): final, do not retry. errs.OutcomeUnknown or
// errs.Unavailable: retry later.
func (c *Client) Capture(ctx context.Context, paymentID string, amount int64, captureID string) error {
	path := "/v1/payments/" + url.PathEscape(paymentID) + "/capture"
	data, err := c.post(ctx, path, map[string]any{"capture_id": captureID, "amount": amount})
	if errors.Is(err, errNoRoute) {
		// An older checkout-service, deployed behind this bridge: not a
		// refusal, the capture is owed still.
		return errs.Wrap(errs.Unavailable, err, "checkout-service has no capture endpoint (deploy checkout-service first); will retry")
	}
	if err != nil {
		return err
	}
	var p struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Status != "captured" {
		// Not what the contract promises (an empty or cut body, a proxy's
		// page, another status): do not count the money as taken.
		return errs.E(errs.OutcomeUnknown, "checkout answered POST %s with 2xx but payment status %q, not captured", path, p.Status)
	}
	return nil
}

// errNoRoute marks a 404 without checkout's JSON error body: the endpoint
// itself is missing (an older checkout-service), not the payment.
var errNoRoute = errors.New("no such route")

func (c *Client) post(ctx context.Context, path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode checkout request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.cfg.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "build checkout request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.ServiceToken.Reveal())
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, errs.Wrap(errs.Unavailable, err, "checkout-service is unreachable")
		}
		return nil, errs.Wrap(errs.OutcomeUnknown, err, "checkout-service did not answer POST %s", path)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, nil
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &eb)
	msg := eb.Error.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	cause := fmt.Errorf("checkout %d on POST %s", resp.StatusCode, path)
	if resp.StatusCode == http.StatusNotFound && eb.Error.Code == "" {
		cause = fmt.Errorf("%w: checkout 404 on POST %s", errNoRoute, path)
	}
	if resp.StatusCode >= 500 {
		return nil, &errs.Error{Code: errs.OutcomeUnknown, Message: "checkout-service failed: " + msg, Err: cause}
	}
	code := eb.Error.Code
	if code == "" || !known(code) {
		code = byStatus(resp.StatusCode)
	}
	return nil, &errs.Error{Code: code, Message: msg, Err: cause}
}

func known(code string) bool {
	switch code {
	case errs.Invalid, errs.Unauthorized, errs.Forbidden, errs.NotFound, errs.Conflict, errs.Gone,
		errs.Unprocessable, errs.RateLimited, errs.TooLarge:
		return true
	}
	return false
}

func byStatus(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return errs.Unauthorized
	case http.StatusForbidden:
		return errs.Forbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return errs.NotFound
	case http.StatusConflict:
		return errs.Conflict
	case http.StatusGone:
		return errs.Gone
	case http.StatusUnprocessableEntity:
		return errs.Unprocessable
	case http.StatusTooManyRequests:
		return errs.RateLimited
	}
	return errs.Invalid
}
