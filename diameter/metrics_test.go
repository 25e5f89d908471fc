package diameter

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/zap"
)

// TestMetricsLint lints every series the server registers, as eird's
// end-to-end metrics test does for the whole process.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true}, nil, zap.NewNop(), reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if got := refusedCounts(t, reg); len(got) != 2 {
		t.Errorf("connections_refused_total series %v, want max_connections and address at 0", got)
	}
}
