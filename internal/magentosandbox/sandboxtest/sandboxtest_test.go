package sandboxtest_test

import (
	"context"
	"testing"

	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/internal/magentosandbox/sandboxtest"
)

func TestServer(t *testing.T) {
	srv := sandboxtest.New(t, magentosandbox.Options{})
	c := srv.Client(t)
	ctx := context.Background()
	masked, err := c.CreateGuestCart(ctx)
	if err != nil {
		t.Fatalf("CreateGuestCart = %v", err)
	}
	if _, err := c.AddItem(ctx, magento.GuestCart(masked), "MH01-XS-Black", 1); err != nil {
		t.Fatalf("AddItem = %v", err)
	}
	if _, err := c.StoreConfigs(ctx); err != nil {
		t.Fatalf("StoreConfigs = %v", err)
	}
}
