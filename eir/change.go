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
}

// DatasetResult reports what a change did to one dataset.
type DatasetResult struct {
	Dataset Dataset
	Version uint64 // the dataset's new version
	Added   uint64 // entries that were not there before
	Removed uint64 // entries that were there before
	Count   uint64 // entries in the new version
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
	UpdatedAt time.Time
}

// ValidateChanges checks datasets and entries before a store writes
// anything, and reports every problem found.
func ValidateChanges(changes []Change) error {
	var errs []error
	for i, ch := range changes {
		if err := ch.Dataset.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("change %d: %w", i, err))
			continue
		}
		if ch.Replace && len(ch.Remove) > 0 {
			errs = append(errs, fmt.Errorf("change %d: %w: a replacement has no removals", i, ErrInvalidEntry))
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
