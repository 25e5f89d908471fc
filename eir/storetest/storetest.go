// Package storetest is the contract every list store must pass: lookups by
// IMEI, TAC, range and IMEI–IMSI pair, per-source provenance, replacement
// and delta semantics, counts, versions, and atomicity of a write as seen by
// concurrent checks. Run it from each store's tests with Run.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// Store is what the suite exercises.
type Store interface {
	eir.Lookup
	Apply(ctx context.Context, changes []eir.Change) (eir.ApplyResult, error)
	ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error)
	Datasets(ctx context.Context) ([]eir.DatasetInfo, error)
	SyncState(ctx context.Context) (map[string]string, error)
	SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error)
	ListEntries(ctx context.Context, ds eir.Dataset, cursor string, limit int) ([]eir.Entry, string, error)
	EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error)
}

// Run runs the contract; newStore must return an empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Empty", testEmpty},
		{"IMEILists", testIMEILists},
		{"TAC", testTAC},
		{"Ranges", testRanges},
		{"Pairs", testPairs},
		{"Provenance", testProvenance},
		{"ReplaceAndDelta", testReplaceAndDelta},
		{"ReplaceIfExists", testReplaceIfExists},
		{"BeforeRefuses", testBeforeRefuses},
		{"Counts", testCounts},
		{"Large", testLarge},
		{"InvalidChangeWritesNothing", testInvalid},
		{"AtomicMove", testAtomicMove},
		{"ConcurrentWriters", testConcurrentWriters},
		{"SetHash", testSetHash},
		{"Keys", testKeys},
		{"SyncState", testSyncState},
		{"Strict", testStrict},
		{"Notifications", testNotifications},
		{"Expiry", testExpiry},
		{"ExpiryUpdateAndSweep", testExpiryUpdateAndSweep},
		{"ListEntries", testListEntries},
		{"EntriesFor", testEntriesFor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func ds(source string, target eir.Target, list eir.List) eir.Dataset {
	return eir.Dataset{Source: source, Target: target, List: list}
}

func apply(t *testing.T, s Store, changes ...eir.Change) eir.ApplyResult {
	t.Helper()
	res, err := s.Apply(ctx(t), changes)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// hitsOf returns the datasets matching q, as strings.
func hitsOf(t *testing.T, s Store, imei eir.IMEI, imsi eir.IMSI) map[string]bool {
	t.Helper()
	hits, err := s.Match(ctx(t), eir.Query{IMEI: imei, IMSI: imsi}, nil)
	if err != nil {
		t.Fatalf("match %s: %v", imei, err)
	}
	out := map[string]bool{}
	for _, h := range hits {
		if out[h.Dataset.String()] {
			t.Fatalf("dataset %s reported twice", h.Dataset)
		}
		out[h.Dataset.String()] = true
	}
	return out
}

// expectHits checks the hits of a query; a store that can answer from
// memory (eir.LocalLookup) must give the same hits there when it answers.
func expectHits(t *testing.T, s Store, imei eir.IMEI, imsi eir.IMSI, want ...string) {
	t.Helper()
	got := hitsOf(t, s, imei, imsi)
	if l, ok := s.(eir.LocalLookup); ok {
		if hits, ok := l.MatchLocal(eir.Query{IMEI: imei, IMSI: imsi}, nil); ok {
			local := map[string]bool{}
			for _, h := range hits {
				local[h.Dataset.String()] = true
			}
			same := len(local) == len(got)
			for k := range got {
				same = same && local[k]
			}
			if !same {
				t.Fatalf("%s/%q: MatchLocal %v, Match %v", imei, imsi, keys(local), keys(got))
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s/%q: hits %v, want %v", imei, imsi, keys(got), want)
	}
	for _, w := range want {
		if !got[w] {
			t.Fatalf("%s/%q: hits %v, want %v", imei, imsi, keys(got), want)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func imeis(vs ...eir.IMEI) []eir.Entry {
	out := make([]eir.Entry, len(vs))
	for i, v := range vs {
		out[i] = eir.Entry{IMEI: v}
	}
	return out
}
