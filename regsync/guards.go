package regsync

import "cmp"

// Limits bound a file's size before and while it is read, so that a
// hostile or broken file (a zip bomb, a file of a billion rows) is
// rejected with bounded memory. A zero value takes the default; a negative
// value turns the limit off.
type Limits struct {
	// MaxFileBytes is the largest file (or package) accepted, as
	// received. Default 4 GiB.
	MaxFileBytes int64
	// MaxUncompressedBytes bounds the bytes a unit yields: a file, the
	// members of a package together, the files of a loose delta set
	// together. A package is judged by the sizes it declares before
	// anything is inflated, and every unit by the bytes read while it is
	// parsed. Default 16 GiB.
	MaxUncompressedBytes int64
	// MaxRatio bounds a zip member's uncompressed size over its
	// compressed size. Default 100 (CSV lists deflate 3 to 10 times;
	// DIRBS stores its members uncompressed).
	MaxRatio float64
	// MaxRows bounds the rows of one list: a full file, or the
	// change-type files of a delta set together. Default 200,000,000.
	// Rows beyond a few million are validated through sorted runs on
	// disk (see spill.go), whatever the kind of list.
	MaxRows int
}

// Defaults of Limits.
const (
	DefaultMaxFileBytes         = 4 << 30
	DefaultMaxUncompressedBytes = 16 << 30
	DefaultMaxRatio             = 100
	DefaultMaxRows              = 200_000_000
)

// WithDefaults fills the zero values with the defaults.
func (l Limits) WithDefaults() Limits {
	l.MaxFileBytes = cmp.Or(l.MaxFileBytes, DefaultMaxFileBytes)
	l.MaxUncompressedBytes = cmp.Or(l.MaxUncompressedBytes, DefaultMaxUncompressedBytes)
	l.MaxRatio = cmp.Or(l.MaxRatio, DefaultMaxRatio)
	l.MaxRows = cmp.Or(l.MaxRows, DefaultMaxRows)
	return l
}
