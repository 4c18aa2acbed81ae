package database_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
)

var migrations = fstest.MapFS{
	"0001_widgets.sql": {Data: []byte(`-- widgets
CREATE TABLE widgets (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  UNIQUE KEY uq_name (name)
);
INSERT INTO widgets (name) VALUES ('seed');
`)},
	"0002_price.sql": {Data: []byte("ALTER TABLE widgets ADD COLUMN price BIGINT NOT NULL DEFAULT 0;\n")},
}

func schema(t *testing.T, db *sql.DB) (cols, rows, versions int) {
	t.Helper()
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'widgets'").Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM widgets").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM svc_migrations").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	return
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	db := databasetest.New(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := database.Migrate(ctx, db, "svc_migrations", migrations, zap.NewNop()); err != nil {
			t.Fatalf("Migrate #%d = %v", i+1, err)
		}
	}
	cols, rows, versions := schema(t, db)
	if cols != 3 || rows != 1 || versions != 2 {
		t.Fatalf("after two runs: %d columns, %d rows, %d versions; want 3, 1, 2", cols, rows, versions)
	}
}

func TestMigrateConcurrentInstances(t *testing.T) {
	cfg := databasetest.NewConfig(t)
	ctx := context.Background()
	const instances = 4
	var wg sync.WaitGroup
	errc := make(chan error, instances)
	for i := 0; i < instances; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := database.Open(ctx, cfg) // each instance has its own pool
			if err != nil {
				errc <- err
				return
			}
			defer db.Close()
			errc <- database.Migrate(ctx, db, "svc_migrations", migrations, zap.NewNop())
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("concurrent Migrate = %v", err)
		}
	}
	db, err := database.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cols, rows, versions := schema(t, db)
	if cols != 3 || rows != 1 || versions != 2 {
		t.Fatalf("after %d concurrent runs: %d columns, %d rows, %d versions; want 3, 1, 2", instances, cols, rows, versions)
	}
}

func TestMigrateRefusesBadFiles(t *testing.T) {
	db := databasetest.New(t)
	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"init.sql": {Data: []byte("SELECT 1;")}},
		"shared version": {"0001_a.sql": {Data: []byte("SELECT 1;")}, "0001_b.sql": {Data: []byte("SELECT 1;")}},
		"bad sql":        {"0001_a.sql": {Data: []byte("CREATE TABLEE x;")}},
	} {
		if err := database.Migrate(context.Background(), db, "svc_migrations", fsys, zap.NewNop()); err == nil {
			t.Errorf("%s: Migrate = nil; want an error", name)
		}
	}
	if err := database.Migrate(context.Background(), db, "bad-name;", migrations, zap.NewNop()); err == nil {
		t.Error("Migrate with an unsafe table name = nil; want an error")
	}
}

func TestTransact(t *testing.T) {
	db := databasetest.New(t, migrations)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM widgets").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	boom := errors.New("boom")
	err := database.Transact(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO widgets (name) VALUES ('a')"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || count() != 1 {
		t.Fatalf("Transact(error) = %v with %d rows; want boom and the insert rolled back", err, count())
	}
	func() {
		defer func() { _ = recover() }()
		_ = database.Transact(ctx, db, func(tx *sql.Tx) error {
			_, _ = tx.ExecContext(ctx, "INSERT INTO widgets (name) VALUES ('b')")
			panic("crash mid-transaction")
		})
	}()
	if count() != 1 {
		t.Fatalf("after a panic: %d rows; want the insert rolled back", count())
	}
	if err := database.Transact(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO widgets (name) VALUES ('c')")
		return err
	}); err != nil || count() != 2 {
		t.Fatalf("Transact(ok) = %v with %d rows; want committed", err, count())
	}
	_, err = db.ExecContext(ctx, "INSERT INTO widgets (name) VALUES ('c')")
	if !database.IsDuplicate(err) {
		t.Fatalf("IsDuplicate(%v) = false; want true", err)
	}
	err = database.NotFound(db.QueryRowContext(ctx, "SELECT name FROM widgets WHERE id = -1").Scan(new(string)), "no widget")
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("NotFound(ErrNoRows) code = %q; want not_found", errs.Code(err))
	}
}

func TestOpenCreatesMissingDatabase(t *testing.T) {
	cfg := databasetest.NewConfig(t)
	admin := databasetest.New(t)
	// NewConfig created the database; drop it so Open has to create it.
	mc, err := database.ParseDSN(cfg.DSN.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("DROP DATABASE `" + mc.DBName + "`"); err != nil {
		t.Fatal(err)
	}
	cfg.CreateDatabase = false
	if _, err := database.Open(context.Background(), cfg); err == nil {
		t.Fatal("Open without create_database on a missing database = nil; want an error")
	}
	cfg.CreateDatabase = true
	pool, err := database.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open with create_database = %v", err)
	}
	pool.Close()
}
