package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
)

// serialized runs one transaction, or one statement outside a transaction,
// at a time on the embedded MySQL server.
//
// go-mysql-server's memory engine gives a transaction its own copy of each
// table it writes and puts the whole copy back when it commits, so two
// connections writing one table at once lose each other's rows (checkout
// inserting an outbox event while the bridge renews a lease would erase the
// event, and the paid order would never reach Magento). Serialising
// transactions makes the engine's copies safe. A connection that waits longer
// than lockWait gets MySQL's lock wait timeout (1205), which the services
// treat as retryable, instead of waiting forever.
type serialized struct {
	mysql.Handler
	slot     chan struct{} // holds one token while a transaction runs
	lockWait time.Duration

	mu     sync.Mutex
	holder map[uint32]bool // connections inside a transaction (holding the slot)
}

func newSerialized(lockWait time.Duration) *serialized {
	return &serialized{slot: make(chan struct{}, 1), lockWait: lockWait, holder: map[uint32]bool{}}
}

// wrap is a go-mysql-server HandlerWrapper.
func (s *serialized) wrap(h mysql.Handler) (mysql.Handler, error) {
	s.Handler = h
	return s, nil
}

// statementKind reports whether a statement begins or ends a transaction.
func statementKind(query string) (begins, ends bool) {
	q := strings.ToUpper(strings.TrimSpace(query))
	switch {
	case strings.HasPrefix(q, "BEGIN"), strings.HasPrefix(q, "START TRANSACTION"):
		return true, false
	case strings.HasPrefix(q, "COMMIT"), strings.HasPrefix(q, "ROLLBACK"):
		return false, true
	}
	return false, false
}

// run executes a statement of connection c under the transaction lock.
func (s *serialized) run(ctx context.Context, c *mysql.Conn, query string, exec func() error) error {
	begins, ends := statementKind(query)
	s.mu.Lock()
	holding := s.holder[c.ConnectionID]
	s.mu.Unlock()
	if !holding {
		t := time.NewTimer(s.lockWait)
		select {
		case s.slot <- struct{}{}:
			t.Stop()
		case <-t.C:
			return mysql.NewSQLError(mysql.ERLockWaitTimeout, "HY000", "Lock wait timeout exceeded; try restarting transaction")
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	err := exec()
	switch {
	case begins && err == nil:
		s.setHolder(c.ConnectionID, true) // keep the slot until COMMIT or ROLLBACK
	case holding && !ends:
		// still inside the transaction
	default:
		s.release(c.ConnectionID)
	}
	return err
}

func (s *serialized) setHolder(id uint32, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v {
		s.holder[id] = true
	} else {
		delete(s.holder, id)
	}
}

func (s *serialized) release(id uint32) {
	s.setHolder(id, false)
	select {
	case <-s.slot:
	default:
	}
}

func (s *serialized) ComQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) error {
	return s.run(ctx, c, query, func() error { return s.Handler.ComQuery(ctx, c, query, cb) })
}

func (s *serialized) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) (string, error) {
	var rest string
	err := s.run(ctx, c, query, func() error {
		var err error
		rest, err = s.Handler.ComMultiQuery(ctx, c, query, cb)
		return err
	})
	return rest, err
}

func (s *serialized) ComStmtExecute(ctx context.Context, c *mysql.Conn, p *mysql.PrepareData, cb func(*sqltypes.Result) error) error {
	return s.run(ctx, c, p.PrepareStmt, func() error { return s.Handler.ComStmtExecute(ctx, c, p, cb) })
}

// ConnectionClosed releases the slot of a connection that closed inside a
// transaction (the engine rolls it back).
func (s *serialized) ConnectionClosed(c *mysql.Conn) {
	s.mu.Lock()
	held := s.holder[c.ConnectionID]
	s.mu.Unlock()
	s.Handler.ConnectionClosed(c)
	if held {
		s.release(c.ConnectionID)
	}
}
