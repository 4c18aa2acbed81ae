package otpstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Audit writes audit events to MySQL in batches from a background worker, so
// requests never wait on the audit table (start touches no MySQL at all).
// Record never blocks: when the buffer is full the event is dropped and
// counted in otp_audit_dropped_total. Build it with NewAudit and run Run.
type Audit struct {
	db      *sql.DB
	log     *zap.Logger
	ch      chan otp.Event
	dropped prometheus.Counter
	mu      sync.Mutex // serialises flushes (Run and Flush)
}

var _ otp.Auditor = (*Audit)(nil)

// NewAudit returns an Audit buffering up to size events.
func NewAudit(db *sql.DB, log *zap.Logger, reg prometheus.Registerer, size int) *Audit {
	a := &Audit{db: db, log: log, ch: make(chan otp.Event, size),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "otp_audit_dropped_total", Help: "Audit events dropped because the buffer was full."})}
	if reg != nil {
		_ = reg.Register(a.dropped)
	}
	return a
}

// Record implements otp.Auditor.
func (a *Audit) Record(e otp.Event) {
	select {
	case a.ch <- e:
	default:
		a.dropped.Inc()
	}
}

const auditBatch = 200

// Run writes buffered events until ctx is cancelled, then writes what is
// left.
func (a *Audit) Run(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	batch := make([]otp.Event, 0, auditBatch)
	for {
		select {
		case e := <-a.ch:
			batch = append(batch, e)
			if len(batch) < auditBatch {
				continue
			}
		case <-t.C:
		case <-ctx.Done():
			a.write(ctx, a.drain(batch))
			return nil
		}
		a.write(ctx, batch)
		batch = batch[:0]
	}
}

// Flush writes every buffered event now (tests use it).
func (a *Audit) Flush(ctx context.Context) {
	a.write(ctx, a.drain(nil))
}

func (a *Audit) drain(batch []otp.Event) []otp.Event {
	for {
		select {
		case e := <-a.ch:
			batch = append(batch, e)
		default:
			return batch
		}
	}
}

func (a *Audit) write(ctx context.Context, batch []otp.Event) {
	if len(batch) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Events already taken from the buffer are written even during
	// shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for len(batch) > 0 {
		n := min(len(batch), auditBatch)
		var q strings.Builder
		q.WriteString("INSERT INTO otp_audit_log (at, event, subject, identity_id, channel, country, ip, client_id, request_id, detail) VALUES ")
		args := make([]any, 0, n*10)
		for i, e := range batch[:n] {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?)")
			var idn sql.NullInt64
			if e.IdentityID != 0 {
				idn = sql.NullInt64{Int64: e.IdentityID, Valid: true}
			}
			args = append(args, e.At.UTC(), e.Type, trunc(e.Subject, 64), idn, trunc(e.Channel, 16), trunc(e.Country, 8),
				trunc(e.IP, 45), trunc(e.ClientID, 64), trunc(e.RequestID, 128), trunc(e.Detail, 255))
		}
		if _, err := a.db.ExecContext(ctx, q.String(), args...); err != nil {
			a.log.Error("audit write failed", zap.Int("events", n), zap.Error(err))
		}
		batch = batch[n:]
	}
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
