package bridge

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

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
