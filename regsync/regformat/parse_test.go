package regformat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

// collect parses body and returns the emitted records.
func collect(t *testing.T, body string, fi FileInfo, o Options) ([]Record, Stats, error) {
	t.Helper()
	var recs []Record
	st, err := Parse(strings.NewReader(body), fi, o, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err == nil && (st.Good != len(recs) || st.Good+st.Bad != st.Rows) {
		t.Fatalf("inconsistent stats %+v for %d records", st, len(recs))
	}
	return recs, st, err
}

// sample reads a copied sample file from testdata.
func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustIdentify(t *testing.T, name string) FileInfo {
	t.Helper()
	fi, err := Identify(name, "dirbs")
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func mustIMEI(t *testing.T, s string) eir.IMEI {
	t.Helper()
	v, err := eir.ParseIMEI(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rec is the part of a Record the table tests compare.
type rec struct {
	Line     int
	IMEI     string
	IMSI     string
	MSISDN   string
	Blocking bool
	Data     string
	Op       Op
	Change   string
}

func short(r Record) rec {
	return rec{Line: r.Line, IMEI: r.IMEI.String(), IMSI: string(r.IMSI), MSISDN: r.MSISDN,
		Blocking: r.Blocking, Data: r.Data, Op: r.Op, Change: r.Change}
}

// TestParseSamples parses the real sample files, each identified by its
// name where the name is meaningful, else given the list it is a sample of.
func TestParseSamples(t *testing.T) {
	tests := []struct {
		file   string
		format string   // Identify the file with this format, or
		fi     FileInfo // parse with this FileInfo
		good   int
		bad    int
		delta  bool
		want   []rec // the first records, if any
		check  func(t *testing.T, recs []Record, st Stats)
	}{
		{
			// Case 3: full blacklist, 4 entries, reasons and block dates.
			file: "20180217_000302_blacklist.csv", format: "dirbs", good: 4,
			want: []rec{
				{2, "31111106045110", "", "", true, "20160503|TAC not found in GSMA TAC database", OpAdd, ""},
				{3, "41111101365980", "", "", true, "20160503|TAC not found in GSMA TAC database", OpAdd, ""},
				{4, "12640904324427", "", "", true, "20171016|IMEI found on local stolen list", OpAdd, ""},
				{5, "12909602872723", "", "", true, "20171016|IMEI found on local stolen list", OpAdd, ""},
			},
		},
		{
			// Case 4: the first delta (base -1) is a whole list of adds.
			file: "20180217_000302_blacklist_delta_-1_42_blocked.csv", format: "dirbs", good: 4, delta: true,
			want: []rec{{2, "31111106045110", "", "", true, "20160503|TAC not found in GSMA TAC database", OpAdd, "blocked"}},
		},
		{
			// Case 11: the legacy two-column exceptions header.
			file: "20180217_000302_exceptions_operator1.csv", format: "dirbs", good: 3,
			want: []rec{
				{2, "81111101313646", "111038001111111", "", false, "", OpAdd, ""},
				{3, "31111106045110", "111035111111111", "", false, "", OpAdd, ""},
				{4, "41111101365980", "310035111111111", "", false, "", OpAdd, ""},
			},
		},
		{
			// Case 26: legacy combined delta with a change_type column.
			file: "20180217_000302_exceptions_operator1_delta_1_42.csv", format: "dirbs", good: 1, delta: true,
			want: []rec{{2, "64220299727231", "111041012987198", "", false, "", OpAdd, "added"}},
		},
		{
			// UG §3.3.4.1 stolen-list delta: the name says nothing, the
			// change_type column makes it a delta.
			file: "stolen_list_delta_sample.csv", format: "stolen", good: 3, delta: true,
			want: []rec{
				{2, "62222222222222", "", "", true, "20180909|blacklist", OpAdd, "add"},
				{3, "63333333333333", "", "", false, "20180909|pending", OpRemove, "remove"},
				{4, "64444444444444", "", "", false, "20180909|abcd", OpUpdate, "update"},
			},
		},
		{
			// Case 23 data: the LSDS full export.
			file: "StolenFullList08-26-2019T163616.csv", format: "lsds", good: 4,
			want: []rec{
				{2, "37006845010211", "", "", true, "20190826|blacklist", OpAdd, ""},
				{3, "37006845011021", "", "", true, "20190826|blacklist", OpAdd, ""},
				{4, "37006845010201", "", "", false, "20190819|pending", OpAdd, ""},
				{5, "37006845011020", "", "", false, "20190819|pending", OpAdd, ""},
			},
		},
		{
			file: "StolenDeltaList08-26-2019T164504.csv", format: "lsds", good: 4, delta: true,
			want: []rec{
				{2, "37006845010211", "", "", true, "20190826|blacklist", OpAdd, "add"},
				{3, "37006845011021", "", "", true, "20190826|blacklist", OpAdd, "add"},
				{4, "37006845010201", "", "", false, "20190819|pending", OpAdd, "add"},
				{5, "37006845011020", "", "", false, "20190819|pending", OpAdd, "add"},
			},
		},
		{
			// Case 12: 21 rows, all good; the duplicate is the caller's.
			file: "sample_stolen_list_duplicate.csv", format: "stolen", good: 21,
			want: []rec{
				{2, "62222222222222", "", "", true, "|", OpAdd, ""},
				{3, "62222222222222", "", "", true, "|", OpAdd, ""},
			},
			check: func(t *testing.T, recs []Record, st Stats) {
				if got := strings.Join(st.Header, ","); got != "imei,reporting_date,status" {
					t.Errorf("header %q", got)
				}
			},
		},
		{
			// Case 20: case-insensitive header.
			file: "pairing_list_insensitive_header.csv", fi: FileInfo{List: Exceptions}, good: 1,
			want: []rec{{2, "12345678901234", "123456789012345", "224456789012346", false, "", OpAdd, ""}},
		},
		{
			// Case 20: columns out of order (imsi,imei,msisdn).
			file: "pairing_list_out_of_order_columns.csv", fi: FileInfo{List: Exceptions}, good: 1,
			want: []rec{{2, "12345678901234", "123456789012345", "123456789012345", false, "", OpAdd, ""}},
		},
		{
			// Case 21: header only: valid, no rows.
			file: "pairing_list_empty_file.csv", fi: FileInfo{List: Exceptions},
		},
		{
			// Case 22: '%' is a bad row; so is '*' after six digits (not 14
			// leading digits, so not queryable).
			file: "barred_list_hexpound_bad_symbol.csv", fi: FileInfo{List: Blacklist}, good: 18, bad: 2,
			check: func(t *testing.T, recs []Record, st Stats) {
				want := []BadRow{
					{2, "imei not numeric: 62%222222222222", "62%222222222222"},
					{3, "imei not numeric: 633333*33333333", "633333*33333333"},
				}
				if len(st.BadRows) != len(want) {
					t.Fatalf("bad rows %+v", st.BadRows)
				}
				for i := range want {
					if st.BadRows[i] != want[i] {
						t.Errorf("bad row %d = %+v, want %+v", i, st.BadRows[i], want[i])
					}
				}
			},
		},
		{
			// '#' and '*' inside the first 14 characters: not queryable.
			file: "sample_barred_list_normalize.csv", fi: FileInfo{List: Blacklist}, good: 3, bad: 2,
			want: []rec{{4, "64422444444444", "", "", true, "", OpAdd, ""}},
		},
		{
			// Case 28: TACs keep their leading zeros.
			file: "sample_barred_tac_list_v2.csv", format: "tac", good: 20,
			check: func(t *testing.T, recs []Record, st Stats) {
				if recs[0].TAC.String() != "00100100" || !recs[0].Blocking {
					t.Errorf("first TAC %v", recs[0])
				}
				if q := mustIMEI(t, "00100100123456"); q.TAC() != recs[0].TAC {
					t.Errorf("query %v has TAC %v, want %v", q, q.TAC(), recs[0].TAC)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fi := tt.fi
			if tt.format != "" {
				var err error
				if fi, err = Identify(tt.file, tt.format); err != nil {
					t.Fatal(err)
				}
			}
			recs, st, err := collect(t, sample(t, tt.file), fi, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if st.Good != tt.good || st.Bad != tt.bad || st.Delta != tt.delta {
				t.Errorf("good %d bad %d delta %v, want %d %d %v; bad rows %+v",
					st.Good, st.Bad, st.Delta, tt.good, tt.bad, tt.delta, st.BadRows)
			}
			for i, w := range tt.want {
				if i >= len(recs) {
					t.Fatalf("only %d records", len(recs))
				}
				if got := short(recs[i]); got != w {
					t.Errorf("record %d\n got %+v\nwant %+v", i, got, w)
				}
				if recs[i].List != fi.List {
					t.Errorf("record %d list %q", i, recs[i].List)
				}
			}
			if tt.check != nil {
				tt.check(t, recs, st)
			}
		})
	}
}
