package api

import (
	"encoding/json"
	"time"
)

// The sync types are the JSON of regsync's reports (regsync.PassReport,
// regsync.SourceStatus), which eird sends as they are; admin's tests check
// that they read back unchanged.

// SyncPasses is the body of POST /v1/sync/run.
type SyncPasses struct {
	Passes []SyncPass `json:"passes"`
}

// SyncPass is what one registry sync pass did (and the body of POST
// /v1/sync/approve).
type SyncPass struct {
	Source   string           `json:"source"`
	Started  time.Time        `json:"started"`
	Duration time.Duration    `json:"duration_ns"`
	Skipped  string           `json:"skipped,omitempty"` // why the pass did nothing
	Fetched  []string         `json:"fetched,omitempty"`
	Files    []SyncFileReport `json:"files"`
	// Settling lists the files not read yet because they (or a sidecar)
	// were modified within the source's settle time (sync.sources[].settle).
	Settling []SyncSettling `json:"settling,omitempty"`
}

// SyncSettling is a file a pass left for a later one: modified within
// the settle time, it is read by the first pass from ready_at on.
type SyncSettling struct {
	File     string    `json:"file"`
	Modified time.Time `json:"modified"`
	ReadyAt  time.Time `json:"ready_at"`
}

// SyncFileReport is what a pass did with one file.
type SyncFileReport struct {
	File    string           `json:"file"`
	Result  string           `json:"result"` // applied, rejected, held, already_applied, ignored, waiting
	Reason  string           `json:"reason,omitempty"`
	Message string           `json:"message,omitempty"`
	Details []string         `json:"details,omitempty"`
	Lists   []SyncListReport `json:"lists,omitempty"`
}

// SyncListReport is what a pass did with one list of a file.
type SyncListReport struct {
	List        string   `json:"list"`
	Mode        string   `json:"mode"` // full, delta, reconciled
	Base        int64    `json:"base,omitempty"`
	Run         int64    `json:"run,omitempty"`
	Rows        int      `json:"rows"`
	BadRows     int      `json:"bad_rows"`
	Duplicates  int      `json:"duplicates"`
	Added       uint64   `json:"added"`
	Removed     uint64   `json:"removed"`
	Changed     int      `json:"changed"`
	Noops       uint64   `json:"noops"`
	Count       uint64   `json:"count"`
	Note        string   `json:"note,omitempty"`
	Quarantined []string `json:"quarantined,omitempty"`
}

// SyncStatusPage is the body of GET /v1/sync/status.
type SyncStatusPage struct {
	Sources []SyncSource      `json:"sources"`
	Rejects []json.RawMessage `json:"rejects"` // SyncReject documents
}

// SyncSource is the state of one registry source.
type SyncSource struct {
	Source      string          `json:"source"`
	Format      string          `json:"format"`
	Lists       []SyncListState `json:"lists"`
	LastPass    *SyncPassInfo   `json:"last_pass,omitempty"`
	Held        []SyncHeldFile  `json:"held"`
	ResyncLists []string        `json:"resync_needed,omitempty"`
}

// SyncListState is the run of one list in force.
type SyncListState struct {
	Source    string    `json:"source"`
	List      string    `json:"list"`
	Run       int64     `json:"run"`       // run id applied; 0 when the registry gives none
	Base      int64     `json:"base"`      // base of the delta applied last (deltas only)
	Timestamp string    `json:"timestamp"` // timestamp of the file applied (YYYYMMDD_HHMMSS)
	Mode      string    `json:"mode"`      // full, delta, reconciled
	File      string    `json:"file"`      // file or package applied
	SHA256    string    `json:"sha256"`    // of that file
	Rows      int       `json:"rows"`      // rows read
	BadRows   int       `json:"bad_rows"`  // rows quarantined
	Added     uint64    `json:"added"`     // entries added by the apply
	Removed   uint64    `json:"removed"`   // entries removed by the apply
	Changed   int       `json:"changed"`   // update rows (no change of membership)
	Count     uint64    `json:"count"`     // entries of the list in force
	Hash      string    `json:"hash"`      // set hash of the list in force (hex)
	AppliedAt time.Time `json:"applied_at"`
}

// SyncPassInfo is the last pass recorded for a source.
type SyncPassInfo struct {
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
	Files    int       `json:"files"`
	Applied  int       `json:"applied"`
	Rejected int       `json:"rejected"`
	Held     int       `json:"held"`
	LastOK   time.Time `json:"last_success,omitempty"`
}

// SyncHeldFile is a file waiting for an operator's approval.
type SyncHeldFile struct {
	File    string    `json:"file"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// SyncReject is a file a registry sync rejected (the elements of
// SyncStatusPage.Rejects).
type SyncReject struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	File    string    `json:"file"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Details []string  `json:"details"`
}
