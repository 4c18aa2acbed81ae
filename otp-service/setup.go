package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/service"
	"github.com/magefleet/platform/otp-service/internal/delivery"
	"github.com/magefleet/platform/otp-service/internal/magentolink"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/otphttp"
	"github.com/magefleet/platform/otp-service/internal/otpstore"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// setup wires the service's routes and workers.
func setup(ctx context.Context, cfg *Config, d *service.Deps) (cleanup func(), err error) {
	prefix := cfg.Redis.KeyPrefix
	store := otpstore.NewRedis(d.Redis, prefix)
	if err := store.Load(ctx); err != nil {
		return nil, err
	}
	ids, err := otpstore.NewMySQL(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ids.Close()
		}
	}()
	audit := otpstore.NewAudit(d.DB, d.Log.Named("audit"), d.Server.Registry(), cfg.AuditBuffer)
	d.Go("audit", audit.Run)
	d.Go("purge", func(ctx context.Context) error {
		t := time.NewTicker(cfg.PurgeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			now := d.Now()
			tok, aud, err := ids.Purge(ctx, now.Add(-24*time.Hour), now.Add(-cfg.AuditRetention))
			if err != nil {
				d.Log.Warn("purge failed", zap.Error(err))
				continue
			}
			d.Log.Info("purged", zap.Int64("refresh_tokens", tok), zap.Int64("audit_rows", aud))
		}
	})

	issuer, err := tokens.New(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	if cfg.Tokens.GenerateDevKey && len(cfg.Tokens.SigningKeys) == 0 {
		d.Log.Warn("signing access tokens with a generated development key", zap.String("kid", issuer.ActiveKeyID()))
	}

	sandbox := delivery.NewSandbox(d.Redis, prefix, cfg.Delivery.Sandbox, d.Now)
	router, err := delivery.NewRouter(cfg.Delivery.Routes, providers(cfg, d, sandbox), d.Log.Named("delivery"), d.Server.Registry())
	if err != nil {
		return nil, err
	}

	mc, err := magento.New(cfg.Magento, magento.WithLogger(d.Log.Named("magento")),
		magento.WithTokenCache(magento.NewRedisTokenCache(d.Redis, prefix+"magento:")))
	if err != nil {
		return nil, fmt.Errorf("magento: %w", err)
	}
	customers := magentolink.New(mc, d.Redis, prefix, cfg.MagentoTokens, cfg.OTP.Identity.WebsiteID)

	svc, err := otp.New(cfg.OTP, otp.Deps{
		Store: store, Sender: router, Identities: ids, Customers: customers, Tokens: issuer, Audit: audit,
		Log: d.Log, Registry: d.Server.Registry(), Now: d.Now,
		RefreshTTL: cfg.Tokens.RefreshTTL, SessionMaxAge: cfg.Tokens.SessionMaxAge,
		Confirmations: customers, Sessions: ids,
	})
	if err != nil {
		return nil, err
	}
	h := &otphttp.Handler{Service: svc, JWKS: issuer.JWKS()}
	if cfg.OTP.Sandbox {
		h.Sandbox = sandbox
	}
	h.Register(d.Server.Engine())
	return func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		audit.Flush(fctx)
		ids.Close()
	}, nil
}

// providers builds the providers that the routes name.
func providers(cfg *Config, d *service.Deps, sandbox *delivery.Sandbox) map[string]delivery.Provider {
	hc := &http.Client{Timeout: cfg.Delivery.Timeout}
	out := map[string]delivery.Provider{}
	for _, names := range cfg.Delivery.Routes {
		for _, n := range names {
			switch n {
			case "twilio":
				out[n] = delivery.NewTwilio(cfg.Delivery.Twilio, hc, false)
			case "twilio_verify":
				out[n] = delivery.NewTwilio(cfg.Delivery.Twilio, hc, true)
			case "msg91":
				out[n] = delivery.NewMSG91(cfg.Delivery.MSG91, hc)
			case "smtp":
				out[n] = delivery.NewSMTP(cfg.Delivery.SMTP, cfg.Delivery.Timeout)
			case "webhook":
				out[n] = delivery.NewWebhook(cfg.Delivery.Webhook, hc, d.Now)
			case "sandbox":
				out[n] = sandbox
			}
		}
	}
	return out
}
