package eir

import "time"

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
