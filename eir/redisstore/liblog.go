package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Library log limits: the first libraryBurst lines of each go-redis message
// format per libraryWindow are logged, the others counted.
const (
	libraryBurst  = 3
	libraryWindow = time.Minute
)

// RouteLibraryLog sends go-redis's own log lines (a failed dial, retried
// by the pool: one line per attempt during an outage) to log at warn
// level, rate-limited: the first 3 lines of each message format per
// minute, then, at the end of that minute, one line counting those
// suppressed. The store itself logs one warning when Redis becomes
// unreachable and one info when it answers again. go-redis keeps its
// logger in a package variable: call this once, from main.
func RouteLibraryLog(log *zap.Logger) {
	redis.SetLogger(newLibraryLog(log, libraryBurst, libraryWindow))
}

// libraryLog is go-redis's logger (its internal.Logging interface) as zap
// lines, limited per message format.
type libraryLog struct {
	log    *zap.Logger
	burst  int
	window time.Duration

	mu      sync.Mutex
	formats map[string]*formatCount
}

// formatCount counts the lines of one format in the window begun at start.
type formatCount struct {
	start      time.Time
	logged     int
	suppressed int
}

func newLibraryLog(log *zap.Logger, burst int, window time.Duration) *libraryLog {
	return &libraryLog{log: log, burst: burst, window: window, formats: map[string]*formatCount{}}
}

func (l *libraryLog) Printf(_ context.Context, format string, v ...any) {
	now := time.Now()
	l.mu.Lock()
	c := l.formats[format]
	if c == nil || now.Sub(c.start) >= l.window {
		c = &formatCount{start: now}
		l.formats[format] = c
	}
	log := c.logged < l.burst
	if log {
		c.logged++
	} else if c.suppressed++; c.suppressed == 1 {
		// The count is reported once the window ends (flush).
		time.AfterFunc(l.window-now.Sub(c.start), func() { l.flush(format, c) })
	}
	l.mu.Unlock()
	if log {
		l.log.Warn("redis client", zap.String("line", fmt.Sprintf(format, v...)))
	}
}

// flush logs how many lines of format were suppressed in the window of c.
func (l *libraryLog) flush(format string, c *formatCount) {
	l.mu.Lock()
	n := c.suppressed
	c.suppressed = 0
	if l.formats[format] == c {
		delete(l.formats, format)
	}
	l.mu.Unlock()
	if n > 0 {
		l.log.Warn("redis client lines suppressed", zap.Int("suppressed", n), zap.Duration("window", l.window),
			zap.String("format", format))
	}
}
