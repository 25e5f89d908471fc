// Package testenv is what tests share; its subpackages start the
// processes they drive (redistest, fdtest, capture) and hold their
// certificates and specifications (certtest, sbispec). Eventually waits
// until a condition holds or a deadline passes: tests poll for what they
// wait for instead of sleeping for a guessed time. Only test files (and
// cmd/eirbench) import these packages.
package testenv

import (
	"testing"
	"time"
)

// Eventually calls cond every few milliseconds until it reports true, and fails
// t, naming what was awaited, when timeout passes first.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	EventuallyShow(t, timeout, cond, func() string { return what })
}

// EventuallyShow is Eventually for a condition whose state says more than
// its name: on failure, t reports show(), called at the deadline.
func EventuallyShow(t testing.TB, timeout time.Duration, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, show())
		}
		<-tick.C
	}
}
