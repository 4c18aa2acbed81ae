// Package logging builds the platform's zap loggers and carries a request's
// logger in its context.
//
// Production logs are JSON, one object per line, ready for an ELK pipeline;
// development logs are readable console lines. Loggers are injected, never
// global. Never log secrets, one-time codes, tokens, masked cart ids, full
// phone numbers or card data: use MaskPhone and Fingerprint where a log line
// needs to tell values apart.
package logging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/magefleet/platform/internal/config"
)

// New returns a logger for the given configuration. format "" picks JSON in
// production and console output in development.
func New(cfg config.Log, development bool, service string) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	format := cfg.Format
	if format == "" {
		format = "json"
		if development {
			format = "console"
		}
	}
	var zc zap.Config
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "time"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		zc.Sampling = nil
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Encoding = format
	zc.DisableStacktrace = !development
	log, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return log.With(zap.String("service", service)), nil
}

type ctxKey struct{}

// WithContext returns a copy of ctx carrying log.
func WithContext(ctx context.Context, log *zap.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, log)
}

// From returns the logger carried by ctx, or fallback when there is none.
func From(ctx context.Context, fallback *zap.Logger) *zap.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*zap.Logger); ok {
		return l
	}
	return fallback
}

// MaskPhone keeps a phone number's country prefix and last two digits:
// "+919876543210" becomes "+91********10". Short inputs are fully masked.
func MaskPhone(p string) string {
	if len(p) < 6 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-5) + p[len(p)-2:]
}

// MaskEmail keeps the first character of the local part and the domain:
// "jane@example.com" becomes "j***@example.com".
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return strings.Repeat("*", len(e))
	}
	return e[:1] + "***" + e[at:]
}

// Fingerprint returns a short, stable, non-reversible tag for a secret value
// (a token or a cart id) so log lines about the same value can be correlated
// without revealing it.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}
