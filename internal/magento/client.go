// Package magento is a client for Magento 2.4's REST API (and the one GraphQL
// mutation the platform needs), built to Magento's published admin REST
// schema.
//
// A Client is concrete and safe for concurrent use. Every method takes a
// context first, caps the requests it has in flight at Config.MaxConcurrent,
// bounds each attempt with Config.Timeout, retries reads with exponential
// backoff and full jitter, and never retries a write blindly. Errors are
// *errs.Error values:
//
//   - errs.Invalid for Magento's 400, errs.Unauthorized for 401,
//     errs.NotFound for 404 (also an inactive cart), errs.Forbidden for 403;
//   - errs.OutcomeUnknown when a write timed out, lost its connection after
//     sending, or got a 5xx: the write may have happened, so look before
//     retrying (for orders: search by quote_id or increment_id);
//   - errs.Unavailable when a read kept failing with 5xx or transport errors
//     after its retries, or a write could not even connect;
//   - errs.Timeout when a read's attempts all timed out.
//
// The Message of each error is Magento's message with its %1 or %name
// placeholders filled from "parameters"; the *APIError in the chain keeps the
// status, template and parameters.
//
// Admin operations authenticate according to Config.AuthMode; admin tokens are
// cached in a TokenCache, renewed before they expire and once more after a
// 401. Guest operations need no credentials; customer operations take a
// customer token through CustomerCart.
//
// Amounts on Magento's wire are floats. The platform keeps integer minor
// units: convert with MinorUnits and Amount at the boundary.
package magento

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
)

// Client calls one Magento store. Build it with New; the zero value is not
// usable.
type Client struct {
	cfg     Config
	origin  string // base URL without trailing slash
	restURL string // origin + /rest/<store>/V1
	hc      *http.Client
	sem     chan struct{}
	tokens  TokenCache
	now     func() time.Time
	jitter  func(max time.Duration) time.Duration
	nonce   func() string
	log     *zap.Logger

	tokenSem chan struct{} // serialises admin token fetches; honours ctx
}

// Option customises a Client.
type Option func(*Client)

// WithHTTPClient replaces the pooled HTTP client (tests use this to route
// through a validating transport). Its Timeout should be zero: the Client
// bounds each attempt itself.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTokenCache stores admin tokens in tc (e.g. a RedisTokenCache shared by
// a service's replicas) instead of a private in-memory cache.
func WithTokenCache(tc TokenCache) Option { return func(c *Client) { c.tokens = tc } }

// WithClock injects the clock used for TOTP codes, OAuth timestamps and the
// in-memory token cache.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithLogger logs retries and token renewals at debug level; no secrets or
// tokens are logged.
func WithLogger(l *zap.Logger) Option { return func(c *Client) { c.log = l } }

// WithJitter replaces the random backoff draw, which must return a duration in
// [0, max]. Tests use it to make retries instant.
func WithJitter(f func(max time.Duration) time.Duration) Option {
	return func(c *Client) { c.jitter = f }
}

// WithNonce replaces the OAuth nonce generator.
func WithNonce(f func() string) Option { return func(c *Client) { c.nonce = f } }

// New validates cfg and builds a Client.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("magento: %w", err)
	}
	origin := strings.TrimRight(cfg.BaseURL, "/")
	c := &Client{
		cfg:      cfg,
		origin:   origin,
		restURL:  origin + "/rest/" + url.PathEscape(cfg.StoreCode) + "/V1",
		sem:      make(chan struct{}, cfg.MaxConcurrent),
		tokenSem: make(chan struct{}, 1),
		now:      time.Now,
		jitter: func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(max) + 1))
		},
		nonce: func() string { return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36) },
		log:   zap.NewNop(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          cfg.MaxConcurrent * 2,
			MaxIdleConnsPerHost:   cfg.MaxConcurrent,
			MaxConnsPerHost:       cfg.MaxConcurrent,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}}
	}
	if c.tokens == nil {
		c.tokens = NewMemoryTokenCache(c.now)
	}
	return c, nil
}

// authKind says how one request authenticates.
type authKind int

const (
	authNone      authKind = iota // guest routes
	authAdmin                     // per Config.AuthMode
	authCustomer                  // customer token as bearer
	authAdminUser                 // an admin user's token, whatever the mode (GraphQL)
)

// call is one logical Magento operation.
type call struct {
	method string
	path   string // below /V1, e.g. "/guest-carts/abc/items"; or a full URL for GraphQL
	query  url.Values
	body   any
	auth   authKind
	token  string // customer token for authCustomer
	out    any
	// idempotent marks a non-GET call that is safe to retry (token creation).
	idempotent bool
	rawURL     string
}

// APIError is Magento's error body as received. It is the Err of the
// *errs.Error the Client returns.
type APIError struct {
	Status     int
	Template   string // message before placeholders are filled
	Message    string // message with placeholders filled
	Parameters json.RawMessage
}

func (e *APIError) Error() string {
	return fmt.Sprintf("magento %d: %s", e.Status, e.Message)
}

// errorBody is Magento's {"message","parameters","errors","trace"}.
type errorBody struct {
	Message    string          `json:"message"`
	Parameters json.RawMessage `json:"parameters"`
	Errors     []struct {
		Message    string          `json:"message"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"errors"`
}

// FillPlaceholders fills Magento's %1..%n (from a list) or %name (from an
// object) placeholders in msg.
func FillPlaceholders(msg string, params json.RawMessage) string {
	if len(params) == 0 {
		return msg
	}
	repl := map[string]string{}
	var list []any
	var obj map[string]any
	switch {
	case json.Unmarshal(params, &list) == nil:
		for i, v := range list {
			repl[strconv.Itoa(i+1)] = scalarString(v)
		}
	case json.Unmarshal(params, &obj) == nil:
		for k, v := range obj {
			repl[k] = scalarString(v)
		}
	default:
		return msg
	}
	keys := make([]string, 0, len(repl))
	for k := range repl {
		keys = append(keys, k)
	}
	// Longest first so %10 is not read as %1 followed by 0.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		msg = strings.ReplaceAll(msg, "%"+k, repl[k])
	}
	return msg
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

// parseError turns a non-2xx response into an *APIError.
func parseError(status int, body []byte) *APIError {
	var eb errorBody
	ae := &APIError{Status: status}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Message == "" {
		ae.Template = http.StatusText(status)
		ae.Message = ae.Template
		return ae
	}
	ae.Template, ae.Parameters = eb.Message, eb.Parameters
	ae.Message = FillPlaceholders(eb.Message, eb.Parameters)
	for _, sub := range eb.Errors {
		ae.Message += "; " + FillPlaceholders(sub.Message, sub.Parameters)
	}
	return ae
}

// statusCode maps a definite Magento refusal to an errs code.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return errs.Invalid
	case http.StatusUnauthorized:
		return errs.Unauthorized
	case http.StatusForbidden:
		return errs.Forbidden
	case http.StatusNotFound:
		return errs.NotFound
	case http.StatusConflict:
		return errs.Conflict
	case http.StatusTooManyRequests:
		return errs.RateLimited
	}
	return errs.Invalid
}

// do runs one operation: authentication, concurrency cap, per-attempt timeout,
// retries for reads, one re-authentication after a 401.
func (c *Client) do(ctx context.Context, cl call) error {
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "encode Magento request")
		}
		payload = b
	}
	retryable := cl.method == http.MethodGet || cl.idempotent
	attempts := 1
	if retryable {
		attempts += c.cfg.ReadRetries
	}
	reauthed := false
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			if err := c.backoff(ctx, attempt); err != nil {
				return last
			}
		}
		status, body, token, err := c.attempt(ctx, cl, payload)
		switch {
		case err != nil:
			last = err
			// Only transport trouble is worth another try; a refused login
			// (say) would only lock the admin account faster.
			if !retryable || ctx.Err() != nil || !(errs.Is(err, errs.Unavailable) || errs.Is(err, errs.Timeout)) {
				return err
			}
			c.log.Debug("magento read failed; retrying", zap.String("method", cl.method), zap.String("path", cl.logPath()), zap.Int("attempt", attempt+1), zap.Error(err))
			continue
		case status >= 200 && status < 300:
			if cl.out == nil || len(bytes.TrimSpace(body)) == 0 {
				return nil
			}
			if err := json.Unmarshal(body, cl.out); err != nil {
				if !retryable {
					// The write happened but its answer is unreadable.
					return errs.Wrap(errs.OutcomeUnknown, err, "Magento accepted %s %s but its answer is unreadable", cl.method, cl.logPath())
				}
				return errs.Wrap(errs.Internal, err, "decode Magento response to %s %s", cl.method, cl.logPath())
			}
			return nil
		case status == http.StatusUnauthorized && token != "" && !reauthed && (cl.auth == authAdmin && c.usesAdminToken() || cl.auth == authAdminUser):
			// Magento refused the cached admin token (revoked or expired early):
			// drop it, fetch a new one and try once more. A 401 means Magento
			// did not run the operation, so this is safe for writes too.
			reauthed = true
			if err := c.dropAdminToken(ctx, token); err != nil {
				return err
			}
			c.log.Debug("magento refused the admin token; renewing")
			attempt--
			continue
		case status >= 500:
			ae := parseError(status, body)
			if !retryable {
				return &errs.Error{Code: errs.OutcomeUnknown, Message: "Magento failed while handling " + cl.method + " " + cl.logPath() + "; the write may have happened: " + ae.Message, Err: ae}
			}
			last = &errs.Error{Code: errs.Unavailable, Message: ae.Message, Err: ae}
			c.log.Debug("magento read got 5xx; retrying", zap.String("path", cl.logPath()), zap.Int("status", status), zap.Int("attempt", attempt+1))
			continue
		default:
			ae := parseError(status, body)
			return &errs.Error{Code: statusCode(status), Message: ae.Message, Err: ae}
		}
	}
	return last
}

func (cl call) logPath() string {
	if cl.rawURL != "" {
		return "/graphql"
	}
	// Masked cart ids and SKUs are not secrets; customer tokens never appear in paths.
	return cl.path
}

// backoff sleeps for a full-jitter exponential delay before attempt n (n >= 1).
func (c *Client) backoff(ctx context.Context, n int) error {
	max := c.cfg.RetryBaseDelay << (n - 1)
	if max > c.cfg.RetryMaxDelay || max <= 0 {
		max = c.cfg.RetryMaxDelay
	}
	d := c.jitter(max)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt sends one HTTP request. It returns the status and body of any
// response, the admin token it used (if any), or an *errs.Error for a
// transport failure.
func (c *Client) attempt(ctx context.Context, cl call, payload []byte) (int, []byte, string, error) {
	retryable := cl.method == http.MethodGet || cl.idempotent
	// Take a slot before authenticating: a token fetch is a request too.
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, "", c.ctxErr(ctx, cl, false)
	}
	held := true
	release := func() {
		if held {
			<-c.sem
			held = false
		}
	}
	defer release()

	u := cl.rawURL
	if u == "" {
		u = c.restURL + cl.path
	}
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rdr io.Reader
	if payload != nil {
		rdr = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, rdr)
	if err != nil {
		return 0, nil, "", errs.Wrap(errs.Internal, err, "build Magento request")
	}
	req.Header.Set("Accept", "application/json")
	if cl.rawURL != "" {
		// GraphQL selects the store view by header, not by path.
		req.Header.Set("Store", c.cfg.StoreCode)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var token string
	switch cl.auth {
	case authCustomer:
		req.Header.Set("Authorization", "Bearer "+cl.token)
	case authAdmin, authAdminUser:
		// The token fetch runs outside our slot so it cannot deadlock a
		// client whose every slot waits for a token.
		release()
		token, err = c.authorize(actx, req, cl.auth)
		if err != nil {
			return 0, nil, "", err
		}
		select {
		case c.sem <- struct{}{}:
			held = true
		case <-ctx.Done():
			return 0, nil, "", c.ctxErr(ctx, cl, false)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, token, c.transportErr(ctx, actx, cl, retryable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return 0, nil, token, c.transportErr(ctx, actx, cl, retryable, err)
	}
	return resp.StatusCode, body, token, nil
}

// ctxErr reports the caller's own cancellation; sent says whether a write may
// have reached Magento.
func (c *Client) ctxErr(ctx context.Context, cl call, sent bool) error {
	if sent && cl.method != http.MethodGet && !cl.idempotent {
		return &errs.Error{Code: errs.OutcomeUnknown, Message: "the request was cancelled after it was sent to Magento; the write may have happened", Err: ctx.Err()}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &errs.Error{Code: errs.Timeout, Message: "Magento did not answer in time", Err: ctx.Err()}
	}
	return &errs.Error{Code: errs.Unavailable, Message: "the request to Magento was cancelled", Err: ctx.Err()}
}

// transportErr classifies a failed exchange.
func (c *Client) transportErr(ctx, actx context.Context, cl call, retryable bool, err error) error {
	var op *net.OpError
	notSent := errors.As(err, &op) && op.Op == "dial"
	if !retryable && !notSent {
		return &errs.Error{Code: errs.OutcomeUnknown, Message: "Magento did not answer " + cl.method + " " + cl.logPath() + "; the write may have happened", Err: err}
	}
	if ctx.Err() != nil {
		return c.ctxErr(ctx, cl, false)
	}
	if actx.Err() != nil {
		return &errs.Error{Code: errs.Timeout, Message: "Magento did not answer in time", Err: err}
	}
	return &errs.Error{Code: errs.Unavailable, Message: "Magento is unreachable", Err: err}
}
