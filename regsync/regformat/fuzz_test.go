package regformat

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var fuzzLists = []List{Blacklist, Exceptions, Notifications, Stolen, BarredTAC, Ranges}

// FuzzParse checks that Parse never panics and keeps its invariants on
// arbitrary input, for every list and kind of file.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil && filepath.Ext(p) != ".md" {
			for i := range fuzzLists {
				f.Add(b, uint8(i), uint8(0))
			}
		}
	}
	for _, s := range []string{
		"\ufeffimei,block_date,reasons\r\n12345678901234,20200101,\"Stolen, police report\"\r\n",
		"imei,imsi,msisdn,block_date,reasons,amnesty_granted\n12345678901234,111018001111111,1,20200101,a|b,true\n",
		"imei,reporting_date,status,change_type\n37006845010201,2019-08-19,pending,add\n",
		"tac,change_type\n00100100,add\n1001001,remove\n",
		"from,to,reason\n35000000000000,35000000000009,x\n",
		"imei,reasons\n1,\"a\nb\"x\n",
		"imei\n\"",
		"",
	} {
		for i := range fuzzLists {
			f.Add([]byte(s), uint8(i), uint8(1))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, list, kind uint8) {
		fi := FileInfo{List: fuzzLists[int(list)%len(fuzzLists)]}
		switch kind % 4 {
		case 1: // legacy combined delta
			fi.Delta = true
		case 2: // per-type delta
			fi.Delta, fi.DeltaOp, fi.ChangeType = true, OpRemove, "removed"
		case 3:
			fi.Delta, fi.DeltaOp = true, OpUpdate
		}
		good := 0
		st, err := Parse(bytes.NewReader(data), fi, Options{MaxBadRows: 5, MaxRowBytes: 4096}, func(r Record) error {
			good++
			if r.List != fi.List || r.Op < OpAdd || r.Op > OpUpdate || r.Line < 2 {
				t.Fatalf("bad record %+v", r)
			}
			if fi.DeltaOp != 0 && r.Op != fi.DeltaOp {
				t.Fatalf("record op %v in a %v file", r.Op, fi.DeltaOp)
			}
			switch fi.List {
			case Ranges:
				if r.From > r.To {
					t.Fatalf("range %+v", r)
				}
			case BarredTAC:
				if r.TAC.String() == "" || len(r.TAC.String()) != 8 {
					t.Fatalf("tac %+v", r)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrHeader) && !errors.Is(err, ErrFormat) {
			t.Fatalf("unexpected error %v", err)
		}
		if st.Good != good || st.Good+st.Bad != st.Rows || len(st.BadRows) > 5 || len(st.BadRows) > st.Bad {
			t.Fatalf("stats %+v with %d emitted", st, good)
		}
		for _, br := range st.BadRows {
			if len(br.Raw) > rawLimit || br.Reason == "" || br.Line < 2 {
				t.Fatalf("bad row %+v", br)
			}
		}
	})
}
