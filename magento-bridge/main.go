// Command magento-bridge is the platform's magento-bridge; see README.md.
package main

import (
	"embed"
	"io/fs"

	"github.com/magefleet/platform/internal/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

//go:embed migrations/*.sql
var migrationFiles embed.FS

func migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

func program() service.Program[*Config] {
	return service.Program[*Config]{
		Name:       "magento-bridge",
		EnvPrefix:  "BRIDGE",
		Version:    version,
		Defaults:   DefaultConfig,
		Migrations: migrations(),
		Setup:      setup,
		Commands:   commands(),
	}
}

func main() { program().Main() }
