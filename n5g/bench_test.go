package n5g

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
)

// discardWriter is a ResponseWriter that keeps the status code only, so
// that the benchmark counts the handler's allocations, not a recorder's.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkServeHTTP is the handler's cost per request without HTTP/2:
// routing, query parsing, the decision (memstore), metrics and the answer.
func BenchmarkServeHTTP(b *testing.B) {
	s, err := New(Options{}, eir.NewDecider(lists(b), eir.Policy{}), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, query string
		code        int
	}{
		{"black_with_supi", "pei=imei-352099001761481&supi=imsi-001010000000002", 200},
		{"unknown", "pei=imei-123456789012347", 404},
		{"bad_pei", "pei=imei-123", 400},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/n5g-eir-eic/v1/equipment-status?"+bc.query, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, req)
			}
			if w.code != bc.code {
				b.Fatalf("status %d, want %d", w.code, bc.code)
			}
		})
	}
}
