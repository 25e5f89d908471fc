package regsync

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// Guards bound what a file may do before an operator confirms it. They
// judge the list that would be in force against the list in force by
// content (the store compares the two: entries unblocked are the set
// difference, not a difference of counts), on every path: a full file, a
// delta, the reconciliation of a delta with its full file.
//
// A zero value takes the default; a negative value turns the check off.
type Guards struct {
	// MaxBadRowRatio rejects a file whose unparseable rows exceed this
	// share of its rows (they are quarantined below it). Default 0.05; a
	// negative value rejects a file with any bad row.
	MaxBadRowRatio float64
	// MinSnapshotRatio holds a file that leaves a list smaller than this
	// share of the list in force. Default 0.75 (DIRBS's historic check).
	MinSnapshotRatio float64
	// MaxUnblocks holds a file that unblocks more entries than this:
	// removals from a black or grey list, additions to an exception
	// list. Default 10,000.
	MaxUnblocks int
	// MaxUnblockRatio holds a file that unblocks more than this share of
	// the list in force. Default 0.01 (1 %).
	MaxUnblockRatio float64
	// RatioFloor: the ratio checks (MinSnapshotRatio, MaxUnblockRatio)
	// ignore changes of fewer entries than this (a small list's daily
	// changes). Default 100.
	RatioFloor int
	// Strict rejects a delta that adds a present entry or removes an absent
	// one; by default these are no-ops, counted and logged.
	Strict bool
}

// Defaults of Guards.
const (
	DefaultMaxBadRowRatio   = 0.05
	DefaultMinSnapshotRatio = 0.75
	DefaultMaxUnblocks      = 10_000
	DefaultMaxUnblockRatio  = 0.01
	DefaultRatioFloor       = 100
)

// WithDefaults fills the zero values with the defaults.
func (g Guards) WithDefaults() Guards {
	g.MaxBadRowRatio = cmp.Or(g.MaxBadRowRatio, DefaultMaxBadRowRatio)
	g.MinSnapshotRatio = cmp.Or(g.MinSnapshotRatio, DefaultMinSnapshotRatio)
	g.MaxUnblocks = cmp.Or(g.MaxUnblocks, DefaultMaxUnblocks)
	g.MaxUnblockRatio = cmp.Or(g.MaxUnblockRatio, DefaultMaxUnblockRatio)
	g.RatioFloor = cmp.Or(g.RatioFloor, DefaultRatioFloor)
	return g
}

// Judge says which guard, if any, what a write does to one dataset trips.
// what names the change for the message ("the full blacklist", "the
// blacklist delta 42→47").
// A full list (full) that would leave a non-empty list empty is held
// whatever its size: a truncated or header-only file.
func (g Guards) Judge(what string, full bool, r eir.DatasetResult) *GuardError {
	unblocked, prev := r.Unblocked(), r.Previous
	share := func(n uint64) string {
		if prev == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.1f%% of the %d in force)", 100*float64(n)/float64(prev), prev)
	}
	floor := uint64(max(g.RatioFloor, 1))
	switch {
	case g.MinSnapshotRatio > 0 && prev > r.Count && (prev-r.Count >= floor || (full && r.Count == 0)) &&
		float64(r.Count) < g.MinSnapshotRatio*float64(prev):
		return &GuardError{Code: "shrink_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would leave %d entries, %.1f%% of the %d in force (minimum %.0f%%; %d unblocked)",
			what, r.Count, 100*float64(r.Count)/float64(prev), prev, 100*g.MinSnapshotRatio, unblocked)}
	case g.MaxUnblocks > 0 && unblocked > uint64(g.MaxUnblocks):
		return &GuardError{Code: "unblock_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would unblock %d entries%s, more than the limit of %d", what, unblocked, share(unblocked), g.MaxUnblocks)}
	case g.MaxUnblockRatio > 0 && prev > 0 && unblocked >= floor && float64(unblocked) > g.MaxUnblockRatio*float64(prev):
		return &GuardError{Code: "unblock_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would unblock %d entries%s, more than the limit of %.2g%% of the list", what, unblocked, share(unblocked), 100*g.MaxUnblockRatio)}
	}
	return nil
}

// GuardError is a write held by a guard. It matches eir.ErrHeld.
type GuardError struct {
	Code      string // unblock_guard, shrink_guard
	Message   string
	Unblocked uint64 // entries the write would unblock
	Previous  uint64 // entries in force
	Count     uint64 // entries after the write
}

func (e *GuardError) Error() string { return e.Code + ": " + e.Message }

// Unwrap makes a GuardError match eir.ErrHeld.
func (e *GuardError) Unwrap() error { return eir.ErrHeld }

// JudgeAll applies the guards to every dataset of a write and joins the
// messages of those tripped into one error (nil when none is).
func (g Guards) JudgeAll(res []eir.DatasetResult, what func(eir.DatasetResult) (string, bool)) *GuardError {
	var first *GuardError
	var msgs []string
	for _, r := range res {
		desc, full := what(r)
		if ge := g.Judge(desc, full, r); ge != nil {
			if first == nil {
				c := *ge
				first = &c
			}
			msgs = append(msgs, ge.Message)
		}
	}
	if first != nil {
		first.Message = strings.Join(msgs, "; ")
	}
	return first
}

// Limits bound a file's size before and while it is read, so that a
// hostile or broken file (a zip bomb, a file of a billion rows) is
// rejected with bounded memory. A zero value takes the default; a negative
// value turns the limit off.
type Limits struct {
	// MaxFileBytes is the largest file (or package) accepted, as
	// received. Default 4 GiB.
	MaxFileBytes int64
	// MaxUncompressedBytes bounds the bytes a unit yields: a file, the
	// members of a package together, the files of a loose delta set
	// together. A package is judged by the sizes it declares before
	// anything is inflated, and every unit by the bytes read while it is
	// parsed. Default 16 GiB.
	MaxUncompressedBytes int64
	// MaxRatio bounds a zip member's uncompressed size over its
	// compressed size. Default 100 (CSV lists deflate 3 to 10 times;
	// DIRBS stores its members uncompressed).
	MaxRatio float64
	// MaxRows bounds the rows of one list: a full file, or the
	// change-type files of a delta set together. Default 200,000,000.
	// Rows beyond a few million are validated through sorted runs on
	// disk (see spill.go), whatever the kind of list.
	MaxRows int
}

// Defaults of Limits.
const (
	DefaultMaxFileBytes         = 4 << 30
	DefaultMaxUncompressedBytes = 16 << 30
	DefaultMaxRatio             = 100
	DefaultMaxRows              = 200_000_000
)

// WithDefaults fills the zero values with the defaults.
func (l Limits) WithDefaults() Limits {
	l.MaxFileBytes = cmp.Or(l.MaxFileBytes, DefaultMaxFileBytes)
	l.MaxUncompressedBytes = cmp.Or(l.MaxUncompressedBytes, DefaultMaxUncompressedBytes)
	l.MaxRatio = cmp.Or(l.MaxRatio, DefaultMaxRatio)
	l.MaxRows = cmp.Or(l.MaxRows, DefaultMaxRows)
	return l
}
