package magento

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/magefleet/platform/internal/errs"
)

// usesAdminToken reports whether admin calls carry a cached admin user token.
func (c *Client) usesAdminToken() bool {
	return c.cfg.AuthMode == AuthAdminPassword || c.cfg.AuthMode == AuthAdminTFA
}

// tokenKey is the cache key of this client's admin token: the store origin
// and admin user, hashed so neither appears in Redis key listings.
func (c *Client) tokenKey() string {
	sum := sha256.Sum256([]byte(c.origin + "\x00" + c.cfg.AdminUsername))
	return c.cfg.TokenCachePrefix + hex.EncodeToString(sum[:12])
}

// authorize sets the Authorization header of an admin request and returns the
// admin user token used, if any.
func (c *Client) authorize(ctx context.Context, req *http.Request, kind authKind) (string, error) {
	if kind == authAdminUser && !c.usesAdminToken() && !c.cfg.hasAdminUser() {
		return "", errs.E(errs.Unauthorized, "this operation needs an admin user's token; auth_mode %s gives an integration token and no admin_username is configured", c.cfg.AuthMode)
	}
	switch {
	case kind == authAdminUser || c.usesAdminToken():
		tok, err := c.AdminToken(ctx)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return tok, nil
	case c.cfg.AuthMode == AuthBearerIntegration:
		req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken.Reveal())
		return "", nil
	default: // AuthOAuth1
		h, err := OAuth1Header(OAuth1Params{
			Method:          req.Method,
			URL:             req.URL,
			ConsumerKey:     c.cfg.ConsumerKey,
			ConsumerSecret:  c.cfg.ConsumerSecret.Reveal(),
			Token:           c.cfg.AccessToken.Reveal(),
			TokenSecret:     c.cfg.AccessTokenSecret.Reveal(),
			SignatureMethod: SignatureHMACSHA256,
			Nonce:           c.nonce(),
			Timestamp:       c.now().Unix(),
		})
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", h)
		return "", nil
	}
}

// AdminToken returns a cached admin user token or obtains a new one
// (POST /V1/integration/admin/token, or the Google TFA route in admin_tfa
// mode) and caches it for AdminTokenLifetime - RenewBefore.
func (c *Client) AdminToken(ctx context.Context) (string, error) {
	key := c.tokenKey()
	tok, ok, err := c.tokens.Get(ctx, key)
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "token cache")
	}
	if ok {
		return tok, nil
	}
	select {
	case c.tokenSem <- struct{}{}:
	case <-ctx.Done():
		return "", &errs.Error{Code: errs.Timeout, Message: "gave up waiting for a Magento admin token", Err: ctx.Err()}
	}
	defer func() { <-c.tokenSem }()
	if tok, ok, err := c.tokens.Get(ctx, key); err == nil && ok {
		return tok, nil
	}
	cl := call{method: http.MethodPost, auth: authNone, out: &tok, idempotent: true}
	creds := map[string]string{"username": c.cfg.AdminUsername, "password": c.cfg.AdminPassword.Reveal()}
	if c.cfg.AuthMode == AuthAdminTFA {
		code, err := totp.GenerateCodeCustom(c.cfg.AdminTOTPSecret.Reveal(), c.now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return "", errs.Wrap(errs.Invalid, err, "admin_totp_secret is not a base32 TOTP secret")
		}
		creds["otp"] = code
		cl.path = "/tfa/provider/google/authenticate"
		// A TOTP code may be refused once if it straddles a period; the call
		// creates nothing else, so it may be retried like a read.
	} else {
		cl.path = "/integration/admin/token"
	}
	cl.body = creds
	if err := c.do(ctx, cl); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if tok == "" {
		return "", errs.E(errs.Internal, "Magento returned an empty admin token")
	}
	if err := c.tokens.Set(ctx, key, tok, c.cfg.AdminTokenLifetime-c.cfg.RenewBefore); err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "token cache")
	}
	c.log.Debug("obtained a new magento admin token")
	return tok, nil
}

// dropAdminToken removes the cached admin token if it is still the one
// Magento refused, so a token another goroutine just renewed survives.
func (c *Client) dropAdminToken(ctx context.Context, refused string) error {
	key := c.tokenKey()
	if f, ok := c.tokens.(interface{ Forget(key string) }); ok {
		// Compare with the shared copy, not one held in memory.
		f.Forget(key)
	}
	cur, ok, err := c.tokens.Get(ctx, key)
	if err == nil && ok && cur != refused {
		return nil
	}
	if err := c.tokens.Delete(ctx, key); err != nil {
		return errs.Wrap(errs.Unavailable, err, "token cache")
	}
	return nil
}

// Signature methods for OAuth 1.0a.
const (
	SignatureHMACSHA256 = "HMAC-SHA256"
	SignatureHMACSHA1   = "HMAC-SHA1"
)

// OAuth1Params are the inputs of an OAuth 1.0a signature.
type OAuth1Params struct {
	Method          string
	URL             *url.URL
	ConsumerKey     string
	ConsumerSecret  string
	Token           string
	TokenSecret     string
	SignatureMethod string
	Nonce           string
	Timestamp       int64
	// Extra are further parameters included in the signature, such as
	// form-encoded body parameters (Magento sends JSON bodies, which are not
	// signed).
	Extra url.Values
}

// PercentEncode encodes s as RFC 5849 section 3.6 requires: every byte except
// the unreserved ALPHA, DIGIT, '-', '.', '_' and '~' becomes %XX.
func PercentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}

// oauthParams returns the protocol parameters without the signature.
func (p OAuth1Params) oauthParams() map[string]string {
	m := map[string]string{
		"oauth_consumer_key":     p.ConsumerKey,
		"oauth_nonce":            p.Nonce,
		"oauth_signature_method": p.SignatureMethod,
		"oauth_timestamp":        strconv.FormatInt(p.Timestamp, 10),
		"oauth_version":          "1.0",
	}
	if p.Token != "" {
		m["oauth_token"] = p.Token
	}
	return m
}

// BaseString builds the RFC 5849 section 3.4.1 signature base string: the
// method, the base URI (lower-case scheme and host, default port dropped, no
// query) and the sorted, encoded query, extra and oauth_* parameters.
func (p OAuth1Params) BaseString(oauth map[string]string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range p.URL.Query() {
		for _, v := range vs {
			pairs = append(pairs, kv{PercentEncode(k), PercentEncode(v)})
		}
	}
	for k, vs := range p.Extra {
		for _, v := range vs {
			pairs = append(pairs, kv{PercentEncode(k), PercentEncode(v)})
		}
	}
	for k, v := range oauth {
		if k == "oauth_signature" || k == "realm" {
			continue
		}
		pairs = append(pairs, kv{PercentEncode(k), PercentEncode(v)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	norm := make([]string, len(pairs))
	for i, p := range pairs {
		norm[i] = p.k + "=" + p.v
	}
	scheme := strings.ToLower(p.URL.Scheme)
	host := strings.ToLower(p.URL.Hostname())
	if port := p.URL.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	path := p.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	base := scheme + "://" + host + path
	return strings.ToUpper(p.Method) + "&" + PercentEncode(base) + "&" + PercentEncode(strings.Join(norm, "&"))
}

// Sign returns the base64 signature of the base string under the key
// consumerSecret&tokenSecret.
func (p OAuth1Params) Sign(oauth map[string]string) (string, error) {
	var h func() hash.Hash
	switch p.SignatureMethod {
	case SignatureHMACSHA256:
		h = sha256.New
	case SignatureHMACSHA1:
		h = sha1.New
	default:
		return "", errs.E(errs.Invalid, "unsupported OAuth signature method %q", p.SignatureMethod)
	}
	mac := hmac.New(h, []byte(PercentEncode(p.ConsumerSecret)+"&"+PercentEncode(p.TokenSecret)))
	mac.Write([]byte(p.BaseString(oauth)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// OAuth1Header returns the Authorization header value of a signed request.
func OAuth1Header(p OAuth1Params) (string, error) {
	oauth := p.oauthParams()
	sig, err := p.Sign(oauth)
	if err != nil {
		return "", err
	}
	oauth["oauth_signature"] = sig
	keys := make([]string, 0, len(oauth))
	for k := range oauth {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = PercentEncode(k) + `="` + PercentEncode(oauth[k]) + `"`
	}
	return "OAuth " + strings.Join(parts, ", "), nil
}

// ParseOAuth1Header parses an "OAuth k="v", ..." header into its decoded
// parameters.
func ParseOAuth1Header(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "OAuth ")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, false
		}
		v = strings.Trim(v, `"`)
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out[dk] = dv
	}
	return out, true
}

// VerifyOAuth1 checks a request's OAuth 1.0a signature against the given
// secrets and returns the consumer key and token it names. Servers (the
// sandbox) use it.
func VerifyOAuth1(r *http.Request, consumerSecret, tokenSecret string) (consumerKey, token string, ok bool) {
	params, ok := ParseOAuth1Header(r.Header.Get("Authorization"))
	if !ok {
		return "", "", false
	}
	u := *r.URL
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	if u.Host == "" {
		u.Host = r.Host
	}
	ts, _ := strconv.ParseInt(params["oauth_timestamp"], 10, 64)
	p := OAuth1Params{Method: r.Method, URL: &u, ConsumerSecret: consumerSecret, TokenSecret: tokenSecret, SignatureMethod: params["oauth_signature_method"], Timestamp: ts}
	want, err := p.Sign(params)
	if err != nil || !hmac.Equal([]byte(want), []byte(params["oauth_signature"])) {
		return "", "", false
	}
	return params["oauth_consumer_key"], params["oauth_token"], true
}
