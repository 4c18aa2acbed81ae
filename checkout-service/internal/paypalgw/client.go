package paypalgw

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
	"time"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/internal/errs"
)

// apiError is PayPal's error body.
type apiError struct {
	Status  int    `json:"-"`
	Name    string `json:"name"`
	Message string `json:"message"`
	DebugID string `json:"debug_id"`
	Details []struct {
		Issue       string `json:"issue"`
		Field       string `json:"field"`
		Description string `json:"description"`
	} `json:"details"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("paypal %d %s %v: %s (debug_id %s)", e.Status, e.Name, e.issues(), e.Message, e.DebugID)
}

func (e *apiError) issues() []string {
	var s []string
	for _, d := range e.Details {
		s = append(s, d.Issue)
	}
	return s
}

// has reports whether the error carries issue.
func (e *apiError) has(issue string) bool {
	for _, d := range e.Details {
		if d.Issue == issue {
			return true
		}
	}
	return false
}

func apiErr(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// rawJSON is a request body sent byte for byte.
type rawJSON []byte

// token returns a cached OAuth2 access token, fetching a new one when there
// is none or it expires within a minute.
func (g *Gateway) token(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.Now()
	if g.accessToken != "" && now.Before(g.tokenExpiry.Add(-time.Minute)) {
		return g.accessToken, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/v1/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return "", fmt.Errorf("paypal token: %w", err)
	}
	req.SetBasicAuth(g.cfg.ClientID, g.cfg.ClientSecret.Reveal())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := g.hc.Do(req)
	if err != nil {
		return "", declines.Transport(err, "paypal token", false)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", declines.Transport(err, "paypal token", false)
	}
	if resp.StatusCode != http.StatusOK {
		// Nothing was attempted: any failure to get a token is Unavailable.
		return "", errs.Wrap(errs.Unavailable, fmt.Errorf("status %d", resp.StatusCode), "paypal token refused")
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", errs.E(errs.Unavailable, "paypal token: unreadable answer")
	}
	g.accessToken = t.AccessToken
	g.tokenExpiry = now.Add(time.Duration(t.ExpiresIn) * time.Second)
	return g.accessToken, nil
}

// dropToken forgets token if it is still the cached one.
func (g *Gateway) dropToken(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.accessToken == token {
		g.accessToken = ""
	}
}

// do sends one JSON request with a bearer token, and PayPal-Request-Id when
// requestID is set. A 401 (expired or revoked token: PayPal did nothing)
// renews the token and retries once. write says whether the request may
// change state at PayPal, which decides whether a failure without an answer
// is errs.OutcomeUnknown. A PayPal error body comes back as an errs error
// wrapping *apiError. out may be nil; a 204 leaves it untouched.
func (g *Gateway) do(ctx context.Context, op, method, path, requestID string, body, out any, write bool) error {
	var raw []byte
	if r, ok := body.(rawJSON); ok {
		raw = r
	} else if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	for try := 0; ; try++ {
		tok, err := g.token(ctx)
		if err != nil {
			return err
		}
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if method == http.MethodPost {
			req.Header.Set("Prefer", "return=representation")
		}
		if requestID != "" {
			req.Header.Set("PayPal-Request-Id", requestID)
		}
		resp, err := g.hc.Do(req)
		if err != nil {
			return declines.Transport(err, op, write)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return declines.Transport(err, op, write)
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			g.dropToken(tok)
			continue
		}
		if resp.StatusCode >= 400 {
			ae := &apiError{}
			_ = json.Unmarshal(b, ae)
			ae.Status = resp.StatusCode
			return declines.Status(resp.StatusCode, op, write, ae)
		}
		if out == nil || resp.StatusCode == http.StatusNoContent || len(b) == 0 {
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
}
