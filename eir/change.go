package eir

import (
	"errors"
	"fmt"
	"time"
)

// Change is one write to a dataset. With Replace, Add is the dataset's whole
// new content and Remove must be empty; otherwise Remove is applied, then
// Add. Removing an absent entry or adding a present one is not an error.
type Change struct {
	Dataset Dataset
	Replace bool
	Add     []Entry
	Remove  []Entry
	// AddKeys and RemoveKeys give IMEI or TAC entries by value, a compact
	// form for bulk loads (a registry's full list). They are applied with
	// Add and Remove. A store may reorder them.
	AddKeys    []uint64
	RemoveKeys []uint64
	// IfExists, with Replace, leaves a dataset that does not exist as it is
	// when the change adds nothing, instead of creating it empty: the
	// replacement of a whole source (eirctl import -replace) empties its
	// datasets and creates none. Without it an empty replacement creates
	// the dataset (a registry's empty list is a list version loaded).
	IfExists bool
}

// DatasetResult reports what a change did to one dataset.
type DatasetResult struct {
	Dataset Dataset
	Version uint64 // the dataset's new version
	Added   uint64 // entries that were not there before
	Removed uint64 // entries that were there before
	Count   uint64 // entries in the new version
	Updated uint64 // expiring datasets: entries whose expiry changed
	Hash    uint64 // XOR of Entry.Hash over the new version
	// NoopAdds and NoopRemoves count additions of entries already there and
	// removals of entries that were not (deltas only).
	NoopAdds, NoopRemoves uint64
	// Previous is the number of entries in force before the write.
	Previous uint64
}

// Unblocked is the number of entries that stop keeping equipment out: the
// removals from a black or grey list, the additions to an exception or
// override list (they let listed equipment in). White lists never block.
func (r DatasetResult) Unblocked() uint64 {
	switch r.Dataset.List {
	case ListBlack, ListGrey:
		return r.Removed
	case ListException, ListOverride:
		return r.Added
	}
	return 0
}

// ApplyResult reports a write of several changes, applied together.
type ApplyResult struct {
	Datasets []DatasetResult
}

// DatasetInfo describes the version of a dataset in force.
type DatasetInfo struct {
	Dataset   Dataset
	Version   uint64
	Count     uint64
	Hash      uint64 // XOR of Entry.Hash over the entries
	UpdatedAt time.Time
}

// ApplyOptions extends a write for a registry sync.
type ApplyOptions struct {
	// State is written to the sync-state record in the same atomic step
	// as the changes: field → value.
	State map[string]string
	// ExpectState makes the write fail with ErrConflict unless every field
	// of the sync-state record has the given value ("" = absent) when the
	// write is switched in: a version is applied once, even by several
	// processes.
	ExpectState map[string]string
	// Strict makes the write fail with ErrNoop (and change nothing) when a
	// delta adds an entry already present or removes an absent one.
	Strict bool
	// Before, when set, is called once the new versions are built and just
	// before they are switched in, with what the write does to each
	// dataset: the exact numbers of entries added and removed (compared by
	// content with the entries in force), the count before and the
	// resulting count. The write switches in only over the content those
	// numbers were computed against: when another writer changed a dataset
	// meanwhile, the write is rebuilt and Before is called again, with a
	// fresh copy of State. An error abandons the write (nothing changes)
	// and is returned as it is. Before may set fields of state, which is
	// written with the switch (State).
	Before func(res []DatasetResult, state map[string]string) error
}

// ErrNoop reports a strict delta that adds a present entry or removes an
// absent one.
var ErrNoop = errors.New("eir: delta adds a present entry or removes an absent one")

// ValidateChanges checks datasets and entries before a store writes
// anything, and reports every problem found.
func ValidateChanges(changes []Change) error {
	var errs []error
	for i, ch := range changes {
		if err := ch.Dataset.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("change %d: %w", i, err))
			continue
		}
		if (len(ch.AddKeys) > 0 || len(ch.RemoveKeys) > 0) && ch.Dataset.Target != TargetIMEI && ch.Dataset.Target != TargetTAC {
			errs = append(errs, fmt.Errorf("change %d (%s): %w: keys are for imei and tac datasets", i, ch.Dataset, ErrInvalidEntry))
		}
		for _, k := range ch.AddKeys {
			if (ch.Dataset.Target == TargetIMEI && k > uint64(MaxIMEI)) || (ch.Dataset.Target == TargetTAC && k > uint64(MaxTAC)) {
				errs = append(errs, fmt.Errorf("change %d (%s): %w: key %d out of range", i, ch.Dataset, ErrInvalidEntry, k))
				break
			}
		}
		if ch.Replace && (len(ch.Remove) > 0 || len(ch.RemoveKeys) > 0) {
			errs = append(errs, fmt.Errorf("change %d: %w: a replacement has no removals", i, ErrInvalidEntry))
		}
		if !ch.Dataset.Expiring {
			for _, e := range ch.Add {
				if e.Expires != 0 {
					errs = append(errs, fmt.Errorf("change %d (%s): %w: an entry with an expiry belongs in an expiring dataset", i, ch.Dataset, ErrInvalidEntry))
					break
				}
			}
		} else if len(ch.AddKeys) > 0 || len(ch.RemoveKeys) > 0 {
			errs = append(errs, fmt.Errorf("change %d (%s): %w: keys are for permanent datasets", i, ch.Dataset, ErrInvalidEntry))
		}
		for _, list := range [][]Entry{ch.Add, ch.Remove} {
			for j, e := range list {
				if err := e.ValidateFor(ch.Dataset.Target); err != nil {
					errs = append(errs, fmt.Errorf("change %d (%s) entry %d: %w", i, ch.Dataset, j, err))
					if len(errs) > 20 {
						return errors.Join(errs...)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// DatasetEntry is an entry of a dataset.
type DatasetEntry struct {
	Dataset Dataset
	Entry   Entry
}
