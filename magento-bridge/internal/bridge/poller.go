package bridge

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/magento"
)

// PollConfig tunes a poller of Magento records updated since a cursor
// (credit memos, invoices).
type PollConfig struct {
	// Interval between polls.
	Interval time.Duration
	// Lookback is where the first poll starts, before now.
	Lookback time.Duration
	// Overlap re-reads this much before the cursor on every poll, for
	// records committed late with an earlier updated_at.
	Overlap time.Duration
	// PageSize of Magento searches; 100 when not set.
	PageSize int
}

func (c PollConfig) withDefaults() PollConfig {
	if c.PageSize <= 0 {
		c.PageSize = 100
	}
	return c
}

// locker takes MySQL named locks (see RefundStore.TryLock).
type locker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// pollStep is one named part of a poll round.
type pollStep struct {
	name string
	run  func(context.Context) error
}

// pollEvery runs poll at once and then every interval until ctx ends; a
// failed round is logged and the next tick tries again.
func pollEvery(ctx context.Context, interval time.Duration, log *zap.Logger, what string, poll func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := poll(ctx); err != nil && ctx.Err() == nil {
			log.Warn(what+" poll failed; will retry", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pollRound runs steps in order under the named lock, so one instance polls
// at a time; it does nothing when another instance holds the lock. The
// first failing step ends the round, its error named by the step.
func pollRound(ctx context.Context, l locker, lock string, steps ...pollStep) error {
	unlock, ok, err := l.TryLock(ctx, lock)
	if err != nil {
		return err
	}
	if !ok {
		return nil // another instance is polling
	}
	defer unlock()
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// cursorStore keeps the pollers' cursors (see RefundStore).
type cursorStore interface {
	Cursor(ctx context.Context, name string) (time.Time, bool, error)
	SetCursor(ctx context.Context, name string, pos, now time.Time) error
	OldestUnfinished(ctx context.Context, since time.Time) (time.Time, bool, error)
}

// updatedScan pages through the Magento records (credit memos, invoices)
// updated since a cursor and records each one.
type updatedScan[T any] struct {
	store             cursorStore
	cursor            string
	now               func() time.Time
	lookback, overlap time.Duration // where the first poll starts; how far each poll re-reads
	pageSize          int
	fetch             func(ctx context.Context, since time.Time, pageSize, page int) (*magento.SearchResult[T], error)
	updatedAt         func(T) string
	record            func(context.Context, T) error
}

// run reads from the cursor (minus overlap; lookback on the first poll),
// records every item, then moves the cursor to the newest updated_at seen.
// The cursor moves only after each item was recorded, so none is skipped,
// and it waits, for up to a day, for a payment whose order is not recorded
// yet: Magento may already hold a record of an order placed by an attempt
// that is still to be retried.
func (s updatedScan[T]) run(ctx context.Context) error {
	since := s.now().Add(-s.lookback)
	if pos, ok, err := s.store.Cursor(ctx, s.cursor); err != nil {
		return err
	} else if ok {
		since = pos.Add(-s.overlap)
	}
	var newest time.Time
	for page := 1; ; page++ {
		res, err := s.fetch(ctx, since, s.pageSize, page)
		if err != nil {
			return err
		}
		for _, it := range res.Items {
			if t, ok := parseMagentoTime(s.updatedAt(it)); ok && t.After(newest) {
				newest = t
			}
			if err := s.record(ctx, it); err != nil {
				return err
			}
		}
		if len(res.Items) < s.pageSize || page*s.pageSize >= res.TotalCount {
			break
		}
	}
	if t, ok, err := s.store.OldestUnfinished(ctx, s.now().Add(-24*time.Hour)); err != nil {
		return err
	} else if ok && !newest.IsZero() && t.Before(newest) {
		newest = t
	}
	if newest.IsZero() {
		return nil
	}
	return s.store.SetCursor(ctx, s.cursor, newest, s.now())
}
