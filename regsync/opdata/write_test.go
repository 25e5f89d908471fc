package opdata

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readMember(t *testing.T, zipPath string) (string, []byte) {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 {
		t.Fatalf("%d members", len(zr.File))
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return zr.File[0].Name, b
}

// The file is exactly the header and the rows, CRLF, sorted, duplicates
// merged with their RAT codes united.
func TestWriteBytesAndMerge(t *testing.T) {
	dir := t.TempDir()
	rows := []Row{
		{Date: Date{2026, 12, 2}, IMEI: "35120030203334", IMSI: "111018001111111", MSISDN: "22300000001", RAT: []string{"006"}},
		{Date: Date{2026, 12, 1}, IMEI: "01234567890123", IMSI: "111018001111112", RAT: []string{"002|001"}},
		{Date: Date{2026, 12, 2}, IMEI: "35120030203334", IMSI: "111018001111111", MSISDN: "22300000001", RAT: []string{"001", "006"}},
		{Date: Date{2026, 12, 2}, IMEI: "35120030203334", IMSI: "111018001111111", MSISDN: "22300000001"},
		{Date: Date{2026, 12, 1}, IMEI: "01234567890123", IMSI: "111018001111112", RAT: []string{"101"}},
	}
	opts := testOpts()
	opts.Thresholds = Thresholds{NullMSISDN: -1} // one of two rows has no MSISDN
	res, err := Write(dir, testName, slices.Values(rows), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Input != 5 || res.Rows != 2 {
		t.Fatalf("input %d rows %d, want 5 and 2", res.Input, res.Rows)
	}
	if res.Path != filepath.Join(dir, "operator1_20261201_20261206.zip") {
		t.Fatalf("path %s", res.Path)
	}
	name, body := readMember(t, res.Path)
	if name != "operator1_20261201_20261206.csv" {
		t.Fatalf("member %q", name)
	}
	want := "date,imei,imsi,msisdn,rat\r\n" +
		"20261201,01234567890123,111018001111112,,001|002|101\r\n" +
		"20261202,35120030203334,111018001111111,22300000001,001|006\r\n"
	if string(body) != want {
		t.Fatalf("body\n%q\nwant\n%q", body, want)
	}
	if strings.Count(string(body), "\n") != strings.Count(string(body), "\r\n") {
		t.Fatal("a line ends with a bare LF")
	}
}

// Rows written in any order and repeated come back from Parse as the
// distinct rows, RATs merged.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rows := goodRows(300)
	rows[7].RAT = []string{"001", "002"}
	rows[8].IMEI = "35120030203334f" // hex check digit: clean
	rows[9].IMEI = "3512003020333#"
	want := slices.Clone(rows)
	in := slices.Clone(rows)
	for i := range 40 { // duplicates, some with more RATs
		d := rows[i*5]
		d.RAT = []string{"007"}
		in = append(in, d)
		want[i*5].RAT = []string{"006", "007"}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rnd.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	res, err := Write(dir, testName, slices.Values(in), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	var got []Row
	name, rep, err := ParseFile(res.Path, testOpts(), func(r Row) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if name != testName || rep.Rows != 300 || res.Rows != 300 || res.Input != 340 {
		t.Fatalf("name %+v report rows %d result %+v", name, rep.Rows, res)
	}
	key := func(r Row) string { return r.Date.String() + r.IMEI + r.IMSI + r.MSISDN + strings.Join(r.RAT, "|") }
	ks := func(rs []Row) []string {
		var out []string
		for _, r := range rs {
			out = append(out, key(r))
		}
		slices.Sort(out)
		return out
	}
	if g, w := ks(got), ks(want); !slices.Equal(g, w) {
		t.Fatalf("round trip differs:\n%v\n%v", g[:5], w[:5])
	}
	for _, c := range rep.Checks {
		if c.Skipped != "" || !c.Passed {
			t.Errorf("check %+v", c)
		}
	}
}

// The checksum file verifies with sha256sum -c, else by computing it.
func TestChecksumFile(t *testing.T) {
	dir := t.TempDir()
	// A stale checksum of an older export of the same name is replaced.
	if err := os.WriteFile(filepath.Join(dir, testName.ZipName()+".sha256"), []byte("00  x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Write(dir, testName, slices.Values(goodRows(10)), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(res.SumPath)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(zb)
	if want := hex.EncodeToString(h[:]) + "  " + testName.ZipName() + "\n"; string(sum) != want || res.SHA256 != hex.EncodeToString(h[:]) {
		t.Fatalf("sum file %q, want %q (result %s)", sum, want, res.SHA256)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", filepath.Base(res.SumPath))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Fatalf("sha256sum -c: %v: %s", err, out)
		}
	} else {
		t.Log("sha256sum not installed: checked by computing the sum only")
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Fatalf("files in dir: %v (temporary files left?)", des)
	}
}

// A refused export writes nothing and says why.
func TestWriteRefuses(t *testing.T) {
	future := testName
	future.End = Date{2026, 12, 8}
	cases := []struct {
		name    string
		n       Name
		rows    []Row
		wantErr error
		wantMsg string
	}{
		{"end in the future", future, goodRows(3), ErrName, "end date 20261208 in the future"},
		{"start after end", Name{"operator1", Date{2026, 12, 5}, Date{2026, 12, 4}}, goodRows(3), ErrName, "later than end"},
		{"operator with a slash", Name{"op/1", testName.Start, testName.End}, goodRows(3), ErrName, "operator id"},
		{"zero date", testName, []Row{{IMEI: "35120030203334"}}, ErrSyntax, "row 1: date: missing"},
		{"bad imsi", testName, append(goodRows(3), Row{Date: testName.Start, IMSI: "123"}), ErrSyntax, "row 4: imsi"},
		{"bad rat", testName, []Row{{Date: testName.Start, RAT: []string{"006|008"}}}, ErrSyntax, `"008"`},
		{"empty rat code", testName, []Row{{Date: testName.Start, RAT: []string{""}}}, ErrSyntax, "rat: empty code"},
		{"date outside", testName, append(goodRows(30), Row{Date: Date{2026, 11, 30}, IMEI: "35000000000000",
			IMSI: "111010000000000", MSISDN: "22000000000", RAT: []string{"001"}}), ErrCheck, "1 of 31 rows outside"},
		{"null imsi", testName, func() []Row { r := goodRows(10); r[0].IMSI = ""; return r }(), ErrCheck,
			"null imsi check failed: 1 of 10 rows (10%) above the threshold 5%"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, tc.n, slices.Values(tc.rows), testOpts())
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
			if des, _ := os.ReadDir(dir); len(des) != 0 {
				t.Fatalf("refused export left %v", des)
			}
		})
	}
}

// Error messages never carry an IMSI or an IMEI.
func TestErrorsHideIdentities(t *testing.T) {
	imsi := "1110123456789012"
	_, err := Write(t.TempDir(), testName, slices.Values([]Row{{Date: testName.Start, IMSI: imsi}}), testOpts())
	if err == nil || strings.Contains(err.Error(), imsi) {
		t.Fatalf("err %v", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	opts := testOpts()
	opts.Networks = []Network{{MCC: "11", MNC: "01"}}
	opts.CountryCodes = []string{"+22"}
	_, err := Write(t.TempDir(), testName, slices.Values(goodRows(1)), opts)
	if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), `"11"`) || !strings.Contains(err.Error(), `"+22"`) {
		t.Fatalf("err %v", err)
	}
}

// An export without rows is the header alone and parses back.
func TestWriteEmpty(t *testing.T) {
	res, err := Write(t.TempDir(), testName, slices.Values([]Row(nil)), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, body := readMember(t, res.Path); string(body) != "date,imei,imsi,msisdn,rat\r\n" {
		t.Fatalf("body %q", body)
	}
	_, rep, err := ParseFile(res.Path, testOpts(), nil)
	if err != nil || rep.Rows != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
}
