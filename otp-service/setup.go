package main

import (
	"context"

	"github.com/magefleet/platform/internal/service"
)

// setup wires the service's routes and workers.
func setup(ctx context.Context, cfg *Config, d *service.Deps) (func(), error) {
	return nil, nil
}
