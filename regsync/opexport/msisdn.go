package opexport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readMSISDNs reads the IMSI→MSISDN file: CSV rows "imsi,msisdn" (an
// optional header "imsi,msisdn"; '#' starts a comment line; a '+' before
// the MSISDN is dropped). "" reads nothing. A malformed row fails the
// export rather than exporting wrong MSISDNs; the error names the line,
// never the identities.
func readMSISDNs(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("msisdn file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = 2
	r.TrimLeadingSpace = true
	out := make(map[string]string)
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("msisdn file %s: %w", path, err)
		}
		imsi, msisdn := strings.TrimSpace(rec[0]), strings.TrimPrefix(strings.TrimSpace(rec[1]), "+")
		if first && strings.EqualFold(imsi, "imsi") {
			continue
		}
		line, _ := r.FieldPos(0)
		switch {
		case len(imsi) < 14 || len(imsi) > 15 || !allDigits(imsi):
			return nil, fmt.Errorf("msisdn file %s: line %d: imsi: want 14-15 digits", path, line)
		case len(msisdn) > 15 || !allDigits(msisdn):
			return nil, fmt.Errorf("msisdn file %s: line %d: msisdn: want 1-15 digits", path, line)
		}
		out[imsi] = msisdn
	}
}
