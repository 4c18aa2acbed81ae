package database

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Migrate applies the migrations in fsys that db has not applied yet, in order
// of their numeric prefix (0001_create_payments.sql, ...), recording them in
// table (one per service, so services may share a database). Files hold
// statements separated by lines that end in ';'.
//
// It is safe when several instances start at once: a named lock
// (GET_LOCK) serialises them, and each file's version is recorded in
// schema_migrations once it has been applied, so applying twice changes
// nothing. Statements should be idempotent where MySQL allows it (CREATE TABLE
// IF NOT EXISTS), because MySQL commits DDL implicitly and a crash in the
// middle of a file re-runs it.
func Migrate(ctx context.Context, db *sql.DB, table string, fsys fs.FS, log *zap.Logger) error {
	if !validTable(table) {
		return fmt.Errorf("migrate: bad table name %q", table)
	}
	files, err := migrationFiles(fsys)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var lock string
	if err := conn.QueryRowContext(ctx, "SELECT CONCAT(DATABASE(), '.', ?)", table).Scan(&lock); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 120)", lock).Scan(&got); err != nil {
		return fmt.Errorf("migrate lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("migrate lock %q: not acquired within 120s", lock)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lock) //nolint:errcheck // released with the connection anyway

	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS `"+table+"` ("+`
		version INT NOT NULL PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		applied_at DATETIME(6) NOT NULL
	) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("migrate: create %s: %w", table, err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM `"+table+"`")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range files {
		if applied[m.version] {
			continue
		}
		body, err := fs.ReadFile(fsys, m.name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		for _, stmt := range splitStatements(string(body)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO `"+table+"` (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC()); err != nil {
			return fmt.Errorf("migrate %s: record: %w", m.name, err)
		}
		log.Info("migration applied", zap.String("file", m.name))
	}
	return nil
}

type migration struct {
	version int
	name    string
}

func migrationFiles(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, n := range names {
		prefix, _, ok := strings.Cut(path.Base(n), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, n, v)
		}
		seen[v] = n
		out = append(out, migration{v, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" && cur.Len() == 0 {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func validTable(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
