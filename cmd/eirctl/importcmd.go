package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

// maxSkippedShown is how many skipped rows the import summary lists.
const maxSkippedShown = 20

func (c *cli) importFile(args []string) int {
	f := c.newFlags("import", "[-replace] [-source NAME] [-dry-run] [-skip-invalid] [-force] -reason TEXT FILE|-",
		`Loads list entries from a CSV file (- reads standard input). The file has a header:
  imei,status[,imsi][,source][,action]
  tac,status[,source][,action]
  from,to,status[,source][,action]
where status is black, grey, white, override or exception and action add or remove.

A file with an invalid row is rejected as a whole (nothing changes; every error line
is printed and eirctl exits with 3), unless -skip-invalid: then the valid rows are
applied and the summary lists the invalid ones (the first 20) and their count.

An import that would unblock more entries, or shrink a list more, than eird's guards
allow (guards.*) is refused whole (nothing changes; exit 3); check the file, then
import it again with -force.

-dry-run prints exactly what the import would do, counted against the lists in force
(entries added and removed per dataset, as the import then reports them), and whether
the guards would refuse it (then exits with 3, as the import would); nothing changes
and nothing is audited.

The reason (required, except with -dry-run) and the file's name are kept in the
audit trail with what the import changed.

On a terminal, the upload shows a progress bar on standard error.`)
	replace := f.Bool("replace", false, "the file is the whole content of the sources it names (their other entries are removed)")
	source := f.String("source", "", "source of rows without a source column (default: manual)")
	dryRun := f.Bool("dry-run", false, "validate the file and show what would change, without changing anything")
	skipInvalid := f.Bool("skip-invalid", false, "apply the file without its invalid rows, and list them, instead of rejecting it")
	force := f.Bool("force", false, "apply the file even when it unblocks or shrinks more than the guards allow (audited)")
	reason := f.String("reason", "", "why, in `text` (required unless -dry-run; recorded in the audit trail)")
	if code, ok := f.parse(args, 1, 1); !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" && !*dryRun {
		return f.usageError("-reason is required")
	}
	name := f.args[0]
	var data []byte
	var err error
	if name == "-" {
		name = "standard input"
		data, err = io.ReadAll(c.stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitUsage
	}
	q := url.Values{}
	if *replace {
		q.Set("replace", "true")
	}
	if *dryRun {
		q.Set("dry_run", "true")
	}
	if *skipInvalid {
		q.Set("skip_invalid", "true")
	}
	if *force {
		q.Set("force", "true")
	}
	if *source != "" {
		q.Set("source", *source)
	}
	q.Set("file", name)
	if *reason != "" {
		q.Set("reason", *reason)
	}
	var body io.Reader = bytes.NewReader(data)
	var bar *progress
	if isTerminal(c.stderr) {
		bar = newProgress(bytes.NewReader(data), c.stderr, int64(len(data)), time.Now)
		body = bar
	}
	var res api.ImportResult
	raw, err := c.roundTrip(c.ctx, request{method: "POST", path: "/v1/import", query: q, body: body,
		contentType: "text/csv", length: int64(len(data)), timeout: 10 * c.flags.timeout})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		code := c.report(err)
		var fl *failure
		if errors.As(err, &fl) && fl.code == "invalid_file" && !*skipInvalid && len(fl.details) > 0 {
			fmt.Fprintln(c.stderr, "eirctl: -skip-invalid applies the valid rows and lists the invalid ones")
		}
		return code
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		fmt.Fprintf(c.stderr, "eirctl: unexpected answer to POST /v1/import: %v\n", err)
		return exitFailure
	}
	code := exitOK
	if res.Held != nil {
		code = exitRejected
	}
	if c.jsonOutput() {
		if pc := c.printRaw(raw); pc != exitOK {
			return pc
		}
		c.reportHeld(res.Held)
		return code
	}
	c.printImport(res, name)
	c.reportHeld(res.Held)
	return code
}

// printImport prints what an import did (or a dry run would do) with the
// file name.
func (c *cli) printImport(res api.ImportResult, name string) {
	verb := "imported"
	if res.DryRun {
		verb = "would import (dry run, nothing changed)"
	}
	fmt.Fprintf(c.stdout, "%s %d %s from %s for sources %s", verb, res.Rows, plural(res.Rows, "row", "rows"), name, strings.Join(res.Sources, ", "))
	if res.Replace {
		fmt.Fprint(c.stdout, " (replacing their entries)")
	}
	fmt.Fprintln(c.stdout)
	// One batch: every row sets the column widths (a dataset's name may be
	// long).
	rows := make([][]string, 0, len(res.Datasets))
	for _, d := range res.Datasets {
		version := fmt.Sprint(d.Version)
		if res.DryRun {
			version = "-" // counted, never switched in
		}
		rows = append(rows, []string{d.Dataset, version, fmt.Sprint(d.Added), fmt.Sprint(d.Removed), fmt.Sprint(d.Count)})
	}
	newTable(c.stdout, "DATASET", "VERSION", "ADDED", "REMOVED", "ENTRIES").write(rows...)
	skipped := max(res.SkippedRows, len(res.Skipped))
	if skipped > 0 {
		fmt.Fprintf(c.stdout, "skipped %d invalid %s:\n", skipped, plural(skipped, "row", "rows"))
		shown := res.Skipped[:min(len(res.Skipped), maxSkippedShown)]
		for _, s := range shown {
			fmt.Fprintf(c.stdout, "  %s\n", clean(s))
		}
		if more := skipped - len(shown); more > 0 {
			fmt.Fprintf(c.stdout, "  ... and %d more\n", more)
		}
	}
}

// reportHeld says on standard error why the guards would refuse a dry
// run's import (nothing when they would not).
func (c *cli) reportHeld(h *api.ImportHeld) {
	if h == nil {
		return
	}
	fmt.Fprintf(c.stderr, "eirctl: the import would be refused: %s (%s); check the file, then import it with -force\n", clean(h.Message), h.Code)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress counts the bytes read from r and draws a progress bar on w, at
// most every 100ms and once at the end. The HTTP transport reads the body
// in its own goroutine, hence the mutex.
type progress struct {
	mu       sync.Mutex
	r        io.Reader
	w        io.Writer
	total    int64
	sent     int64
	now      func() time.Time
	last     time.Time
	drawn    bool
	complete bool // drawn at 100%
	closed   bool
}

const progressEvery = 100 * time.Millisecond

func newProgress(r io.Reader, w io.Writer, total int64, now func() time.Time) *progress {
	return &progress{r: r, w: w, total: total, now: now}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent += int64(n)
	if p.closed {
		return n, err
	}
	now := p.now()
	due := !p.drawn || now.Sub(p.last) >= progressEvery
	if last := p.sent >= p.total && !p.complete; due || last {
		p.draw()
		p.last, p.complete = now, p.sent >= p.total
	}
	return n, err
}

// draw writes the bar; callers hold mu.
func (p *progress) draw() {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(min(p.sent, p.total)) / float64(p.total)
	}
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	fmt.Fprintf(p.w, "\ruploading [%s] %9s / %9s %3d%%", bar, byteSize(p.sent), byteSize(p.total), int(frac*100))
	p.drawn = true
}

// finish ends the bar's line; nothing is drawn afterwards.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// byteSize formats n bytes with a binary unit.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
