package provision

import (
	"errors"
	"strings"
	"testing"

	"github.com/eir-sidecar/eir/eir"
)

// changeFor merges every change of one dataset.
func changeFor(t *testing.T, r Result, ds string) eir.Change {
	t.Helper()
	var out eir.Change
	found := false
	for _, c := range r.Changes {
		if c.Dataset.String() == ds {
			found = true
			out.Dataset, out.Replace = c.Dataset, out.Replace || c.Replace
			out.Add = append(out.Add, c.Add...)
			out.Remove = append(out.Remove, c.Remove...)
		}
	}
	if !found {
		t.Fatalf("no change for %s in %v", ds, r.Changes)
	}
	return out
}

func TestParseForms(t *testing.T) {
	in := "\ufeffIMEI,Status,IMSI,Source\r\n" +
		"352099001761481,black,,\r\n" +
		"49015420323751,grey,,national\r\n" +
		"35209900176148,white,001010000000001,\r\n" +
		"3520990017614899,override,,\r\n"
	r, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 4 {
		t.Fatalf("rows %d", r.Rows)
	}
	if c := changeFor(t, r, "manual/imei/black"); len(c.Add) != 0 || len(c.Remove) != 1 {
		// the override row for the same IMEI moved it off the black list
		t.Fatalf("black change %+v", c)
	}
	if c := changeFor(t, r, "manual/imei/override"); len(c.Add) != 1 || c.Add[0].IMEI != 35209900176148 {
		t.Fatalf("override change %+v", c)
	}
	if c := changeFor(t, r, "national/imei/grey"); len(c.Add) != 1 {
		t.Fatalf("grey change %+v", c)
	}
	if c := changeFor(t, r, "manual/pair/exception"); len(c.Add) != 1 || c.Add[0].IMSI != "001010000000001" {
		t.Fatalf("exception change %+v", c)
	}
	tacs, err := Parse(strings.NewReader("tac,status\n00100100,black\n35209900,grey,\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := changeFor(t, tacs, "manual/tac/black"); len(c.Add) != 1 || c.Add[0].TAC != 100100 {
		t.Fatalf("tac change %+v", c)
	}
	ranges, err := Parse(strings.NewReader("status,from,to,source\nblack,35209900000000,352099009999999,gsma\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := changeFor(t, ranges, "gsma/range/black"); len(c.Add) != 1 || c.Add[0].To != 35209900999999 {
		t.Fatalf("range change %+v", c)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
	}{
		{"empty file", "", "header row is required"},
		{"unknown column", "imei,status,colour\n", "unknown column"},
		{"no status", "imei\n1\n", "status column is required"},
		{"mixed forms", "imei,tac,status\n", "exactly one of"},
		{"bad imei", "imei,status\n1234,black\n", "line 2"},
		{"bad status", "imei,status\n35209900176148,purple\n", "line 2"},
		{"imsi on black", "imei,status,imsi\n35209900176148,black,00101\n", "must be white or exception"},
		{"bad imsi", "imei,status,imsi\n35209900176148,white,12ab5\n", "invalid imsi"},
		{"7-digit tac", "tac,status\n1001001,black\n", "8 digits"},
		{"reversed range", "from,to,status\n35209900000009,35209900000000,black\n", "start after its end"},
		{"bad source", "imei,status,source\n35209900176148,black,Bad Source\n", "source"},
		{"bad quoting", "imei,status\n\"35209900176148,black\n", "line"},
		{"bad action", "imei,status,action\n35209900176148,black,maybe\n", "action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.in), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
			if len(r.Changes) != 0 {
				t.Fatalf("changes returned with an error")
			}
		})
	}
}

func TestParseAllErrorsReported(t *testing.T) {
	in := "imei,status\n1,black\n35209900176148,black\n2,black\n"
	_, err := Parse(strings.NewReader(in), Options{})
	var re RowError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err %v: want lines 2 and 4", err)
	}
}

func TestParseReplace(t *testing.T) {
	r, err := Parse(strings.NewReader("imei,status,action\n35209900176148,black,\n49015420323751,black,remove\n"), Options{Replace: true, Source: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != len(AllDatasets("demo")) {
		t.Fatalf("%d changes, want every dataset of the source replaced", len(r.Changes))
	}
	for _, c := range r.Changes {
		if !c.Replace || len(c.Remove) != 0 {
			t.Fatalf("change %+v", c)
		}
	}
	if c := changeFor(t, r, "demo/imei/black"); len(c.Add) != 1 {
		t.Fatalf("black %+v", c)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("imei,status\n35209900176148,black\n")
	f.Add("tac,status,source\n01001001,grey,x\n")
	f.Add("from,to,status\n1,2,black\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(strings.NewReader(in), Options{})
		if err != nil && len(r.Changes) > 0 {
			t.Fatal("changes returned with an error")
		}
		if err == nil {
			if verr := eir.ValidateChanges(r.Changes); verr != nil {
				t.Fatalf("accepted a file whose changes are invalid: %v", verr)
			}
		}
	})
}

func TestParseSkipInvalid(t *testing.T) {
	in := "imei,status\n" +
		"35209900176148,black\n" +
		"3520990017614,black\n" + // 13 digits
		"49015420323751,purple\n" + // unknown list
		"\"4901542032375\"1,black\n" + // bare quote
		"86000000123456,grey\n"
	if _, err := Parse(strings.NewReader(in), Options{}); err == nil {
		t.Fatal("invalid rows accepted without SkipInvalid")
	}
	r, err := Parse(strings.NewReader(in), Options{SkipInvalid: true, MaxErrors: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 5 || r.SkippedRows != 3 || len(r.Skipped) != 2 {
		t.Fatalf("rows %d, skipped %d (kept %d), want 5, 3 (2)", r.Rows, r.SkippedRows, len(r.Skipped))
	}
	if r.Skipped[0].Line != 3 || !errors.Is(r.Skipped[0].Err, eir.ErrInvalidIMEI) || r.Skipped[1].Line != 4 {
		t.Fatalf("skipped: %v", r.Skipped)
	}
	if got := changeFor(t, r, "manual/imei/black").Add; len(got) != 1 || got[0].IMEI != 35209900176148 {
		t.Fatalf("black: %v", got)
	}
	if got := changeFor(t, r, "manual/imei/grey").Add; len(got) != 1 || got[0].IMEI != 86000000123456 {
		t.Fatalf("grey: %v", got)
	}
	if _, err := Parse(strings.NewReader("nonsense\n1,2\n"), Options{SkipInvalid: true}); err == nil {
		t.Fatal("a file without a usable header was accepted with SkipInvalid")
	}
}
