package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestImportSkipInvalid(t *testing.T) {
	f := newFake(t)
	var skipped []string
	for i := range 25 {
		skipped = append(skipped, fmt.Sprintf(`"line %d: imei has 4 characters"`, i+3))
	}
	f.handle("POST /v1/import", reply(200, `{"rows": 1000, "sources": ["national"], "replace": true, "dry_run": false,
		"skipped_rows": 25, "skipped": [`+strings.Join(skipped, ",")+`],
		"datasets": [{"dataset": "national/imei/black", "version": 9, "added": 1000, "removed": 3, "count": 1000}]}`))
	csv := "imei,status\n35209900176148,black\n1234,black\n"
	file := writeFile(t, "stolen.csv", csv)
	out, errOut, code := f.ctl("", "import", "-replace", "-skip-invalid", "-source", "national", "-reason", "CEIR monthly list", file)
	wantCode(t, code, exitOK, out, errOut)
	r := f.only()
	if r.Method != "POST" || r.Path != "/v1/import" || r.ContentType != "text/csv" || string(r.Body) != csv {
		t.Errorf("request %s %s, Content-Type %q, body %q", r.Method, r.Path, r.ContentType, r.Body)
	}
	if q := r.Query; q.Get("skip_invalid") != "true" || q.Get("replace") != "true" || q.Get("source") != "national" || q.Has("dry_run") ||
		q.Get("file") != file || q.Get("reason") != "CEIR monthly list" {
		t.Errorf("query %v", q)
	}
	wantContains(t, "stdout", out, "imported 1000 rows from "+file+" for sources national (replacing their entries)",
		"DATASET              VERSION  ADDED  REMOVED  ENTRIES\nnational/imei/black  9        1000   3        1000",
		"skipped 25 invalid rows:\n  line 3: imei has 4 characters\n", "  line 22: imei has 4 characters\n  ... and 5 more\n")
	if strings.Contains(out, "line 23:") {
		t.Errorf("more than 20 skipped rows listed:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal: no progress bar expected, got %q", errOut)
	}
}

func TestImportRejected(t *testing.T) {
	f := newFake(t)
	details := []string{"line 3: imei has 4 characters, want 14 to 16 digits", "line 4: imei is not digits", "line 9: unknown status \"blue\""}
	f.handle("POST /v1/import", apiErrorReply(422, "invalid_file", "the file was rejected; nothing was changed", details...))
	stdin := "imei,status\n35209900176148,black\n1234,black\n3520990017614X,grey\n"
	out, errOut, code := f.ctl(stdin, "import", "-reason", "stolen phones", "-")
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stderr", errOut, "the file was rejected; nothing was changed (invalid_file)", "-skip-invalid")
	for _, d := range details {
		wantContains(t, "stderr", errOut, "  "+d+"\n")
	}
	r := f.only()
	if string(r.Body) != stdin || r.Query.Has("skip_invalid") || r.Query.Get("file") != "standard input" || r.Query.Get("reason") != "stolen phones" {
		t.Errorf("body %q, query %v", r.Body, r.Query)
	}
	if out != "" {
		t.Errorf("stdout: %q", out)
	}
}

func TestImportDryRunJSON(t *testing.T) {
	f := newFake(t)
	out, errOut, code := f.ctl("imei,status\n", "-o", "json", "import", "-dry-run", "-")
	wantCode(t, code, exitOK, out, errOut)
	// A dry run changes nothing: it needs no reason.
	if q := f.only().Query; q.Get("dry_run") != "true" || q.Has("reason") {
		t.Errorf("query %v", q)
	}
	if !strings.HasPrefix(out, `{"rows": 2`) {
		t.Errorf("-o json prints eird's answer:\n%s", out)
	}
}

// TestImportReasonRequired checks that an import without -reason (or
// with a blank one) is a usage error and sends nothing.
func TestImportReasonRequired(t *testing.T) {
	for _, args := range [][]string{{"import", "-"}, {"import", "-reason", "  ", "-replace", "-"}} {
		f := newFake(t)
		out, errOut, code := f.ctl("imei,status\n", args...)
		wantCode(t, code, exitUsage, out, errOut)
		wantContains(t, "stderr", errOut, "eirctl import: -reason is required\nusage: eirctl import [-replace] [-source NAME] [-dry-run] [-skip-invalid] [-force] -reason TEXT FILE|-\n")
		if n := len(f.requests()); n != 0 {
			t.Errorf("%v: %d requests sent, want none", args, n)
		}
	}
}

// TestProgress checks the bar: drawn at the start, at most every 100ms, at
// 100% once, and ended with a newline.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	clock := func() time.Time { now = now.Add(30 * time.Millisecond); return now }
	data := bytes.Repeat([]byte("x"), 2000)
	p := newProgress(bytes.NewReader(data), &out, int64(len(data)), clock)
	buf := make([]byte, 100)
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{p}, buf) // 20 reads, 30ms apart
	if n != 2000 || err != nil {
		t.Fatalf("copy: %d, %v", n, err)
	}
	p.finish()
	p.finish()
	draws := strings.Split(out.String(), "\r")[1:]
	// 600ms of reads: the first, then every 4th (>= 100ms), then 100%.
	if len(draws) < 6 || len(draws) > 8 {
		t.Errorf("%d draws in 600ms, want about 7:\n%q", len(draws), out.String())
	}
	last := draws[len(draws)-1]
	if !strings.Contains(last, "[==============================]") || !strings.Contains(last, "2.0 KiB /   2.0 KiB 100%") || !strings.HasSuffix(last, "\n") {
		t.Errorf("last draw %q", last)
	}
	if strings.Count(out.String(), "\n") != 1 || strings.Count(out.String(), "100%") != 1 {
		t.Errorf("want one line end and one 100%% draw: %q", out.String())
	}
	if isTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTablesAligned checks that the columns of the import, audit and
// datasets tables stay aligned whatever the length of a dataset's or a
// source's name: every row's columns start where the header's do.
func TestTablesAligned(t *testing.T) {
	long := "a-registry-source-with-a-very-long-name"
	f := newFake(t)
	f.handle("POST /v1/import", reply(200, `{"rows": 3, "sources": ["manual", "`+long+`"], "replace": false, "dry_run": false,
		"datasets": [{"dataset": "manual/imei/black", "version": 3, "added": 1, "removed": 0, "count": 1},
		{"dataset": "`+long+`/imei/black", "version": 12345, "added": 2, "removed": 0, "count": 2},
		{"dataset": "x/tac/grey", "version": 4, "added": 1, "removed": 0, "count": 1}]}`))
	f.handle("GET /v1/audit", reply(200, `{"records": [
		{"id": 1, "time": "2025-05-01T10:00:00Z", "actor": "noc", "action": "entry.add", "target": "35209900176148", "source": "manual", "reason": "stolen"},
		{"id": 2, "time": "2025-05-01T10:00:01Z", "actor": "noc", "action": "import", "target": "`+long+`.csv", "source": "`+long+`", "reason": "monthly"}]}`))
	f.handle("GET /v1/datasets", reply(200, `{"datasets": [
		{"dataset": "manual/imei/black", "version": 3, "count": 1, "updated_at": "2025-05-01T10:00:00Z"},
		{"dataset": "`+long+`/imei/black", "version": 12345, "count": 2, "updated_at": "2025-05-01T10:00:00Z"}]}`))
	file := writeFile(t, "lists.csv", "imei,status\n35209900176148,black\n")
	for _, tc := range []struct {
		name string
		args []string
		head string
		rows int
	}{
		{"import", []string{"import", "-reason", "test", file}, "DATASET", 3},
		{"audit", []string{"audit"}, "TIME", 2},
		{"datasets", []string{"datasets"}, "DATASET", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := f.ctl("", tc.args...)
			wantCode(t, code, exitOK, out, errOut)
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			h := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.head+" ") })
			if h < 0 || len(lines) < h+1+tc.rows {
				t.Fatalf("no table of %d rows:\n%s", tc.rows, out)
			}
			starts := columnStarts(lines[h])
			for _, l := range lines[h+1 : h+1+tc.rows] {
				for _, s := range starts[1:] {
					if s >= len(l) || l[s] == ' ' || l[s-1] != ' ' {
						t.Errorf("row %q: no column starts at %d, where the header's does:\n%s", l, s, out)
						break
					}
				}
			}
		})
	}
}

// columnStarts are the offsets where the header's words start.
func columnStarts(header string) []int {
	var out []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			out = append(out, i)
		}
	}
	return out
}

// TestImportDryRunHeld checks the dry run's table (no version: nothing
// is switched in) and that a dry run the guards would refuse says so and
// exits with 3, as the import would, in both output formats.
func TestImportDryRunHeld(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/import", reply(200, `{"rows": 1, "sources": ["national"], "replace": true, "dry_run": true,
		"datasets": [{"dataset": "national/imei/black", "added": 0, "removed": 4, "count": 1}],
		"held": {"code": "unblock_guard", "message": "the import would unblock 4 entries (80.0% of the 5 in force), more than the limit of 3"}}`))
	file := writeFile(t, "shrink.csv", "imei,status\n35209900176148,black\n")
	out, errOut, code := f.ctl("", "import", "-dry-run", "-replace", "-source", "national", file)
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stdout", out, "would import (dry run, nothing changed) 1 row",
		"DATASET              VERSION  ADDED  REMOVED  ENTRIES\nnational/imei/black  -        0      4        1\n")
	wantContains(t, "stderr", errOut, "the import would be refused: the import would unblock 4 entries", "(unblock_guard)", "-force")
	out, errOut, code = f.ctl("", "-o", "json", "import", "-dry-run", "-replace", "-source", "national", file)
	wantCode(t, code, exitRejected, out, errOut)
	wantContains(t, "stdout", out, `"held"`)
	wantContains(t, "stderr", errOut, "(unblock_guard)")
}
