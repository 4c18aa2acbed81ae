// Package httpserver is the platform's HTTP server on gin: request ids, access
// logs, panic recovery, body limits, timeouts, health and readiness endpoints,
// Prometheus metrics, one error renderer and graceful shutdown.
//
// Handlers have the type Handler, which returns an error; H adapts one to gin
// and renders any error through Render, the only place an error becomes a
// response. A Server is safe for concurrent use once Run has been called;
// register routes and checks before that.
package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/logging"
)

// HeaderRequestID is the header that carries a request's id in and out.
const HeaderRequestID = "X-Request-ID"

// Handler is an HTTP handler that returns its error for Render to answer.
type Handler func(c *gin.Context) error

// Check reports whether a dependency is reachable.
type Check func(ctx context.Context) error

// Server is a gin engine with the platform's middleware and endpoints.
type Server struct {
	cfg     config.HTTP
	log     *zap.Logger
	engine  *gin.Engine
	reg     *prometheus.Registry
	checkMu sync.RWMutex
	checks  map[string]Check

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a Server for cfg. name labels its metrics and logs.
func New(cfg config.HTTP, log *zap.Logger) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		engine: e,
		reg:    prometheus.NewRegistry(),
		checks: map[string]Check{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	s.reg.MustRegister(s.requests, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e.Use(s.requestID, s.observe, s.recover, s.limitBody)
	e.NoRoute(H(func(c *gin.Context) error {
		return errs.E(errs.NotFound, "No route for %s %s.", c.Request.Method, c.Request.URL.Path)
	}))
	e.NoMethod(H(func(c *gin.Context) error {
		return &errs.Error{Code: "method_not_allowed", Status: http.StatusMethodNotAllowed,
			Message: fmt.Sprintf("Method %s is not allowed on %s.", c.Request.Method, c.Request.URL.Path)}
	}))
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
	return s, nil
}

// Engine returns the gin engine for registering routes.
func (s *Server) Engine() *gin.Engine { return s.engine }

// Registry returns the Prometheus registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// AddCheck registers a readiness check under name (for example "mysql").
func (s *Server) AddCheck(name string, c Check) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	s.checks[name] = c
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Run serves on ln until ctx is cancelled, then stops accepting connections and
// waits up to the configured shutdown timeout for in-flight requests.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 5*time.Second),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down http server", zap.Duration("timeout", s.cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// H adapts a Handler to gin, rendering its error.
func H(h Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			Render(c, err)
		}
	}
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id"`
	Fields    map[string]string `json:"fields,omitempty"`
}

// Render writes err as the platform's error body with the status its code
// maps to. Internal errors are logged with their cause and answered with a
// generic message; others are the caller's and are not logged.
func Render(c *gin.Context, err error) {
	e := errs.As(err)
	status := errs.Status(e)
	msg := e.Message
	if status >= 500 && e.Code == errs.Internal {
		logging.From(c.Request.Context(), zap.NewNop()).Error("internal error", zap.Error(err))
		msg = "An internal error occurred. Please try again later."
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{
		Code: e.Code, Message: msg, RequestID: RequestID(c), Fields: e.Fields,
	}})
}

// RequestID returns the current request's id.
func RequestID(c *gin.Context) string { return c.GetString("request_id") }

func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(HeaderRequestID)
	if !validRequestID(id) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set("request_id", id)
	c.Header(HeaderRequestID, id)
	log := s.log.With(zap.String("request_id", id))
	c.Request = c.Request.WithContext(logging.WithContext(c.Request.Context(), log))
	c.Next()
}

// validRequestID accepts ids of up to 128 characters from a conservative set,
// so a client cannot inject log content through the header.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	status := c.Writer.Status()
	s.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Inc()
	s.latency.WithLabelValues(route, c.Request.Method).Observe(d.Seconds())
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		return
	}
	// The path is logged without its query string: query strings carry
	// bearer secrets such as masked cart ids.
	logging.From(c.Request.Context(), s.log).Info("request",
		zap.String("method", c.Request.Method),
		zap.String("route", route),
		zap.String("path", c.Request.URL.Path),
		zap.Int("status", status),
		zap.Int("bytes", c.Writer.Size()),
		zap.Duration("duration", d),
		zap.String("client_ip", c.ClientIP()),
	)
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			logging.From(c.Request.Context(), s.log).Error("panic", zap.Any("panic", r), zap.Stack("stack"))
			Render(c, errs.Wrap(errs.Internal, fmt.Errorf("panic: %v", r), "An internal error occurred."))
		}
	}()
	c.Next()
}

func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.MaxBodyBytes {
		Render(c, errs.E(errs.TooLarge, "The request body exceeds %d bytes.", s.cfg.MaxBodyBytes))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	c.Next()
}

func (s *Server) ready(c *gin.Context) {
	s.checkMu.RLock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	s.checkMu.RUnlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	results := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		s.checkMu.RLock()
		check := s.checks[n]
		s.checkMu.RUnlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = check(ctx)
		}()
	}
	wg.Wait()
	deps := gin.H{}
	var failing []string
	for i, n := range names {
		if results[i] != nil {
			deps[n] = "unavailable"
			failing = append(failing, n)
			continue
		}
		deps[n] = "ok"
	}
	if len(failing) > 0 {
		c.JSON(http.StatusServiceUnavailable, gin.H{
			"status": "unavailable", "dependencies": deps,
			"error": ErrorDetail{Code: errs.Unavailable, Message: fmt.Sprintf("Not ready: %v unreachable.", failing), RequestID: RequestID(c)},
		})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "dependencies": deps})
}
