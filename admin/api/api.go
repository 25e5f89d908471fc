// Package api holds the request and response types of eird's admin API
// (package admin serves them, cmd/eirctl sends and reads them): plain Go
// types with their JSON field names, the contract on the wire. It imports
// only the standard library: never eir/..., admin or an adapter, so that a
// client of the API builds without the server.
package api

import (
	"bytes"
	"encoding/json"
	"time"
)

// ErrorBody is the body of every answer that is not 2xx.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is what went wrong: the HTTP status, a stable code
// (invalid_imei, forbidden_source, conflict, store_unavailable, ...), a
// message for people and, for a rejected file or configuration, one
// detail per problem.
type Error struct {
	Status  int      `json:"status"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

// Text is a string the client reads leniently: a JSON string as it is,
// null as "", any other value as compact JSON. It is for fields whose
// values the contract leaves open (stream ids, audit targets); eird always
// writes strings.
type Text string

// UnmarshalJSON reads any JSON value as text.
func (t *Text) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = ""
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = Text(s)
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*t = Text(buf.String())
	return nil
}

// CheckResult is the body of GET /v1/check?imei=...[&imsi=...].
type CheckResult struct {
	IMEI            string `json:"imei"`
	IMSI            string `json:"imsi,omitempty"`
	Status          string `json:"status"` // WHITELISTED, BLACKLISTED, GREYLISTED, UNKNOWN or ERROR
	EquipmentStatus *uint8 `json:"equipment_status,omitempty"`
	Rule            string `json:"rule,omitempty"`
	Source          string `json:"source,omitempty"`
	Error           string `json:"error,omitempty"`
	// S13 is the S13 answer the decision gives, an S13Answer.
	S13 json.RawMessage `json:"s13,omitempty"`
	// Shadow is the verdict of a source in shadow mode that was not
	// enforced (policy.shadow_all, policy.shadow_sources).
	Shadow *ShadowVerdict `json:"shadow,omitempty"`
}

// S13Answer is the S13 ME-Identity-Check answer of a decision.
type S13Answer struct {
	ResultCode             uint32 `json:"result_code,omitempty"`
	ExperimentalResultCode uint32 `json:"experimental_result_code,omitempty"`
	EquipmentStatus        *uint8 `json:"equipment_status,omitempty"`
}

// ShadowVerdict is a decision computed but not enforced.
type ShadowVerdict struct {
	Status string `json:"status"`
	Rule   string `json:"rule"`
	Source string `json:"source"`
}

// Datasets is the body of GET /v1/datasets.
type Datasets struct {
	Datasets []DatasetInfo `json:"datasets"`
}

// DatasetInfo is one dataset in force.
type DatasetInfo struct {
	Dataset   string    `json:"dataset"`
	Source    string    `json:"source"`
	Target    string    `json:"target"`
	List      string    `json:"list"`
	Expiring  bool      `json:"expiring"` // entries with an expiry (entries added with expires_at)
	Version   uint64    `json:"version"`
	Count     uint64    `json:"count"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ImportResult is the body of POST /v1/import (the CSV file is the
// request's body; replace, dry_run, skip_invalid, force, source, file and
// reason are query parameters).
type ImportResult struct {
	Rows        int      `json:"rows"`
	Sources     []string `json:"sources"`
	Replace     bool     `json:"replace"`
	DryRun      bool     `json:"dry_run"`
	SkippedRows int      `json:"skipped_rows"`
	Skipped     []string `json:"skipped,omitempty"` // the first 100 skipped rows and why
	// Datasets is what the import changed, or with dry_run what it would
	// change: added and removed are counted against the lists in force,
	// exactly as the import counts them (version is absent in a dry run).
	Datasets []DatasetChange `json:"datasets"`
	// Held, in a dry run, is why the guards would refuse the import (a
	// real import would answer 409 held and change nothing); absent when they
	// would let it through, or with force.
	Held *ImportHeld `json:"held,omitempty"`
}

// ImportHeld is the guards' refusal of a dry run's import.
type ImportHeld struct {
	Code    string `json:"code"` // unblock_guard, shrink_guard
	Message string `json:"message"`
}

// DatasetChange reports what an import did to one dataset.
type DatasetChange struct {
	Dataset string `json:"dataset"`
	Version uint64 `json:"version,omitempty"`
	Added   uint64 `json:"added"`
	Removed uint64 `json:"removed"`
	Count   uint64 `json:"count"`
}

// Entry is an entry of a list: its dataset, its key (an IMEI, a TAC, a
// range from-to, or an IMEI-IMSI pair), its expiry and its note.
type Entry struct {
	Dataset   string     `json:"dataset,omitempty"`
	Source    string     `json:"source,omitempty"`
	List      string     `json:"list,omitempty"`
	Target    string     `json:"target,omitempty"`
	IMEI      string     `json:"imei,omitempty"`
	TAC       string     `json:"tac,omitempty"`
	From      string     `json:"from,omitempty"`
	To        string     `json:"to,omitempty"`
	IMSI      string     `json:"imsi,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Expired   bool       `json:"expired,omitempty"` // past its expiry, not yet swept; no longer applies
	Reason    string     `json:"reason,omitempty"`
	Actor     string     `json:"actor,omitempty"`
	Time      *time.Time `json:"time,omitempty"` // when it was last added through this API
}

// EntryKey names an entry: an IMEI, an IMEI and an IMSI (a pair), a TAC,
// or a range from-to.
type EntryKey struct {
	IMEI string `json:"imei,omitempty"`
	TAC  string `json:"tac,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	IMSI string `json:"imsi,omitempty"`
}

// EntryRequest is the body of POST and DELETE /v1/entries.
type EntryRequest struct {
	EntryKey
	List   string `json:"list,omitempty"`   // required to add; to remove, only this list (default: every list)
	Source string `json:"source,omitempty"` // default: manual
	Reason string `json:"reason"`           // required
	// ExpiresAt is when an added entry expires (not for ranges, not when
	// removing), kept to the millisecond (finer is truncated).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ExpiryLayout is RFC 3339 with milliseconds, the precision of an entry's
// expiry: how eirctl sends and shows expires_at.
const ExpiryLayout = "2006-01-02T15:04:05.000Z07:00"

// EntryResult is the body of POST /v1/entries.
type EntryResult struct {
	Entry  Entry   `json:"entry"`
	Action string  `json:"action"` // added, updated or unchanged
	Before []Entry `json:"before"`
}

// Removed is the body of DELETE /v1/entries.
type Removed struct {
	Removed []Entry `json:"removed"`
}

// EntriesPage is the body of GET /v1/entries: a page of entries and the
// cursor of the next ("" after the last).
type EntriesPage struct {
	// Source is the source listed (eird's default, manual, when the
	// request names none); empty for the entries of one IMEI.
	Source     string  `json:"source,omitempty"`
	Entries    []Entry `json:"entries"`
	NextCursor string  `json:"next_cursor"`
}
