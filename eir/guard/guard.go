// Package guard judges a list that would be in force against the list in
// force, by content, before any path (a registry file, a delta, a
// reconciliation, a replacing import, a restore) may switch to it.
package guard

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
func (g Guards) Judge(what string, full bool, r eir.DatasetResult) *Error {
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
		return &Error{Code: "shrink_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would leave %d entries, %.1f%% of the %d in force (minimum %.0f%%; %d unblocked)",
			what, r.Count, 100*float64(r.Count)/float64(prev), prev, 100*g.MinSnapshotRatio, unblocked)}
	case g.MaxUnblocks > 0 && unblocked > uint64(g.MaxUnblocks):
		return &Error{Code: "unblock_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would unblock %d entries%s, more than the limit of %d", what, unblocked, share(unblocked), g.MaxUnblocks)}
	case g.MaxUnblockRatio > 0 && prev > 0 && unblocked >= floor && float64(unblocked) > g.MaxUnblockRatio*float64(prev):
		return &Error{Code: "unblock_guard", Unblocked: unblocked, Previous: prev, Count: r.Count, Message: fmt.Sprintf(
			"%s would unblock %d entries%s, more than the limit of %.2g%% of the list", what, unblocked, share(unblocked), 100*g.MaxUnblockRatio)}
	}
	return nil
}

// Error is a write held by a guard. It matches eir.ErrHeld.
type Error struct {
	Code      string // unblock_guard, shrink_guard
	Message   string
	Unblocked uint64 // entries the write would unblock
	Previous  uint64 // entries in force
	Count     uint64 // entries after the write
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap makes a Error match eir.ErrHeld.
func (e *Error) Unwrap() error { return eir.ErrHeld }

// JudgeAll applies the guards to every dataset of a write and joins the
// messages of those tripped into one error (nil when none is).
func (g Guards) JudgeAll(res []eir.DatasetResult, what func(eir.DatasetResult) (string, bool)) *Error {
	var first *Error
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
