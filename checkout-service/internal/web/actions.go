package web

import (
	"context"
	"strings"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/errs"
)

// Gateways is what SandboxActions needs of the checkout domain;
// *checkout.Service implements it.
type Gateways interface {
	Gateway(name string) (gateway.Gateway, bool)
	RefreshByReference(ctx context.Context, gatewayName, reference string) (*checkout.Payment, error)
}

// SandboxActions returns the Actions of the sandbox 3-D Secure page: it
// completes the charge at the sandbox gateway named in the reference
// ("sbx_<gateway>_<hash>") and lets the checkout domain apply the result.
// Errors: errs.NotFound for a reference that is not a sandbox charge.
func SandboxActions(g Gateways) Actions { return sandboxActions{g} }

type sandboxActions struct{ g Gateways }

func (a sandboxActions) CompleteAction(ctx context.Context, reference string, approved bool) (*checkout.Payment, error) {
	rest, ok := strings.CutPrefix(reference, "sbx_")
	i := strings.LastIndexByte(rest, '_')
	if !ok || i <= 0 {
		return nil, errs.E(errs.NotFound, "Unknown authentication request.")
	}
	name := rest[:i]
	gw, ok := a.g.Gateway(name)
	sb, isSandbox := gw.(*sandboxgw.Gateway)
	if !ok || !isSandbox {
		return nil, errs.E(errs.NotFound, "Unknown authentication request.")
	}
	if _, err := sb.Complete(ctx, reference, approved); err != nil {
		return nil, err
	}
	return a.g.RefreshByReference(ctx, name, reference)
}
