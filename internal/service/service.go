// Package service runs a platform service binary: its subcommands (serve,
// migrate, version and any the service adds), configuration, logging, MySQL,
// Redis, the HTTP server, background workers and graceful shutdown.
//
// A service describes itself with a Program and calls Main from its main
// function. End-to-end tests call Serve with a listener on :0, the way
// production calls it, so the tested wiring is the shipped wiring.
package service

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/internal/logging"
)

// Config is implemented by each service's configuration struct.
type Config interface {
	config.Validator
	// Base returns the sections every service has.
	Base() *config.Common
}

// Deps are the running service's dependencies, handed to Setup.
type Deps struct {
	Log    *zap.Logger
	DB     *sql.DB
	Redis  redis.UniversalClient
	Server *httpserver.Server
	// Now is the clock; tests replace it.
	Now     func() time.Time
	workers []worker
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

// Go registers a background worker. It starts once the HTTP listener is open
// and its context is cancelled at shutdown; it should return nil then. A
// worker that returns an error stops the service.
func (d *Deps) Go(name string, run func(ctx context.Context) error) {
	d.workers = append(d.workers, worker{name, run})
}

// Command is an extra subcommand, such as magento-bridge's dead-letters.
type Command[C Config] struct {
	Usage string
	Run   func(ctx context.Context, cfg C, d *Deps, args []string, out io.Writer) error
}

// Program describes a service binary.
type Program[C Config] struct {
	Name       string // binary name, e.g. "otp-service"
	EnvPrefix  string // e.g. "OTP"
	Version    string
	Defaults   func() C
	Migrations fs.FS
	// Setup registers routes, readiness checks and workers. It may return a
	// function that releases what it opened, called after shutdown.
	Setup    func(ctx context.Context, cfg C, d *Deps) (func(), error)
	Commands map[string]Command[C]
}

// Main runs the program with the process's arguments and environment and
// exits once, with status 1 on error. SIGINT and SIGTERM stop it gracefully.
func (p Program[C]) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := p.Run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", p.Name, err)
		os.Exit(1)
	}
}

// Run runs the subcommand named by args.
func (p Program[C]) Run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fset := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fset.SetOutput(out)
	configPath := fset.String("config", getenv(p.EnvPrefix+"_CONFIG"), "path to the YAML configuration file (env "+p.EnvPrefix+"_CONFIG)")
	fset.Usage = func() { p.usage(out, fset) }
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	// An extra command's flags are its own: take --config out of its
	// arguments and hand it the rest (dead-letters --all, captures --step).
	_, extra := p.Commands[cmd]
	if extra {
		var err error
		if args, err = takeConfigFlag(args, configPath); err != nil {
			return err
		}
	} else if err := fset.Parse(args); err != nil {
		return err
	} else {
		args = fset.Args()
	}
	if cmd == "version" {
		fmt.Fprintf(out, "%s %s\n", p.Name, p.version())
		return nil
	}
	if cmd == "help" {
		p.usage(out, fset)
		return nil
	}
	if cmd == "config" {
		return config.WriteMarkdown(out, config.Reference(p.Defaults(), p.EnvPrefix))
	}
	cfg := p.Defaults()
	if err := config.Load(cfg, p.EnvPrefix, *configPath, getenv); err != nil {
		return err
	}
	switch cmd {
	case "serve":
		ln, err := net.Listen("tcp", cfg.Base().HTTP.Addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		return p.Serve(ctx, cfg, ln, nil)
	case "migrate":
		return p.withDeps(ctx, cfg, false, func(d *Deps) error {
			if err := database.Migrate(ctx, d.DB, p.migrationTable(), p.Migrations, d.Log); err != nil {
				return err
			}
			fmt.Fprintln(out, "migrations applied")
			return nil
		})
	}
	c, ok := p.Commands[cmd]
	if !ok {
		p.usage(out, fset)
		return fmt.Errorf("unknown command %q", cmd)
	}
	return p.withDeps(ctx, cfg, true, func(d *Deps) error {
		return c.Run(ctx, cfg, d, args, out)
	})
}

// takeConfigFlag removes --config (or -config) and its value from args,
// storing the value in path, and returns the other arguments in order.
// Arguments after "--" are left alone.
func takeConfigFlag(args []string, path *string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, errors.New("flag needs an argument: --config")
			}
			i++
			value = args[i]
		}
		*path = value
	}
	return rest, nil
}

func (p Program[C]) usage(out io.Writer, fset *flag.FlagSet) {
	fmt.Fprintf(out, "usage: %s [command] [--config file]\n\ncommands:\n  serve      run the service (default)\n  migrate    apply database migrations and exit\n  version    print the version\n  config     print every configuration key, its environment variable and default\n", p.Name)
	for name, c := range p.Commands {
		fmt.Fprintf(out, "  %-10s %s\n", name, c.Usage)
	}
	fmt.Fprintln(out, "\nflags:")
	fset.PrintDefaults()
}

func (p Program[C]) version() string {
	if p.Version != "" && p.Version != "dev" {
		return p.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value[:min(12, len(s.Value))]
			}
		}
	}
	return "dev"
}

// withDeps opens the logger, MySQL and (optionally) Redis, runs fn and closes
// them.
func (p Program[C]) withDeps(ctx context.Context, cfg C, withRedis bool, fn func(*Deps) error) error {
	base := cfg.Base()
	log, err := logging.New(base.Log, base.Development(), p.Name)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	db, err := database.Open(ctx, base.MySQL)
	if err != nil {
		return err
	}
	defer db.Close()
	d := &Deps{Log: log, DB: db, Now: time.Now}
	if withRedis {
		rc, err := cache.Open(ctx, base.Redis)
		if err != nil {
			return err
		}
		defer rc.Close()
		d.Redis = rc
	}
	return fn(d)
}

// Serve runs the service on ln until ctx is cancelled, then shuts down
// gracefully: the listener closes, in-flight requests finish, workers stop,
// and connections close. now, when non-nil, replaces the clock.
func (p Program[C]) Serve(ctx context.Context, cfg C, ln net.Listener, now func() time.Time) error {
	defer ln.Close()
	return p.withDeps(ctx, cfg, true, func(d *Deps) error {
		base := cfg.Base()
		if now != nil {
			d.Now = now
		}
		if base.MySQL.MigrateOnStart && p.Migrations != nil {
			if err := database.Migrate(ctx, d.DB, p.migrationTable(), p.Migrations, d.Log); err != nil {
				return err
			}
		}
		srv, err := httpserver.New(base.HTTP, d.Log)
		if err != nil {
			return err
		}
		srv.AddCheck("mysql", database.Ping(d.DB))
		srv.AddCheck("redis", cache.Ping(d.Redis))
		d.Server = srv
		if p.Setup != nil {
			cleanup, err := p.Setup(ctx, cfg, d)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			if cleanup != nil {
				defer cleanup()
			}
		}
		d.Log.Info("serving", zap.String("addr", ln.Addr().String()), zap.String("version", p.version()))
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return srv.Run(gctx, ln) })
		for _, w := range d.workers {
			g.Go(func() error {
				if err := w.run(gctx); err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("worker %s: %w", w.name, err)
				}
				return nil
			})
		}
		err = g.Wait()
		d.Log.Info("stopped")
		return err
	})
}

// migrationTable names the table that records this service's migrations:
// "otp-service" records in otp_service_migrations.
func (p Program[C]) migrationTable() string {
	return strings.ReplaceAll(p.Name, "-", "_") + "_migrations"
}

// Sub returns the directory dir of an embedded file system, such as a
// service's migrations. The directory is fixed at build time, so a missing
// one is a programming error and panics.
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("service: embedded directory %q: %v", dir, err))
	}
	return sub
}
