package opdata

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// ParseFile checks the operator data dump at path (see ParseZip).
func ParseFile(file string, opts Options, emit func(Row) error) (Name, Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return Name{}, Report{}, fmt.Errorf("opdata: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Name{}, Report{}, fmt.Errorf("opdata: %w", err)
	}
	return ParseZip(f, fi.Size(), file, opts, emit)
}

// ParseZip checks an operator data dump of size bytes read from r, whose
// file name is file (only its base name counts), by the rules DIRBS's
// importer applies (see the package documentation), and passes each row
// to emit (which may be nil) as it reads it. It reads the file once and
// keeps no rows.
//
// An error from the name, the package, the header or a row (ErrName,
// ErrArchive, ErrHeader, ErrSyntax) stops the parse: rows emitted before
// it must be discarded. A failed ratio or date-range check is ErrCheck,
// returned with the complete Report after every row was read. An error
// from emit is returned as is.
func ParseZip(r io.ReaderAt, size int64, file string, opts Options, emit func(Row) error) (Name, Report, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Name{}, Report{}, err
	}
	base := path.Base(strings.ReplaceAll(file, "\\", "/"))
	if !strings.EqualFold(path.Ext(base), ".zip") {
		return Name{}, Report{}, fmt.Errorf("%w: %q: want a .zip package", ErrName, base)
	}
	name, err := ParseName(base)
	if err != nil {
		return Name{}, Report{}, err
	}
	if opts.Operator != "" && name.Operator != opts.Operator {
		return name, Report{}, fmt.Errorf("%w: %q: operator %q, want %q", ErrName, base, name.Operator, opts.Operator)
	}
	if err := name.checkDates(DateOf(opts.Now())); err != nil {
		return name, Report{}, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return name, Report{}, fmt.Errorf("%w: %s: not a readable zip: %w", ErrArchive, base, err)
	}
	if len(zr.File) != 1 {
		return name, Report{}, fmt.Errorf("%w: %s: %d members, want exactly one (%s)", ErrArchive, base, len(zr.File), name.CSVName())
	}
	zf := zr.File[0]
	member := path.Base(zf.Name)
	// DIRBS wants the suffix .csv exactly (AbstractImporter
	// _perform_filename_checks runs on the member's name).
	if strings.HasSuffix(zf.Name, "/") || member != name.CSVName() {
		return name, Report{}, fmt.Errorf("%w: %s: member %q, want %s", ErrArchive, base, zf.Name, name.CSVName())
	}
	rc, err := zf.Open()
	if err != nil {
		return name, Report{}, fmt.Errorf("%w: %s: open %q: %w", ErrArchive, base, zf.Name, err)
	}
	defer rc.Close()
	rep, err := parseCSV(rc, name, opts, emit)
	var ee emitError
	if errors.As(err, &ee) {
		return name, rep, ee.err
	}
	if err != nil {
		return name, rep, fmt.Errorf("opdata: %s: %w", base, err)
	}
	return name, rep, nil
}

// errRowTooLong is returned by rowLimit when the CSV reader has taken
// more than the limit since the end of the last record.
var errRowTooLong = errors.New("row too long")

// rowLimit bounds the bytes the CSV reader may consume for one record
// (an unterminated quote would otherwise read the whole file into it).
type rowLimit struct {
	r       io.Reader
	n, mark int64
	max     int64
}

func (l *rowLimit) Read(p []byte) (int, error) {
	if l.n-l.mark > l.max {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

const bufSize = 4096

// emitError carries emit's error out of parseCSV unwrapped.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// columns are the positions of the five columns in the file.
type columns struct{ date, imei, imsi, msisdn, rat int }

func parseCSV(r io.Reader, name Name, opts Options, emit func(Row) error) (Report, error) {
	// The slack covers what the buffer reads ahead of the record.
	lim := &rowLimit{r: r, max: int64(opts.MaxRowBytes) + bufSize}
	br := bufio.NewReaderSize(lim, bufSize)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		return Report{}, fmt.Errorf("%w: line 1: UTF-8 byte order mark: DIRBS would read it as part of the first column name", ErrHeader)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Report{}, fmt.Errorf("%w: empty file, want the header %s", ErrHeader, strings.Join(Header, ","))
	}
	if err != nil {
		return Report{}, readErr(err, 1)
	}
	cols, err := header(hdr, opts.AnyColumnOrder)
	if err != nil {
		return Report{}, err
	}
	cr.FieldsPerRecord = len(Header)
	t := tally{name: name, opt: opts}
	line := 1 // of the last record read
	for {
		lim.mark = cr.InputOffset()
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos is valid only after a record was read.
			return t.report(), readErr(err, line+1)
		}
		line, _ = cr.FieldPos(0)
		row, rat, err := readRow(rec, cols)
		if err != nil {
			return t.report(), fmt.Errorf("%w: line %d: %w", ErrSyntax, line, err)
		}
		t.add(row.Date, row.IMEI, row.IMSI, row.MSISDN, rat)
		if emit != nil {
			if err := emit(row); err != nil {
				return t.report(), emitError{err}
			}
		}
	}
	rep := t.report()
	return rep, rep.Err()
}

// readErr classifies an error from the CSV reader.
func readErr(err error, line int) error {
	var pe *csv.ParseError
	switch {
	case errors.Is(err, errRowTooLong):
		return fmt.Errorf("%w: line %d: row too long (unterminated quote?)", ErrSyntax, line)
	case errors.As(err, &pe):
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	default:
		// Reading the member failed: a corrupt or truncated zip.
		return fmt.Errorf("%w: read: %w", ErrArchive, err)
	}
}

// header maps the five columns, named in any ASCII case. Unless anyOrder
// they must come in the order of Header: DIRBS loads the file with a
// positional COPY (connection_date, imei, imsi, msisdn, rat) ... CSV
// HEADER, which skips the header line without reading its names.
func header(hdr []string, anyOrder bool) (columns, error) {
	want := strings.Join(Header, ",")
	if len(hdr) != len(Header) {
		return columns{}, fmt.Errorf("%w: %d columns, want the 5 of %s", ErrHeader, len(hdr), want)
	}
	if !anyOrder {
		for i, h := range hdr {
			if asciiLower(h) != Header[i] {
				return columns{}, fmt.Errorf("%w: column %d is %q, want %s (DIRBS reads the columns by position)", ErrHeader, i+1, h, want)
			}
		}
		return columns{0, 1, 2, 3, 4}, nil
	}
	pos := map[string]int{}
	for i, h := range hdr {
		n := asciiLower(h)
		if _, ok := pos[n]; ok {
			return columns{}, fmt.Errorf("%w: column %q twice, want %s", ErrHeader, h, want)
		}
		pos[n] = i
	}
	idx := make([]int, len(Header))
	for i, c := range Header {
		p, ok := pos[c]
		if !ok {
			return columns{}, fmt.Errorf("%w: no column %s in %q, want %s", ErrHeader, c, strings.Join(hdr, ","), want)
		}
		idx[i] = p
	}
	return columns{idx[0], idx[1], idx[2], idx[3], idx[4]}, nil
}

// asciiLower lowercases ASCII letters only, so that no Unicode case
// folding ("imſi") passes for a column name.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func readRow(rec []string, c columns) (Row, ratSet, error) {
	ds := rec[c.date]
	if ds == "" {
		return Row{}, 0, errors.New("date: missing")
	}
	d, err := ParseDate(ds)
	if err != nil {
		return Row{}, 0, err
	}
	row := Row{Date: d, IMEI: rec[c.imei], IMSI: rec[c.imsi], MSISDN: rec[c.msisdn]}
	if err := checkFields(row.IMEI, row.IMSI, row.MSISDN); err != nil {
		return Row{}, 0, err
	}
	rat, err := parseRAT(rec[c.rat])
	if err != nil {
		return Row{}, 0, err
	}
	row.RAT = rat.codes()
	return row, rat, nil
}
