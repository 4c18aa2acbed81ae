// Package checkouthttp serves checkout-service's JSON API (sessions,
// payments, refunds), gateway webhooks, the admin API and the sandbox 3-D
// Secure page on gin. Handlers are thin: bind and validate, call the
// checkout domain with the request's context, render. openapi.yaml in the
// service's directory documents every route.
package checkouthttp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
)

// Verifier checks customers' access tokens.
type Verifier interface {
	Verify(ctx context.Context, token string) (accesstoken.Claims, error)
}

// Handler holds the API's collaborators.
type Handler struct {
	Svc *checkout.Service
	// Tokens verifies customers' bearer tokens; nil refuses customer sessions.
	Tokens Verifier
	// ServiceTokens authorise refunds and the admin API.
	ServiceTokens []string
	// Sandboxes are the sandbox gateways, for the 3-D Secure page.
	Sandboxes map[string]*sandboxgw.Gateway
	// Metrics, when set, count payments.
	Metrics *Metrics
}

// Register adds the routes to e.
func (h *Handler) Register(e *gin.Engine) {
	H := httpserver.H
	v1 := e.Group("/v1")
	v1.POST("/sessions", H(h.createSession))
	v1.GET("/sessions/:id", H(h.getSession))
	v1.POST("/sessions/:id/address", H(h.setAddress))
	v1.POST("/sessions/:id/shipping-method", H(h.setShippingMethod))
	v1.POST("/sessions/:id/payments", H(h.pay))
	v1.GET("/payments/:id", H(h.getPayment))
	v1.POST("/payments/:id/refunds", H(h.service(h.refund)))
	v1.POST("/payments/:id/void", H(h.service(h.void)))
	v1.POST("/payments/:id/capture", H(h.service(h.capture)))
	e.POST("/webhooks/:gateway", H(h.webhook))
	admin := v1.Group("/admin")
	admin.GET("/routing/rules", H(h.service(h.getRules)))
	admin.PUT("/routing/rules", H(h.service(h.putRules)))
	admin.POST("/routing/dry-run", H(h.service(h.dryRun)))
	admin.GET("/gateways", H(h.service(h.gateways)))
	if len(h.Sandboxes) > 0 {
		e.GET("/sandbox/3ds/:reference", H(h.threeDSPage))
		e.POST("/sandbox/3ds/:reference", H(h.threeDSComplete))
	}
}

func bearer(c *gin.Context) string {
	a := c.GetHeader("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// service wraps a handler that only service callers (magento-bridge,
// operators) may use.
func (h *Handler) service(next httpserver.Handler) httpserver.Handler {
	return func(c *gin.Context) error {
		tok := bearer(c)
		ok := false
		for _, t := range h.ServiceTokens {
			if t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
				ok = true
			}
		}
		if !ok {
			return errs.E(errs.Unauthorized, "A service token is required.")
		}
		return next(c)
	}
}

// subject returns the verified customer's subject, or "" without a token.
func (h *Handler) subject(c *gin.Context) (accesstoken.Claims, error) {
	tok := bearer(c)
	if tok == "" {
		return accesstoken.Claims{}, nil
	}
	if h.Tokens == nil {
		return accesstoken.Claims{}, errs.E(errs.Unauthorized, "Customer tokens are not accepted here.")
	}
	return h.Tokens.Verify(c.Request.Context(), tok)
}

type sessionParams struct {
	CartID  string `json:"cart_id"`
	Channel string `json:"channel"`
}

func (p *sessionParams) Validate() error {
	var pr httpserver.Problem
	if len(p.CartID) > 64 {
		pr.Add("cart_id", "is at most 64 characters")
	}
	if p.Channel != "" && p.Channel != "web" && p.Channel != "app" {
		pr.Add("channel", "must be web or app")
	}
	return pr.Err()
}

func (h *Handler) createSession(c *gin.Context) error {
	var p sessionParams
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		if err := httpserver.BindJSON(c, &p); err != nil {
			return err
		}
	}
	claims, err := h.subject(c)
	if err != nil {
		return err
	}
	sp := checkout.StartParams{MaskedCartID: p.CartID, Subject: claims.Subject, Channel: p.Channel}
	if p.CartID == "" {
		if claims.Subject == "" {
			return errs.Invalidf("cart_id", "is required without a customer's access token")
		}
		ref := &checkout.CartRef{Kind: checkout.KindCustomer, CustomerID: claims.MagentoCustomerID,
			CustomerToken: c.GetHeader("X-Magento-Customer-Token")}
		if ref.CustomerToken == "" && ref.CustomerID == 0 {
			return errs.E(errs.Unprocessable, "Send the Magento customer token in X-Magento-Customer-Token.")
		}
		sp.Customer = ref
	}
	s, err := h.Svc.StartSession(c.Request.Context(), sp)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, sessionView(s))
	return nil
}

func (h *Handler) getSession(c *gin.Context) error {
	claims, err := h.subject(c)
	if err != nil {
		return err
	}
	s, err := h.Svc.Session(c.Request.Context(), c.Param("id"), claims.Subject)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, sessionView(s))
	return nil
}

type addressParams struct {
	Email           string            `json:"email"`
	Phone           string            `json:"phone"`
	ShippingAddress *checkout.Address `json:"shipping_address"`
	BillingAddress  *checkout.Address `json:"billing_address"`
}

func (p *addressParams) Validate() error {
	var pr httpserver.Problem
	if !strings.Contains(p.Email, "@") || len(p.Email) > 254 {
		pr.Add("email", "must be an email address")
	}
	if len(p.Phone) > 32 {
		pr.Add("phone", "is at most 32 characters")
	}
	check := func(prefix string, a *checkout.Address) {
		if a == nil {
			pr.Add(prefix, "is required")
			return
		}
		for f, v := range map[string]string{"firstname": a.Firstname, "lastname": a.Lastname, "city": a.City, "postcode": a.Postcode} {
			if strings.TrimSpace(v) == "" || len(v) > 255 {
				pr.Add(prefix+"."+f, "is required (at most 255 characters)")
			}
		}
		if len(a.CountryID) != 2 {
			pr.Add(prefix+".country_id", "must be an ISO 3166-1 alpha-2 code")
		}
		if len(a.Street) == 0 || strings.TrimSpace(a.Street[0]) == "" {
			pr.Add(prefix+".street", "needs at least one line")
		}
	}
	check("shipping_address", p.ShippingAddress)
	if p.BillingAddress != nil {
		check("billing_address", p.BillingAddress)
	}
	return pr.Err()
}

func (h *Handler) setAddress(c *gin.Context) error {
	var p addressParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	claims, err := h.subject(c)
	if err != nil {
		return err
	}
	s, err := h.Svc.SetAddress(c.Request.Context(), c.Param("id"), claims.Subject, checkout.AddressParams{
		Email: p.Email, Phone: p.Phone, ShippingAddress: *p.ShippingAddress, BillingAddress: p.BillingAddress})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, sessionView(s))
	return nil
}

type shippingParams struct {
	CarrierCode string `json:"carrier_code"`
	MethodCode  string `json:"method_code"`
}

func (p *shippingParams) Validate() error {
	var pr httpserver.Problem
	if p.CarrierCode == "" {
		pr.Add("carrier_code", "is required")
	}
	if p.MethodCode == "" {
		pr.Add("method_code", "is required")
	}
	return pr.Err()
}

func (h *Handler) setShippingMethod(c *gin.Context) error {
	var p shippingParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	claims, err := h.subject(c)
	if err != nil {
		return err
	}
	s, err := h.Svc.SetShippingMethod(c.Request.Context(), c.Param("id"), claims.Subject, p.CarrierCode, p.MethodCode)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, sessionView(s))
	return nil
}

type payParams struct {
	Method      string `json:"method"`
	Token       string `json:"token"`
	CardNetwork string `json:"card_network"`
	CardBIN     string `json:"card_bin"`
	Channel     string `json:"channel"`
}

func (p *payParams) Validate() error {
	var pr httpserver.Problem
	switch gateway.Method(p.Method) {
	case gateway.Card, gateway.UPI, gateway.NetBanking, gateway.Wallet, gateway.PayPal:
	default:
		pr.Add("method", "must be card, upi, netbanking, wallet or paypal")
	}
	if p.Token == "" || len(p.Token) > 512 {
		pr.Add("token", "is required (at most 512 characters)")
	}
	if p.CardBIN != "" {
		if len(p.CardBIN) < 6 || len(p.CardBIN) > 8 || strings.Trim(p.CardBIN, "0123456789") != "" {
			pr.Add("card_bin", "must be the first 6 to 8 digits of the card")
		}
	}
	if len(p.CardNetwork) > 32 {
		pr.Add("card_network", "is at most 32 characters")
	}
	if p.Channel != "" && p.Channel != "web" && p.Channel != "app" {
		pr.Add("channel", "must be web or app")
	}
	return pr.Err()
}

func (h *Handler) pay(c *gin.Context) error {
	var p payParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	claims, err := h.subject(c)
	if err != nil {
		return err
	}
	pay, err := h.Svc.Pay(c.Request.Context(), checkout.PayParams{SessionID: c.Param("id"), Subject: claims.Subject,
		IdempotencyKey: c.GetHeader("Idempotency-Key"), Method: gateway.Method(p.Method), Token: p.Token,
		CardNetwork: p.CardNetwork, CardBIN: p.CardBIN, Channel: p.Channel})
	if err != nil {
		return err
	}
	h.Metrics.payment(pay)
	c.JSON(http.StatusCreated, paymentView(pay, false))
	return nil
}

func (h *Handler) getPayment(c *gin.Context) error {
	p, err := h.Svc.Payment(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, paymentView(p, true))
	return nil
}

type refundParams struct {
	Amount   int64  `json:"amount"`
	RefundID string `json:"refund_id"`
}

func (p *refundParams) Validate() error {
	var pr httpserver.Problem
	if p.Amount <= 0 {
		pr.Add("amount", "must be a positive number of minor units")
	}
	if len(p.RefundID) > 64 {
		pr.Add("refund_id", "is at most 64 characters")
	}
	return pr.Err()
}

func (h *Handler) refund(c *gin.Context) error {
	var p refundParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	id := p.RefundID
	if id == "" {
		id = c.GetHeader("Idempotency-Key")
	}
	if id == "" {
		return errs.Invalidf("refund_id", "is required (or an Idempotency-Key header)")
	}
	r, err := h.Svc.Refund(c.Request.Context(), checkout.RefundParams{PaymentID: c.Param("id"), RefundID: id, Amount: p.Amount})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, r)
	return nil
}

type voidParams struct {
	Reason string `json:"reason"`
}

func (p *voidParams) Validate() error {
	if len(p.Reason) > 256 {
		return errs.Invalidf("reason", "is at most 256 characters")
	}
	return nil
}

func (h *Handler) void(c *gin.Context) error {
	var p voidParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	pay, err := h.Svc.Void(c.Request.Context(), c.Param("id"), p.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, paymentView(pay, true))
	return nil
}

type captureParams struct {
	CaptureID string `json:"capture_id"`
	Amount    int64  `json:"amount"`
}

func (p *captureParams) Validate() error {
	var pr httpserver.Problem
	if p.CaptureID == "" || len(p.CaptureID) > 64 {
		pr.Add("capture_id", "is required (1 to 64 characters)")
	}
	if p.Amount <= 0 {
		pr.Add("amount", "must be a positive number of minor units")
	}
	return pr.Err()
}

// capture captures an authorised payment in full, the way magento-bridge
// does when an order placed un-invoiced is invoiced in Magento.
func (h *Handler) capture(c *gin.Context) error {
	var p captureParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	pay, err := h.Svc.Capture(c.Request.Context(), checkout.CaptureParams{PaymentID: c.Param("id"), CaptureID: p.CaptureID, Amount: p.Amount})
	if err != nil {
		return err
	}
	h.Metrics.capture(pay)
	c.JSON(http.StatusOK, paymentView(pay, true))
	return nil
}

func (h *Handler) webhook(c *gin.Context) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "The webhook body could not be read.")
	}
	dup, err := h.Svc.ReceiveWebhook(c.Request.Context(), c.Param("gateway"), c.Request.Header, body)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"received": true, "duplicate": dup})
	return nil
}

func readDoc(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "The body could not be read.")
	}
	return b, nil
}

func (h *Handler) getRules(c *gin.Context) error {
	rs := h.Svc.Rules()
	c.JSON(http.StatusOK, rulesView(rs))
	return nil
}

func rulesView(rs *routing.Ruleset) gin.H {
	return gin.H{"version": rs.Doc.Version, "document": rs.Doc}
}

func (h *Handler) putRules(c *gin.Context) error {
	doc, err := readDoc(c)
	if err != nil {
		return err
	}
	rs, err := h.Svc.SaveRules(c.Request.Context(), doc, "service-token")
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, rulesView(rs))
	return nil
}

func (h *Handler) dryRun(c *gin.Context) error {
	doc, err := readDoc(c)
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	rep, err := h.Svc.DryRun(c.Request.Context(), doc, limit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, rep)
	return nil
}

func (h *Handler) gateways(c *gin.Context) error {
	snap, err := h.Svc.GatewayStats(c.Request.Context())
	if err != nil {
		return err
	}
	gws := snap.Gateways
	if gws == nil {
		gws = []routing.GatewayStats{}
	}
	c.JSON(http.StatusOK, gin.H{"at": snap.At, "gateways": gws})
	return nil
}

var page = template.Must(template.New("3ds").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox 3-D Secure</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Sandbox 3-D Secure</h1>
{{if .Done}}<p>Payment {{.Status}}.</p>{{if .Return}}<p><a href="{{.Return}}">Return to the shop</a></p>{{end}}
{{else}}<p>Confirm the sandbox payment {{.Reference}}.</p>
<form method="post"><button name="result" value="approve">Approve</button>
<button name="result" value="decline">Decline</button></form>{{end}}
</body></html>`))

func (h *Handler) sandboxFor(ref string) (*sandboxgw.Gateway, error) {
	rest, ok := strings.CutPrefix(ref, "sbx_")
	if i := strings.LastIndex(rest, "_"); ok && i > 0 {
		if g, ok := h.Sandboxes[rest[:i]]; ok {
			return g, nil
		}
	}
	return nil, errs.E(errs.NotFound, "No sandbox charge %s.", ref)
}

func (h *Handler) threeDSPage(c *gin.Context) error {
	ref := c.Param("reference")
	if _, err := h.sandboxFor(ref); err != nil {
		return err
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Content-Security-Policy", "default-src 'none'; form-action 'self'")
	return page.Execute(c.Writer, gin.H{"Reference": ref})
}

func (h *Handler) threeDSComplete(c *gin.Context) error {
	ref := c.Param("reference")
	g, err := h.sandboxFor(ref)
	if err != nil {
		return err
	}
	if _, err := g.Complete(c.Request.Context(), ref, c.PostForm("result") == "approve"); err != nil {
		return err
	}
	p, err := h.Svc.RefreshByReference(c.Request.Context(), g.Name(), ref)
	if err != nil {
		return err
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Content-Security-Policy", "default-src 'none'")
	return page.Execute(c.Writer, gin.H{"Done": true, "Status": p.Status, "Return": ""})
}

// SessionView is the JSON shape of a session.
type SessionView struct {
	ID              string                    `json:"id"`
	Status          string                    `json:"status"`
	Cart            CartView                  `json:"cart"`
	Totals          checkout.Totals           `json:"totals"`
	Email           string                    `json:"email,omitempty"`
	Phone           string                    `json:"phone,omitempty"`
	ShippingAddress *checkout.Address         `json:"shipping_address"`
	BillingAddress  *checkout.Address         `json:"billing_address"`
	ShippingMethods []checkout.ShippingMethod `json:"shipping_methods"`
	ShippingMethod  *shippingParams           `json:"shipping_method"`
	PaymentID       string                    `json:"payment_id,omitempty"`
	ExpiresAt       time.Time                 `json:"expires_at"`
}

// CartView lists a session's items.
type CartView struct {
	Kind  string          `json:"kind"`
	Items []checkout.Item `json:"items"`
}

func sessionView(s *checkout.Session) SessionView {
	v := SessionView{ID: s.ID, Status: s.Status, Cart: CartView{Kind: s.Cart.Kind, Items: s.Items}, Totals: s.Totals,
		Email: s.Email, Phone: s.Phone, ShippingAddress: s.ShippingAddress, BillingAddress: s.BillingAddress,
		ShippingMethods: s.ShippingMethods, PaymentID: s.PaymentID, ExpiresAt: s.ExpiresAt}
	if v.Cart.Items == nil {
		v.Cart.Items = []checkout.Item{}
	}
	if v.ShippingMethods == nil {
		v.ShippingMethods = []checkout.ShippingMethod{}
	}
	if s.CarrierCode != "" {
		v.ShippingMethod = &shippingParams{CarrierCode: s.CarrierCode, MethodCode: s.MethodCode}
	}
	return v
}

// PaymentView is the JSON shape of a payment.
type PaymentView struct {
	ID             string               `json:"id"`
	Status         string               `json:"status"`
	Gateway        string               `json:"gateway"`
	Amount         int64                `json:"amount"`
	Currency       string               `json:"currency"`
	Method         string               `json:"method"`
	NextAction     *gateway.NextAction  `json:"next_action"`
	Error          *PaymentError        `json:"error"`
	SessionID      string               `json:"session_id"`
	RefundedAmount int64                `json:"refunded_amount"`
	CapturedAt     *time.Time           `json:"captured_at,omitempty"`
	CaptureID      string               `json:"capture_id,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	Attempts       []checkout.Attempt   `json:"attempts,omitempty"`
	Routing        *routing.Explanation `json:"routing,omitempty"`
	MagentoOrder   *MagentoOrder        `json:"magento_order"`
}

// PaymentError says why a payment failed.
type PaymentError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MagentoOrder is the order magento-bridge placed for a payment.
type MagentoOrder struct {
	ID          int64  `json:"id"`
	IncrementID string `json:"increment_id"`
}

func paymentView(p *checkout.Payment, full bool) PaymentView {
	v := PaymentView{ID: p.ID, Status: p.Status, Gateway: p.Gateway, Amount: p.Amount, Currency: p.Currency, Method: p.Method,
		NextAction: p.NextAction, SessionID: p.SessionID, RefundedAmount: p.RefundedAmount, CreatedAt: p.CreatedAt}
	if p.Status == checkout.StatusFailed {
		v.Error = &PaymentError{Code: p.DeclineCode, Message: p.ErrorMessage}
	}
	if p.Status == checkout.StatusCaptured {
		v.CapturedAt, v.CaptureID = p.CapturedAt, p.CaptureID
	}
	if p.Status != checkout.StatusRequiresAction {
		v.NextAction = nil
	}
	if full {
		v.Attempts, v.Routing = p.Attempts, p.Routing
		if v.Attempts == nil {
			v.Attempts = []checkout.Attempt{}
		}
		if p.MagentoOrderID != 0 {
			v.MagentoOrder = &MagentoOrder{ID: p.MagentoOrderID, IncrementID: p.MagentoIncrementID}
		}
	}
	return v
}
