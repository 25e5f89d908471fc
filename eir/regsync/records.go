package regsync

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/regsync/regformat"
)

// wideKey is the key of a row of a pair or range list: DIRBS keys
// exceptions and notifications on (IMEI, IMSI, MSISDN); ranges on
// (from, to).
type wideKey struct{ a, b, c uint64 }

func cmpWide(x, y wideKey) int {
	if c := cmp.Compare(x.a, y.a); c != 0 {
		return c
	}
	if c := cmp.Compare(x.b, y.b); c != 0 {
		return c
	}
	return cmp.Compare(x.c, y.c)
}

// rec is one parsed row, reduced to what validation needs: 16 bytes for
// IMEI and TAC lists, so that a 10-million-row list fits in memory.
type rec[K any] struct {
	key      K
	data     uint32 // hash of the row's non-key data
	op       regformat.Op
	blocking bool
	line     int32
}

func dataHash(s string) uint32 {
	if s == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32() | 1
}

// packDigits packs a digit string and its length, so that leading zeros
// count (IMSI, MSISDN).
func packDigits(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v<<4 | uint64(len(s))
}

func unpackDigits(v uint64) string {
	n := int(v & 0xf)
	v >>= 4
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// validationError is a file rejected for its content.
type validationError struct {
	code    string
	message string
	details []string
}

func (e *validationError) Error() string { return e.code + ": " + e.message }

// validate sorts recs by key and reduces them to one row per key. Exact
// duplicates collapse. In a full list the same key with other data is a
// conflict; in a delta set, the same key with two operations (or with other
// data) is a conflict: DIRBS puts a key in at most one change-type file of a
// delta set (REGISTRY.md §1.3).
func validate[K any](recs []rec[K], compare func(K, K) int, delta bool, show func(K) string) ([]rec[K], int, error) {
	sortRecs(recs, compare)
	out := recs[:0]
	dups := 0
	var conflicts []string
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && compare(recs[j].key, recs[i].key) == 0 {
			j++
		}
		first := recs[i]
		for _, r := range recs[i+1 : j] {
			switch {
			case r.op != first.op:
				conflicts = append(conflicts, fmt.Sprintf("%s: lines %d and %d have different changes (%s, %s)", show(first.key), first.line, r.line, first.op, r.op))
			case r.data != first.data || r.blocking != first.blocking:
				conflicts = append(conflicts, fmt.Sprintf("%s: lines %d and %d have different data", show(first.key), first.line, r.line))
			default:
				dups++
			}
		}
		out = append(out, first)
		i = j
	}
	if len(conflicts) > 0 {
		what := "the same key with different data"
		if delta {
			what = "a key with more than one change in one delta set, or different data"
		}
		if len(conflicts) > 20 {
			conflicts = append(conflicts[:20], fmt.Sprintf("… %d more", len(conflicts)-20))
		}
		return nil, dups, &validationError{code: "conflict", message: fmt.Sprintf("%d conflicting rows: %s", len(conflicts), what), details: conflicts}
	}
	return out, dups, nil
}

// sortRecs sorts records by key, then by line.
func sortRecs[K any](recs []rec[K], compare func(K, K) int) {
	slices.SortFunc(recs, func(x, y rec[K]) int {
		if c := compare(x.key, y.key); c != 0 {
			return c
		}
		return cmp.Compare(x.line, y.line)
	})
}

// flagsOf packs what validation keeps of a record besides its key.
func flagsOf[K any](r rec[K]) uint8 {
	f := uint8(r.op) << 1
	if r.blocking {
		f |= 1
	}
	return f
}

func opOf(f uint8) regformat.Op { return regformat.Op(f >> 1) }
func blockingOf(f uint8) bool   { return f&1 != 0 }

// validateStream is validate for records that stream in (key, line)
// order (from memory or merged from runs): it keeps one key and its change
// per entry, and reports duplicates and conflicts the same way.
func validateStream(each func(func(rec[uint64])) error, size int, delta bool, show func(uint64) string) (keys []uint64, flags []uint8, dups int, err error) {
	keys, flags = make([]uint64, 0, size), make([]uint8, 0, size) // no growth: no copy
	var first rec[uint64]
	have, conflicts, nconflicts := false, []string(nil), 0
	conflict := func(msg string) {
		nconflicts++
		if len(conflicts) < 20 {
			conflicts = append(conflicts, msg)
		}
	}
	err = each(func(r rec[uint64]) {
		if have && r.key == first.key {
			switch {
			case r.op != first.op:
				conflict(fmt.Sprintf("%s: lines %d and %d have different changes (%s, %s)", show(first.key), first.line, r.line, first.op, r.op))
			case r.data != first.data || r.blocking != first.blocking:
				conflict(fmt.Sprintf("%s: lines %d and %d have different data", show(first.key), first.line, r.line))
			default:
				dups++
			}
			return
		}
		if have {
			keys, flags = append(keys, first.key), append(flags, flagsOf(first))
		}
		first, have = r, true
	})
	if err != nil {
		return nil, nil, dups, err
	}
	if have {
		keys, flags = append(keys, first.key), append(flags, flagsOf(first))
	}
	if nconflicts > 0 {
		what := "the same key with different data"
		if delta {
			what = "a key with more than one change in one delta set, or different data"
		}
		if nconflicts > len(conflicts) {
			conflicts = append(conflicts, fmt.Sprintf("… %d more", nconflicts-len(conflicts)))
		}
		return nil, nil, dups, &validationError{code: "conflict", message: fmt.Sprintf("%d conflicting rows: %s", nconflicts, what), details: conflicts}
	}
	return keys, flags, dups, nil
}

// listKind says how a list's rows become entries.
type listKind int

const (
	kindIMEI  listKind = iota // key = IMEI
	kindTAC                   // key = TAC
	kindPair                  // key = (IMEI, IMSI, MSISDN); entry = (IMEI, IMSI)
	kindRange                 // key = (from, to)
)

func kindOf(l regformat.List) listKind {
	switch l {
	case regformat.BarredTAC:
		return kindTAC
	case regformat.Exceptions, regformat.Notifications:
		return kindPair
	case regformat.Ranges:
		return kindRange
	}
	return kindIMEI
}

// accumulator collects the rows of one list (a full file or a delta set).
// Exact duplicates are collapsed while reading (see collapse), so that its
// memory depends on the distinct rows, not on how often a row repeats.
type accumulator struct {
	kind   listKind
	narrow []rec[uint64]
	wide   []rec[wideKey]
	// next is the length at which the records are collapsed again.
	next int
	// dups counts the exact duplicates collapsed while reading.
	dups int
	// An IMEI or TAC list beyond spillAt records (collapsed) is written
	// to sorted runs in spillDir (see spill.go); "" keeps it in memory.
	spillDir string
	spillAt  int
	runs     []string
	// The validated IMEI or TAC list: its keys, sorted and distinct, and
	// the change of each (see flagsOf).
	keys  []uint64
	flags []uint8
}

// collapseFrom is the first length at which records are collapsed.
const collapseFrom = 1 << 16

func (a *accumulator) add(r regformat.Record) error {
	d := dataHash(r.Data)
	switch a.kind {
	case kindIMEI:
		a.narrow = append(a.narrow, rec[uint64]{key: uint64(r.IMEI), data: d, op: r.Op, blocking: r.Blocking, line: int32(r.Line)})
	case kindTAC:
		a.narrow = append(a.narrow, rec[uint64]{key: uint64(r.TAC), data: d, op: r.Op, blocking: r.Blocking, line: int32(r.Line)})
	case kindPair:
		a.wide = append(a.wide, rec[wideKey]{key: wideKey{uint64(r.IMEI), packDigits(string(r.IMSI)), packDigits(r.MSISDN)}, data: d, op: r.Op, blocking: true, line: int32(r.Line)})
	case kindRange:
		a.wide = append(a.wide, rec[wideKey]{key: wideKey{a: uint64(r.From), b: uint64(r.To)}, data: d, op: r.Op, blocking: r.Blocking, line: int32(r.Line)})
	}
	if a.spillDir != "" && a.spillAt > 0 && len(a.narrow) >= a.spillAt {
		// Bounded memory: collapse, and write the batch to a run unless
		// it was mostly duplicates.
		a.collapse()
		if len(a.narrow) >= a.spillAt/2 {
			run, err := spillRun(a.spillDir, a.narrow)
			if err != nil {
				return err
			}
			a.runs = append(a.runs, run)
			a.narrow = a.narrow[:0]
		}
		return nil
	}
	if n := len(a.narrow) + len(a.wide); n >= max(a.next, collapseFrom) {
		a.collapse()
		// Collapse again when the distinct records have doubled: the
		// cost stays linear, the memory about twice the distinct rows.
		a.next = 2 * (len(a.narrow) + len(a.wide))
	}
	return nil
}

// collapse sorts the records and drops exact duplicates (same key, data,
// change and status), keeping the first line; records that conflict stay
// for validate to report.
func (a *accumulator) collapse() {
	if a.kind == kindIMEI || a.kind == kindTAC {
		var n int
		a.narrow, n = collapseRecs(a.narrow, cmp.Compare[uint64])
		a.dups += n
		return
	}
	var n int
	a.wide, n = collapseRecs(a.wide, cmpWide)
	a.dups += n
}

func collapseRecs[K any](recs []rec[K], compare func(K, K) int) ([]rec[K], int) {
	sortRecs(recs, compare)
	out := recs[:0]
	dups := 0
	for i, r := range recs {
		if i > 0 {
			// Compare with the kept records of the key (a few: more
			// than one is a conflict validate reports); conflicting
			// records of one key are kept, in line order.
			dup := false
			for j := len(out) - 1; j >= max(0, len(out)-8) && compare(out[j].key, r.key) == 0; j-- {
				if o := out[j]; o.data == r.data && o.op == r.op && o.blocking == r.blocking {
					dup = true
					break
				}
			}
			if dup {
				dups++
				continue
			}
		}
		out = append(out, r)
	}
	// Release the memory of a slice that shrank a lot.
	if cap(out) > 4*len(out) && cap(out) > collapseFrom {
		out = slices.Clip(slices.Clone(out))
	}
	return out, dups
}

func (a *accumulator) validate(delta bool) (dups int, err error) {
	defer func() { dups += a.dups }()
	switch a.kind {
	case kindIMEI, kindTAC:
		show := func(k uint64) string { return eir.IMEI(k).String() }
		if a.kind == kindTAC {
			show = func(k uint64) string { return eir.TAC(k).String() }
		}
		each := func(fn func(rec[uint64])) error {
			for _, r := range a.narrow {
				fn(r)
			}
			return nil
		}
		size := len(a.narrow) // at most this many entries
		if len(a.runs) > 0 {
			defer func() { removeRuns(a.runs); a.runs = nil }()
			if len(a.narrow) > 0 {
				sortRecs(a.narrow, cmp.Compare[uint64])
				run, err := spillRun(a.spillDir, a.narrow)
				if err != nil {
					return 0, err
				}
				a.runs = append(a.runs, run)
			}
			a.narrow = nil
			if size, err = runRecords(a.runs); err != nil {
				return 0, err
			}
			each = func(fn func(rec[uint64])) error { return mergeRuns(a.runs, fn) }
		} else {
			sortRecs(a.narrow, cmp.Compare[uint64])
		}
		a.keys, a.flags, dups, err = validateStream(each, size, delta, show)
		a.narrow = nil
	default:
		show := func(k wideKey) string {
			if a.kind == kindRange {
				return eir.IMEI(k.a).String() + "-" + eir.IMEI(k.b).String()
			}
			return eir.IMEI(k.a).String() + "/" + unpackDigits(k.b)
		}
		a.wide, dups, err = validate(a.wide, cmpWide, delta, show)
	}
	return dups, err
}

// effect is what a validated list does to its dataset.
type effect struct {
	change  eir.Change
	unblock int // removals, and exception additions: entries that stop blocking
	changed int // update rows that keep membership
	count   uint64
	hash    uint64
}

func (a *accumulator) entryOf(k wideKey) eir.Entry {
	if a.kind == kindRange {
		return eir.Entry{From: eir.IMEI(k.a), To: eir.IMEI(k.b)}
	}
	return eir.Entry{IMEI: eir.IMEI(k.a), IMSI: eir.IMSI(unpackDigits(k.b))}
}

// full returns the replacement of ds by the list's blocking entries, with
// their count and set hash.
func (a *accumulator) full(ds eir.Dataset) effect {
	ef := effect{change: eir.Change{Dataset: ds, Replace: true}}
	t := ds.Target
	switch a.kind {
	case kindIMEI, kindTAC:
		keys := a.keys[:0] // in place: the keys that block
		for i, k := range a.keys {
			if blockingOf(a.flags[i]) {
				keys = append(keys, k)
				ef.hash ^= keyEntry(t, k).Hash(t) // distinct after validate
			}
		}
		a.keys, a.flags = nil, nil
		ef.count = uint64(len(keys))
		ef.change.AddKeys = keys
	default:
		seen := map[eir.Entry]bool{}
		for _, r := range a.wide {
			if !r.blocking {
				continue
			}
			e := a.entryOf(r.key)
			if !seen[e] { // (IMEI, IMSI) pairs of several MSISDNs are one entry
				seen[e] = true
				ef.change.Add = append(ef.change.Add, e)
				ef.hash ^= e.Hash(t)
			}
		}
		ef.count = uint64(len(ef.change.Add))
	}
	return ef
}

// delta returns the changes of a delta set: additions (add and update rows
// that block), removals (remove rows, and rows whose status no longer
// blocks, e.g. a stolen report back to "pending").
func (a *accumulator) delta(ds eir.Dataset, exception bool) effect {
	ef := effect{change: eir.Change{Dataset: ds}}
	addOrRemove := func(op regformat.Op, blocking bool) (add bool) {
		switch {
		case op == regformat.OpRemove:
			return false
		case op == regformat.OpUpdate:
			ef.changed++
		}
		return blocking
	}
	switch a.kind {
	case kindIMEI, kindTAC:
		for i, k := range a.keys {
			if addOrRemove(opOf(a.flags[i]), blockingOf(a.flags[i])) {
				ef.change.AddKeys = append(ef.change.AddKeys, k)
			} else {
				ef.change.RemoveKeys = append(ef.change.RemoveKeys, k)
			}
		}
		a.keys, a.flags = nil, nil
		ef.unblock = len(ef.change.RemoveKeys)
	default:
		for _, r := range a.wide {
			e := a.entryOf(r.key)
			if addOrRemove(r.op, r.blocking) {
				ef.change.Add = append(ef.change.Add, e)
			} else {
				ef.change.Remove = append(ef.change.Remove, e)
			}
		}
		ef.unblock = len(ef.change.Remove)
		if exception {
			ef.unblock = len(ef.change.Add) // an exception lets a blocked IMEI in
		}
	}
	return ef
}

func keyEntry(t eir.Target, k uint64) eir.Entry {
	if t == eir.TargetTAC {
		return eir.Entry{TAC: eir.TAC(k)}
	}
	return eir.Entry{IMEI: eir.IMEI(k)}
}
