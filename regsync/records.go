package regsync

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"unsafe"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/regsync/regformat"
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

// rec is one parsed row, reduced to what validation needs: 24 bytes in
// memory for an IMEI or TAC list, 40 for a pair or range list.
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

// keyOps is what validation knows of the key of one kind of list: how a
// row becomes a key, how keys sort, how they are written to runs (see
// spill.go), and which entry a key stands for.
type keyOps[K any] struct {
	// of returns the key of a row and whether the row blocks.
	of      func(regformat.Record) (K, bool)
	compare func(K, K) int
	// size is the size of a key in a run file; put and get encode it.
	size int
	put  func([]byte, K)
	get  func([]byte) K
	show func(K) string // for conflict messages
	// entry is the entry a key stands for. Keys that sort next to each
	// other may stand for one entry: the MSISDNs of an (IMEI, IMSI) pair.
	entry func(K) eir.Entry
	// value, when set, gives the entries to the store by value
	// (Change.AddKeys, Change.RemoveKeys) rather than as entries.
	value func(K) uint64
}

func putNarrow(b []byte, k uint64) { binary.LittleEndian.PutUint64(b, k) }
func getNarrow(b []byte) uint64    { return binary.LittleEndian.Uint64(b) }
func self(k uint64) uint64         { return k }

func putWide(b []byte, k wideKey) {
	binary.LittleEndian.PutUint64(b, k.a)
	binary.LittleEndian.PutUint64(b[8:], k.b)
	binary.LittleEndian.PutUint64(b[16:], k.c)
}

func getWide(b []byte) wideKey {
	return wideKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])}
}

// The key of each kind of list.
var (
	imeiKeys = &keyOps[uint64]{
		of:      func(r regformat.Record) (uint64, bool) { return uint64(r.IMEI), r.Blocking },
		compare: cmp.Compare[uint64], size: 8, put: putNarrow, get: getNarrow, value: self,
		show:  func(k uint64) string { return eir.IMEI(k).String() },
		entry: func(k uint64) eir.Entry { return eir.Entry{IMEI: eir.IMEI(k)} },
	}
	tacKeys = &keyOps[uint64]{
		of:      func(r regformat.Record) (uint64, bool) { return uint64(r.TAC), r.Blocking },
		compare: cmp.Compare[uint64], size: 8, put: putNarrow, get: getNarrow, value: self,
		show:  func(k uint64) string { return eir.TAC(k).String() },
		entry: func(k uint64) eir.Entry { return eir.Entry{TAC: eir.TAC(k)} },
	}
	// Exceptions and notifications: every row is listed (the list, not
	// the row, says whether it blocks).
	pairKeys = &keyOps[wideKey]{
		of: func(r regformat.Record) (wideKey, bool) {
			return wideKey{uint64(r.IMEI), packDigits(string(r.IMSI)), packDigits(r.MSISDN)}, true
		},
		compare: cmpWide, size: 24, put: putWide, get: getWide,
		show:  func(k wideKey) string { return eir.IMEI(k.a).String() + "/" + unpackDigits(k.b) },
		entry: func(k wideKey) eir.Entry { return eir.Entry{IMEI: eir.IMEI(k.a), IMSI: eir.IMSI(unpackDigits(k.b))} },
	}
	rangeKeys = &keyOps[wideKey]{
		of: func(r regformat.Record) (wideKey, bool) {
			return wideKey{a: uint64(r.From), b: uint64(r.To)}, r.Blocking
		},
		compare: cmpWide, size: 24, put: putWide, get: getWide,
		show:  func(k wideKey) string { return eir.IMEI(k.a).String() + "-" + eir.IMEI(k.b).String() },
		entry: func(k wideKey) eir.Entry { return eir.Entry{From: eir.IMEI(k.a), To: eir.IMEI(k.b)} },
	}
)

// listAccumulator collects the rows of one list (a full file or a delta
// set) and validates them.
type listAccumulator interface {
	add(regformat.Record) error
	// finish validates the rows and returns what they do to ds: a full
	// list replaces it by its blocking entries; a delta set adds and
	// removes entries (an exception list unblocks what it adds). It
	// releases the accumulator.
	finish(ds eir.Dataset, delta, exception bool) (ef effect, dups int, err error)
	// release removes the runs written so far; it is safe to call more
	// than once, and after finish.
	release()
}

// newAccumulator returns the accumulator of list l, spilling to runs in
// dir beyond about spillBytes of rows in memory.
func newAccumulator(l regformat.List, dir string, spillBytes int) listAccumulator {
	switch l {
	case regformat.BarredTAC:
		return newAcc(tacKeys, dir, spillBytes)
	case regformat.Exceptions, regformat.Notifications:
		return newAcc(pairKeys, dir, spillBytes)
	case regformat.Ranges:
		return newAcc(rangeKeys, dir, spillBytes)
	}
	return newAcc(imeiKeys, dir, spillBytes)
}

func newAcc[K any](ops *keyOps[K], dir string, spillBytes int) *accumulator[K] {
	return &accumulator[K]{ops: ops, spillDir: dir, spillAt: max(spillBytes/int(unsafe.Sizeof(rec[K]{})), 2)}
}

// accumulator is the listAccumulator of one key type. Every list goes the
// same way, in bounded memory: rows are kept in memory, sorted and rid of
// exact duplicates (collapse) each time they double, so that a row
// repeated a million times costs one row; beyond spillAt records a batch
// is written to a sorted run in spillDir (see spill.go). finish merges the
// runs (or streams what stayed in memory), checks duplicates and conflicts
// as the rows stream by, and keeps only the change the list makes.
type accumulator[K any] struct {
	ops  *keyOps[K]
	recs []rec[K]
	// next is the length at which the records are collapsed again.
	next int
	// dups counts the exact duplicates collapse dropped.
	dups     int
	spillDir string
	spillAt  int
	runs     []string
	// spilled counts the records written to runs.
	spilled int
}

// collapseFrom is the first length at which records are collapsed.
const collapseFrom = 1 << 16

func (a *accumulator[K]) add(r regformat.Record) error {
	k, blocking := a.ops.of(r)
	a.recs = append(a.recs, rec[K]{key: k, data: dataHash(r.Data), op: r.Op, blocking: blocking, line: int32(r.Line)})
	if n := len(a.recs); n < a.spillAt && n < max(a.next, collapseFrom) {
		return nil
	}
	// Collapse, so that a row repeated a million times costs one row;
	// again when the distinct records have doubled (the cost stays
	// linear). A batch that stays large is written to a run.
	a.collapse()
	a.next = 2 * len(a.recs)
	if len(a.recs) < a.spillAt/2 {
		return nil
	}
	a.next = 0
	return a.spill()
}

// spill writes the records, sorted, to a new run.
func (a *accumulator[K]) spill() error {
	run, err := spillRun(a.spillDir, a.recs, a.ops)
	if err != nil {
		return err
	}
	a.runs = append(a.runs, run)
	a.spilled += len(a.recs)
	a.recs = a.recs[:0]
	return nil
}

func (a *accumulator[K]) release() {
	removeRuns(a.runs)
	a.runs, a.recs = nil, nil
}

// collapse sorts the records by (key, line) and drops exact duplicates
// (same key, data, change and status), keeping the first line; records
// that conflict stay for finish to report.
func (a *accumulator[K]) collapse() {
	compare := a.ops.compare
	slices.SortFunc(a.recs, func(x, y rec[K]) int {
		if c := compare(x.key, y.key); c != 0 {
			return c
		}
		return cmp.Compare(x.line, y.line)
	})
	out := a.recs[:0]
	for _, r := range a.recs {
		// Compare with the kept records of the key (a few: more than one
		// is a conflict finish reports).
		dup := false
		for j := len(out) - 1; j >= max(0, len(out)-8) && compare(out[j].key, r.key) == 0; j-- {
			if o := out[j]; o.data == r.data && o.op == r.op && o.blocking == r.blocking {
				dup = true
				break
			}
		}
		if dup {
			a.dups++
			continue
		}
		out = append(out, r)
	}
	a.recs = out
}

func (a *accumulator[K]) finish(ds eir.Dataset, delta, exception bool) (effect, int, error) {
	defer a.release()
	a.collapse()
	each := func(fn func(rec[K])) error {
		for _, r := range a.recs {
			fn(r)
		}
		return nil
	}
	if len(a.runs) > 0 {
		if len(a.recs) > 0 {
			if err := a.spill(); err != nil {
				return effect{}, 0, err
			}
		}
		a.recs = nil
		each = func(fn func(rec[K])) error { return mergeRuns(a.runs, a.ops, fn) }
	}
	ef := effect{change: eir.Change{Dataset: ds, Replace: !delta}}
	if !delta && len(a.runs) > 0 && a.ops.value != nil {
		// A large full IMEI or TAC list: its keys' slice sized once, from
		// the records spilled (at most one entry each, 8 bytes a record,
		// less than the runs take on disk), rather than grown by
		// doubling, which holds both copies for a moment (1.6 GB instead
		// of 800 MB for 100 million IMEIs). Entries of pair and range
		// lists are 7 times larger and their rows collapse more
		// (MSISDNs): their slice grows.
		ef.change.AddKeys = make([]uint64, 0, a.spilled)
	}
	dups, err := validateStream(each, a.ops, delta, a.keeper(&ef, delta))
	dups += a.dups
	if err != nil {
		return effect{}, dups, err
	}
	if delta {
		ef.unblock = len(ef.change.Remove) + len(ef.change.RemoveKeys)
		if exception {
			ef.unblock = len(ef.change.Add) // an exception lets a blocked IMEI in
		}
	}
	return ef, dups, nil
}

// validateStream reads records in (key, line) order (from memory or
// merged from runs) and passes the first record of each key to keep. In a
// full list the same key with other data is a conflict; in a delta set, the
// same key with two operations (or with other data) is a conflict: DIRBS
// puts a key in at most one change-type file of a delta set (REGISTRY.md
// §1.3). Exact duplicates are counted. After a conflict, what keep was
// given is to be discarded.
func validateStream[K any](each func(func(rec[K])) error, ops *keyOps[K], delta bool, keep func(rec[K])) (dups int, err error) {
	var first rec[K]
	have, conflicts, nconflicts := false, []string(nil), 0
	conflict := func(msg string) {
		nconflicts++
		if len(conflicts) < 20 {
			conflicts = append(conflicts, msg)
		}
	}
	err = each(func(r rec[K]) {
		if have && ops.compare(r.key, first.key) == 0 {
			switch {
			case r.op != first.op:
				conflict(fmt.Sprintf("%s: lines %d and %d have different changes (%s, %s)", ops.show(first.key), first.line, r.line, first.op, r.op))
			case r.data != first.data || r.blocking != first.blocking:
				conflict(fmt.Sprintf("%s: lines %d and %d have different data", ops.show(first.key), first.line, r.line))
			default:
				dups++
			}
			return
		}
		if have && nconflicts == 0 {
			keep(first)
		}
		first, have = r, true
	})
	if err != nil {
		return dups, err
	}
	if have && nconflicts == 0 {
		keep(first)
	}
	if nconflicts > 0 {
		what := "the same key with different data"
		if delta {
			what = "a key with more than one change in one delta set, or different data"
		}
		if nconflicts > len(conflicts) {
			conflicts = append(conflicts, fmt.Sprintf("… %d more", nconflicts-len(conflicts)))
		}
		return dups, &validationError{code: "conflict", message: fmt.Sprintf("%d conflicting rows: %s", nconflicts, what), details: conflicts}
	}
	return dups, nil
}

// effect is what a validated list does to its dataset.
type effect struct {
	change  eir.Change
	unblock int // removals, and exception additions: entries that stop blocking
	changed int // update rows that keep membership
	count   uint64
	hash    uint64
}

// keeper returns the function that adds each validated key to ef: a full
// list keeps the entries that block, with their count and set hash; a
// delta set adds (add and update rows that block) and removes (remove
// rows, and rows whose status no longer blocks, e.g. a stolen report back
// to "pending"). What is kept is the change itself: 8 bytes per entry of
// an IMEI or TAC list, an eir.Entry per entry of a pair or range list.
func (a *accumulator[K]) keeper(ef *effect, delta bool) func(rec[K]) {
	t := ef.change.Dataset.Target
	c := &ef.change
	var last eir.Entry
	lastAdd, have := false, false
	return func(r rec[K]) {
		add := r.blocking
		if delta {
			switch r.op {
			case regformat.OpRemove:
				add = false
			case regformat.OpUpdate:
				ef.changed++
			}
		} else if !add {
			return
		}
		e := a.ops.entry(r.key)
		if have && add == lastAdd && e == last {
			return // (IMEI, IMSI) pairs of several MSISDNs are one entry
		}
		last, lastAdd, have = e, add, true
		switch {
		case a.ops.value != nil && add:
			c.AddKeys = append(c.AddKeys, a.ops.value(r.key))
		case a.ops.value != nil:
			c.RemoveKeys = append(c.RemoveKeys, a.ops.value(r.key))
		case add:
			c.Add = append(c.Add, e)
		default:
			c.Remove = append(c.Remove, e)
		}
		if !delta {
			ef.count++
			ef.hash ^= e.Hash(t)
		}
	}
}
