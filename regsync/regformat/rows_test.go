package regformat

import (
	"strings"
	"testing"
)

// TestNormaliseIMEI covers cases 1 and 2 (the DIRBS imei_norm vectors).
func TestNormaliseIMEI(t *testing.T) {
	tests := []struct {
		in, want, reason string
	}{
		{"35120030203334f", "35120030203334", ""},
		{"52003020863612#", "52003020863612", ""},
		{"22a456789012345", "", "imei not numeric: 22a456789012345"},
		{"a1234", "", "imei not numeric: a1234"},
		{" 642222#2222222 ", "", "imei not numeric: 642222#2222222"},
		{"", "", "imei empty"},
		{"   ", "", "imei empty"},
		{"1234567890123456", "12345678901234", ""},
		{"12345678901234567", "", "imei longer than 16 characters: 12345678901234567"},
		{"644444444444444", "64444444444444", ""},
		{"21AA0000000000", "", "imei not numeric: 21AA0000000000"}, // case 29
		{"62%222222222222", "", "imei not numeric: 62%222222222222"},
		{"1234567890123", "", "imei shorter than 14 digits: 1234567890123"},
		{"12345678901234ab", "12345678901234", ""},
		// Case 2: a Luhn digit, a spare 0 and an IMEISV give one key.
		{"862222222222264", "86222222222226", ""},
		{"862222222222260", "86222222222226", ""},
		{"8622222222222601", "86222222222226", ""},
		{"\t01234567891234\t", "01234567891234", ""},
	}
	for _, tt := range tests {
		got, reason := normIMEI(strings.TrimSpace(tt.in))
		if reason != tt.reason || (reason == "" && got.String() != tt.want) {
			t.Errorf("normIMEI(%q) = %v, %q; want %s, %q", tt.in, got, reason, tt.want, tt.reason)
		}
	}

	// The same vectors through Parse, one per row (quoted to keep the
	// spaces and the empty value).
	var b strings.Builder
	b.WriteString("imei\n")
	for _, tt := range tests {
		b.WriteString(`"` + tt.in + "\"\n")
	}
	recs, st, err := collect(t, b.String(), FileInfo{List: Blacklist}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var good []string
	for _, r := range recs {
		good = append(good, r.IMEI.String())
	}
	var want []string
	for _, tt := range tests {
		if tt.want != "" {
			want = append(want, tt.want)
		}
	}
	if strings.Join(good, " ") != strings.Join(want, " ") || st.Bad != len(tests)-len(want) {
		t.Errorf("good %v, bad %d; want %v", good, st.Bad, want)
	}
	for _, br := range st.BadRows {
		if tt := tests[br.Line-2]; br.Reason != tt.reason {
			t.Errorf("line %d: reason %q, want %q", br.Line, br.Reason, tt.reason)
		}
	}
}

// TestParseRows covers row-level rules with small synthetic files.
func TestParseRows(t *testing.T) {
	type badWant struct {
		line   int
		reason string // substring
	}
	tests := []struct {
		name  string
		fi    FileInfo
		body  string
		want  []rec
		bad   []badWant
		delta bool
		check func(t *testing.T, recs []Record, st Stats)
	}{
		{
			// Case 25: BOM, CRLF, a quoted reason with a comma.
			name: "bom crlf quoted reason",
			fi:   FileInfo{List: Blacklist},
			body: "\ufeffimei,block_date,reasons\r\n12345678901234,20200101,\"Stolen, police report\"\r\n",
			want: []rec{{2, "12345678901234", "", "", true, "20200101|Stolen, police report", OpAdd, ""}},
			check: func(t *testing.T, recs []Record, st Stats) {
				if st.Header[0] != "imei" {
					t.Errorf("header %q", st.Header)
				}
			},
		},
		{
			// Case 5: reasons are a set; order, spaces and repeats do not matter.
			name: "reasons canonical",
			fi:   FileInfo{List: Blacklist},
			body: "imei,block_date,reasons\n" +
				"12345678901234,20200101,Duplicate IMEI detected|TAC not found in GSMA TAC database\n" +
				"12345678901235,20200101, TAC not found in GSMA TAC database | Duplicate IMEI detected |Duplicate IMEI detected|\n" +
				"12345678901236,,\n" +
				"12345678901237,,x\n",
			want: []rec{
				{2, "12345678901234", "", "", true, "20200101|Duplicate IMEI detected|TAC not found in GSMA TAC database", OpAdd, ""},
				{3, "12345678901235", "", "", true, "20200101|Duplicate IMEI detected|TAC not found in GSMA TAC database", OpAdd, ""},
				{4, "12345678901236", "", "", true, "", OpAdd, ""},
				{5, "12345678901237", "", "", true, "|x", OpAdd, ""},
			},
		},
		{
			name: "blacklist bad block_date",
			fi:   FileInfo{List: Blacklist},
			body: "imei,block_date\n12345678901234,2020-01-01\n12345678901234,2020010\n",
			bad:  []badWant{{2, "block_date not YYYYMMDD: 2020-01-01"}, {3, "block_date not YYYYMMDD"}},
		},
		{
			name: "field count and unknown columns",
			fi:   FileInfo{List: Blacklist},
			body: "imei,extra_column_from_the_future\n12345678901234,x\n12345678901235\n12345678901236,a,b\n",
			want: []rec{{2, "12345678901234", "", "", true, "", OpAdd, ""}},
			bad:  []badWant{{3, "1 fields, want 2"}, {4, "3 fields, want 2"}},
		},
		{
			name: "quoting errors within a line",
			fi:   FileInfo{List: Blacklist},
			body: "imei,reasons\n12345678901234,a\"b\n12345678901235,\"a\"b\n12345678901236,ok\n",
			want: []rec{{4, "12345678901236", "", "", true, "|ok", OpAdd, ""}},
			bad:  []badWant{{2, "csv: bare \" in non-quoted-field"}, {3, "csv: extraneous or missing \" in quoted-field"}},
			check: func(t *testing.T, recs []Record, st Stats) {
				if st.BadRows[0].Raw != `12345678901234,a"b` || st.BadRows[1].Raw != `12345678901235,"a"b` {
					t.Errorf("raw %q, %q", st.BadRows[0].Raw, st.BadRows[1].Raw)
				}
			},
		},
		{
			name: "line numbers with blank lines and a multi-line field",
			fi:   FileInfo{List: Blacklist},
			body: "imei,reasons\r\n\r\n12345678901234,\"a\r\nb\"\r\n\r\n\r\nbad\r\n12345678901235,c\r\n",
			want: []rec{
				{3, "12345678901234", "", "", true, "|a\nb", OpAdd, ""},
				{8, "12345678901235", "", "", true, "|c", OpAdd, ""},
			},
			bad: []badWant{{7, "1 fields, want 2"}},
			check: func(t *testing.T, recs []Record, st Stats) {
				if st.BadRows[0].Raw != "bad" {
					t.Errorf("raw %q", st.BadRows[0].Raw)
				}
			},
		},
		{
			name: "no trailing newline",
			fi:   FileInfo{List: Blacklist},
			body: "imei\r\n12345678901234\r\n12345678901235",
			want: []rec{
				{2, "12345678901234", "", "", true, "", OpAdd, ""},
				{3, "12345678901235", "", "", true, "", OpAdd, ""},
			},
		},
		{
			// Case 10: an exception with an MSISDN.
			name: "exceptions",
			fi:   FileInfo{List: Exceptions},
			body: "imei,imsi,msisdn\n" +
				"12345678901234,111018001111111,223338000000\n" +
				"12345678901234,,1\n" +
				"12345678901234,1234,1\n" +
				"12345678901234,11101800111111a,1\n" +
				"12345678901234,111018001111111,+223338000000\n" +
				"12345678901234,111018001111111,1234567890123456\n" +
				"12345678901234,111018001111111,\n",
			want: []rec{
				{2, "12345678901234", "111018001111111", "223338000000", false, "", OpAdd, ""},
				{8, "12345678901234", "111018001111111", "", false, "", OpAdd, ""},
			},
			bad: []badWant{
				{3, "imsi empty"}, {4, "imsi not 5 to 15 digits: 1234"}, {5, "imsi not 5 to 15 digits"},
				{6, "msisdn not up to 15 digits: +223338000000"}, {7, "msisdn not up to 15 digits"},
			},
		},
		{
			name: "notifications",
			fi:   FileInfo{List: Notifications},
			body: "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n" +
				"12345678901234,111018001111111,223338000000,20200101,b|a,TRUE\n" +
				"12345678901234,111018001111111,,20200101,,\n" +
				"12345678901234,111018001111111,1,20200101,a,maybe\n" +
				"12345678901234,111018001111111,1,2020,a,false\n",
			want: []rec{
				{2, "12345678901234", "111018001111111", "223338000000", false, "20200101|a|b|true", OpAdd, ""},
				{3, "12345678901234", "111018001111111", "", false, "20200101||", OpAdd, ""},
			},
			bad: []badWant{{4, "amnesty_granted not true or false: maybe"}, {5, "block_date not YYYYMMDD: 2020"}},
		},
		{
			// Case 13: a conflict is two good rows with different Data.
			name: "stolen conflict data",
			fi:   FileInfo{List: Stolen},
			body: "imei,reporting_date,status\n01234567891234,20160401,\n01234567891234,20160402,\n",
			want: []rec{
				{2, "01234567891234", "", "", true, "20160401|", OpAdd, ""},
				{3, "01234567891234", "", "", true, "20160402|", OpAdd, ""},
			},
		},
		{
			name: "stolen dates and statuses",
			fi:   FileInfo{List: Stolen},
			body: "IMEI,Reporting_Date,Status\n" +
				"12345678901234,2019-08-19,BlackList\n" +
				"12345678901235,,Recovered\n" +
				"12345678901236,19-08-2019,\n" +
				"12345678901237,2019-8-19,\n",
			want: []rec{
				{2, "12345678901234", "", "", true, "20190819|blacklist", OpAdd, ""},
				{3, "12345678901235", "", "", false, "|recovered", OpAdd, ""},
			},
			bad: []badWant{{4, "reporting_date not YYYYMMDD or YYYY-MM-DD: 19-08-2019"}, {5, "reporting_date"}},
		},
		{
			// Case 23: LSDS delta rows of one IMEI over three files.
			name:  "lsds progression",
			fi:    FileInfo{List: Stolen, Delta: true},
			delta: true,
			body: "imei,reporting_date,status,change_type\n" +
				"37006845010201,20190819,pending,add\n" +
				"37006845010201,20190819,blacklist,update\n" +
				"37006845010201,20190819,recovered,remove\n",
			want: []rec{
				{2, "37006845010201", "", "", false, "20190819|pending", OpAdd, "add"},
				{3, "37006845010201", "", "", true, "20190819|blacklist", OpUpdate, "update"},
				{4, "37006845010201", "", "", false, "20190819|recovered", OpRemove, "remove"},
			},
		},
		{
			// Cases 14 and 16: delta rows are emitted as they are; the
			// multiple-changes and duplicate checks are the caller's.
			name:  "stolen delta duplicates",
			fi:    FileInfo{List: Stolen},
			delta: true,
			body: "imei,change_type\n12345678901234,add\n12345678901234,remove\n" +
				"12345678901243,remove\n22345678901243,add\n22345678901243,add\n42345678901243,ADD\n52345678901243, add \n",
			want: []rec{
				{2, "12345678901234", "", "", true, "|", OpAdd, "add"},
				{3, "12345678901234", "", "", true, "|", OpRemove, "remove"},
				{4, "12345678901243", "", "", true, "|", OpRemove, "remove"},
				{5, "22345678901243", "", "", true, "|", OpAdd, "add"},
				{6, "22345678901243", "", "", true, "|", OpAdd, "add"},
				{7, "42345678901243", "", "", true, "|", OpAdd, "add"},
				{8, "52345678901243", "", "", true, "|", OpAdd, "add"},
			},
		},
		{
			name:  "change_type values",
			fi:    FileInfo{List: Blacklist, Delta: true, Base: 1, Run: 2},
			delta: true,
			body: "imei,change_type\n" +
				"12345678901234,blocked\n12345678901235,unblocked\n12345678901236,changed\n" +
				"12345678901237,new\n12345678901238,no_longer_seen\n12345678901239,Blacklisted\n" +
				"12345678901240,\n12345678901241,deleted\n",
			want: []rec{
				{2, "12345678901234", "", "", true, "", OpAdd, "blocked"},
				{3, "12345678901235", "", "", true, "", OpRemove, "unblocked"},
				{4, "12345678901236", "", "", true, "", OpUpdate, "changed"},
				{5, "12345678901237", "", "", true, "", OpAdd, "new"},
				{6, "12345678901238", "", "", true, "", OpRemove, "no_longer_seen"},
				{7, "12345678901239", "", "", true, "", OpRemove, "blacklisted"},
			},
			bad: []badWant{{8, "change_type empty"}, {9, "change_type unknown: deleted"}},
		},
		{
			// A per-type DIRBS delta may repeat its type in a column.
			name:  "per-type file with change_type column",
			fi:    FileInfo{List: Exceptions, Delta: true, Base: 1, Run: 2, DeltaOp: OpAdd, ChangeType: "added"},
			delta: true,
			body:  "imei,imsi,change_type\n12345678901234,111018001111111,added\n12345678901235,111018001111111,removed\n12345678901236,111018001111111,add\n",
			want:  []rec{{2, "12345678901234", "111018001111111", "", false, "", OpAdd, "added"}},
			bad:   []badWant{{3, "change_type removed in a file of change type added"}, {4, "change_type add in a file of change type added"}},
		},
		{
			name:  "per-type file without change_type column",
			fi:    FileInfo{List: Blacklist, Delta: true, Base: 1, Run: 2, DeltaOp: OpRemove, ChangeType: "unblocked"},
			delta: true,
			body:  "imei,block_date,reasons\n12345678901234,,\n",
			want:  []rec{{2, "12345678901234", "", "", true, "", OpRemove, "unblocked"}},
		},
		{
			// A hand-made FileInfo with an op and no word: any word of that op.
			name:  "delta op without change word",
			fi:    FileInfo{List: BarredTAC, Delta: true, DeltaOp: OpRemove},
			delta: true,
			body:  "tac,change_type\n12345678,remove\n12345679,unblocked\n12345670,add\n",
			check: func(t *testing.T, recs []Record, st Stats) {
				if len(recs) != 2 || recs[0].TAC != 12345678 || recs[1].TAC != 12345679 ||
					recs[0].Op != OpRemove || recs[1].Op != OpRemove || recs[0].Change != "remove" || recs[1].Change != "remove" {
					t.Errorf("records %+v", recs)
				}
			},
			bad: []badWant{{4, "change_type add in a file of change type remove"}},
		},
		{
			// Case 27: a notifications "blacklisted" delta removes the triplet.
			name:  "notifications blacklisted delta",
			fi:    mustIdentify(t, "20180217_000302_notifications_operator1_delta_42_47_blacklisted.csv"),
			delta: true,
			body:  "imei,imsi,msisdn,block_date,reasons\r\n12345678901234,111018001111111,223338000000,20200101,Duplicate IMEI detected\r\n",
			want:  []rec{{2, "12345678901234", "111018001111111", "223338000000", false, "20200101|Duplicate IMEI detected|", OpRemove, "blacklisted"}},
		},
		{
			// Case 8: DIRBS writes every type file, header-only when empty.
			name:  "empty per-type delta",
			fi:    mustIdentify(t, "20180217_000302_blacklist_delta_1004_1010_unblocked.csv"),
			delta: true,
			body:  "imei,block_date,reasons\r\n",
			want:  []rec{},
		},
		{
			// Case 28: a TAC that lost its leading zero is a bad row.
			name: "tac",
			fi:   FileInfo{List: BarredTAC},
			body: "TAC\n00100100\n1001001\n123456789\nabcdefgh\n\"\"\n",
			check: func(t *testing.T, recs []Record, st Stats) {
				if len(recs) != 1 || recs[0].TAC != 100100 || recs[0].TAC.String() != "00100100" {
					t.Errorf("records %+v", recs)
				}
			},
			bad: []badWant{
				{3, "tac has 7 digits, want 8 (leading zero lost?): 1001001"},
				{4, "tac not 8 digits: 123456789"}, {5, "tac not 8 digits: abcdefgh"}, {6, "tac empty"},
			},
		},
		{
			name: "ranges",
			fi:   FileInfo{List: Ranges},
			body: "from,to,reason\n" +
				"35000000000000,350000000009999,stolen shipment\n" +
				"35000000000001,35000000000001,\n" +
				"35000000000002,35000000000001,x\n" +
				"3500000000000,35000000000001,x\n" +
				"35000000000000,3500000000000a,x\n",
			check: func(t *testing.T, recs []Record, st Stats) {
				if len(recs) != 2 {
					t.Fatalf("records %+v", recs)
				}
				r := recs[0]
				if r.From.String() != "35000000000000" || r.To.String() != "35000000000999" || r.Data != "stolen shipment" || !r.Blocking || r.Op != OpAdd {
					t.Errorf("record %+v", r)
				}
				if recs[1].From != recs[1].To {
					t.Errorf("record %+v", recs[1])
				}
			},
			bad: []badWant{
				{4, "range start 35000000000002 after its end 35000000000001"},
				{5, "from not 14 to 16 digits: 3500000000000"},
				{6, "to not 14 to 16 digits: 3500000000000a"},
			},
		},
		{
			name:  "ranges aliases",
			fi:    FileInfo{List: Ranges},
			delta: true,
			body:  "IMEI_To,imei_from,change_type\n35000000000009,35000000000000,remove\n",
			check: func(t *testing.T, recs []Record, st Stats) {
				if len(recs) != 1 || recs[0].From.String() != "35000000000000" || recs[0].To.String() != "35000000000009" || recs[0].Op != OpRemove {
					t.Errorf("records %+v", recs)
				}
			},
		},
		{
			name: "invalid utf-8 in reasons",
			fi:   FileInfo{List: Blacklist},
			body: "imei,reasons\n12345678901234,T\xe9l\xe9phone vol\xe9\n",
			want: []rec{{2, "12345678901234", "", "", true, "|T\uFFFDl\uFFFDphone vol\uFFFD", OpAdd, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, st, err := collect(t, tt.body, tt.fi, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if st.Delta != tt.delta {
				t.Errorf("delta %v", st.Delta)
			}
			if tt.want != nil {
				if len(recs) != len(tt.want) {
					t.Errorf("%d records, want %d: %+v", len(recs), len(tt.want), recs)
				}
				for i := range min(len(recs), len(tt.want)) {
					if got := short(recs[i]); got != tt.want[i] {
						t.Errorf("record %d\n got %+v\nwant %+v", i, got, tt.want[i])
					}
				}
			}
			if st.Bad != len(tt.bad) || len(st.BadRows) != len(tt.bad) {
				t.Fatalf("bad %d %+v, want %+v", st.Bad, st.BadRows, tt.bad)
			}
			for i, w := range tt.bad {
				if g := st.BadRows[i]; g.Line != w.line || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("bad row %d = %+v, want line %d reason %q", i, g, w.line, w.reason)
				}
			}
			if tt.check != nil {
				tt.check(t, recs, st)
			}
		})
	}
}
