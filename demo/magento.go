package main

import (
	"context"
	"fmt"

	"github.com/magefleet/platform/internal/magento"

	"github.com/magefleet/platform/internal/magentosandbox"
)

// sandboxAdminPassword is the seeded admin password of the sandbox Magento.
const sandboxAdminPassword = "admin123"

// runMagento serves the sandbox Magento on addr until ctx ends.
func runMagento(ctx context.Context, addr string) error {
	return magentosandbox.New(magentosandbox.Options{}).ListenAndServe(ctx, addr)
}

// demoCart creates a guest cart with two products in the sandbox Magento, as
// a shopper browsing www would, and returns its masked id.
func demoCart(ctx context.Context, baseURL string) (string, error) {
	cfg := magento.DefaultConfig()
	cfg.BaseURL = baseURL
	cfg.AdminUsername = "admin"
	cfg.AdminPassword = sandboxAdminPassword
	mc, err := magento.New(cfg)
	if err != nil {
		return "", err
	}
	masked, err := mc.CreateGuestCart(ctx)
	if err != nil {
		return "", err
	}
	for sku, qty := range map[string]float64{"24-MB01": 1, "MH01-XS-Black": 2} {
		if _, err := mc.AddItem(ctx, magento.GuestCart(masked), sku, qty); err != nil {
			return "", fmt.Errorf("add %s: %w", sku, err)
		}
	}
	return masked, nil
}
