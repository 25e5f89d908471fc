package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	r := run(func(tb testing.TB) {
		Eventually(tb, "three calls", time.Minute, func() bool { calls++; return calls == 3 })
	})
	if r.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", r.failed, calls)
	}
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := run(func(tb testing.TB) { Eventually(tb, "never", 20*time.Millisecond, func() bool { return false }) })
	if !strings.Contains(r.failed, "waiting for never") {
		t.Fatalf("failure %q, want it to name what was awaited", r.failed)
	}
}

func TestEventuallyShowReportsTheStateAtTheDeadline(t *testing.T) {
	n := 0
	r := run(func(tb testing.TB) {
		EventuallyShow(tb, 20*time.Millisecond, func() bool { n++; return false }, func() string { return fmt.Sprintf("%d polls", n) })
	})
	if !strings.Contains(r.failed, "polls") || strings.Contains(r.failed, " 0 polls") {
		t.Fatalf("failure %q, want the state shown at the deadline", r.failed)
	}
}
