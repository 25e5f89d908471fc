package redisstore

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestFailureLog: a run of failed janitor passes (a Redis outage) logs one
// warning, the next failures at debug, and one info line when a pass
// succeeds; the next run of failures warns again.
func TestFailureLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	f := failureLog{log: zap.New(core), failed: "janitor pass failed", recovered: "janitor pass succeeds again"}
	down := errors.New("list store unavailable")
	for _, err := range []error{nil, down, down, down, nil, nil, down} {
		f.report(err)
	}
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+" "+e.Message)
	}
	want := []string{"warn janitor pass failed", "debug janitor pass failed", "debug janitor pass failed",
		"info janitor pass succeeds again", "warn janitor pass failed"}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
}
