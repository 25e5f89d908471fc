package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/eir/observe/redact"
)

// EditStore is what entry edits and the expiry sweep need from the list
// store (redisstore.Store).
type EditStore interface {
	ApplyWith(ctx context.Context, changes []eir.Change, o eir.ApplyOptions) (eir.ApplyResult, error)
	SyncState(ctx context.Context) (map[string]string, error)
	EntriesFor(ctx context.Context, q eir.Query) ([]eir.DatasetEntry, error)
	SweepExpired(ctx context.Context) ([]eir.DatasetEntry, error)
}

// Notes keeps why each entry was made (redisstore.Store's metadata hashes):
// one hash per source, one field per entry.
type Notes interface {
	MetaSet(ctx context.Context, name, field, value string) error
	MetaGet(ctx context.Context, name string, fields ...string) ([]string, error)
	MetaDel(ctx context.Context, name string, fields ...string) error
}

// Recorder keeps the audit trail (audit.Log).
type Recorder interface {
	Record(ctx context.Context, recs ...audit.Record) error
}

// EditorOptions configures an Editor.
type EditorOptions struct {
	Notes    Notes            // why entries were made; nil: not kept
	Audit    Recorder         // nil: nothing audited
	Redactor *redact.Redactor // how IMEIs appear in logs; default: a random key
	Now      func() time.Time // default time.Now
	// Wait sleeps between the attempts of an edit; nil: a timer that ends
	// early when ctx is done (tests replace it).
	Wait func(ctx context.Context, d time.Duration) error
}

// Editor edits the entries of the lists one at a time (the operator's
// adds and removes), keeps their notes and audit trail, and sweeps the
// expired entries. Within a source, black, grey, white and override are
// exclusive: adding an entry moves it off the source's other lists in the
// same atomic write. It is safe for concurrent use; the edits of several
// eird processes sharing a store do not interleave.
type Editor struct {
	st  EditStore
	o   EditorOptions
	log *zap.Logger
	mu  sync.Mutex // entry edits, one attempt at a time
}

// NewEditor returns an Editor writing to st.
func NewEditor(st EditStore, o EditorOptions, log *zap.Logger) *Editor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Redactor == nil {
		o.Redactor = redact.New(nil)
	}
	if o.Wait == nil {
		o.Wait = sleep
	}
	return &Editor{st: st, o: o, log: log}
}

// ErrNotFound reports an entry on none of the lists an edit names.
var ErrNotFound = errors.New("provision: no such entry")

// notFoundError is ErrNotFound with the entry and the lists looked at.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// exclusiveLists are the lists an IMEI, TAC or range is on at most one of
// within a source; exceptions and notifications (pairs) are independent.
var exclusiveLists = []eir.List{eir.ListBlack, eir.ListGrey, eir.ListWhite, eir.ListOverride}

// Entry is an entry as operators see it: in the admin API (field for
// field, admin/api.Entry) and in the audit records of edits.
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
	Time      *time.Time `json:"time,omitempty"` // when it was last added through the admin API
}

// note is what Notes holds for an entry.
type note struct {
	Dataset string    `json:"dataset"`
	Reason  string    `json:"reason"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
}

func notesName(source string) string { return "notes:" + source }

func noteField(t eir.Target, e eir.Entry) string { return t.String() + ":" + e.KeyString(t) }

// View is de as operators see it, without its note.
func (ed *Editor) View(de eir.DatasetEntry) Entry {
	d, e := de.Dataset, de.Entry
	out := Entry{Dataset: d.String(), Source: d.Source, List: d.List.String(), Target: d.Target.String()}
	switch d.Target {
	case eir.TargetIMEI:
		out.IMEI = e.IMEI.String()
	case eir.TargetTAC:
		out.TAC = e.TAC.String()
	case eir.TargetRange:
		out.From, out.To = e.From.String(), e.To.String()
	case eir.TargetPair:
		out.IMEI, out.IMSI = e.IMEI.String(), string(e.IMSI)
	}
	if e.Expires != 0 {
		t := time.UnixMilli(e.Expires).UTC()
		out.ExpiresAt = &t
		out.Expired = e.Expires <= ed.o.Now().UnixMilli()
	}
	return out
}

// WithNotes returns the entries as operators see them, with the reason,
// actor and time of their notes; a note made for another dataset (the
// entry moved since) is not shown.
func (ed *Editor) WithNotes(ctx context.Context, entries []eir.DatasetEntry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	bySource := map[string][]int{}
	for i, de := range entries {
		out[i] = ed.View(de)
		bySource[de.Dataset.Source] = append(bySource[de.Dataset.Source], i)
	}
	if ed.o.Notes == nil {
		return out, nil
	}
	for source, idx := range bySource {
		fields := make([]string, len(idx))
		for j, i := range idx {
			fields[j] = noteField(entries[i].Dataset.Target, entries[i].Entry)
		}
		vals, err := ed.o.Notes.MetaGet(ctx, notesName(source), fields...)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			var n note
			if vals[j] == "" || json.Unmarshal([]byte(vals[j]), &n) != nil || n.Dataset != out[i].Dataset {
				continue
			}
			t := n.Time.UTC()
			out[i].Reason, out[i].Actor, out[i].Time = n.Reason, n.Actor, &t
		}
	}
	return out, nil
}

// withNotesOrViews is WithNotes, or the entries without their notes when
// the notes cannot be read.
func (ed *Editor) withNotesOrViews(ctx context.Context, entries []eir.DatasetEntry) []Entry {
	out, err := ed.WithNotes(ctx, entries)
	if err != nil {
		out = make([]Entry, 0, len(entries))
		for _, de := range entries {
			out = append(out, ed.View(de))
		}
	}
	return out
}

// Edit names an entry of a source and why an operator adds or removes it.
type Edit struct {
	Source string     // a valid source name
	Target eir.Target // what Key names
	Key    eir.Entry  // the entry's key (no expiry)
	// List is the list added to; for a removal, the only list removed
	// from, unless AnyList.
	List eir.List
	// AnyList removes the entry from every list of the source.
	AnyList bool
	// Expires is when an added entry expires (Unix milliseconds; 0:
	// never). Ranges do not expire.
	Expires int64
	Reason  string // required; kept in the note and the audit trail
	Actor   string // who edits
}

// Added is what Add did.
type Added struct {
	Entry  Entry   // the entry as stored, with its new note
	Action string  // added, updated or unchanged
	Before []Entry // the entries it replaced (same key, this or another exclusive list)
}

// Add puts an entry on a list of its source, taking it off the source's
// other exclusive lists and the other variant (expiring or not) of its own
// list in the same write, then records its note and audits it. Even an
// unchanged entry gets the new reason, and the request is audited: the
// trail records every decision an operator made.
func (ed *Editor) Add(ctx context.Context, e Edit) (Added, error) {
	entry := e.Key
	entry.Expires = e.Expires
	target := eir.Dataset{Source: e.Source, Target: e.Target, List: e.List, Expiring: entry.Expires != 0}
	action := "unchanged"
	before, _, err := ed.edit(ctx, e.Source, func(before []eir.DatasetEntry) ([]eir.Change, error) {
		action = "added"
		if len(before) > 0 {
			action = "updated"
		}
		if len(before) == 1 && before[0].Dataset == target && before[0].Entry.Expires == entry.Expires {
			action = "unchanged"
			return nil, nil
		}
		changes := []eir.Change{{Dataset: target, Add: []eir.Entry{entry}}}
		for _, de := range before {
			if de.Dataset != target {
				changes = append(changes, eir.Change{Dataset: de.Dataset, Remove: []eir.Entry{de.Entry.Key()}})
			}
		}
		return changes, nil
	}, func(ctx context.Context) ([]eir.DatasetEntry, error) {
		all, err := ed.entriesOf(ctx, e.Source, e.Target, e.Key)
		if err != nil {
			return nil, err
		}
		// The entry leaves the source's other exclusive lists, and the
		// other variant (expiring or not) of its own list.
		var out []eir.DatasetEntry
		for _, de := range all {
			if de.Dataset.List == e.List || (e.Target != eir.TargetPair && slices.Contains(exclusiveLists, e.List) && slices.Contains(exclusiveLists, de.Dataset.List)) {
				out = append(out, de)
			}
		}
		return out, nil
	})
	if err != nil {
		return Added{}, err
	}
	res := Added{Entry: ed.View(eir.DatasetEntry{Dataset: target, Entry: entry}), Action: action, Before: ed.withNotesOrViews(ctx, before)}
	now := ed.o.Now().UTC()
	res.Entry.Reason, res.Entry.Actor, res.Entry.Time = e.Reason, e.Actor, &now
	if ed.o.Notes != nil {
		b, _ := json.Marshal(note{Dataset: target.String(), Reason: e.Reason, Actor: e.Actor, Time: now})
		if err := ed.o.Notes.MetaSet(ctx, notesName(e.Source), noteField(e.Target, e.Key), string(b)); err != nil {
			ed.log.Warn("entry note not saved", zap.Error(err))
		}
	}
	act := audit.ActionAdd
	if action != "added" {
		act = audit.ActionUpdate
	}
	ed.audit(ctx, audit.Record{Actor: e.Actor, Action: act, Dataset: target.String(), Target: e.Key.KeyString(e.Target),
		IMEI: IMEIOf(e.Target, e.Key), Source: e.Source, Reason: e.Reason, Before: res.Before, After: res.Entry})
	ed.log.Info("entry saved", zap.String("actor", e.Actor), zap.String("action", action), zap.String("dataset", target.String()),
		ed.entryField(e.Target, e.Key))
	return res, nil
}

// Remove takes an entry off the lists of its source (e.List: off that
// list only), deletes its note and audits each removal. It returns the
// entries removed, or an error wrapping ErrNotFound when there was none.
func (ed *Editor) Remove(ctx context.Context, e Edit) ([]Entry, error) {
	before, _, err := ed.edit(ctx, e.Source, func(before []eir.DatasetEntry) ([]eir.Change, error) {
		var changes []eir.Change
		for _, de := range before {
			changes = append(changes, eir.Change{Dataset: de.Dataset, Remove: []eir.Entry{de.Entry.Key()}})
		}
		return changes, nil
	}, func(ctx context.Context) ([]eir.DatasetEntry, error) {
		all, err := ed.entriesOf(ctx, e.Source, e.Target, e.Key)
		if err != nil || e.AnyList {
			return all, err
		}
		var out []eir.DatasetEntry
		for _, de := range all {
			if de.Dataset.List == e.List {
				out = append(out, de)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	if len(before) == 0 {
		what := "source " + e.Source
		if !e.AnyList {
			what += ", list " + e.List.String()
		}
		return nil, &notFoundError{e.Key.KeyString(e.Target) + " is on no list of " + what}
	}
	removed, err := ed.WithNotes(ctx, before)
	if err != nil {
		removed = nil
		for _, de := range before {
			removed = append(removed, ed.View(de))
		}
	}
	if ed.o.Notes != nil {
		if err := ed.o.Notes.MetaDel(ctx, notesName(e.Source), noteField(e.Target, e.Key)); err != nil {
			ed.log.Warn("entry note not deleted", zap.Error(err))
		}
	}
	var recs []audit.Record
	for i, de := range before {
		recs = append(recs, audit.Record{Actor: e.Actor, Action: audit.ActionRemove, Dataset: de.Dataset.String(), Target: e.Key.KeyString(e.Target),
			IMEI: IMEIOf(e.Target, e.Key), Source: e.Source, Reason: e.Reason, Before: removed[i]})
	}
	ed.audit(ctx, recs...)
	ed.log.Info("entry removed", zap.String("actor", e.Actor), zap.Int("datasets", len(before)), ed.entryField(e.Target, e.Key))
	return removed, nil
}

// entriesOf returns the entries of a source with the key of e, on any list.
func (ed *Editor) entriesOf(ctx context.Context, source string, t eir.Target, key eir.Entry) ([]eir.DatasetEntry, error) {
	probe := eir.Query{IMEI: key.IMEI, IMSI: key.IMSI}
	switch t {
	case eir.TargetTAC:
		probe.IMEI = eir.IMEI(uint64(key.TAC) * 1_000_000)
	case eir.TargetRange:
		probe.IMEI = key.From
	}
	all, err := ed.st.EntriesFor(ctx, probe)
	if err != nil {
		return nil, err
	}
	var out []eir.DatasetEntry
	for _, de := range all {
		if de.Dataset.Source == source && de.Dataset.Target == t && de.Entry.Key() == key.Key() {
			out = append(out, de)
		}
	}
	return out, nil
}

// editField is the sync-state field counting the edits of a source; every
// edit expects the value it read, so concurrent edits of the same source by
// several eird processes cannot interleave.
func editField(source string) string { return "edits:" + source }

// editAttempts bounds the attempts of one edit: an edit refused because
// another eird edited the source since it read is retried from fresh
// state, after editBackoff.
const editAttempts = 10

// editBackoff is the wait before retry attempt+1 of an edit: it grows by
// 5 ms per attempt, plus up to 10 ms of jitter so that the eird retrying
// do not meet again (225 to 315 ms over the nine waits of an edit).
func editBackoff(attempt int) time.Duration {
	return time.Duration(attempt+1)*5*time.Millisecond + rand.N(10*time.Millisecond)
}

// sleep waits d, or until ctx is done (ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// edit reads the entries concerned, plans the changes and applies them
// unless the source was edited since (by another eird: the edits of this
// one are serialised); it retries from fresh state, up to editAttempts
// times. The wait between attempts holds no lock: other edits of this
// eird go on meanwhile.
func (ed *Editor) edit(ctx context.Context, source string, plan func(before []eir.DatasetEntry) ([]eir.Change, error),
	read func(ctx context.Context) ([]eir.DatasetEntry, error)) (before []eir.DatasetEntry, res eir.ApplyResult, err error) {
	for attempt := range editAttempts {
		if attempt > 0 {
			if ed.o.Wait(ctx, editBackoff(attempt-1)) != nil {
				return before, res, err
			}
		}
		before, res, err = ed.editOnce(ctx, source, plan, read)
		if !errors.Is(err, eir.ErrConflict) {
			return before, res, err
		}
	}
	return before, res, fmt.Errorf("%w: the entries of source %s kept changing; try again", eir.ErrConflict, source)
}

// editOnce is one attempt of edit, under mu: it fails with
// eir.ErrConflict when another eird edited the source since it read.
func (ed *Editor) editOnce(ctx context.Context, source string, plan func(before []eir.DatasetEntry) ([]eir.Change, error),
	read func(ctx context.Context) ([]eir.DatasetEntry, error)) (before []eir.DatasetEntry, res eir.ApplyResult, err error) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	state, err := ed.st.SyncState(ctx)
	if err != nil {
		return nil, res, err
	}
	cur := state[editField(source)]
	if before, err = read(ctx); err != nil {
		return nil, res, err
	}
	changes, err := plan(before)
	if err != nil || len(changes) == 0 {
		return before, res, err
	}
	n, _ := strconv.ParseUint(cur, 10, 64)
	res, err = ed.st.ApplyWith(ctx, changes, eir.ApplyOptions{
		ExpectState: map[string]string{editField(source): cur},
		State:       map[string]string{editField(source): strconv.FormatUint(n+1, 10)},
	})
	return before, res, err
}

// IMEIOf is the IMEI an audit record about the entry e of target t is
// found by: its IMEI for an IMEI or a pair, "" for a TAC or a range.
func IMEIOf(t eir.Target, e eir.Entry) string {
	if t == eir.TargetIMEI || t == eir.TargetPair {
		return e.IMEI.String()
	}
	return ""
}

// entryField is the log field naming an entry: an IMEI redacted, a TAC or
// range as it is.
func (ed *Editor) entryField(t eir.Target, e eir.Entry) zap.Field {
	if t == eir.TargetIMEI || t == eir.TargetPair {
		return ed.o.Redactor.IMEI(e.IMEI)
	}
	return zap.String("entry", e.KeyString(t))
}

// audit records; a failure is logged, not returned: the change is made.
func (ed *Editor) audit(ctx context.Context, recs ...audit.Record) {
	if ed.o.Audit == nil || len(recs) == 0 {
		return
	}
	if err := ed.o.Audit.Record(ctx, recs...); err != nil {
		ed.log.Error("audit record not written", zap.String("action", recs[0].Action), zap.Error(err))
	}
}
