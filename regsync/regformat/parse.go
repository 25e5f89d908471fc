package regformat

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eir-sidecar/eir/eir"
)

// Record is one good row, normalised.
//
// IMSI, MSISDN and Data may share memory with the row they came from; a
// caller that keeps millions of them and wants the smallest footprint can
// strings.Clone them.
type Record struct {
	Line     int      // 1-based line number of the row (header is line 1)
	List     List     //
	IMEI     eir.IMEI // Blacklist, Exceptions, Notifications, Stolen
	IMSI     eir.IMSI // Exceptions, Notifications
	MSISDN   string   // Exceptions, Notifications (digits, may be empty)
	TAC      eir.TAC  // BarredTAC
	From, To eir.IMEI // Ranges
	// Blocking is true for Blacklist, BarredTAC and Ranges rows, and for
	// Stolen rows whose status is empty or "blacklist" (in any case); false
	// otherwise (Stolen pending, recovered, …; Exceptions; Notifications).
	Blocking bool
	// Data is the row's non-key data in a canonical form, for conflict
	// detection by the caller: Blacklist "block_date|reason1|reason2"
	// (reasons split on '|', trimmed, sorted, de-duplicated; just
	// "block_date" without reasons); Stolen "reporting_date|status" (date
	// as YYYYMMDD, status lowercased); Ranges "reason"; Notifications
	// "block_date|reasons|amnesty" (reasons canonical as for Blacklist,
	// amnesty "", "true" or "false"); Exceptions and BarredTAC "".
	Data string
	// Op is OpAdd for rows of full files; the file's DeltaOp, or the op of
	// the row's change_type column.
	Op Op
	// Change is the change-type word, lowercased: the file's ChangeType or
	// the row's change_type value (e.g. "blacklisted", "no_longer_seen",
	// "remove"); "" for rows of full files without a change_type column.
	Change string
}

// BadRow is a row that was not emitted.
type BadRow struct {
	Line   int    // 1-based line where the row starts
	Reason string // why it was rejected
	Raw    string // the raw row, truncated to 200 bytes
}

// Stats describes a parsed file.
type Stats struct {
	Rows    int      // data rows read (Good + Bad)
	Good    int      // rows passed to emit
	Bad     int      // rows rejected
	BadRows []BadRow // the first MaxBadRows bad rows
	// Header is the header row, each name trimmed and lowercased.
	Header []string
	// Delta is true when the rows are changes rather than a full
	// snapshot: the FileInfo says it is a delta, or the file has a
	// change_type column (which makes a "full" file a delta too).
	Delta bool
}

// Options tunes Parse.
type Options struct {
	// MaxBadRows is how many BadRow details Stats keeps (default 100;
	// negative: none). Bad rows are always counted.
	MaxBadRows int
	// MaxRowBytes is the longest row accepted (default 1 MiB). A longer
	// row, e.g. an unterminated quoted field, makes the file ErrFormat;
	// it bounds the memory one row can take.
	MaxRowBytes int
	// MaxRows stops the parse with ErrTooManyRows when the file has more
	// data rows (good or bad); 0: no limit.
	MaxRows int
}

// Defaults of Options.
const (
	DefaultMaxBadRows  = 100
	DefaultMaxRowBytes = 1 << 20
)

// Errors of Parse. Both are wrapped with the detail.
var (
	// ErrHeader reports a missing or unusable header: an empty file, no
	// required column, a missing required column, a duplicate column, a
	// pipe-, semicolon- or tab-delimited header, or a delta without a
	// change_type column.
	ErrHeader = errors.New("regformat: invalid header")
	// ErrFormat reports a file that cannot be read as CSV text: a zip or
	// gzip archive, UTF-16 text, NUL bytes, a header that is not UTF-8, a
	// row longer than MaxRowBytes, or a quoting error that spans lines (the
	// reader cannot tell where the row ends, so the rest of the file is
	// suspect).
	ErrFormat = errors.New("regformat: invalid file")
	// ErrTooManyRows reports a file with more rows than Options.MaxRows.
	ErrTooManyRows = errors.New("regformat: too many rows")
)

const (
	rawLimit   = 200 // BadRow.Raw
	maxIntern  = 4096
	internLen  = 256
	showLimit  = 40 // values quoted in reasons
	maxMSISDN  = 15
	maxIMEILen = 16
)

type col int

const (
	cIMEI col = iota
	cIMSI
	cMSISDN
	cBlockDate
	cReasons
	cAmnesty
	cReportingDate
	cStatus
	cTAC
	cFrom
	cTo
	cReason
	cChange
	nCols
)

var colNames = [nCols]string{"imei", "imsi", "msisdn", "block_date", "reasons", "amnesty_granted",
	"reporting_date", "status", "tac", "from", "to", "reason", "change_type"}

// listSpec is the header schema of a list: the column names it knows
// (lowercase; aliases map to the same column) and those it requires.
type listSpec struct {
	names    map[string]col
	required []col
}

var specs = map[List]listSpec{
	Blacklist: {
		names:    map[string]col{"imei": cIMEI, "block_date": cBlockDate, "reasons": cReasons, "change_type": cChange},
		required: []col{cIMEI},
	},
	Exceptions: {
		names:    map[string]col{"imei": cIMEI, "imsi": cIMSI, "msisdn": cMSISDN, "change_type": cChange},
		required: []col{cIMEI, cIMSI},
	},
	Notifications: {
		names: map[string]col{"imei": cIMEI, "imsi": cIMSI, "msisdn": cMSISDN, "block_date": cBlockDate,
			"reasons": cReasons, "amnesty_granted": cAmnesty, "change_type": cChange},
		required: []col{cIMEI, cIMSI, cMSISDN, cBlockDate, cReasons},
	},
	Stolen: {
		names:    map[string]col{"imei": cIMEI, "reporting_date": cReportingDate, "status": cStatus, "change_type": cChange},
		required: []col{cIMEI},
	},
	BarredTAC: {
		names:    map[string]col{"tac": cTAC, "change_type": cChange},
		required: []col{cTAC},
	},
	Ranges: {
		names: map[string]col{"from": cFrom, "imei_from": cFrom, "start": cFrom,
			"to": cTo, "imei_to": cTo, "end": cTo, "reason": cReason, "change_type": cChange},
		required: []col{cFrom, cTo},
	},
}

// change is a change-type word and its op.
type change struct {
	op   Op
	word string
}

var changes = func() map[string]change {
	m := make(map[string]change, len(changeWords))
	for w, op := range changeWords {
		m[w] = change{op, w}
	}
	return m
}()

// Parse reads a list file of kind fi.List and passes every good row, in
// file order, to emit. It reads the file once, streaming, and keeps no
// per-row state: duplicate and conflict detection is the caller's. Bad rows
// are counted in Stats and the first Options.MaxBadRows kept. An error from
// emit stops the parse and is returned as is. File-level problems are
// ErrHeader or ErrFormat (wrapped); an error reading r is returned wrapped.
// Stats is valid, up to the point reached, whatever the error.
func Parse(r io.Reader, fi FileInfo, o Options, emit func(Record) error) (Stats, error) {
	var st Stats
	spec, ok := specs[fi.List]
	if !ok {
		return st, fmt.Errorf("regformat: unknown list %q", fi.List)
	}
	if fi.DeltaOp > OpUpdate {
		return st, fmt.Errorf("regformat: invalid delta op %d", fi.DeltaOp)
	}
	if o.MaxBadRows == 0 {
		o.MaxBadRows = DefaultMaxBadRows
	}
	if o.MaxRowBytes <= 0 {
		o.MaxRowBytes = DefaultMaxRowBytes
	}
	if emit == nil {
		emit = func(Record) error { return nil }
	}

	src := &source{r: r, maxRow: int64(o.MaxRowBytes)}
	br := bufio.NewReaderSize(src, bufSize)
	_, err := br.Peek(headLen)
	if err := sniff(src.head); err != nil {
		return st, err // before a nul byte error: name the format
	}
	if err != nil && err != io.EOF {
		return st, readError(err, "header", o.MaxRowBytes)
	}
	var bom int64
	if bytes.HasPrefix(src.head, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
		bom = 3
	}
	cr := csv.NewReader(br) // uses br as is: no second buffer
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	p := &parser{fi: fi, st: &st, src: src, maxBad: o.MaxBadRows, strs: make(map[string]string)}

	// Header.
	hdr, err := cr.Read()
	src.row = cr.InputOffset() + bom
	if src.fatal() {
		return st, readError(src.err, "header", o.MaxRowBytes)
	}
	switch {
	case err == io.EOF:
		return st, fmt.Errorf("%w: empty file: header required", ErrHeader)
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return st, fmt.Errorf("%w: unreadable header: %v", ErrHeader, pe)
		}
		return st, readError(err, "header", o.MaxRowBytes)
	}
	if err := p.header(spec, hdr); err != nil {
		return st, err
	}
	last, _ := cr.FieldPos(len(hdr) - 1) // about the last line read

	// Rows.
	for {
		start := src.row
		rec, err := cr.Read()
		src.row = cr.InputOffset() + bom
		if src.fatal() {
			return st, readError(src.err, "row after line "+strconv.Itoa(last), o.MaxRowBytes)
		}
		if err == io.EOF {
			return st, nil
		}
		if o.MaxRows > 0 && st.Rows >= o.MaxRows {
			return st, fmt.Errorf("%w: more than %d", ErrTooManyRows, o.MaxRows)
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return st, readError(err, "row after line "+strconv.Itoa(last), o.MaxRowBytes)
			}
			if pe.StartLine != pe.Line {
				return st, fmt.Errorf("%w: quoted field from line %d to line %d: %v", ErrFormat, pe.StartLine, pe.Line, pe.Err)
			}
			st.Rows++
			p.bad(pe.StartLine, "csv: "+pe.Err.Error(), start, src.row, nil)
			last = pe.Line
			continue
		}
		st.Rows++
		line, _ := cr.FieldPos(0)
		last, _ = cr.FieldPos(len(rec) - 1)
		out, reason := p.row(rec)
		if reason != "" {
			p.bad(line, reason, start, src.row, rec)
			continue
		}
		out.Line = line
		st.Good++
		if err := emit(out); err != nil {
			return st, err
		}
	}
}

// sniff rejects the first bytes of files that are not CSV text.
func sniff(head []byte) error {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")),
		bytes.HasPrefix(head, []byte("PK\x07\x08")):
		return fmt.Errorf("%w: zip archive, not csv text", ErrFormat)
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return fmt.Errorf("%w: gzip data, not csv text", ErrFormat)
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		return fmt.Errorf("%w: utf-16 text, want utf-8", ErrFormat)
	}
	return nil
}

// readError maps an error met while reading the header or the row after
// the given line ("where").
func readError(err error, where string, maxRow int) error {
	switch {
	case errors.Is(err, errNUL):
		return fmt.Errorf("%w: %v", ErrFormat, err)
	case errors.Is(err, errLongRow):
		return fmt.Errorf("%w: %s longer than %d bytes (unterminated quote or missing line breaks?)", ErrFormat, where, maxRow)
	}
	return fmt.Errorf("regformat: read %s: %w", where, err)
}

type parser struct {
	fi      FileInfo
	st      *Stats
	src     *source
	maxBad  int
	col     [nCols]int // field index of each column, -1 if absent
	nfields int
	rowOp   bool // ops come from the change_type column
	buf     []byte
	parts   []string
	strs    map[string]string // interned Data values
}

func (p *parser) header(spec listSpec, hdr []string) error {
	for i := range p.col {
		p.col[i] = -1
	}
	p.nfields = len(hdr)
	for _, h := range hdr {
		if !utf8.ValidString(h) {
			return fmt.Errorf("%w: header is not utf-8 text", ErrFormat)
		}
	}
	names := make([]string, len(hdr))
	for i, h := range hdr {
		names[i] = strings.ToLower(strings.TrimSpace(h))
	}
	p.st.Header = names
	for i, n := range names {
		if d := strings.IndexAny(n, "|;\t"); d >= 0 {
			kind := map[byte]string{'|': "pipe", ';': "semicolon", '\t': "tab"}[n[d]]
			return fmt.Errorf("%w: header looks %s-delimited, want commas: %s", ErrHeader, kind, show(hdr[i]))
		}
	}
	for i, n := range names {
		c, ok := spec.names[n]
		if !ok {
			continue // unknown columns are ignored
		}
		if p.col[c] >= 0 {
			return fmt.Errorf("%w: duplicate column %s", ErrHeader, colNames[c])
		}
		p.col[c] = i
	}
	var missing []string
	for _, c := range spec.required {
		if p.col[c] < 0 {
			missing = append(missing, colNames[c])
		}
	}
	switch {
	case len(missing) == len(spec.required):
		want := make([]string, len(spec.required))
		for i, c := range spec.required {
			want[i] = colNames[c]
		}
		return fmt.Errorf("%w: no required column (a %s file wants %s): header missing or wrong", ErrHeader, p.fi.List, strings.Join(want, ", "))
	case len(missing) > 0:
		return fmt.Errorf("%w: missing required column %s (list %s)", ErrHeader, strings.Join(missing, ", "), p.fi.List)
	}
	hasChange := p.col[cChange] >= 0
	if p.fi.Delta && p.fi.DeltaOp == 0 && !hasChange {
		return fmt.Errorf("%w: delta file without a change_type column", ErrHeader)
	}
	p.rowOp = p.fi.DeltaOp == 0 && hasChange
	p.st.Delta = p.fi.Delta || hasChange
	return nil
}

// field returns the trimmed value of column c, "" if the file lacks it.
func (p *parser) field(rec []string, c col) string {
	i := p.col[c]
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// bad counts a rejected row and keeps its detail while there is room.
func (p *parser) bad(line int, reason string, start, end int64, rec []string) {
	p.st.Bad++
	if len(p.st.BadRows) >= p.maxBad {
		return
	}
	raw := p.src.raw(start, end, rawLimit+utf8.UTFMax)
	if raw == nil && rec != nil {
		raw = []byte(strings.Join(rec, ","))
	}
	p.st.BadRows = append(p.st.BadRows, BadRow{Line: line, Reason: reason, Raw: string(truncate(raw, rawLimit))})
}
