package main

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestEmbeddedMySQLKeepsConcurrentWrites is the lost event that made a demo
// order disappear: a transaction writes a table while another connection
// inserts into it. The memory engine would put its whole copy of the table
// back at commit and erase the insert; the server serialises transactions,
// so the insert waits and survives.
func TestEmbeddedMySQLKeepsConcurrentWrites(t *testing.T) {
	m, err := startMySQL("127.0.0.1:0", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	db, err := sql.Open("mysql", m.DSN("x")+"?parseTime=true")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE outbox (id BIGINT AUTO_INCREMENT PRIMARY KEY, status VARCHAR(16), lease VARCHAR(16))"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO outbox (status) VALUES ('done')"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE outbox SET lease = 'worker-1' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	inserted := make(chan error, 1)
	go func() { // another service's write, on another connection
		_, err := db.Exec("INSERT INTO outbox (status) VALUES ('pending')")
		inserted <- err
	}()
	select {
	case err := <-inserted:
		t.Fatalf("the insert ran inside another connection's transaction (err %v); want it to wait for the commit", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-inserted; err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := db.QueryRow("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Fatalf("%d pending rows after the concurrent insert; want 1 (the insert was lost)", pending)
	}
}

// TestEmbeddedMySQLLockWaitTimesOut checks that a connection waiting behind
// a transaction that never ends gets MySQL's retryable lock wait timeout
// instead of waiting forever.
func TestEmbeddedMySQLLockWaitTimesOut(t *testing.T) {
	m, err := startMySQL("127.0.0.1:0", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.ser.lockWait = 300 * time.Millisecond
	db, err := sql.Open("mysql", m.DSN("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("SELECT 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1205 {
		t.Fatalf("a statement waiting behind an open transaction = %v; want error 1205", err)
	}
}
