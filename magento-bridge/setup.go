package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/service"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgehttp"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
	"github.com/magefleet/platform/magento-bridge/internal/throttle"
)

// setup wires the service's routes and workers: the order sync, the refund
// and cancellation sync, the capture sync, the foreign-order watch, the
// status refresher and the HTTP API.
func setup(ctx context.Context, cfg *Config, d *service.Deps) (func(), error) {
	store := bridgestore.New(d.DB)
	metrics := bridge.NewMetrics(d.Server.Registry())
	owner := instanceID(cfg.Bridge.InstanceID)
	log := d.Log.With(zap.String("instance", owner))

	prefix := cfg.Redis.KeyPrefix
	// The shared cap is the bridge's; the client's own cap must not be lower.
	mcfg := cfg.Magento
	mcfg.MaxConcurrent = max(mcfg.MaxConcurrent, cfg.Bridge.MagentoConcurrency)
	mc, err := magento.New(mcfg,
		magento.WithTokenCache(magento.NewRedisTokenCache(d.Redis, prefix+cfg.Magento.TokenCachePrefix)),
		magento.WithLogger(log.Named("magento")))
	if err != nil {
		return nil, err
	}
	limiter := throttle.New(d.Redis, throttle.Config{
		Key:     prefix + "{magento}:slots",
		Max:     cfg.Bridge.MagentoConcurrency,
		SlotTTL: 2 * cfg.Magento.Timeout,
		Slow:    cfg.Bridge.SlowThreshold,
		Owner:   owner,
	}, metrics.MagentoLimit.Set, log.Named("throttle"))
	m := bridge.Limit(mc, limiter, metrics)
	payments := checkoutapi.New(cfg.Checkout)

	syncer := bridge.NewSyncer(bridge.Config{
		Owner:             owner,
		Workers:           cfg.Bridge.Workers,
		Lease:             cfg.Bridge.Lease,
		PollInterval:      cfg.Bridge.PollInterval,
		RetryBase:         cfg.Bridge.RetryBase,
		RetryMax:          cfg.Bridge.RetryMax,
		MaxAttempts:       cfg.Bridge.MaxAttempts,
		MaxAge:            cfg.Bridge.MaxAge,
		PaymentMethod:     cfg.Bridge.PaymentMethod,
		RefundUnplaceable: cfg.Bridge.RefundUnplaceable,
		ReleaseOnStop:     true,
	}, store, m, payments, metrics, log.Named("orders"), d.Now)
	refunds := bridge.NewRefundSync(bridge.RefundConfig{
		Interval: cfg.Bridge.RefundPollInterval,
		Lookback: cfg.Bridge.RefundLookback,
		Overlap:  5 * time.Minute,
		PageSize: 100,
	}, store, m, payments, metrics, log.Named("refunds"), d.Now)

	captures := bridge.NewCaptureSync(bridge.CaptureConfig{
		Interval: cfg.Bridge.CapturePollInterval,
		Lookback: cfg.Bridge.CaptureLookback,
		Overlap:  5 * time.Minute,
		PageSize: 100,
	}, store, m, payments, metrics, log.Named("captures"), d.Now)

	foreign := bridge.NewForeignOrderWatch(bridge.ForeignConfig{
		Interval:      cfg.Bridge.ForeignOrderPollInterval,
		Lookback:      24 * time.Hour,
		Overlap:       5 * time.Minute,
		PaymentMethod: cfg.Bridge.PaymentMethod,
		PageSize:      100,
	}, store, m, metrics, log.Named("foreign_orders"), d.Now)

	d.Go("orders", syncer.Run)
	d.Go("refunds", refunds.Run)
	d.Go("captures", captures.Run)
	d.Go("foreign_orders", foreign.Run)
	d.Go("status", func(ctx context.Context) error {
		t := time.NewTicker(cfg.Bridge.StatusInterval)
		defer t.Stop()
		for {
			if st, err := store.Status(ctx, d.Now()); err == nil {
				metrics.SetStatus(st)
			} else if ctx.Err() == nil {
				log.Warn("status refresh failed", zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	(&bridgehttp.Handlers{Store: store, AdminToken: cfg.Bridge.AdminToken, Now: d.Now, Log: log}).Register(d.Server.Engine())
	log.Info("magento bridge ready", zap.Int("workers", cfg.Bridge.Workers), zap.Int("magento_concurrency", cfg.Bridge.MagentoConcurrency))
	return nil, nil
}

// instanceID returns the configured id or host-pid-random, unique per process
// so leases of a previous run of the same host are never mistaken for ours.
func instanceID(configured string) string {
	if configured != "" {
		return configured
	}
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
