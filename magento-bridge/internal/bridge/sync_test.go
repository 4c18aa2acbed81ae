package bridge_test

import (
	"testing"
	"time"
)

func TestHappyPath(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fx := h.capture(6)
	stop := run(h.syncer(h.config("a"), nil, nil))
	h.waitDrained(30 * time.Second)
	stop()
	h.verify(fx)
	if st := h.status(); st.SyncedTotal != 6 || st.DeadLetters != 0 || st.Backlog != 0 {
		t.Errorf("status = %+v; want 6 synced, no backlog, no dead letters", st)
	}
}
