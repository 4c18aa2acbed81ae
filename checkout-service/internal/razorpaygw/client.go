package razorpaygw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/internal/errs"
)

// apiError is Razorpay's error body.
type apiError struct {
	Status      int    `json:"-"`
	Code        string `json:"code"` // BAD_REQUEST_ERROR, GATEWAY_ERROR, SERVER_ERROR
	Description string `json:"description"`
	Field       string `json:"field"`
	Source      string `json:"source"`
	Step        string `json:"step"`
	Reason      string `json:"reason"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("razorpay %d %s: %s (reason %q)", e.Status, e.Code, e.Description, e.Reason)
}

// notes is Razorpay's notes object, which it renders as [] when empty.
type notes map[string]string

func (n *notes) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		*n = nil
		return nil
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*n = m
	return nil
}

type order struct {
	ID         string `json:"id"`
	Entity     string `json:"entity"`
	Amount     int64  `json:"amount"`
	AmountPaid int64  `json:"amount_paid"`
	AmountDue  int64  `json:"amount_due"`
	Currency   string `json:"currency"`
	Receipt    string `json:"receipt"`
	Status     string `json:"status"` // created, attempted, paid
	Attempts   int    `json:"attempts"`
	Notes      notes  `json:"notes"`
	CreatedAt  int64  `json:"created_at"`
}

type payment struct {
	ID               string `json:"id"`
	Entity           string `json:"entity"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	Status           string `json:"status"` // created, authorized, captured, refunded, failed
	OrderID          string `json:"order_id"`
	Method           string `json:"method"`
	Captured         bool   `json:"captured"`
	Fee              int64  `json:"fee"`
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
	ErrorSource      string `json:"error_source"`
	ErrorStep        string `json:"error_step"`
	ErrorReason      string `json:"error_reason"`
	Notes            notes  `json:"notes"`
	CreatedAt        int64  `json:"created_at"`
}

type refund struct {
	ID        string `json:"id"`
	Entity    string `json:"entity"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	PaymentID string `json:"payment_id"`
	Receipt   string `json:"receipt"`
	Status    string `json:"status"` // pending, processed, failed
	Notes     notes  `json:"notes"`
}

type collection[T any] struct {
	Entity string `json:"entity"`
	Count  int    `json:"count"`
	Items  []T    `json:"items"`
}

// do sends one request: body (if any) as JSON, HTTP Basic key_id:key_secret.
// write says whether the request may change state at Razorpay, which decides
// whether a failure without an answer is errs.OutcomeUnknown. A Razorpay
// error body comes back as an errs error wrapping *apiError.
func (g *Gateway) do(ctx context.Context, op, method, path string, query url.Values, body, out any, write bool) error {
	u := strings.TrimRight(g.cfg.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.SetBasicAuth(g.cfg.KeyID, g.cfg.KeySecret.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return declines.Transport(err, op, write)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return declines.Transport(err, op, write)
	}
	if resp.StatusCode >= 400 {
		ae := &apiError{Status: resp.StatusCode}
		var env struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(b, &env) == nil && env.Error != nil {
			env.Error.Status = resp.StatusCode
			ae = env.Error
		}
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Description), "does not exist") {
			// Razorpay answers an unknown id with 400 "The id provided does
			// not exist".
			return errs.Wrap(errs.NotFound, ae, "%s: not found at the gateway", op)
		}
		return declines.Status(resp.StatusCode, op, write, ae)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		if write {
			return errs.Wrap(errs.OutcomeUnknown, err, "%s: unreadable answer", op)
		}
		return errs.Wrap(errs.Unavailable, err, "%s: unreadable answer", op)
	}
	return nil
}

// apiErr returns the Razorpay error body behind err, if any.
func apiErr(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}
