package opdata

import (
	"archive/zip"
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// Header is the header line the writer puts in every file.
var Header = []string{"date", "imei", "imsi", "msisdn", "rat"}

// Result describes an export Write made. When Write fails, Path, SumPath
// and SHA256 are empty and Input, Rows and Report say how far it got.
type Result struct {
	Path    string // the zip, <dir>/<name>.zip
	SumPath string // its checksum, <Path>.sha256, in sha256sum format
	SHA256  string // hex SHA-256 of the zip
	Input   int    // rows read from the sequence
	Rows    int    // distinct rows in the file
	Report  Report
}

// key is what makes a row distinct.
type key struct {
	date               Date
	imei, imsi, msisdn string
}

// Write exports rows as the DIRBS operator data dump of name into dir:
// <name>.zip holding <name>.csv, and <name>.zip.sha256 beside it.
//
// Rows may come in any order and repeat: the file has one row per
// distinct date, IMEI, IMSI and MSISDN (compared exactly as given), the
// RAT codes of duplicates merged, sorted by date, IMEI, IMSI and MSISDN.
// Every distinct row is held in memory until the file is written.
//
// Before anything is written, the rows go through the checks Parse
// applies (see the package documentation): a row breaking the syntax is
// ErrSyntax, a name DIRBS would refuse ErrName, and a failed ratio or
// date-range check ErrCheck with every failing *CheckError (the Report in
// the Result says which checks passed and which were skipped).
//
// The zip is written to a temporary file and renamed into place; an
// older checksum file of the same name is removed first, so that a crash
// can leave a zip without its checksum but never with a wrong one.
func Write(dir string, name Name, rows iter.Seq[Row], opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := name.check(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrName, err)
	}
	if err := name.checkDates(DateOf(opts.Now())); err != nil {
		return Result{}, err
	}
	merged, input, err := merge(rows)
	res := Result{Input: input}
	if err != nil {
		return res, err
	}
	keys := make([]key, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.imei, b.imei),
			cmp.Compare(a.imsi, b.imsi), cmp.Compare(a.msisdn, b.msisdn))
	})
	t := tally{name: name, opt: opts}
	for _, k := range keys {
		t.add(k.date, k.imei, k.imsi, k.msisdn, merged[k])
	}
	res.Rows, res.Report = len(keys), t.report()
	if err := res.Report.Err(); err != nil {
		return res, fmt.Errorf("opdata: export %s refused: %w", name.ZipName(), err)
	}

	zipPath := filepath.Join(dir, name.ZipName())
	sum, err := writeZip(zipPath, name, keys, merged, opts)
	if err != nil {
		return res, err
	}
	line := sum + "  " + name.ZipName() + "\n"
	if err := atomicfile.WriteFile(zipPath+".sha256", []byte(line), 0o640); err != nil {
		return res, fmt.Errorf("opdata: checksum: %w", err)
	}
	res.Path, res.SumPath, res.SHA256 = zipPath, zipPath+".sha256", sum
	return res, nil
}

// merge reads and checks the rows, merging the RAT codes of duplicates.
func merge(rows iter.Seq[Row]) (map[key]ratSet, int, error) {
	merged := make(map[key]ratSet)
	n := 0
	for r := range rows {
		n++
		if r.Date.IsZero() {
			return nil, n, fmt.Errorf("%w: row %d: date: missing", ErrSyntax, n)
		}
		if _, err := ParseDate(r.Date.String()); err != nil {
			return nil, n, fmt.Errorf("%w: row %d: %w", ErrSyntax, n, err)
		}
		if err := checkFields(r.IMEI, r.IMSI, r.MSISDN); err != nil {
			return nil, n, fmt.Errorf("%w: row %d: %w", ErrSyntax, n, err)
		}
		rat, err := ratOf(r.RAT)
		if err != nil {
			return nil, n, fmt.Errorf("%w: row %d: %w", ErrSyntax, n, err)
		}
		k := key{r.Date, r.IMEI, r.IMSI, r.MSISDN}
		merged[k] |= rat
	}
	return merged, n, nil
}

// writeZip writes the package atomically and returns its hex SHA-256.
func writeZip(path string, name Name, keys []key, merged map[key]ratSet, opts Options) (string, error) {
	f, err := atomicfile.Create(path, 0o640)
	if err != nil {
		return "", fmt.Errorf("opdata: %w", err)
	}
	defer f.Abort()
	h := sha256.New()
	zw := zip.NewWriter(io.MultiWriter(f, h))
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name.CSVName(), Method: zip.Deflate, Modified: opts.Now()})
	if err != nil {
		return "", fmt.Errorf("opdata: write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	rec := make([]string, len(Header))
	err = cw.Write(Header)
	for i := 0; err == nil && i < len(keys); i++ {
		k := keys[i]
		rec[0], rec[1], rec[2], rec[3], rec[4] = k.date.String(), k.imei, k.imsi, k.msisdn, merged[k].String()
		err = cw.Write(rec)
	}
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", fmt.Errorf("opdata: write %s: %w", path, err)
	}
	// No checksum may describe the zip about to replace the old one.
	if err := os.Remove(path + ".sha256"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("opdata: remove old checksum: %w", err)
	}
	if err := f.Commit(); err != nil {
		return "", fmt.Errorf("opdata: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
