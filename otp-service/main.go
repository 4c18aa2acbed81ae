// Command otp-service is the platform's otp-service; see README.md.
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
		Name:       "otp-service",
		EnvPrefix:  "OTP",
		Version:    version,
		Defaults:   DefaultConfig,
		Migrations: service.Sub(migrations, "migrations"),
		Setup:      setup,
	}
}

func main() { program().Main() }
