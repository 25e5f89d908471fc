package sighting

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/zap"
)

// TestMetricsLint lints every series the store and the writer register.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(nil, Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.m.errors.WithLabelValues("write").Inc()
	w, err := NewWriter(s, WriterOptions{}, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 6 {
		t.Errorf("%d metric families, want 6", len(mfs))
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
