// Package bridgehttp serves magento-bridge's HTTP API: GET /v1/status for
// dashboards and load balancers, and the operator's dead-letter,
// foreign-order and capture API under /v1/admin/, which requires the bridge's
// admin token as a bearer token.
package bridgehttp

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
)

// Store is what the handlers need; *bridgestore.Store implements it.
type Store interface {
	Status(ctx context.Context, now time.Time) (bridge.Status, error)
	DeadLetters(ctx context.Context, all bool, limit int) ([]bridge.DeadLetter, error)
	DeadLetterByID(ctx context.Context, id int64) (*bridge.DeadLetter, error)
	Replay(ctx context.Context, id int64, by string, now time.Time) (*bridge.DeadLetter, error)
	ForeignOrders(ctx context.Context, limit int) ([]bridge.ForeignOrder, error)
	Captures(ctx context.Context, step string, limit int) ([]bridge.Capture, error)
	RetryCapture(ctx context.Context, invoiceID int64, by string, now time.Time) (*bridge.Capture, error)
}

// Handlers serve the API.
type Handlers struct {
	Store      Store
	AdminToken config.Secret
	Now        func() time.Time
	Log        *zap.Logger
}

// Register adds the routes to r.
func (h *Handlers) Register(r gin.IRouter) {
	r.GET("/v1/status", httpserver.H(h.status))
	admin := r.Group("/v1/admin", httpserver.H(h.authorize))
	admin.GET("/dead-letters", httpserver.H(h.listDeadLetters))
	admin.GET("/dead-letters/:id", httpserver.H(h.getDeadLetter))
	admin.POST("/dead-letters/:id/replay", httpserver.H(h.replay))
	admin.GET("/foreign-orders", httpserver.H(h.listForeignOrders))
	admin.GET("/captures", httpserver.H(h.listCaptures))
	admin.POST("/captures/:invoice_id/retry", httpserver.H(h.retryCapture))
}

func (h *Handlers) status(c *gin.Context) error {
	st, err := h.Store.Status(c.Request.Context(), h.Now())
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "The bridge's database is unavailable.")
	}
	c.JSON(http.StatusOK, st)
	return nil
}

func (h *Handlers) authorize(c *gin.Context) error {
	if h.AdminToken == "" {
		return errs.E(errs.Forbidden, "The admin API is disabled: set bridge.admin_token.")
	}
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.AdminToken.Reveal())) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="magento-bridge"`)
		return errs.E(errs.Unauthorized, "A valid admin bearer token is required.")
	}
	c.Next()
	return nil
}

// listParams are the query of GET /v1/admin/dead-letters.
type listParams struct {
	All   bool
	Limit int
}

// Validate checks the parameters.
func (p listParams) Validate() error {
	if p.Limit < 1 || p.Limit > 1000 {
		return errs.Invalidf("limit", "must be between 1 and 1000")
	}
	return nil
}

// queryLimit returns the query's limit, 100 when it has none.
func queryLimit(c *gin.Context) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errs.Invalidf("limit", "must be a number")
	}
	return n, nil
}

func (h *Handlers) listDeadLetters(c *gin.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	p := listParams{All: c.Query("all") == "true", Limit: limit}
	if err := p.Validate(); err != nil {
		return err
	}
	list, err := h.Store.DeadLetters(c.Request.Context(), p.All, p.Limit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"dead_letters": list})
	return nil
}

// listForeignOrders lists the Magento orders with the bridge's payment method
// that the platform did not place, newest first.
func (h *Handlers) listForeignOrders(c *gin.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	p := listParams{Limit: limit}
	if err := p.Validate(); err != nil {
		return err
	}
	list, err := h.Store.ForeignOrders(c.Request.Context(), p.Limit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"foreign_orders": list})
	return nil
}

func deadLetterID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Invalidf("id", "must be a dead letter id")
	}
	return id, nil
}

func (h *Handlers) getDeadLetter(c *gin.Context) error {
	id, err := deadLetterID(c)
	if err != nil {
		return err
	}
	d, err := h.Store.DeadLetterByID(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, d)
	return nil
}

func (h *Handlers) replay(c *gin.Context) error {
	id, err := deadLetterID(c)
	if err != nil {
		return err
	}
	d, err := h.Store.Replay(c.Request.Context(), id, "admin-api", h.Now())
	if err != nil {
		return err
	}
	h.Log.Info("dead letter replayed", zap.Int64("dead_letter_id", id), zap.String("event_id", d.EventID), zap.String("by", "admin-api"))
	c.JSON(http.StatusOK, d)
	return nil
}

// captureListParams are the query of GET /v1/admin/captures.
type captureListParams struct {
	Step  string // empty: every step
	Limit int
}

// Validate checks the parameters.
func (p captureListParams) Validate() error {
	if p.Step != "" && !bridge.ValidCaptureStep(p.Step) {
		return errs.Invalidf("step", "must be one of %s", strings.Join(bridge.CaptureSteps, ", "))
	}
	return listParams{Limit: p.Limit}.Validate()
}

// listCaptures lists the invoice captures, newest invoice first, optionally
// those at one step.
func (h *Handlers) listCaptures(c *gin.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	p := captureListParams{Step: c.Query("step"), Limit: limit}
	if err := p.Validate(); err != nil {
		return err
	}
	list, err := h.Store.Captures(c.Request.Context(), p.Step, p.Limit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"captures": list})
	return nil
}

// retryCapture sets a failed capture back to pending: the next poll asks
// checkout again with the same capture id.
func (h *Handlers) retryCapture(c *gin.Context) error {
	id, err := strconv.ParseInt(c.Param("invoice_id"), 10, 64)
	if err != nil || id <= 0 {
		return errs.Invalidf("invoice_id", "must be a Magento invoice id")
	}
	cp, err := h.Store.RetryCapture(c.Request.Context(), id, "admin-api", h.Now())
	if err != nil {
		return err
	}
	h.Log.Info("capture retried", zap.Int64("invoice_id", id), zap.String("capture_id", cp.CaptureID), zap.String("by", "admin-api"))
	c.JSON(http.StatusOK, cp)
	return nil
}
