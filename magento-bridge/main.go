// Command magento-bridge is the platform's magento-bridge; see README.md.
package main

import (
	"embed"

	"github.com/magefleet/platform/internal/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

//go:embed migrations/*.sql
var migrations embed.FS

func program() service.Program[*Config] {
	return service.Program[*Config]{
		Name:       "magento-bridge",
		EnvPrefix:  "BRIDGE",
		Version:    version,
		Defaults:   DefaultConfig,
		Migrations: service.Sub(migrations, "migrations"),
		Setup:      setup,
		Commands:   commands(),
	}
}

func main() { program().Main() }
