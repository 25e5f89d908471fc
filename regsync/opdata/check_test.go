package opdata

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mutate returns 100 good rows with f applied to the first k.
func mutate(k int, f func(i int, r *Row)) []Row {
	rows := goodRows(100)
	for i := range k {
		f(i, &rows[i])
	}
	return rows
}

// Each ratio check passes at its threshold and fails one row beyond it,
// in Parse and in Write alike, naming the check and the figures.
func TestRatioBoundaries(t *testing.T) {
	cases := []struct {
		check   string
		at      int // failing rows that still pass (of 100)
		f       func(i int, r *Row)
		alsoBad []string // other checks failing one beyond
		msg     string   // in the error one beyond
	}{
		{"null imei", 5, func(_ int, r *Row) { r.IMEI = "" }, []string{"null any"}, "6 of 100 rows (6%) above the threshold 5%"},
		{"null imsi", 5, func(_ int, r *Row) { r.IMSI = "" }, []string{"null any"}, "6 of 100"},
		{"null msisdn", 5, func(_ int, r *Row) { r.MSISDN = "" }, []string{"null any"}, "6 of 100"},
		{"null rat", 5, func(_ int, r *Row) { r.RAT = nil }, []string{"null any"}, "6 of 100"},
		{"null any", 5, func(i int, r *Row) {
			switch i % 4 {
			case 0:
				r.IMEI = ""
			case 1:
				r.IMSI = ""
			case 2:
				r.MSISDN = ""
			default:
				r.RAT = nil
			}
		}, nil, "6 of 100"},
		{"unclean imei", 5, func(_ int, r *Row) { r.IMEI = "35A" + r.IMEI[3:] }, nil, "6 of 100"},
		{"out-of-region imsi", 10, func(_ int, r *Row) { r.IMSI = "222" + r.IMSI[3:] },
			[]string{"out-of-region any"}, "11 of 100 rows (11%) above the threshold 10%"},
		{"non-home-network imsi", 20, func(_ int, r *Row) { r.IMSI = "11199" + r.IMSI[5:] }, nil,
			"21 of 100 rows (21%) above the threshold 20%"},
		{"out-of-region msisdn", 10, func(_ int, r *Row) { r.MSISDN = "33" + r.MSISDN[2:] },
			[]string{"out-of-region any"}, "11 of 100"},
		{"out-of-region any", 10, func(i int, r *Row) {
			if i%2 == 0 {
				r.IMSI = "222" + r.IMSI[3:] // non-home too, well under 20%
			} else {
				r.MSISDN = "33" + r.MSISDN[2:]
			}
		}, nil, "11 of 100"},
	}
	for _, tc := range cases {
		t.Run(tc.check, func(t *testing.T) {
			for _, k := range []int{tc.at, tc.at + 1} {
				rows := mutate(k, tc.f)
				_, rep, perr := parseCSVText(t, csvOf(rows, "\r\n"), testOpts())
				res, werr := Write(t.TempDir(), testName, slices.Values(rows), testOpts())
				c := check(t, rep, tc.check)
				if c.Count != k || c.Rows != 100 || c.Ratio != float64(k)/100 {
					t.Fatalf("k=%d: %+v", k, c)
				}
				if k == tc.at {
					if perr != nil || werr != nil || !c.Passed {
						t.Fatalf("k=%d at the threshold: parse %v, write %v, %+v", k, perr, werr, c)
					}
					continue
				}
				want := append([]string{tc.check}, tc.alsoBad...)
				slices.Sort(want)
				for _, err := range []error{perr, werr} {
					if !errors.Is(err, ErrCheck) || !slices.Equal(failed(err), want) || !strings.Contains(err.Error(), tc.msg) {
						t.Fatalf("k=%d: err %v (failed %v), want %v with %q", k, err, failed(err), want, tc.msg)
					}
				}
				if c.Passed || check(t, res.Report, tc.check).Passed || res.Path != "" {
					t.Fatalf("k=%d: passed %+v, result %+v", k, c, res)
				}
			}
		})
	}
}

// A threshold set in Options replaces the default; a negative one turns
// the check off.
func TestThresholdOptions(t *testing.T) {
	rows := mutate(8, func(_ int, r *Row) { r.MSISDN = "" })
	opts := testOpts()
	opts.Thresholds.NullMSISDN, opts.Thresholds.NullAny = 0.08, 0.08
	if _, _, err := parseCSVText(t, csvOf(rows, "\r\n"), opts); err != nil {
		t.Fatal(err)
	}
	opts.Thresholds.NullMSISDN, opts.Thresholds.NullAny = -1, 0
	_, rep, err := parseCSVText(t, csvOf(rows, "\r\n"), opts)
	if err != nil {
		t.Fatal(err) // MSISDN left out of the combined check too
	}
	if c := check(t, rep, "null msisdn"); c.Skipped == "" || c.Count != 8 {
		t.Fatalf("%+v", c)
	}
	opts = testOpts()
	opts.Thresholds.NullMSISDN = 1e-12
	rows = mutate(1, func(_ int, r *Row) { r.MSISDN = "" })
	if _, _, err := parseCSVText(t, csvOf(rows, "\r\n"), opts); !slices.Equal(failed(err), []string{"null msisdn"}) {
		t.Fatalf("err %v", err)
	}
}

// Without networks or country codes the region checks are skipped, and
// the report says so.
func TestRegionChecksSkipped(t *testing.T) {
	rows := mutate(50, func(_ int, r *Row) { r.IMSI, r.MSISDN = "222"+r.IMSI[3:], "33"+r.MSISDN[2:] })
	opts := testOpts()
	opts.Networks, opts.CountryCodes = nil, nil
	_, rep, err := parseCSVText(t, csvOf(rows, "\r\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"out-of-region imsi", "out-of-region msisdn", "out-of-region any", "non-home-network imsi"} {
		if c := check(t, rep, n); c.Skipped == "" || c.Passed {
			t.Errorf("%+v, want skipped", c)
		}
	}
	// Several networks: an IMSI of any of them is home.
	opts = testOpts()
	opts.Networks = append(opts.Networks, Network{MCC: "222", MNC: "123"})
	rows = mutate(50, func(_ int, r *Row) { r.IMSI = "222123" + r.IMSI[6:] })
	if _, _, err := parseCSVText(t, csvOf(rows, "\r\n"), opts); err != nil {
		t.Fatal(err)
	}
}

// The leading-zero heuristic fails when more IMEIs start with 1 than 0.
func TestLeadingZero(t *testing.T) {
	for _, tc := range []struct {
		zeros, ones int
		wantFail    bool
	}{{0, 0, false}, {3, 3, false}, {3, 4, true}, {0, 1, true}} {
		t.Run(fmt.Sprintf("%d-%d", tc.zeros, tc.ones), func(t *testing.T) {
			rows := mutate(tc.zeros+tc.ones, func(i int, r *Row) {
				if i < tc.zeros {
					r.IMEI = "0" + r.IMEI[1:]
				} else {
					r.IMEI = "1" + r.IMEI[1:]
				}
			})
			_, rep, err := parseCSVText(t, csvOf(rows, "\r\n"), testOpts())
			_, werr := Write(t.TempDir(), testName, slices.Values(rows), testOpts())
			if !tc.wantFail {
				if err != nil || werr != nil {
					t.Fatalf("%v %v", err, werr)
				}
				return
			}
			msg := fmt.Sprintf("%d IMEIs start with 1, %d with 0", tc.ones, tc.zeros)
			for _, e := range []error{err, werr} {
				if !slices.Equal(failed(e), []string{"leading zero"}) || !strings.Contains(e.Error(), msg) {
					t.Fatalf("err %v, want the leading zero check with %q", e, msg)
				}
			}
			opts := testOpts()
			opts.SkipLeadingZero = true
			if _, _, err := parseCSVText(t, csvOf(rows, "\r\n"), opts); err != nil {
				t.Fatal(err)
			}
			if c := check(t, rep, "leading zero"); c.Count != tc.ones {
				t.Fatalf("%+v", c)
			}
		})
	}
}

// Rows on the first and last day of the name pass; a day outside fails.
func TestDateRange(t *testing.T) {
	rows := goodRows(40)
	rows[0].Date, rows[1].Date = testName.Start, testName.End
	if _, _, err := parseCSVText(t, csvOf(rows, "\r\n"), testOpts()); err != nil {
		t.Fatal(err)
	}
	rows[2].Date, rows[3].Date = Date{2026, 11, 30}, Date{2026, 12, 7}
	_, rep, err := parseCSVText(t, csvOf(rows, "\r\n"), testOpts())
	if !slices.Equal(failed(err), []string{"date range"}) || !strings.Contains(err.Error(), "2 of 40 rows outside") {
		t.Fatalf("err %v", err)
	}
	if c := check(t, rep, "date range"); c.Count != 2 || c.Passed {
		t.Fatalf("%+v", c)
	}
}
