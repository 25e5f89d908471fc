package main

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestNotifyFailureLogged: a notification systemd cannot receive is logged
// with its variable's name (READY, STATUS), never the status text.
func TestNotifyFailureLogged(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "no-such-socket"))
	core, logs := observer.New(zapcore.WarnLevel)
	n := &notifier{log: zap.New(core)}
	n.status("not ready: no_lists: no list version is loaded")
	n.markReady()
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.ContextMap()["state"].(string))
	}
	if len(got) != 2 || got[0] != "STATUS" || got[1] != "READY" {
		t.Fatalf("states logged %q, want [STATUS READY]", got)
	}
}
