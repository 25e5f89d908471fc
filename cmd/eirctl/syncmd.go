package main

import (
	"encoding/json"

	"github.com/eir-sidecar/eir/admin/api"

	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const syncSynopsis = "status|now|approve ..."

const syncHelp = `Registry sync:
  eirctl sync status                 lists in force per source (run, mode, entries, file hash),
                                     the last pass, held files and recent rejections
  eirctl sync now [-source NAME]     run a sync pass now (every source, or one) and print
                                     what it did with each file
  eirctl sync approve SOURCE FILE    let a file held by a guard (shrunken list, mass unblock)
                                     through; recorded with the token's name`

func (c *cli) sync(args []string) int {
	return c.newFlags("sync", syncSynopsis, syncHelp).dispatch(args, []subcommand{
		{"status", c.syncStatus},
		{"now", c.syncNow},
		{"approve", c.syncApprove},
	})
}

func (c *cli) syncNow(args []string) int {
	f := c.newFlags("sync now", "[-source NAME]", "Runs a registry sync pass now, for every source or one, and prints what it did with\neach file (downloaded, applied, held, rejected, waiting). A file modified within the\nsource's settle time (sync.sources[].settle, default 5s) is not read yet: it is listed\nwith the time from which a pass reads it. Exits with 3 when a file was rejected.")
	source := f.String("source", "", "run only this `source` (default: every source)")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	q := url.Values{}
	if *source != "" {
		q.Set("source", *source)
	}
	var res api.SyncPasses
	data, code := c.call(request{method: "POST", path: "/v1/sync/run", query: q, timeout: 10 * c.flags.timeout}, &res)
	if code != exitOK {
		return code
	}
	code = exitOK
	if c.jsonOutput() {
		code = c.printRaw(data)
	} else {
		for _, p := range res.Passes {
			c.printPass(p)
		}
	}
	var rejected []string
	for _, p := range res.Passes {
		for _, f := range p.Files {
			if f.Result == "rejected" {
				rejected = append(rejected, p.Source+"/"+f.File)
			}
		}
	}
	if len(rejected) > 0 && code == exitOK {
		fmt.Fprintf(c.stderr, "eirctl: %d %s rejected: %s (moved to the source's rejected/ folder; eirctl sync status lists why)\n",
			len(rejected), plural(len(rejected), "file", "files"), strings.Join(rejected, ", "))
		return exitRejected
	}
	return code
}

func (c *cli) syncApprove(args []string) int {
	f := c.newFlags("sync approve", "SOURCE FILE", "Lets a file held by a guard (a shrunken list, a mass unblock) through, and prints the\npass that applied it. The approval is recorded with the token's name.")
	if code, ok := f.parse(args, 2, 2); !ok {
		return code
	}
	var p api.SyncPass
	q := url.Values{"source": {f.args[0]}, "file": {f.args[1]}}
	data, code := c.call(request{method: "POST", path: "/v1/sync/approve", query: q, timeout: 10 * c.flags.timeout}, &p)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	fmt.Fprintf(c.stdout, "approved %s of %s\n", f.args[1], f.args[0])
	c.printPass(p)
	return exitOK
}

func (c *cli) printPass(p api.SyncPass) {
	fmt.Fprintf(c.stdout, "source %s: ", p.Source)
	if p.Skipped != "" {
		fmt.Fprintf(c.stdout, "skipped (%s)\n", p.Skipped)
		return
	}
	fmt.Fprintf(c.stdout, "%d file(s) in %s", len(p.Files), p.Duration.Round(time.Millisecond))
	if len(p.Fetched) > 0 {
		fmt.Fprintf(c.stdout, ", downloaded %s", strings.Join(p.Fetched, ", "))
	}
	fmt.Fprintln(c.stdout)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	if len(p.Files) > 0 { // no header over no row
		fmt.Fprintln(tw, "FILE\tRESULT\tLIST\tMODE\tRUN\tROWS\tBAD\tADDED\tREMOVED\tCHANGED\tENTRIES")
	}
	for _, f := range p.Files {
		if len(f.Lists) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\n", f.File, f.Result)
		}
		for _, l := range f.Lists {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", f.File, f.Result, l.List, l.Mode, l.Run, l.Rows, l.BadRows, l.Added, l.Removed, l.Changed, l.Count)
		}
	}
	tw.Flush()
	switch {
	case len(p.Settling) > 0:
		// Modified within the source's settle time: not read yet.
		fmt.Fprintf(c.stdout, "  %d %s modified within the source's settle time (sync.sources[].settle), not read yet:\n",
			len(p.Settling), plural(len(p.Settling), "file", "files"))
		for _, s := range p.Settling {
			fmt.Fprintf(c.stdout, "    %s (modified %s): read by the first pass from %s\n", clean(s.File), showTimeOf(&s.Modified), showTimeOf(ceilSecond(s.ReadyAt)))
		}
	case len(p.Files) == 0:
		fmt.Fprintln(c.stdout, "  no file to read in the landing folder")
	}
	waiting := 0
	for _, f := range p.Files {
		if f.Result == "waiting" {
			waiting++
		}
	}
	for _, f := range p.Files {
		if f.Message != "" {
			fmt.Fprintf(c.stdout, "  %s: %s", f.File, f.Message)
			if f.Reason != "" {
				fmt.Fprintf(c.stdout, " (%s)", f.Reason)
			}
			fmt.Fprintln(c.stdout)
		}
		for _, d := range f.Details {
			fmt.Fprintf(c.stdout, "    %s\n", d)
		}
		for _, l := range f.Lists {
			if l.Note != "" {
				fmt.Fprintf(c.stdout, "  %s %s: %s\n", f.File, l.List, l.Note)
			}
		}
	}
	if waiting > 0 {
		fmt.Fprintf(c.stdout, "  %d %s waiting, left in place: retried at the next pass (or eirctl sync now)\n", waiting, plural(waiting, "file", "files"))
	}
}

// ceilSecond is t rounded up to the second (a time shown to the second
// is then never before t).
func ceilSecond(t time.Time) *time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return &t
}

func (c *cli) syncStatus(args []string) int {
	f := c.newFlags("sync status", "", "Shows, per registry source and list, the run in force (mode, entries, time applied,\nfile and hash), the last pass, files that need a full list, held files (with the\ncommand approving them) and the recent rejections.")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	var res api.SyncStatusPage
	data, code := c.call(request{method: "GET", path: "/v1/sync/status"}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tLIST\tRUN\tMODE\tENTRIES\tADDED\tREMOVED\tAPPLIED\tFILE\tSHA256")
	for _, s := range res.Sources {
		if len(s.Lists) == 0 {
			fmt.Fprintf(tw, "%s\t(none)\t\t\t\t\t\t\t\t\n", s.Source)
		}
		for _, l := range s.Lists {
			sum := l.SHA256
			if len(sum) > 12 {
				sum = sum[:12]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", s.Source, l.List, l.Run, l.Mode, l.Count, l.Added, l.Removed,
				l.AppliedAt.Format(time.RFC3339), l.File, sum)
		}
	}
	tw.Flush()
	for _, s := range res.Sources {
		if p := s.LastPass; p != nil {
			fmt.Fprintf(c.stdout, "%s: last pass %s (%s): %d file(s), %d applied, %d rejected, %d held; last success %s\n",
				s.Source, p.Time.Format(time.RFC3339), p.Duration, p.Files, p.Applied, p.Rejected, p.Held, p.LastOK.Format(time.RFC3339))
			if p.Error != "" {
				fmt.Fprintf(c.stdout, "  error: %s\n", p.Error)
			}
		}
		for _, l := range s.ResyncLists {
			fmt.Fprintf(c.stdout, "%s: %s needs a full list (delta base mismatch)\n", s.Source, l)
		}
		for _, h := range s.Held {
			fmt.Fprintf(c.stdout, "%s: HELD %s since %s: %s (%s)\n  approve with: eirctl sync approve %s %s\n",
				s.Source, h.File, h.Since.Format(time.RFC3339), h.Message, h.Reason, s.Source, h.File)
		}
	}
	if len(res.Rejects) > 0 {
		fmt.Fprintln(c.stdout, "recent rejections:")
		for _, raw := range res.Rejects[:min(len(res.Rejects), 10)] {
			var r api.SyncReject
			json.Unmarshal(raw, &r)
			fmt.Fprintf(c.stdout, "  %s %s %s: %s (%s)\n", r.Time.Format(time.RFC3339), r.Source, r.File, r.Message, r.Code)
		}
	}
	return exitOK
}
