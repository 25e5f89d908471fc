// Package provision reads the operator's list files (the eirctl import
// format) and turns them into eir.Change sets that a store applies in one
// atomic write.
//
// The format is CSV (RFC 4180; comma separated; CRLF or LF; an optional
// UTF-8 byte order mark) with a header row whose column names are matched
// case-insensitively, in any order. Three row forms exist, told apart by the
// header:
//
//	imei,status[,imsi][,source][,action]   one IMEI; with an IMSI, an IMEI–IMSI exception
//	tac,status[,source][,action]           every IMEI of an 8-digit TAC
//	from,to,status[,source][,action]       every IMEI from "from" to "to" (14 digits each)
//
// status is black, grey, white or override (never block); a row with an IMSI
// is an exception and its status must be white or exception. IMEIs may have
// 14, 15 or 16 digits and are keyed on the first 14. source names who owns
// the entry (default: the importer's default source). action is add
// (default) or remove.
//
// Within one source, black, grey, white and override are exclusive: adding
// an entry to one of them removes it from the others. A file is all or
// nothing: any invalid row rejects it, with every error reported by line.
package provision

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// Options configures a parse.
type Options struct {
	// Source owns rows without a source column (default "manual").
	Source string
	// Replace makes the file the whole content of every source it names:
	// all of their datasets are replaced, emptied when the file has no
	// rows for them (those that do not exist are not created empty:
	// eir.Change.IfExists).
	Replace bool
	// MaxErrors stops collecting errors after this many (default 50).
	MaxErrors int
	// SkipInvalid skips invalid rows instead of rejecting the file; they
	// are counted in Result.SkippedRows and the first MaxErrors are kept in
	// Result.Skipped. A file whose header cannot be read is still rejected.
	SkipInvalid bool
}

// Result is a parsed file.
type Result struct {
	Changes []eir.Change
	Rows    int // data rows read
	Sources []string
	// SkippedRows counts the invalid rows skipped (Options.SkipInvalid);
	// Skipped holds the first Options.MaxErrors of them.
	SkippedRows int
	Skipped     []RowError
}

// RowError is a rejected row.
type RowError struct {
	Line int
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e RowError) Unwrap() error { return e.Err }

// ErrFormat reports a file that cannot be read as the import format.
var ErrFormat = errors.New("provision: invalid file")

type form int

const (
	formIMEI form = iota
	formTAC
	formRange
)

var listsExclusive = []eir.List{eir.ListBlack, eir.ListGrey, eir.ListWhite, eir.ListOverride}

// Parse reads a whole file. On any invalid row it returns an error joining
// every RowError (up to MaxErrors) and no changes.
func Parse(r io.Reader, o Options) (Result, error) {
	if o.Source == "" {
		o.Source = "manual"
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = 50
	}
	if err := eir.ValidateSource(o.Source); err != nil {
		return Result{}, fmt.Errorf("%w: default source: %w", ErrFormat, err)
	}
	cr, cols, f, err := openCSV(r)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	state, sources, err := readRows(cr, cols, f, o, &res)
	if err != nil {
		return Result{}, err
	}
	adds, removes := byDataset(state, o.Replace)
	clear(state)
	for s := range sources {
		res.Sources = append(res.Sources, s)
	}
	sort.Strings(res.Sources)
	res.Changes = changesOf(res.Sources, adds, removes, o.Replace)
	return res, nil
}

// openCSV skips a UTF-8 byte order mark, reads the header row and returns
// the reader positioned on the first row, with the columns and form the
// header names.
func openCSV(r io.Reader) (*csv.Reader, columns, form, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, 0, fmt.Errorf("%w: empty file: a header row is required", ErrFormat)
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	cols, f, err := header(head)
	if err != nil {
		return nil, nil, 0, err
	}
	return cr, cols, f, nil
}

// rowKey is an entry of a source and target: the rows for one rowKey
// decide together.
type rowKey struct {
	source string
	target eir.Target
	e      eir.Entry
}

// rowState is what the last row for an entry asks: on which list, added
// or removed.
type rowState struct {
	list eir.List
	add  bool
}

// readRows reads the rows after the header, counting them (and the rows
// skipped) in res. The last row for an entry decides. It returns the state
// of every entry and the sources named, or an error joining every
// RowError (up to o.MaxErrors).
func readRows(cr *csv.Reader, cols columns, f form, o Options, res *Result) (map[rowKey]rowState, map[string]bool, error) {
	state := map[rowKey]rowState{}
	sources := map[string]bool{}
	var errs []error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err != csv.ErrFieldCount {
				res.Rows++
				if o.SkipInvalid {
					res.skip(RowError{Line: pe.Line, Err: pe.Err}, o.MaxErrors)
					continue
				}
				errs = append(errs, RowError{Line: pe.Line, Err: pe.Err})
				if len(errs) >= o.MaxErrors {
					break
				}
				continue
			}
			return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		res.Rows++
		ds, e, add, err := row(rec, cols, f, o.Source)
		if err != nil && o.SkipInvalid {
			res.skip(RowError{Line: line, Err: err}, o.MaxErrors)
			continue
		}
		if err != nil {
			errs = append(errs, RowError{Line: line, Err: err})
			if len(errs) >= o.MaxErrors {
				errs = append(errs, fmt.Errorf("more errors not shown"))
				break
			}
			continue
		}
		sources[ds.Source] = true
		state[rowKey{ds.Source, ds.Target, e}] = rowState{ds.List, add}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return state, sources, nil
}

// byDataset returns the entries added and removed, by dataset. A
// replacement removes nothing: what it does not add goes.
func byDataset(state map[rowKey]rowState, replace bool) (adds, removes map[eir.Dataset][]eir.Entry) {
	adds = map[eir.Dataset][]eir.Entry{}
	removes = map[eir.Dataset][]eir.Entry{}
	for k, st := range state {
		d := eir.Dataset{Source: k.source, Target: k.target, List: st.list}
		if st.add {
			adds[d] = append(adds[d], k.e)
		} else if !replace {
			removes[d] = append(removes[d], k.e)
		}
	}
	return adds, removes
}

// changesOf returns the changes of the sources' datasets. Within a source
// and target, an added entry is on one list only: it is removed from the
// others. Per dataset: first the removals that keep lists exclusive (the
// additions to the source's other lists, sharing their slices), then this
// dataset's own removals and additions.
func changesOf(sources []string, adds, removes map[eir.Dataset][]eir.Entry, replace bool) []eir.Change {
	var changes []eir.Change
	for _, src := range sources {
		for _, d := range AllDatasets(src) {
			// A replacement empties the source's datasets that exist and
			// creates none empty (IfExists).
			ch := eir.Change{Dataset: d, Replace: replace, IfExists: replace, Add: adds[d], Remove: removes[d]}
			var exclusive []eir.Change
			if !replace && d.List != eir.ListException {
				for _, l := range listsExclusive {
					other := eir.Dataset{Source: src, Target: d.Target, List: l}
					if l != d.List && len(adds[other]) > 0 {
						exclusive = append(exclusive, eir.Change{Dataset: d, Remove: adds[other]})
					}
				}
			}
			if !replace && len(ch.Add) == 0 && len(ch.Remove) == 0 && len(exclusive) == 0 {
				continue
			}
			changes = append(changes, exclusive...)
			changes = append(changes, ch)
		}
	}
	return changes
}

func (r *Result) skip(e RowError, keep int) {
	r.SkippedRows++
	if len(r.Skipped) < keep {
		r.Skipped = append(r.Skipped, e)
	}
}

// AllDatasets lists every dataset a source can have.
func AllDatasets(source string) []eir.Dataset {
	var out []eir.Dataset
	for _, t := range []eir.Target{eir.TargetIMEI, eir.TargetTAC, eir.TargetRange} {
		for _, l := range listsExclusive {
			out = append(out, eir.Dataset{Source: source, Target: t, List: l})
		}
	}
	return append(out, eir.Dataset{Source: source, Target: eir.TargetPair, List: eir.ListException})
}

type columns map[string]int

func header(rec []string) (columns, form, error) {
	cols := columns{}
	for i, name := range rec {
		n := strings.ToLower(strings.TrimSpace(name))
		if n == "list" {
			n = "status"
		}
		switch n {
		case "imei", "imsi", "tac", "from", "to", "status", "source", "action":
		default:
			return nil, 0, fmt.Errorf("%w: header: unknown column %q (want imei|tac|from,to, status, and optionally imsi, source, action)", ErrFormat, name)
		}
		if _, dup := cols[n]; dup {
			return nil, 0, fmt.Errorf("%w: header: column %q twice", ErrFormat, n)
		}
		cols[n] = i
	}
	_, hasIMEI := cols["imei"]
	_, hasTAC := cols["tac"]
	_, hasFrom := cols["from"]
	_, hasTo := cols["to"]
	_, hasIMSI := cols["imsi"]
	if _, ok := cols["status"]; !ok {
		return nil, 0, fmt.Errorf("%w: header: a status column is required", ErrFormat)
	}
	switch {
	case hasIMEI && !hasTAC && !hasFrom && !hasTo:
		return cols, formIMEI, nil
	case hasTAC && !hasIMEI && !hasFrom && !hasTo && !hasIMSI:
		return cols, formTAC, nil
	case hasFrom && hasTo && !hasIMEI && !hasTAC && !hasIMSI:
		return cols, formRange, nil
	}
	return nil, 0, fmt.Errorf("%w: header: want exactly one of imei, tac or from+to (imsi only with imei)", ErrFormat)
}

func (c columns) get(rec []string, name string) string {
	if i, ok := c[name]; ok && i < len(rec) {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

func row(rec []string, cols columns, f form, defSource string) (eir.Dataset, eir.Entry, bool, error) {
	var ds eir.Dataset
	var e eir.Entry
	ds.Source = defSource
	if s := cols.get(rec, "source"); s != "" {
		ds.Source = strings.ToLower(s)
	}
	add := true
	switch a := strings.ToLower(cols.get(rec, "action")); a {
	case "", "add", "added", "blocked":
	case "remove", "removed", "delete", "unblocked":
		add = false
	default:
		return ds, e, false, fmt.Errorf("action %q: want add or remove", a)
	}
	list, err := eir.ParseList(cols.get(rec, "status"))
	if err != nil {
		return ds, e, false, err
	}
	ds.List = list
	switch f {
	case formIMEI:
		ds.Target = eir.TargetIMEI
		if e.IMEI, err = eir.ParseIMEI(cols.get(rec, "imei")); err != nil {
			return ds, e, false, err
		}
		if s := cols.get(rec, "imsi"); s != "" {
			if list != eir.ListWhite && list != eir.ListException {
				return ds, e, false, fmt.Errorf("%w: a row with an imsi is an imei-imsi exception: status must be white or exception, not %s", eir.ErrInvalidEntry, list)
			}
			if e.IMSI, err = eir.ParseIMSI(s); err != nil {
				return ds, e, false, err
			}
			ds.Target, ds.List = eir.TargetPair, eir.ListException
		} else if list == eir.ListException {
			return ds, e, false, fmt.Errorf("%w: an exception needs an imsi", eir.ErrInvalidEntry)
		}
	case formTAC:
		ds.Target = eir.TargetTAC
		if e.TAC, err = eir.ParseTAC(cols.get(rec, "tac")); err != nil {
			return ds, e, false, err
		}
	case formRange:
		ds.Target = eir.TargetRange
		if e.From, err = eir.ParseIMEI(cols.get(rec, "from")); err != nil {
			return ds, e, false, fmt.Errorf("from: %w", err)
		}
		if e.To, err = eir.ParseIMEI(cols.get(rec, "to")); err != nil {
			return ds, e, false, fmt.Errorf("to: %w", err)
		}
	}
	if list == eir.ListException && ds.Target != eir.TargetPair {
		return ds, e, false, fmt.Errorf("%w: exceptions are imei-imsi pairs", eir.ErrInvalidEntry)
	}
	if err := ds.Validate(); err != nil {
		return ds, e, false, err
	}
	if err := e.ValidateFor(ds.Target); err != nil {
		return ds, e, false, err
	}
	return ds, e, add, nil
}
