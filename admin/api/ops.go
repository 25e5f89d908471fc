package api

import (
	"encoding/json"
	"time"
)

// AuditPage is the body of GET /v1/audit: records, newest first.
type AuditPage struct {
	Records   []AuditRecord `json:"records"`
	Truncated bool          `json:"truncated"` // more records match
}

// AuditRecord is one change recorded in the audit trail.
type AuditRecord struct {
	ID      Text            `json:"id,omitempty"` // stream ID
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Dataset string          `json:"dataset,omitempty"` // e.g. manual/imei/black
	Target  Text            `json:"target,omitempty"`  // IMEI, TAC, range "from-to", "imei/imsi", file name
	IMEI    string          `json:"imei,omitempty"`
	Source  string          `json:"source,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// EventsPage is the body of GET /v1/events: hit events, oldest first, and
// the id to ask for the next ones after.
type EventsPage struct {
	Events []Event `json:"events"`
	LastID Text    `json:"last_id"`
}

// Event is an event of the stream: a hit (a blacklisted or greylisted
// IMEI seen, or a shadow verdict not enforced) or, with observations on,
// an observation event (imsi_new_device, listed_imei_new_imsi,
// duplicate_imei, ...), whose other fields are in the raw JSON.
type Event struct {
	ID        Text   `json:"id"`
	Kind      string `json:"kind,omitempty"` // "" is hit
	Time      string `json:"time"`
	Interface string `json:"interface"`
	IMEI      string `json:"imei"`
	IMSI      string `json:"imsi"`
	Status    string `json:"status"`
	Answer    string `json:"answer"`
	Rule      string `json:"rule"`
	Source    string `json:"source"`
	Shadow    bool   `json:"shadow"`
	Peer      string `json:"peer"`
	PeerAddr  string `json:"peer_address"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Version    string       `json:"version"`
	Commit     string       `json:"commit,omitempty"`
	Ready      bool         `json:"ready"`
	ReadyError string       `json:"ready_error,omitempty"`
	Datasets   int          `json:"datasets"` // datasets holding entries (GET /v1/datasets lists empty ones too)
	Entries    uint64       `json:"entries"`
	Peers      PeersStatus  `json:"peers"`
	Shadow     ShadowStatus `json:"shadow"`
	Policy     PolicyStatus `json:"policy"`
	Sync       []SyncStatus `json:"sync,omitempty"`
	// NRF is the NRF registration of N5g-eir, an NRFStatus.
	NRF json.RawMessage `json:"nrf,omitempty"`
	// Store says whether the lists in force are confirmed by Redis.
	Store *StoreStatus `json:"store,omitempty"`
}

// ShadowStatus is shadow mode: whose verdicts are observed, not enforced.
type ShadowStatus struct {
	All     bool     `json:"all"`
	Sources []string `json:"sources"`
	// Passive sources are observed and never change an answer (eird's
	// duplicate-IMEI detections, source detected).
	Passive []string `json:"passive,omitempty"`
}

// PeersStatus counts the Diameter peers.
type PeersStatus struct {
	Open int `json:"open"`
}

// PolicyStatus is the policy for answers no list decides.
type PolicyStatus struct {
	Unknown      string `json:"unknown_equipment"`
	OnStoreError string `json:"on_store_error"`
}

// SyncStatus is the state of one registry source.
type SyncStatus struct {
	Source      string `json:"source"`
	LastSuccess string `json:"last_success,omitempty"` // RFC 3339
	LastError   string `json:"last_error,omitempty"`
	Held        int    `json:"held"`
}

// NRFStatus is the state of the NRF registration of N5g-eir.
type NRFStatus struct {
	InstanceID        string    `json:"nf_instance_id"`
	Registered        bool      `json:"registered"`
	Since             time.Time `json:"since,omitzero"`
	HeartbeatInterval float64   `json:"heartbeat_interval_seconds"`
	LastContact       time.Time `json:"last_contact,omitzero"`
	LastError         string    `json:"last_error,omitempty"`
	LastErrorAt       time.Time `json:"last_error_at,omitzero"`
}

// StoreStatus is the body of GET /v1/store and the store part of
// /v1/status.
type StoreStatus struct {
	State        string     `json:"state"` // ok, stale, diverged, unavailable
	Serving      bool       `json:"serving"`
	Reason       string     `json:"reason,omitempty"`
	Since        *time.Time `json:"since,omitempty"`
	StaleSeconds float64    `json:"stale_seconds"`
	Replica      bool       `json:"replica"` // this eird holds every list in force
	Datasets     int        `json:"datasets"`
	Entries      uint64     `json:"entries"`
	Epoch        uint64     `json:"epoch"`
	StoreID      string     `json:"store_id,omitempty"`
}

// RecoverResult is the body of POST /v1/store/restore and accept.
type RecoverResult struct {
	Action   string           `json:"action"` // restore, accept
	Epoch    uint64           `json:"epoch"`
	StoreID  string           `json:"store_id"`
	Repaired string           `json:"repaired,omitempty"` // the divergence repaired
	Forced   bool             `json:"forced,omitempty"`
	Datasets []RecoverDataset `json:"datasets"`
}

// RecoverDataset is what a restore or an accept did to one dataset.
type RecoverDataset struct {
	Dataset   string `json:"dataset"`
	Count     uint64 `json:"count"`     // entries in force afterwards
	Previous  uint64 `json:"previous"`  // entries before (in the store for a restore; in force for an accept)
	Added     uint64 `json:"added"`     // entries the repair adds, by content
	Removed   uint64 `json:"removed"`   // entries the repair removes, by content
	Unblocked uint64 `json:"unblocked"` // entries that stop blocking
}

// ReloadResult is the body of POST /v1/reload.
type ReloadResult struct {
	// Reloaded lists what changed and was applied: diameter.peers,
	// admin.tokens (a token file's new content too), policy, n5g.oauth
	// keys (the key file's content); empty when nothing changed.
	Reloaded []string `json:"reloaded"`
	// RestartNeeded lists changed keys that apply only when eird restarts.
	RestartNeeded []string  `json:"restart_needed,omitempty"`
	Time          time.Time `json:"time"`
}
