package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/eir-sidecar/eir/internal/testenv"
)

// lockedBuffer is a log destination written by several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines parses every line written as a JSON object.
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLibraryLogRateLimited: go-redis retrying a dial during an outage
// (one line per attempt) gives the first lines of each message format at
// warn level, as JSON, then one line counting those suppressed once the
// window ends; a new window logs again.
func TestLibraryLogRateLimited(t *testing.T) {
	var out lockedBuffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zap.DebugLevel)
	const window = 300 * time.Millisecond
	l := newLibraryLog(zap.New(core).Named("redis"), 3, window)
	ctx := context.Background()
	const dial = "redis: %s: connection pool: failed to dial after %d attempts: %v"
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				l.Printf(ctx, dial, "127.0.0.1:6379", 5, "connection refused")
			}
		}()
	}
	l.Printf(ctx, "redis: discarding bad PubSub connection: %v", "EOF")
	wg.Wait()

	lines := out.lines(t)
	if len(lines) != 4 {
		t.Fatalf("%d lines before the window ends, want 3 + 1: %v", len(lines), lines)
	}
	for _, m := range lines {
		if m["level"] != "warn" || m["msg"] != "redis client" || m["logger"] != "redis" {
			t.Errorf("line %v: want level warn, msg \"redis client\", logger redis", m)
		}
	}
	dials := 0
	for _, m := range lines {
		if m["line"] == "redis: 127.0.0.1:6379: connection pool: failed to dial after 5 attempts: connection refused" {
			dials++
		}
	}
	if dials != 3 {
		t.Errorf("%d dial lines logged, want 3: %v", dials, lines)
	}
	var summary map[string]any
	testenv.Eventually(t, "the count of the lines suppressed", 10*time.Second, func() bool {
		for _, m := range out.lines(t) {
			if m["msg"] == "redis client lines suppressed" {
				summary = m
				return true
			}
		}
		return false
	})
	if summary["suppressed"] != 997.0 || summary["format"] != dial || summary["level"] != "warn" {
		t.Errorf("summary %v: want 997 lines of %q suppressed, at warn", summary, dial)
	}
	if n := len(out.lines(t)); n != 5 {
		t.Errorf("%d lines for 1001 library lines, want 5", n)
	}

	// The next window: logged again.
	testenv.Eventually(t, "a line of the next window logged", 10*time.Second, func() bool {
		l.Printf(ctx, dial, "127.0.0.1:6379", 5, "connection refused")
		return len(out.lines(t)) > 5
	})
}
