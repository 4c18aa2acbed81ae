// Package database opens the platform's MySQL (MariaDB, Aurora) connection
// pools, runs transactions and applies each service's embedded migrations.
//
// MySQL holds everything that must survive a crash. Driver errors that callers
// act on are turned into errs codes here: a duplicate key (1062) becomes
// errs.Conflict through IsDuplicate, sql.ErrNoRows becomes errs.NotFound
// through NotFound.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
)

// Open returns a pool for cfg with the platform's driver settings (UTC times
// parsed into time.Time, strict mode) and verifies it with a ping.
func Open(ctx context.Context, cfg config.MySQL) (*sql.DB, error) {
	mc, err := ParseDSN(cfg.DSN.Reveal())
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxIdleConns)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = db.PingContext(pctx)
	if isNumber(err, erBadDB) && cfg.CreateDatabase {
		err = createDatabase(pctx, mc)
		if err == nil {
			err = db.PingContext(pctx)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ping mysql at %s: %w", mc.Addr, err)
	}
	return db, nil
}

const erBadDB = 1049

// createDatabase creates the database mc names, for first starts and demos.
func createDatabase(ctx context.Context, mc *mysql.Config) error {
	server := mc.Clone()
	server.DBName = ""
	db, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(mc.DBName, "`", "")+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	return err
}

// ParseDSN parses dsn and applies the platform's settings. The error never
// includes the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("mysql dsn: not a valid user:password@tcp(host:port)/database string")
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	// InterpolateParams stays off: with it the driver sends []byte
	// arguments as _binary'...', which MySQL 8 and Aurora refuse for JSON
	// columns (checkout's payments and outbox, the bridge's history), and
	// argument values would appear in the server's query text. Hot
	// statements are prepared once instead.
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	if _, ok := mc.Params["sql_mode"]; !ok {
		mc.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	}
	if _, ok := mc.Params["time_zone"]; !ok {
		mc.Params["time_zone"] = "'+00:00'"
	}
	if mc.Timeout == 0 {
		mc.Timeout = 5 * time.Second
	}
	return mc, nil
}

// Transact runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise (and on panic, which it re-raises).
func Transact(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// MySQL server error numbers the platform acts on.
const (
	ErDupEntry        = 1062
	ErLockDeadlock    = 1213
	ErLockWaitTimeout = 1205
)

// IsDuplicate reports whether err is a duplicate-key error.
func IsDuplicate(err error) bool { return isNumber(err, ErDupEntry) }

// IsRetryable reports whether err is a deadlock or lock wait timeout, after
// which the whole transaction may be retried.
func IsRetryable(err error) bool {
	return isNumber(err, ErLockDeadlock) || isNumber(err, ErLockWaitTimeout)
}

func isNumber(err error, n uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == n
}

// NotFound turns sql.ErrNoRows into an errs.NotFound error with msg and
// returns any other error unchanged.
func NotFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Wrap(errs.NotFound, err, format, args...)
	}
	return err
}

// Ping is a readiness check for db.
func Ping(db *sql.DB) func(context.Context) error {
	return func(ctx context.Context) error { return db.PingContext(ctx) }
}
