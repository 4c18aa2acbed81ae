package main

import (
	"fmt"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"

	"github.com/alicebob/miniredis/v2"
)

// embeddedMySQL is an in-process, MySQL-protocol server holding databases in
// memory. It accepts FOR UPDATE SKIP LOCKED but locks no rows, and its memory
// engine would lose concurrent writes to one table, so it runs one
// transaction at a time (see serialized) and the demo runs one bridge worker.
type embeddedMySQL struct {
	srv  *server.Server
	addr string
	ser  *serialized
}

func startMySQL(addr string, databases ...string) (*embeddedMySQL, error) {
	dbs := make([]*memory.Database, 0, len(databases))
	for _, name := range databases {
		db := memory.NewDatabase(name)
		db.BaseDatabase.EnablePrimaryKeyIndexes()
		dbs = append(dbs, db)
	}
	provider := memory.NewDBProvider(toSQLDatabases(dbs)...)
	engine := sqle.NewDefault(provider)
	ser := newSerialized(10 * time.Second)
	srv, err := server.NewServerWithHandler(server.Config{Protocol: "tcp", Address: addr},
		engine, gmssql.NewContext, memory.NewSessionBuilder(provider), nil, ser.wrap)
	if err != nil {
		return nil, fmt.Errorf("embedded mysql: %w", err)
	}
	go func() { _ = srv.Start() }()
	return &embeddedMySQL{srv: srv, addr: srv.Listener.Addr().String(), ser: ser}, nil
}

// DSN returns a DSN for database db on the embedded server.
func (m *embeddedMySQL) DSN(db string) string { return "root@tcp(" + m.addr + ")/" + db }

func (m *embeddedMySQL) Close() error { return m.srv.Close() }

// startRedis runs an in-process, Redis-protocol server (miniredis).
func startRedis(addr string) (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	return m, nil
}

func toSQLDatabases(dbs []*memory.Database) []gmssql.Database {
	out := make([]gmssql.Database, len(dbs))
	for i, d := range dbs {
		out[i] = d
	}
	return out
}
