// Package otphttp is otp-service's JSON API: thin gin handlers that bind and
// validate a params struct, call the otp.Service and render the answer.
// Errors are rendered by httpserver in one place.
package otphttp

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/otp-service/internal/delivery"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Messages reads the sandbox provider's messages.
type Messages interface {
	Messages(ctx context.Context, to string, limit int) ([]delivery.SandboxMessage, error)
}

// Handler serves the API. Sandbox is nil when sandbox mode is off, and then
// GET /v1/sandbox/messages answers 404.
type Handler struct {
	Service *otp.Service
	JWKS    []byte
	Sandbox Messages
}

// Register adds the routes to e.
func (h *Handler) Register(e *gin.Engine) {
	e.POST("/v1/otp/start", httpserver.H(h.start))
	e.POST("/v1/otp/verify", httpserver.H(h.verify))
	e.POST("/v1/token/refresh", httpserver.H(h.refresh))
	e.POST("/v1/logout", httpserver.H(h.logout))
	e.GET("/.well-known/jwks.json", h.jwks)
	e.GET("/v1/sandbox/messages", httpserver.H(h.messages))
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$`)

type startParams struct {
	Phone    string `json:"phone"`
	Email    string `json:"email"`
	Channel  string `json:"channel"`
	Locale   string `json:"locale"`
	ClientID string `json:"client_id"`
}

func (p *startParams) Validate() error {
	var pr httpserver.Problem
	switch p.Channel {
	case "", "sms", "whatsapp", "voice", "email":
	default:
		pr.Add("channel", "must be sms, whatsapp, voice or email")
	}
	if p.Locale != "" && !localePattern.MatchString(p.Locale) {
		pr.Add("locale", "must be a language tag such as en or hi-IN")
	}
	if p.ClientID != "" && !clientIDPattern.MatchString(p.ClientID) {
		pr.Add("client_id", "must be 1 to 64 letters, digits or . _ : -")
	}
	return pr.Err()
}

type startResponse struct {
	ChallengeID string `json:"challenge_id"`
	Channel     string `json:"channel"`
	ExpiresIn   int    `json:"expires_in"`
	ResendAfter int    `json:"resend_after"`
	// Restricted marks phone channels, a restricted authenticator (NIST SP
	// 800-63B): clients should offer a stronger alternative.
	Restricted bool `json:"restricted"`
}

func meta(c *gin.Context) otp.Meta {
	return otp.Meta{IP: c.ClientIP(), RequestID: httpserver.RequestID(c)}
}

func (h *Handler) start(c *gin.Context) error {
	var p startParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	res, err := h.Service.Start(c.Request.Context(), otp.StartRequest{
		Phone: p.Phone, Email: p.Email, Channel: otp.Channel(p.Channel), Locale: p.Locale, ClientID: p.ClientID,
	}, meta(c))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, startResponse{
		ChallengeID: res.ChallengeID, Channel: string(res.Channel),
		ExpiresIn: int(res.ExpiresIn.Seconds()), ResendAfter: int(res.ResendAfter.Seconds()),
		Restricted: res.Channel != otp.Email,
	})
	return nil
}

type verifyParams struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
	ClientID    string `json:"client_id"`
}

func (p *verifyParams) Validate() error {
	var pr httpserver.Problem
	if p.ChallengeID == "" {
		pr.Add("challenge_id", "is required")
	}
	if len(p.Code) < 6 || len(p.Code) > 10 || strings.Trim(p.Code, "0123456789") != "" {
		pr.Add("code", "must be 6 to 10 digits")
	}
	if p.ClientID != "" && !clientIDPattern.MatchString(p.ClientID) {
		pr.Add("client_id", "must be 1 to 64 letters, digits or . _ : -")
	}
	return pr.Err()
}

type customer struct {
	ID                int64   `json:"id"`
	Phone             *string `json:"phone"`
	Email             string  `json:"email"`
	MagentoCustomerID int64   `json:"magento_customer_id"`
}

type sessionResponse struct {
	AccessToken          string    `json:"access_token"`
	TokenType            string    `json:"token_type"`
	ExpiresIn            int       `json:"expires_in"`
	RefreshToken         string    `json:"refresh_token"`
	Customer             *customer `json:"customer,omitempty"`
	MagentoCustomerToken string    `json:"magento_customer_token,omitempty"`
	NewCustomer          *bool     `json:"new_customer,omitempty"`
}

func render(c *gin.Context, s *otp.Session, withCustomer bool) {
	out := sessionResponse{AccessToken: s.AccessToken, TokenType: "Bearer", ExpiresIn: int(s.ExpiresIn.Seconds()),
		RefreshToken: s.RefreshToken, MagentoCustomerToken: s.MagentoCustomerToken}
	if withCustomer {
		cu := &customer{ID: s.Identity.ID, Email: s.Identity.MagentoEmail, MagentoCustomerID: s.Identity.MagentoCustomerID}
		if s.Identity.Kind == otp.KindPhone {
			phone := s.Identity.Value
			cu.Phone = &phone
		}
		out.Customer = cu
		out.NewCustomer = &s.NewCustomer
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h *Handler) verify(c *gin.Context) error {
	var p verifyParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	req := otp.VerifyRequest{ChallengeID: p.ChallengeID, Code: p.Code, ClientID: p.ClientID}
	if auth := c.GetHeader("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return errs.E(errs.Unauthorized, "Authorization must be a Bearer access token.")
		}
		req.LinkToken = tok
	}
	s, err := h.Service.Verify(c.Request.Context(), req, meta(c))
	if err != nil {
		return err
	}
	render(c, s, true)
	return nil
}

type refreshParams struct {
	RefreshToken string `json:"refresh_token"`
}

func (p *refreshParams) Validate() error {
	if p.RefreshToken == "" || len(p.RefreshToken) > 128 {
		return errs.Invalidf("refresh_token", "is required")
	}
	return nil
}

func (h *Handler) refresh(c *gin.Context) error {
	var p refreshParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	s, err := h.Service.Refresh(c.Request.Context(), p.RefreshToken, meta(c))
	if err != nil {
		return err
	}
	render(c, s, false)
	return nil
}

func (h *Handler) logout(c *gin.Context) error {
	var p refreshParams
	if err := httpserver.BindJSON(c, &p); err != nil {
		return err
	}
	if err := h.Service.Logout(c.Request.Context(), p.RefreshToken, meta(c)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *Handler) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", h.JWKS)
}

type messagesResponse struct {
	Messages []delivery.SandboxMessage `json:"messages"`
}

func (h *Handler) messages(c *gin.Context) error {
	if h.Sandbox == nil {
		return errs.E(errs.NotFound, "No route for %s %s.", c.Request.Method, c.Request.URL.Path)
	}
	to := strings.TrimSpace(c.Query("to"))
	if to == "" {
		return errs.Invalidf("to", "is required: a phone in E.164 or an email")
	}
	if strings.Contains(to, "@") {
		to = strings.ToLower(to)
	} else if strings.Trim(to, "0123456789") == "" {
		to = "+" + to // an unescaped '+' in a query string arrives as a space
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errs.Invalidf("limit", "must be a whole number from 1 to 100")
		}
		limit = n
	}
	msgs, err := h.Sandbox.Messages(c.Request.Context(), to, limit)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, messagesResponse{Messages: msgs})
	return nil
}
