package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eir-sidecar/eir/admin/api"
)

// table writes aligned columns batch by batch, so that long listings
// (list -all, events -follow) stream: the header and the first batch set
// the column widths, which only grow afterwards. The last column is not
// padded. Control characters in cells (from eird's data) are replaced.
type table struct {
	w       io.Writer
	header  []string
	widths  []int
	started bool
}

func newTable(w io.Writer, header ...string) *table {
	return &table{w: w, header: header, widths: make([]int, len(header))}
}

// write writes rows; the header comes before the first row.
func (t *table) write(rows ...[]string) {
	if len(rows) == 0 {
		return
	}
	for _, r := range rows {
		for i, cell := range r {
			r[i] = clean(cell)
		}
	}
	if !t.started {
		t.started = true
		t.grow(t.header)
		for _, r := range rows {
			t.grow(r)
		}
		t.line(t.header)
	}
	for _, r := range rows {
		t.line(r)
		t.grow(r)
	}
}

func (t *table) grow(r []string) {
	for i, cell := range r {
		if i < len(t.widths) {
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(cell))
		}
	}
}

func (t *table) line(r []string) {
	var b strings.Builder
	for i, cell := range r {
		if i == len(r)-1 {
			b.WriteString(cell)
			break
		}
		b.WriteString(cell)
		if i < len(t.widths) {
			b.WriteString(strings.Repeat(" ", max(0, t.widths[i]-utf8.RuneCountInString(cell))))
		}
		b.WriteString("  ")
	}
	fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
}

// clean replaces control characters (newlines, escapes) with spaces.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// showTime formats an RFC 3339 time from eird to the second; "-" when
// empty, as it is when it does not parse.
func showTime(s string) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// showTimeOf formats a time from eird to the second; "-" when absent.
func showTimeOf(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// showExpiry formats an entry's expiry: to the second when it falls on
// one, else to the millisecond (the precision eird keeps it with); "-"
// when absent.
func showExpiry(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	if t.Nanosecond() == 0 {
		return t.Format(time.RFC3339)
	}
	return t.Format(api.ExpiryLayout)
}

// dash is s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseWhen parses an RFC 3339 time or a duration before now ("24h",
// "90m", "7d").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration before now (24h, 90m, 7d)", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%q: the duration must be > 0", s)
	}
	return now.Add(-d), nil
}

// parseDuration is time.ParseDuration with days: "7d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	if i := strings.IndexByte(s, 'd'); i > 0 {
		var days int64
		if _, err := fmt.Sscanf(s[:i], "%d", &days); err != nil || fmt.Sprint(days) != s[:i] {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		var rest time.Duration
		if s[i+1:] != "" {
			var err error
			if rest, err = time.ParseDuration(s[i+1:]); err != nil {
				return 0, err
			}
		}
		return time.Duration(days)*24*time.Hour + rest, nil
	}
	return time.ParseDuration(s)
}

// compact is b as compact JSON (b itself when it is not JSON).
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// days is a duration flag that also takes days: 30d, 1d12h.
type days time.Duration

func (d *days) String() string { return time.Duration(*d).String() }

func (d *days) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 720h, 90m or 30d")
	}
	*d = days(v)
	return nil
}
