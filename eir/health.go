package eir

import (
	"errors"
	"time"
)

// Store states reported by StoreHealth.
const (
	StoreOK          = "ok"          // the backend confirms the lists in force
	StoreStale       = "stale"       // the backend is unreachable: the lists held answer
	StoreDiverged    = "diverged"    // the backend does not hold the lists in force: the lists held answer
	StoreUnavailable = "unavailable" // checks cannot be answered from lists
)

// StoreHealth says whether a list store answers checks from the lists in
// force, and how.
type StoreHealth struct {
	// Serving is true while checks are answered from the lists in force.
	Serving bool
	// State is StoreOK, StoreStale, StoreDiverged or StoreUnavailable;
	// Reason and Since explain any state but StoreOK.
	State  string
	Reason string
	Since  time.Time
	// Stale is how long the lists in force have gone unconfirmed by the
	// backend (0 while it confirms them).
	Stale time.Duration
	// Replica is true when the process holds a complete copy of the lists
	// in force (it can answer every check without the backend).
	Replica bool
	// Datasets and Entries count the datasets in force that have entries,
	// and their entries.
	Datasets int
	Entries  uint64
	// Epoch and StoreID identify the lists in force (the epoch of the last
	// switch, the first characters of the data set's identity).
	Epoch   uint64
	StoreID string
}

// RecoverOptions configures the repair of a store that no longer holds the
// lists in force: a restore (the lists held written back) or an accept
// (the backend's state taken as the lists in force).
type RecoverOptions struct {
	// Before is called with what the repair does, per dataset, compared
	// by content: a restore to the lists the backend holds now, an accept
	// to the lists in force. An error refuses the repair (nothing
	// changes) and is returned as it is: a guard.
	Before func(res []DatasetResult) error
	// Always restores even when the backend holds the lists in force.
	Always bool
}

// RecoverResult reports a repair.
type RecoverResult struct {
	Epoch    uint64 // epoch of the lists in force afterwards
	StoreID  string // first characters of the data set's identity
	Reason   string // the divergence repaired
	Datasets []DatasetResult
}

// ErrNothingToRecover reports a repair asked while the backend holds the
// lists in force.
var ErrNothingToRecover = errors.New("eir: the list store holds the lists in force: nothing to repair")
