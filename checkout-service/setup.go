package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/checkouthttp"
	"github.com/magefleet/platform/checkout-service/internal/checkoutstore"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/magentocarts"
	"github.com/magefleet/platform/checkout-service/internal/paypalgw"
	"github.com/magefleet/platform/checkout-service/internal/razorpaygw"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/checkout-service/internal/stripegw"
	"github.com/magefleet/platform/checkout-service/internal/web"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/service"
)

// gatewayKinds builds gateways by kind.
var gatewayKinds = map[string]func(name string, g Gateway, caps gateway.Capabilities, cfg *Config, d *service.Deps) (gateway.Gateway, error){
	"stripe": func(name string, g Gateway, _ gateway.Capabilities, _ *Config, d *service.Deps) (gateway.Gateway, error) {
		c := stripegw.DefaultConfig()
		c.Name, c.SecretKey, c.WebhookSecret = name, g.APIKey, g.WebhookSecret
		c.Capabilities = stripegw.Capabilities{Methods: g.Methods, Currencies: g.Currencies, Countries: g.Countries, MinAmount: g.MinAmount, MaxAmount: g.MaxAmount}
		if g.BaseURL != "" {
			c.BaseURL = g.BaseURL
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		return stripegw.New(c, nil, d.Log.Named(name))
	},
	"razorpay": func(name string, g Gateway, _ gateway.Capabilities, _ *Config, d *service.Deps) (gateway.Gateway, error) {
		c := razorpaygw.DefaultConfig()
		c.Name, c.KeyID, c.KeySecret, c.WebhookSecret = name, g.KeyID, g.APIKey, g.WebhookSecret
		c.Capabilities = razorpaygw.Capabilities{Methods: g.Methods, Currencies: g.Currencies, Countries: g.Countries, MinAmount: g.MinAmount, MaxAmount: g.MaxAmount}
		if g.BaseURL != "" {
			c.BaseURL = g.BaseURL
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		return razorpaygw.New(c, nil, d.Log.Named(name))
	},
	"paypal": func(name string, g Gateway, _ gateway.Capabilities, _ *Config, d *service.Deps) (gateway.Gateway, error) {
		c := paypalgw.DefaultConfig()
		c.Name, c.ClientID, c.ClientSecret, c.WebhookID = name, g.ClientID, g.ClientSecret, g.WebhookID
		c.Capabilities = paypalgw.Capabilities{Methods: g.Methods, Currencies: g.Currencies, Countries: g.Countries, MinAmount: g.MinAmount, MaxAmount: g.MaxAmount}
		if g.BaseURL != "" {
			c.BaseURL = g.BaseURL
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		return paypalgw.New(c, nil, d.Log.Named(name))
	},
	"sandbox": func(name string, g Gateway, caps gateway.Capabilities, cfg *Config, d *service.Deps) (gateway.Gateway, error) {
		return sandboxgw.New(sandboxgw.Config{Name: name, Capabilities: caps, Latency: g.Latency, SuccessRate: g.SuccessRate,
			FailureCode: g.FailureCode, FeeBps: g.FeeBps, FeeFixed: g.FeeFixed, Outages: g.Outages, SettleAfter: g.SettleAfter,
			ActionURL:     strings.TrimSuffix(cfg.Checkout.PublicURL, "/") + "/sandbox/3ds",
			WebhookSecret: g.WebhookSecret.Reveal()}, d.Redis, cfg.Redis.KeyPrefix, d.Now), nil
	},
}

// DefaultRules routes by success rate over every eligible gateway with 10%
// exploration, until an operator saves a rule document.
const DefaultRules = `{"default_selection": {"type": "success_rate"}, "rules": [], "success_rate": {"hedging_percent": 10, "min_samples": 20}}`

// setup wires the service's routes and workers.
func setup(ctx context.Context, cfg *Config, d *service.Deps) (func(), error) {
	mc, err := magento.New(cfg.Magento, magento.WithLogger(d.Log.Named("magento")),
		magento.WithTokenCache(magento.NewRedisTokenCache(d.Redis, cfg.Redis.KeyPrefix+"magento:")))
	if err != nil {
		return nil, fmt.Errorf("magento: %w", err)
	}
	confs := cfg.Gateways
	if len(confs) == 0 {
		d.Log.Warn("no gateways configured: using the demo sandbox gateways sandbox-a and sandbox-b")
		confs = DemoGateways()
	}
	names := make([]string, 0, len(confs))
	for n := range confs {
		names = append(names, n)
	}
	slices.Sort(names)
	var (
		gws       []gateway.Gateway
		rgws      []routing.Gateway
		sandboxes = map[string]*sandboxgw.Gateway{}
	)
	for _, name := range names {
		g := confs[name]
		caps := gateway.Capabilities{Currencies: g.Currencies, Countries: g.Countries, MinAmount: g.MinAmount, MaxAmount: g.MaxAmount}
		for _, m := range g.Methods {
			caps.Methods = append(caps.Methods, gateway.Method(m))
		}
		build, ok := gatewayKinds[g.Kind]
		if !ok {
			return nil, fmt.Errorf("gateway %s: unknown kind %q", name, g.Kind)
		}
		gw, err := build(name, g, caps, cfg, d)
		if err != nil {
			return nil, fmt.Errorf("gateway %s: %w", name, err)
		}
		if sb, ok := gw.(*sandboxgw.Gateway); ok {
			sandboxes[name] = sb
		}
		gws = append(gws, gw)
		rgws = append(rgws, routing.Gateway{Name: name, Enabled: g.Enabled, Caps: gw.Capabilities(), Fees: routing.FeeModel(g.Fees)})
	}
	router, err := routing.NewRouter(rgws)
	if err != nil {
		return nil, err
	}
	router.ProbePercent = cfg.Routing.ProbePercent
	rules := []byte(DefaultRules)
	if cfg.Checkout.RulesFile != "" {
		if rules, err = os.ReadFile(cfg.Checkout.RulesFile); err != nil {
			return nil, fmt.Errorf("rules file: %w", err)
		}
	}
	ck := cfg.Checkout
	svc, err := checkout.New(checkout.Config{SessionTTL: ck.SessionTTL, MaxAttempts: ck.MaxAttempts, CardRetryBudget: ck.CardRetryBudget,
		CardBudgetWindow: ck.CardBudgetWindow, Capture: ck.Capture, AnnounceAuthorized: ck.AnnounceAuthorized,
		ChargeTimeout: ck.ChargeTimeout, ReconcileAfter: ck.ReconcileAfter, ActionTimeout: ck.ActionTimeout,
		ReturnURL: strings.TrimSuffix(ck.PublicURL, "/") + "/checkout/return?payment={payment}", DefaultRules: rules, Country: ck.Country},
		checkout.Deps{Carts: magentocarts.New(mc), Sessions: checkoutstore.NewSessions(d.Redis, cfg.Redis.KeyPrefix),
			Store: checkoutstore.New(d.DB), Gateways: gws, Router: router,
			Stats: routing.NewStats(d.Redis, cfg.Redis.KeyPrefix, routing.StatsConfig{Window: cfg.Routing.Window, TripRate: cfg.Routing.TripRate,
				MinSamples: cfg.Routing.MinSamples, Cooldown: cfg.Routing.Cooldown, ProbeSuccesses: cfg.Routing.ProbeSuccesses}, d.Now),
			Redis: d.Redis, Prefix: cfg.Redis.KeyPrefix, Log: d.Log, Now: d.Now})
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if err := svc.ReloadRules(ctx); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	h := &checkouthttp.Handler{Svc: svc, Sandboxes: sandboxes, Metrics: checkouthttp.NewMetrics(d.Server.Registry(), svc)}
	for _, t := range cfg.Admin.ServiceTokens {
		h.ServiceTokens = append(h.ServiceTokens, t.Reveal())
	}
	if cfg.Auth.JWKSURL != "" {
		h.Tokens = accesstoken.New(cfg.Auth.JWKSURL, cfg.Auth.Issuer, cfg.Auth.Audience)
	}
	h.Register(d.Server.Engine())
	wc := cfg.Web
	wc.PublicBaseURL = ck.PublicURL
	pages, err := web.New(wc, web.Deps{Sessions: svc, Payments: svc, Carts: magentocarts.New(mc),
		Actions: web.SandboxActions(svc), Tokens: h.Tokens, Redis: d.Redis, Prefix: cfg.Redis.KeyPrefix,
		Log: d.Log.Named("web"), Now: d.Now})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	pages.Register(d.Server.Engine())
	d.Go("reconciler", func(ctx context.Context) error { return svc.RunReconciler(ctx, ck.ReconcileEvery) })
	d.Go("webhooks", func(ctx context.Context) error { return svc.RunWebhooks(ctx, ck.WebhookTick) })
	d.Go("routing", func(ctx context.Context) error { return svc.RunRouting(ctx, ck.RulesPoll, ck.StatsEvery) })
	d.Log.Info("checkout ready", zap.Strings("gateways", names), zap.Int("rules_version", svc.Rules().Doc.Version))
	return svc.Wait, nil
}
