package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/internal/logging"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// Pages serves the checkout pages. Build it with New; it is safe for
// concurrent use.
type Pages struct {
	cfg      Config
	sessions Sessions
	payments Payments
	carts    Carts
	actions  Actions
	tokens   Tokens
	states   states
	log      *zap.Logger
	now      func() time.Time
	money    Money

	origin     string // scheme://host of PublicBaseURL
	secure     bool
	cookieName string
	csp        [2]string // the policy around its nonce
	pages      map[string]*template.Template
	assets     map[string]asset // by file name
	bufs       sync.Pool
}

type asset struct {
	body []byte
	typ  string
	url  string // with a content hash, cacheable for a year
}

// New returns Pages for cfg. cfg must be valid (Validate).
func New(cfg Config, d Deps) (*Pages, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Sessions == nil || d.Payments == nil || d.Carts == nil || d.Redis == nil {
		return nil, fmt.Errorf("web: Sessions, Payments, Carts and Redis are required")
	}
	if cfg.Widget == WidgetSandbox && d.Actions == nil {
		return nil, fmt.Errorf("web: the sandbox widget needs Actions for its 3-D Secure page")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	money, _ := NewMoney(cfg.Locale)
	p := &Pages{cfg: cfg, sessions: d.Sessions, payments: d.Payments, carts: d.Carts, actions: d.Actions, tokens: d.Tokens,
		states: states{rdb: d.Redis, keys: cache.NewKeys(d.Prefix)}, log: d.Log, now: d.Now, money: money,
		origin: origin(cfg.PublicBaseURL), pages: map[string]*template.Template{}, assets: map[string]asset{}}
	p.bufs.New = func() any { return new(bytes.Buffer) }
	p.secure = strings.HasPrefix(p.origin, "https://")
	p.cookieName = cfg.CookieName
	if p.secure {
		p.cookieName = "__Host-" + cfg.CookieName
	}
	p.csp = buildCSP(cfg, p.secure)
	if err := p.loadAssets(); err != nil {
		return nil, err
	}
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	return p, nil
}

// Register adds the pages' routes to r:
//
//	GET  /checkout/start?cart=<masked cart id>   the handoff from Magento
//	POST /checkout/login                         a customer logged in by code starts on their Magento cart
//	POST /checkout/s/:id/login                   a guest logs in by code and keeps the cart
//	GET  /checkout/s/:id                         the session's current step
//	GET  /checkout/s/:id/{details,shipping,payment,done} and POST for the first three
//	POST /checkout/s/:id/confirm                 after a gateway widget: looks the payment up at the gateway
//	GET  /checkout/s/:id/status                  JSON for the confirmation page's polling
//	GET  /checkout/return?payment=<id>           where gateways send the shopper back (also /checkout/return/:payment)
//	GET  /checkout/leave?to=<url>                a link back to the store, allow-listed
//	GET  /checkout/assets/:file                  CSS and JavaScript
//	GET  /checkout/sandbox/3ds/:ref, POST        the sandbox 3-D Secure page (sandbox widget only)
//
// The checkout domain's JSON API serves its own plain /sandbox/3ds/:reference
// for API clients; the payment page sends browsers to the page here, which
// returns them to their confirmation.
func (p *Pages) Register(r gin.IRouter) {
	r.GET("/checkout/assets/:file", p.asset)
	g := r.Group("", p.headers)
	g.GET("/checkout/start", p.h(p.start))
	g.GET("/checkout/leave", p.h(p.leave))
	g.POST("/checkout/login", p.h(p.loginCustomer))
	g.POST("/checkout/s/:id/login", p.h(p.loginGuest))
	g.GET("/checkout/return", p.h(p.returned))
	g.GET("/checkout/return/:payment", p.h(p.returned))
	g.GET("/checkout/s/:id", p.h(p.current))
	g.GET("/checkout/s/:id/details", p.h(p.details))
	g.POST("/checkout/s/:id/details", p.h(p.saveDetails))
	g.GET("/checkout/s/:id/shipping", p.h(p.shipping))
	g.POST("/checkout/s/:id/shipping", p.h(p.saveShipping))
	g.GET("/checkout/s/:id/payment", p.h(p.payment))
	g.POST("/checkout/s/:id/payment", p.h(p.pay))
	g.POST("/checkout/s/:id/confirm", p.h(p.confirm))
	g.GET("/checkout/s/:id/done", p.h(p.done))
	g.GET("/checkout/s/:id/status", p.h(p.status))
	if p.cfg.Widget == WidgetSandbox {
		g.GET("/checkout/sandbox/3ds/:ref", p.h(p.threeDS))
		g.POST("/checkout/sandbox/3ds/:ref", p.h(p.completeThreeDS))
	}
}

// h adapts a handler that returns an error, rendering the error as an HTML
// page with the status its code maps to.
func (p *Pages) h(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			p.renderError(c, err)
		}
	}
}

func buildCSP(cfg Config, secure bool) [2]string {
	src := widgetSources[cfg.Widget]
	join := func(base string, a, b []string) string {
		parts := []string{base}
		parts = append(parts, a...)
		parts = append(parts, b...)
		return strings.TrimSpace(strings.Join(parts, " "))
	}
	frame := join("", src.FrameSrc, cfg.CSPExtra.FrameSrc)
	if frame == "" {
		frame = "'none'"
	}
	after := join("", src.ScriptSrc, cfg.CSPExtra.ScriptSrc) + "; " +
		"style-src 'self'; " +
		"img-src " + join("'self' data:", src.ImgSrc, cfg.CSPExtra.ImgSrc) + "; " +
		"connect-src " + join("'self'", src.ConnectSrc, cfg.CSPExtra.ConnectSrc) + "; " +
		"frame-src " + frame + "; " +
		"font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	if secure {
		after += "; upgrade-insecure-requests"
	}
	return [2]string{"default-src 'none'; script-src 'nonce-", "' " + after}
}

// headers sets the security headers of every page and a fresh CSP nonce.
func (p *Pages) headers(c *gin.Context) {
	nonce := token(18)
	c.Set("csp_nonce", nonce)
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", p.csp[0]+nonce+p.csp[1])
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(self)")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

func (p *Pages) loadAssets() error {
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		typ := mime.TypeByExtension(path.Ext(e.Name()))
		if typ == "" {
			typ = "application/octet-stream"
		}
		p.assets[e.Name()] = asset{body: b, typ: typ,
			url: "/checkout/assets/" + e.Name() + "?v=" + hex.EncodeToString(sum[:6])}
	}
	return nil
}

func (p *Pages) asset(c *gin.Context) {
	a, ok := p.assets[c.Param("file")]
	if !ok {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, a.typ, a.body)
}

func (p *Pages) parseTemplates() error {
	funcs := template.FuncMap{
		"asset": func(name string) string { return p.assets[name].url },
		"money": p.money.Format,
		"inc":   func(i int) int { return i + 1 },
		"field": newInput,
		"otpView": func(v *view) *view {
			c := *v
			c.Action = strings.TrimSuffix(v.Action, "/details") + "/login"
			return &c
		},
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/_*.html")
	if err != nil {
		return fmt.Errorf("web templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/[a-z]*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return fmt.Errorf("web templates: %w", err)
		}
		p.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return nil
}

// render writes page with status.
func (p *Pages) render(c *gin.Context, status int, page string, v *view) error {
	t, ok := p.pages[page]
	if !ok {
		return errs.E(errs.Internal, "no page %s", page)
	}
	v.Nonce = c.GetString("csp_nonce")
	v.Store = p.cfg.StoreName
	v.Lang = p.cfg.Locale
	if v.CartURL == "" {
		v.CartURL = "/checkout/leave?to=" + url.QueryEscape(p.cfg.CartURL)
	}
	buf := p.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer p.bufs.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		return errs.Wrap(errs.Internal, err, "render %s", page)
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	return nil
}

// renderError answers err as an HTML page. Internal errors are logged with
// their cause (after redact) and shown as a generic message.
func (p *Pages) renderError(c *gin.Context, err error) {
	e := errs.As(err)
	status := errs.Status(e)
	msg := e.Message
	if status >= 500 && e.Code == errs.Internal {
		logging.From(c.Request.Context(), p.log).Error("internal error", zap.String("error", redact(c, err.Error())))
		msg = "Something went wrong on our side. Nothing was charged by this step; please try again."
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", fmt.Sprint(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	v := &view{Title: errorTitle(status), Message: msg, RequestID: httpserver.RequestID(c)}
	if id := c.Param("id"); id != "" && validID(id) && status != http.StatusNotFound {
		v.ContinueURL = "/checkout/s/" + id
	}
	if rerr := p.render(c, status, "error", v); rerr != nil {
		c.String(status, "%s", msg)
	}
	c.Abort()
}

func errorTitle(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "That link doesn't look right"
	case http.StatusForbidden:
		return "This page can't be used here"
	case http.StatusNotFound:
		return "We couldn't find that checkout"
	case http.StatusConflict:
		return "This page is out of date"
	case http.StatusGone:
		return "This checkout has expired"
	case http.StatusUnprocessableEntity:
		return "We can't continue yet"
	case http.StatusTooManyRequests:
		return "Please wait a moment"
	}
	return "Something went wrong"
}

// redact removes the request's masked cart id (a bearer secret) from text
// that may be logged.
func redact(c *gin.Context, s string) string {
	if m := c.Query("cart"); m != "" {
		s = strings.ReplaceAll(s, m, "cart#"+logging.Fingerprint(m))
	}
	return s
}
