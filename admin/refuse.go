package admin

import (
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Refused requests (401, 403, a rejected import) are logged at warn, so
// that a probe or a misconfigured client shows in the log. A client in a
// loop could flood it: the lines are limited per process to
// refusalBurst per refusalWindow; the next line logged after a
// suppressed one says how many were suppressed.
const (
	refusalBurst  = 10
	refusalWindow = time.Minute
)

// refusalLimiter is a fixed-window counter (one for the process, not per
// client: its purpose is to bound the log, not to judge clients).
type refusalLimiter struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether a line may be logged at now, and how many were
// suppressed since the last one logged.
func (l *refusalLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= refusalWindow || now.Before(l.start) {
		l.start, l.n = now, 0
	}
	if l.n >= refusalBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// refuse logs a refused request: who (the actor, token or certificate
// name when known; never a secret), from where, what, and why.
func (s *Server) refuse(r *http.Request, who, reason string) {
	ok, suppressed := s.refusals.allow(s.now())
	if !ok {
		return
	}
	if who == "" {
		who = Actor(r.Context())
	}
	fields := []zap.Field{zap.String("actor", who), zap.String("remote_addr", r.RemoteAddr),
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("reason", reason)}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	s.log.Warn("request refused", fields...)
}
