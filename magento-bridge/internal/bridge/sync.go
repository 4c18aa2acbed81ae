package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/paymentevent"
)

// Config tunes a Syncer.
type Config struct {
	// Owner names this instance in leases and histories (host:pid or a
	// configured id); each worker appends "/<n>".
	Owner string
	// Workers is how many events this instance works on at once.
	Workers int
	// Lease is how long a claim lasts without renewal; it must exceed the
	// Magento client's per-request timeout several times over, so that a
	// worker whose lease lapsed has certainly seen its last request end.
	Lease time.Duration
	// PollInterval is how long an idle worker waits before claiming again.
	PollInterval time.Duration
	// RetryBase and RetryMax bound the exponential backoff between attempts.
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts and MaxAge turn an event that keeps failing into a dead
	// letter.
	MaxAttempts int
	MaxAge      time.Duration
	// PaymentMethod is the offline method orders are placed with:
	// "purchaseorder" (po_number "<gateway> <transaction id>") or "checkmo".
	PaymentMethod string
	// RefundUnplaceable refunds a captured payment whose cart cannot become
	// an order; otherwise the operator decides.
	RefundUnplaceable bool
	// ReleaseOnStop hands in-flight events back at shutdown instead of
	// letting their leases lapse.
	ReleaseOnStop bool
}

// Syncer turns payment.captured events into invoiced Magento orders. It is
// safe for concurrent use; Run starts its workers.
type Syncer struct {
	cfg      Config
	store    Store
	magento  Magento
	payments Payments
	log      *zap.Logger
	metrics  *Metrics
	now      func() time.Time

	randMu sync.Mutex
	rand   *rand.Rand
}

// NewSyncer returns a Syncer. m should already be wrapped by Limit so its
// requests respect the shared cap.
func NewSyncer(cfg Config, store Store, m Magento, payments Payments, metrics *Metrics, log *zap.Logger, now func() time.Time) *Syncer {
	if now == nil {
		now = time.Now
	}
	return &Syncer{
		cfg: cfg, store: store, magento: m, payments: payments, log: log, metrics: metrics, now: now,
		rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6d61676562726467)),
	}
}

// Run runs cfg.Workers workers until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, fmt.Sprintf("%s/%d", s.cfg.Owner, i))
		}()
	}
	wg.Wait()
	return nil
}

func (s *Syncer) loop(ctx context.Context, worker string) {
	for ctx.Err() == nil {
		n, err := s.RunOnce(ctx, worker)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claim failed", zap.String("worker", worker), zap.Error(err))
		}
		if n == 0 || err != nil {
			s.sleep(ctx, s.jitter(s.cfg.PollInterval))
		}
	}
}

// RunOnce claims at most one event as worker and processes it, reporting how
// many it processed.
func (s *Syncer) RunOnce(ctx context.Context, worker string) (int, error) {
	evs, err := s.store.Claim(ctx, worker, 1, s.now(), s.cfg.Lease)
	if err != nil {
		return 0, err
	}
	for _, ev := range evs {
		s.Process(ctx, ev, worker)
	}
	return len(evs), nil
}

// failure is why an attempt stopped.
type failure struct {
	kind string // retry, poison, unplaceable, lost
	step Step
	err  error
}

func (f *failure) Error() string { return string(f.step) + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func retry(step Step, err error) error { return &failure{"retry", step, err} }
func poison(step Step, err error) error {
	return &failure{"poison", step, err}
}
func unplaceable(step Step, err error) error { return &failure{"unplaceable", step, err} }

// Process runs one claimed event to its next resting state: done, scheduled
// for a retry, or dead. Errors are handled here: logged, counted, recorded in
// the event's history.
func (s *Syncer) Process(ctx context.Context, ev Event, worker string) {
	start := time.Now()
	log := s.log.With(zap.Int64("outbox_id", ev.OutboxID), zap.String("event_id", ev.EventID),
		zap.String("payment_id", ev.PaymentID), zap.Int("attempt", ev.Attempts), zap.String("worker", worker))
	entry := Attempt{At: s.now(), Attempt: ev.Attempts, Worker: worker}

	c, err := decode(ev)
	if err == nil {
		err = validate(c)
	}
	if err != nil {
		s.dead(ctx, log, ev, ev.PaymentID, worker, ReasonPoison, entry, poison(StepNew, err), false)
		return
	}
	if ev.Attempts > s.cfg.MaxAttempts {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonExhausted, entry, retry(StepNew, fmt.Errorf("claimed %d times (a worker may have crashed on it each time)", ev.Attempts)), false)
		return
	}
	log = log.With(zap.Int64("quote_id", c.QuoteID), zap.String("gateway", c.Gateway))

	pay, err := s.store.Payment(ctx, c.PaymentID)
	switch {
	case errs.Is(err, errs.NotFound):
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonNoPayment, entry, poison(StepNew, errors.New("no payments row for this event")), false)
		return
	case err != nil:
		s.reschedule(ctx, log, ev, c, worker, entry, retry(StepNew, err))
		return
	}
	if !placeable(pay.Status) {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonNoPayment, entry, poison(StepNew, fmt.Errorf("payment status is %q, not captured or authorized", pay.Status)), false)
		return
	}
	if pay.Refunded >= pay.Amount {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonNoPayment, entry, poison(StepNew, fmt.Errorf("payment was refunded in full (%d of %d) before its order was placed", pay.Refunded, pay.Amount)), false)
		return
	}
	if pay.QuoteID != c.QuoteID {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonPoison, entry, poison(StepNew, fmt.Errorf("event quote %d differs from the payment's quote %d", c.QuoteID, pay.QuoteID)), false)
		return
	}

	prog, err := s.store.BeginOrder(ctx, Progress{
		PaymentID: c.PaymentID, EventID: ev.EventID, QuoteID: c.QuoteID, Step: StepNew,
		Gateway: c.Gateway, TransactionID: c.TransactionID, Amount: c.Amount, Currency: c.Currency,
	}, worker, s.now(), s.cfg.Lease)
	switch {
	case errs.Is(err, CodeCartTaken):
		s.unplaceable(ctx, log, ev, c, worker, entry, unplaceable(StepNew, err))
		return
	case errs.Is(err, CodeBusy):
		entry.Step, entry.Outcome, entry.Code, entry.Error = StepNew, "busy", CodeBusy, err.Error()
		if err := s.store.Retry(ctx, ev, "", worker, entry, s.now().Add(s.backoff(ev.Attempts))); err != nil {
			log.Warn("release busy event", zap.Error(err))
		}
		return
	case err != nil:
		s.reschedule(ctx, log, ev, c, worker, entry, retry(StepNew, err))
		return
	}
	if prog.Step == StepDone {
		entry.Step, entry.Outcome = StepDone, "duplicate"
		if err := s.store.CompleteDuplicate(ctx, ev, worker, entry, s.now()); err != nil {
			log.Warn("complete duplicate event", zap.Error(err))
			return
		}
		s.metrics.Duplicates.Inc()
		log.Info("duplicate event: payment already has its order", zap.Int64("order_id", prog.OrderID))
		return
	}

	// Keep the leases alive while the event is worked on; losing them stops
	// the work, because another worker now owns the cart.
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	hb := make(chan struct{})
	var lost atomic.Bool
	go func() {
		defer close(hb)
		s.heartbeat(ectx, func() { lost.Store(true); cancel() }, log, ev, c.PaymentID, worker)
	}()
	err = s.run(ectx, log, c, prog, worker)
	cancel()
	<-hb
	if err != nil && lost.Load() {
		err = &failure{"lost", prog.Step, errs.E(CodeLostLease, "the lease passed to another worker while this one worked: %v", err)}
	}
	if err == nil {
		entry.Step, entry.Outcome = StepDone, "done"
		if err = s.persist(ctx, func() error { return s.store.Complete(ctx, ev, *prog, worker, entry, s.now()) }); err != nil {
			err = retry(StepDone, err)
		}
	}
	if err == nil {
		s.metrics.Synced.Inc()
		s.metrics.EventDuration.Observe(time.Since(start).Seconds())
		s.metrics.Lag.Observe(s.now().Sub(ev.CreatedAt).Seconds())
		log.Info("order synced", zap.Int64("order_id", prog.OrderID), zap.String("increment_id", prog.IncrementID),
			zap.Duration("duration", time.Since(start)))
		return
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{"retry", prog.Step, err}
	}
	if ctx.Err() != nil {
		// Shutdown (or a kill, in tests): the lease lapses on its own unless
		// we may hand the event back now.
		if s.cfg.ReleaseOnStop {
			entry.Step, entry.Outcome, entry.Error = f.step, "interrupted", "shutdown"
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer rcancel()
			if err := s.store.Retry(rctx, ev, c.PaymentID, worker, entry, s.now()); err != nil {
				log.Warn("release at shutdown", zap.Error(err))
			}
		}
		return
	}
	switch {
	case f.kind == "lost" || errs.Is(f.err, CodeLostLease):
		s.metrics.LostLeases.Inc()
		log.Warn("lost the lease; another worker owns the event now", zap.String("step", string(f.step)), zap.Error(f.err))
	case f.kind == "poison":
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonPoison, entry, f, false)
	case f.kind == "unplaceable":
		s.unplaceable(ctx, log, ev, c, worker, entry, f)
	default:
		s.reschedule(ctx, log, ev, c, worker, entry, f)
	}
}

func placeable(status string) bool {
	switch status {
	case "captured", "authorized", "partially_refunded":
		return true
	}
	return false
}

func validate(c *paymentevent.Captured) error {
	var missing []string
	if c.PaymentID == "" {
		missing = append(missing, "payment_id")
	}
	if c.QuoteID <= 0 {
		missing = append(missing, "quote_id")
	}
	if c.Amount <= 0 {
		missing = append(missing, "amount")
	}
	if len(c.Currency) != 3 {
		missing = append(missing, "currency")
	}
	if c.Gateway == "" {
		missing = append(missing, "gateway")
	}
	if c.TransactionID == "" {
		missing = append(missing, "transaction_id")
	}
	if c.Status != "" && c.Status != "captured" && c.Status != "authorized" {
		missing = append(missing, "status")
	}
	if c.Order.ShippingAddress != nil && (c.Order.ShippingCarrier == "" || c.Order.ShippingMethod == "") {
		missing = append(missing, "order_snapshot.shipping_carrier_code/shipping_method_code")
	}
	if len(missing) > 0 {
		return fmt.Errorf("payload lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

func (s *Syncer) heartbeat(ctx context.Context, lost func(), log *zap.Logger, ev Event, paymentID, worker string) {
	every := s.cfg.Lease / 3
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.store.ExtendLease(ctx, ev, paymentID, worker, s.now().Add(s.cfg.Lease))
		if errs.Is(err, CodeLostLease) {
			log.Warn("lease lost while working; stopping")
			lost()
			return
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("extend lease", zap.Error(err))
		}
	}
}

// reschedule records a retryable failure, or parks the event when it has run
// out of attempts or time.
func (s *Syncer) reschedule(ctx context.Context, log *zap.Logger, ev Event, c *paymentevent.Captured, worker string, entry Attempt, f error) {
	var fl *failure
	if !errors.As(f, &fl) {
		fl = &failure{"retry", StepNew, f}
	}
	if ev.Attempts >= s.cfg.MaxAttempts {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonExhausted, entry, fl, false)
		return
	}
	if s.cfg.MaxAge > 0 && s.now().Sub(ev.CreatedAt) > s.cfg.MaxAge {
		s.dead(ctx, log, ev, c.PaymentID, worker, ReasonTooOld, entry, fl, false)
		return
	}
	delay := s.backoff(ev.Attempts)
	entry.Step, entry.Outcome, entry.Code, entry.Error = fl.step, "retry", errs.Code(fl.err), fl.err.Error()
	s.metrics.Retries.WithLabelValues(string(fl.step), errs.Code(fl.err)).Inc()
	log.Warn("attempt failed; will retry", zap.String("step", string(fl.step)), zap.String("code", errs.Code(fl.err)),
		zap.Duration("retry_in", delay), zap.Error(fl.err))
	if err := s.store.Retry(ctx, ev, c.PaymentID, worker, entry, s.now().Add(delay)); err != nil {
		// The lease will lapse and another claim will retry it.
		log.Warn("schedule retry", zap.Error(err))
	}
}

func (s *Syncer) dead(ctx context.Context, log *zap.Logger, ev Event, paymentID, worker, reason string, entry Attempt, f error, refunded bool) int64 {
	var fl *failure
	if !errors.As(f, &fl) {
		fl = &failure{"poison", StepNew, f}
	}
	entry.Step, entry.Outcome, entry.Code, entry.Error = fl.step, "dead", errs.Code(fl.err), fl.err.Error()
	id, err := s.store.DeadLetter(ctx, ev, paymentID, worker, reason, entry, refunded, s.now())
	if err != nil {
		if errs.Is(err, CodeLostLease) {
			s.metrics.LostLeases.Inc()
			log.Warn("lost the lease before parking the event; its new owner decides", zap.String("reason", reason), zap.Error(fl.err))
			return 0
		}
		log.Error("park dead letter", zap.String("reason", reason), zap.Error(err))
		return 0
	}
	s.metrics.DeadLetters.WithLabelValues(reason).Inc()
	fields := []zap.Field{zap.Int64("dead_letter_id", id), zap.String("reason", reason), zap.String("step", string(fl.step)),
		zap.Bool("refunded", refunded), zap.Error(fl.err)}
	if reason == ReasonUnplaceable {
		s.metrics.Unplaceable.Inc()
		log.Error("ALERT: captured payment cannot become a Magento order", fields...)
		return id
	}
	log.Error("event parked as dead letter", fields...)
	return id
}

// unplaceable parks a captured payment whose cart cannot become an order and,
// when configured to, refunds it. The refund comes only after the fenced dead
// letter was recorded, so a worker that lost its lease (and whose view of the
// cart may be stale) never refunds.
func (s *Syncer) unplaceable(ctx context.Context, log *zap.Logger, ev Event, c *paymentevent.Captured, worker string, entry Attempt, f error) {
	id := s.dead(ctx, log, ev, c.PaymentID, worker, ReasonUnplaceable, entry, f, false)
	if id == 0 || !s.cfg.RefundUnplaceable || s.payments == nil {
		return
	}
	// The event is already dead-lettered, so nothing would retry the refund:
	// a shutdown must not abandon it halfway (the idempotency key makes a
	// repeat harmless).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unplaceableRefundTimeout)
	defer cancel()
	if err := s.payments.Refund(ctx, c.PaymentID, c.Amount, "bridge-unplaceable-"+c.PaymentID); err != nil {
		log.Error("ALERT: refund of an unplaceable payment failed; refund it by hand", zap.Int64("dead_letter_id", id), zap.Error(err))
		return
	}
	if err := s.store.MarkRefunded(ctx, id); err != nil {
		log.Warn("record refund on dead letter", zap.Int64("dead_letter_id", id), zap.Error(err))
	}
	log.Info("unplaceable payment refunded in full", zap.Int64("dead_letter_id", id), zap.Int64("amount", c.Amount))
}

// unplaceableRefundTimeout bounds the refund of an unplaceable payment,
// which runs to its end even when the syncer is stopping.
const unplaceableRefundTimeout = 20 * time.Second

// backoff returns the delay before attempt n+1: exponential from RetryBase,
// capped at RetryMax, with equal jitter.
func (s *Syncer) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	return d/2 + s.jitter(d/2)
}

// jitter returns a random duration in [0, d].
func (s *Syncer) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return time.Duration(s.rand.Int64N(int64(d) + 1))
}

func (s *Syncer) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
