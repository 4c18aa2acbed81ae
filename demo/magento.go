package main

import (
	"context"

	"github.com/magefleet/platform/internal/magentosandbox"
)

// sandboxAdminPassword is the seeded admin password of the sandbox Magento.
const sandboxAdminPassword = "admin123"

// runMagento serves the sandbox Magento on addr until ctx ends.
func runMagento(ctx context.Context, addr string) error {
	return magentosandbox.New(magentosandbox.Options{}).ListenAndServe(ctx, addr)
}
