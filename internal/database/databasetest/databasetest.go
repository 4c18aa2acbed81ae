// Package databasetest gives tests a fresh database on the real MySQL server.
//
// The server is taken from TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/).
// A server that cannot be reached fails the test: `make test` installs and
// starts MariaDB, so a missing server is a broken environment, not a reason to
// skip.
package databasetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database"
)

// ServerDSN returns the DSN of the test server, without a database name.
func ServerDSN() string {
	if d := os.Getenv("TEST_MYSQL_DSN"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/"
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]`)

// NewConfig creates an empty database named after the test and returns a
// config.MySQL pointing at it; the database is dropped when the test ends.
func NewConfig(tb testing.TB) config.MySQL {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(tb.Name())
	name = unsafe.ReplaceAllString(name, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "t_" + name + "_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("mysql", ServerDSN())
	if err != nil {
		tb.Fatalf("databasetest: open %s: %v", ServerDSN(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		admin.Close()
		tb.Fatalf("databasetest: MySQL at %s is required (make test installs and starts it): %v", ServerDSN(), err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		admin.Close()
	})
	dsn := ServerDSN()
	base, params, _ := strings.Cut(dsn, "?")
	base = strings.TrimSuffix(base, "/") + "/" + name
	if params != "" {
		base += "?" + params
	}
	cfg := config.DefaultMySQL(name)
	cfg.DSN = config.Secret(base)
	cfg.MaxOpenConns = 16
	cfg.MaxIdleConns = 16
	return cfg
}

// New creates an empty database for the test, applies each set of migrations
// (several services may share one database) and returns an open pool that is
// closed when the test ends.
func New(tb testing.TB, migrations ...fs.FS) *sql.DB {
	tb.Helper()
	cfg := NewConfig(tb)
	ctx := context.Background()
	db, err := database.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("databasetest: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	for i, m := range migrations {
		if err := database.Migrate(ctx, db, fmt.Sprintf("test_%d_migrations", i), m, zap.NewNop()); err != nil {
			tb.Fatalf("databasetest: %v", err)
		}
	}
	return db
}
