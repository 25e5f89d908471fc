// Package audit keeps the trail of every change of what the EIR enforces:
// manual edits, imports, sync applies, approvals and expiries. Each record
// says when, who (the token name, the certificate subject, "sync:<source>",
// "expiry"), what (action, dataset, target), why (reason) and the state
// before and after. Records are kept in a Redis stream bounded by size and
// age, and can be queried by IMEI, actor, action and time range.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Actions.
const (
	ActionAdd     = "entry.add"     // a manual entry added
	ActionUpdate  = "entry.update"  // a manual entry changed (list, expiry)
	ActionRemove  = "entry.remove"  // a manual entry removed
	ActionExpire  = "entry.expire"  // an entry removed by its expiry
	ActionImport  = "import"        // a CSV import (summary)
	ActionSync    = "sync.apply"    // a registry list applied
	ActionApprove = "sync.approve"  // a held registry file approved
	ActionReload  = "config.reload" // allow-list, tokens and policy reloaded
	ActionRestore = "store.restore" // the lists in force written back into a store that lost them
	ActionAccept  = "store.accept"  // the store's state taken as the lists in force
	// Observations (eir/sighting): reads of a subscriber's devices and
	// removals are audited, as is each operator data export.
	ActionDevices = "observed.devices"     // a subscriber's devices looked up (target: the IMSI)
	ActionForget  = "observed.forget"      // a subscriber's observations removed (target: the IMSI)
	ActionExport  = "export.operator_data" // an operator data dump exported through the admin API (target: the file)
)

// Record is one audited change.
type Record struct {
	ID      string    `json:"id,omitempty"` // stream ID, set when read
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Dataset string    `json:"dataset,omitempty"` // e.g. manual/imei/black
	Target  string    `json:"target,omitempty"`  // IMEI, TAC, range "from-to", "imei/imsi", file name
	IMEI    string    `json:"imei,omitempty"`    // the IMEI concerned, for queries by IMEI
	Source  string    `json:"source,omitempty"`  // list source
	Reason  string    `json:"reason,omitempty"`
	Before  any       `json:"before,omitempty"`
	After   any       `json:"after,omitempty"`
}

// Store is where records are kept (redisstore.Store).
type Store interface {
	AppendStream(ctx context.Context, name string, docs []string, maxLen int64, maxAge time.Duration) error
	ReadStream(ctx context.Context, name, start, end string, count int64, rev bool) (ids, docs []string, err error)
}

// Options bounds the trail.
type Options struct {
	MaxRecords int64         // about this many records are kept; default 1,000,000
	MaxAge     time.Duration // records older are deleted; 0: no age limit
	Now        func() time.Time
}

// Log is the audit trail.
type Log struct {
	st Store
	o  Options
}

// StreamName is the stream holding the trail, under the store's prefix.
const StreamName = "audit"

// New returns the trail kept in st.
func New(st Store, o Options) *Log {
	if o.MaxRecords <= 0 {
		o.MaxRecords = 1_000_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Log{st: st, o: o}
}

// Record appends records, in order. The time of a record without one is
// now.
func (l *Log) Record(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	docs := make([]string, 0, len(recs))
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = l.o.Now()
		}
		r.Time = r.Time.UTC()
		r.ID = ""
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		docs = append(docs, string(b))
	}
	if err := l.st.AppendStream(ctx, StreamName, docs, l.o.MaxRecords, l.o.MaxAge); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Query selects records; zero fields select everything.
type Query struct {
	IMEI   string
	Actor  string
	Action string
	Since  time.Time
	Until  time.Time
	Limit  int // default 100, at most 1000
}

// maxScan bounds how many records one query reads.
const maxScan = 200_000

// Find returns the newest records matching q, newest first, and whether the
// scan stopped at maxScan records before the time range was exhausted.
func (l *Log) Find(ctx context.Context, q Query) ([]Record, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	start, end := "-", "+"
	if !q.Since.IsZero() {
		start = strconv.FormatInt(q.Since.UnixMilli(), 10)
	}
	if !q.Until.IsZero() {
		end = strconv.FormatInt(q.Until.UnixMilli(), 10)
	}
	var out []Record
	scanned := 0
	for scanned < maxScan {
		ids, docs, err := l.st.ReadStream(ctx, StreamName, start, end, 1000, true)
		if err != nil {
			return nil, false, fmt.Errorf("audit: %w", err)
		}
		for i, doc := range docs {
			var r Record
			if json.Unmarshal([]byte(doc), &r) != nil {
				continue
			}
			r.ID = ids[i]
			if (q.IMEI == "" || r.IMEI == q.IMEI) && (q.Actor == "" || r.Actor == q.Actor) && (q.Action == "" || r.Action == q.Action) {
				out = append(out, r)
				if len(out) == q.Limit {
					return out, false, nil
				}
			}
		}
		scanned += len(ids)
		if len(ids) < 1000 {
			return out, false, nil
		}
		end = "(" + ids[len(ids)-1] // exclusive: continue before the last record read
	}
	return out, true, nil
}
