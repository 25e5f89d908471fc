package provision

import (
	"errors"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestReportSweep: a run of failed sweeps (a Redis outage) logs one
// warning, the next failures at debug, and one info line when a sweep
// succeeds again.
func TestReportSweep(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ed := &Editor{log: zap.New(core)}
	down := errors.New("list store unavailable")
	failing := false
	for _, err := range []error{nil, down, down, nil, nil, down} {
		failing = ed.reportSweep(err, failing)
	}
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+" "+e.Message)
	}
	want := []string{"warn expired entries not swept", "debug expired entries not swept", "info expired entries swept again",
		"warn expired entries not swept"}
	if !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
}
