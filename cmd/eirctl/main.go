// Command eirctl is the operator's tool for eird. It talks to eird's admin
// API over HTTP (it needs no Redis or Diameter access):
//
//	eirctl check IMEI [IMSI]            what the EIR answers for an IMEI (and IMSI)
//	eirctl import [flags] FILE|-        load list entries from a CSV file
//	eirctl datasets                     the datasets in force, with versions and counts
//	eirctl status                       readiness of eird
//	eirctl sync status|now|approve      registry sync
//
// Global flags (before the command): -server (EIRCTL_SERVER, default
// http://127.0.0.1:9468), -token or -token-file (EIRCTL_TOKEN,
// EIRCTL_TOKEN_FILE), -o table|json, -timeout.
//
// Exit codes: 0 success; 1 eird unreachable or failing; 2 usage error;
// 3 request rejected (invalid input, authentication, authorisation).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitRejected = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type cli struct {
	server, token, output string
	timeout               time.Duration
	stdin                 io.Reader
	stdout, stderr        io.Writer
	http                  *http.Client
}

const usage = `usage: eirctl [global flags] <command> [flags] [args]

commands:
  check IMEI [IMSI]       show the decision and the S13 answer for an IMEI (14-16 digits)
  import [flags] FILE|-   load list entries from a CSV file (- reads standard input)
  datasets                list the datasets in force with their versions and entry counts
  status                  show whether eird is ready
  sync status             registry sync: lists applied (run, file, entries), held files, rejections
  sync now [-source S]    run a sync pass now and show what it did
  sync approve SRC FILE   let a file held by a guard (shrunken list, mass unblock) through

global flags:
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("eirctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nexit codes: 0 ok, 1 eird unreachable or failing, 2 usage error, 3 request rejected\n")
	}
	fs.StringVar(&c.server, "server", envOr("EIRCTL_SERVER", "http://127.0.0.1:9468"), "eird admin API `URL` (EIRCTL_SERVER)")
	fs.StringVar(&c.token, "token", os.Getenv("EIRCTL_TOKEN"), "bearer token (EIRCTL_TOKEN)")
	tokenFile := fs.String("token-file", os.Getenv("EIRCTL_TOKEN_FILE"), "file holding the bearer token (EIRCTL_TOKEN_FILE)")
	fs.StringVar(&c.output, "o", "table", "output format: table or json")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "request timeout (imports: 10× this)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if c.output != "table" && c.output != "json" {
		fmt.Fprintf(stderr, "eirctl: -o %q: want table or json\n", c.output)
		return exitUsage
	}
	if *tokenFile != "" && c.token == "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "eirctl: %v\n", err)
			return exitUsage
		}
		c.token = strings.TrimSpace(string(b))
	}
	c.http = &http.Client{Timeout: c.timeout}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	cmds := map[string]func([]string) int{"check": c.check, "import": c.importFile, "datasets": c.datasets, "status": c.status, "sync": c.sync}
	cmd, ok := cmds[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "eirctl: unknown command %q\n", rest[0])
		fs.Usage()
		return exitUsage
	}
	return cmd(rest[1:])
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// apiError mirrors the admin API's error body.
type apiError struct {
	Error struct {
		Status  int      `json:"status"`
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Details []string `json:"details"`
	} `json:"error"`
}

// call sends a request and decodes a JSON answer into out; it returns the
// exit code to use on failure.
func (c *cli) call(method, path string, q url.Values, body io.Reader, timeout time.Duration, out any) int {
	u := strings.TrimRight(c.server, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitUsage
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/csv")
	}
	hc := *c.http
	hc.Timeout = timeout
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "eirctl: cannot reach eird at %s: %v\n", c.server, err)
		return exitFailure
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(c.stderr, "eirctl: reading the answer: %v\n", err)
		return exitFailure
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			fmt.Fprintf(c.stderr, "eirctl: %s %s: %s\n", method, path, resp.Status)
		} else {
			fmt.Fprintf(c.stderr, "eirctl: %s (%s)\n", e.Error.Message, e.Error.Code)
			for _, d := range e.Error.Details {
				fmt.Fprintf(c.stderr, "  %s\n", d)
			}
		}
		if resp.StatusCode >= 500 {
			return exitFailure
		}
		return exitRejected
	}
	if c.output == "json" {
		c.stdout.Write(data)
		return exitOK
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			fmt.Fprintf(c.stderr, "eirctl: unexpected answer: %v\n", err)
			return exitFailure
		}
	}
	return -1 // caller prints the table
}

func (c *cli) check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprintln(c.stderr, "usage: eirctl check IMEI [IMSI]") }
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return exitUsage
	}
	q := url.Values{"imei": {fs.Arg(0)}}
	if fs.NArg() == 2 {
		q.Set("imsi", fs.Arg(1))
	}
	var res struct {
		IMEI, IMSI, Status, Rule, Source, Error string
		EquipmentStatus                         *int `json:"equipment_status"`
		S13                                     struct {
			ResultCode             int  `json:"result_code"`
			ExperimentalResultCode int  `json:"experimental_result_code"`
			EquipmentStatus        *int `json:"equipment_status"`
		} `json:"s13"`
	}
	if code := c.call("GET", "/v1/check", q, nil, c.timeout, &res); code >= 0 {
		return code
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "IMEI\t%s\n", res.IMEI)
	if res.IMSI != "" {
		fmt.Fprintf(tw, "IMSI\t%s\n", res.IMSI)
	}
	fmt.Fprintf(tw, "STATUS\t%s\n", res.Status)
	if res.Rule != "" {
		fmt.Fprintf(tw, "RULE\t%s\n", res.Rule)
	}
	if res.Source != "" {
		fmt.Fprintf(tw, "SOURCE\t%s\n", res.Source)
	}
	if res.Error != "" {
		fmt.Fprintf(tw, "ERROR\t%s\n", res.Error)
	}
	switch {
	case res.S13.ExperimentalResultCode != 0:
		fmt.Fprintf(tw, "S13 ANSWER\tExperimental-Result %d (vendor 10415), no Equipment-Status\n", res.S13.ExperimentalResultCode)
	case res.S13.EquipmentStatus != nil:
		fmt.Fprintf(tw, "S13 ANSWER\tResult-Code %d, Equipment-Status %d\n", res.S13.ResultCode, *res.S13.EquipmentStatus)
	case res.S13.ResultCode != 0:
		fmt.Fprintf(tw, "S13 ANSWER\tResult-Code %d\n", res.S13.ResultCode)
	}
	tw.Flush()
	return exitOK
}

func (c *cli) importFile(args []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	replace := fs.Bool("replace", false, "the file is the whole content of the sources it names (their other entries are removed)")
	source := fs.String("source", "", "source of rows without a source column (default: manual)")
	dryRun := fs.Bool("dry-run", false, "validate the file and show what would change, without changing anything")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "usage: eirctl import [-replace] [-source NAME] [-dry-run] FILE|-")
		fmt.Fprintln(c.stderr, "\nCSV with a header: imei,status[,imsi][,source][,action] or tac,status[,source][,action]")
		fmt.Fprintln(c.stderr, "or from,to,status[,source][,action]; status black|grey|white|override|exception.")
		fmt.Fprintln(c.stderr, "The whole file is rejected if any row is invalid.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	var body io.Reader = c.stdin
	if name := fs.Arg(0); name != "-" {
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
			return exitUsage
		}
		body = bytes.NewReader(data)
	}
	q := url.Values{}
	if *replace {
		q.Set("replace", "true")
	}
	if *dryRun {
		q.Set("dry_run", "true")
	}
	if *source != "" {
		q.Set("source", *source)
	}
	var res struct {
		Rows     int      `json:"rows"`
		Sources  []string `json:"sources"`
		DryRun   bool     `json:"dry_run"`
		Datasets []struct {
			Dataset                        string
			Version, Added, Removed, Count uint64
		} `json:"datasets"`
	}
	if code := c.call("POST", "/v1/import", q, body, 10*c.timeout, &res); code >= 0 {
		return code
	}
	verb := "imported"
	if res.DryRun {
		verb = "would import (dry run, nothing changed)"
	}
	fmt.Fprintf(c.stdout, "%s %d rows for sources %s\n", verb, res.Rows, strings.Join(res.Sources, ", "))
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSION\tADDED\tREMOVED\tENTRIES")
	for _, d := range res.Datasets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", d.Dataset, d.Version, d.Added, d.Removed, d.Count)
	}
	tw.Flush()
	return exitOK
}

func (c *cli) datasets(args []string) int {
	if len(args) != 0 {
		fmt.Fprintln(c.stderr, "usage: eirctl datasets")
		return exitUsage
	}
	var res struct {
		Datasets []struct {
			Dataset        string
			Version, Count uint64
			UpdatedAt      time.Time `json:"updated_at"`
		} `json:"datasets"`
	}
	if code := c.call("GET", "/v1/datasets", nil, nil, c.timeout, &res); code >= 0 {
		return code
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSION\tENTRIES\tUPDATED")
	for _, d := range res.Datasets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Dataset, d.Version, d.Count, d.UpdatedAt.Format(time.RFC3339))
	}
	tw.Flush()
	return exitOK
}

func (c *cli) status(args []string) int {
	if len(args) != 0 {
		fmt.Fprintln(c.stderr, "usage: eirctl status")
		return exitUsage
	}
	code := c.call("GET", "/readyz", nil, nil, c.timeout, nil)
	if code == exitOK || code == -1 {
		if c.output == "table" {
			fmt.Fprintln(c.stdout, "eird is ready")
		}
		return exitOK
	}
	return code
}

func (c *cli) sync(args []string) int {
	usage := func() {
		fmt.Fprintln(c.stderr, `usage: eirctl sync status
       eirctl sync now [-source NAME]
       eirctl sync approve SOURCE FILE`)
	}
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	switch args[0] {
	case "status":
		return c.syncStatus(args[1:])
	case "now":
		fs := flag.NewFlagSet("sync now", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		source := fs.String("source", "", "run only this source (default: every source)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			usage()
			return exitUsage
		}
		q := url.Values{}
		if *source != "" {
			q.Set("source", *source)
		}
		var res struct {
			Passes []passReport `json:"passes"`
		}
		if code := c.call("POST", "/v1/sync/run", q, nil, 10*c.timeout, &res); code >= 0 {
			return code
		}
		for _, p := range res.Passes {
			c.printPass(p)
		}
		return exitOK
	case "approve":
		if len(args) != 3 {
			usage()
			return exitUsage
		}
		var p passReport
		if code := c.call("POST", "/v1/sync/approve", url.Values{"source": {args[1]}, "file": {args[2]}}, nil, 10*c.timeout, &p); code >= 0 {
			return code
		}
		fmt.Fprintf(c.stdout, "approved %s of %s\n", args[2], args[1])
		c.printPass(p)
		return exitOK
	}
	usage()
	return exitUsage
}

type listReport struct {
	List                         string
	Mode                         string
	Base, Run                    int64
	Rows                         int
	BadRows                      int `json:"bad_rows"`
	Added, Removed, Noops, Count uint64
	Changed                      int
	Note                         string
}

type passReport struct {
	Source   string
	Skipped  string
	Duration int64 `json:"duration_ns"`
	Fetched  []string
	Files    []struct {
		File, Result, Reason, Message string
		Details                       []string
		Lists                         []listReport
	}
}

func (c *cli) printPass(p passReport) {
	fmt.Fprintf(c.stdout, "source %s: ", p.Source)
	if p.Skipped != "" {
		fmt.Fprintf(c.stdout, "skipped (%s)\n", p.Skipped)
		return
	}
	fmt.Fprintf(c.stdout, "%d file(s) in %s", len(p.Files), time.Duration(p.Duration).Round(time.Millisecond))
	if len(p.Fetched) > 0 {
		fmt.Fprintf(c.stdout, ", downloaded %s", strings.Join(p.Fetched, ", "))
	}
	fmt.Fprintln(c.stdout)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tRESULT\tLIST\tMODE\tRUN\tROWS\tBAD\tADDED\tREMOVED\tCHANGED\tENTRIES")
	for _, f := range p.Files {
		if len(f.Lists) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\n", f.File, f.Result)
		}
		for _, l := range f.Lists {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", f.File, f.Result, l.List, l.Mode, l.Run, l.Rows, l.BadRows, l.Added, l.Removed, l.Changed, l.Count)
		}
	}
	tw.Flush()
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
}

func (c *cli) syncStatus(args []string) int {
	if len(args) != 0 {
		fmt.Fprintln(c.stderr, "usage: eirctl sync status")
		return exitUsage
	}
	var res struct {
		Sources []struct {
			Source, Format string
			Lists          []struct {
				List, Mode, File, SHA256, Timestamp string
				Run, Base                           int64
				Rows                                int
				BadRows                             int `json:"bad_rows"`
				Count                               uint64
				AppliedAt                           time.Time `json:"applied_at"`
			}
			LastPass *struct {
				Time                     time.Time
				Duration, Error          string
				Files, Applied, Rejected int
				Held                     int
				LastOK                   time.Time `json:"last_success"`
			} `json:"last_pass"`
			Held []struct {
				File, Reason, Message string
				Since                 time.Time
			}
			Resync []string `json:"resync_needed"`
		}
		Rejects []struct {
			Time                        time.Time
			Source, File, Code, Message string
		}
	}
	if code := c.call("GET", "/v1/sync/status", nil, nil, c.timeout, &res); code >= 0 {
		return code
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tLIST\tRUN\tMODE\tENTRIES\tAPPLIED\tFILE\tSHA256")
	for _, s := range res.Sources {
		if len(s.Lists) == 0 {
			fmt.Fprintf(tw, "%s\t(none)\t\t\t\t\t\t\n", s.Source)
		}
		for _, l := range s.Lists {
			sum := l.SHA256
			if len(sum) > 12 {
				sum = sum[:12]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", s.Source, l.List, l.Run, l.Mode, l.Count, l.AppliedAt.Format(time.RFC3339), l.File, sum)
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
		for _, l := range s.Resync {
			fmt.Fprintf(c.stdout, "%s: %s needs a full list (delta base mismatch)\n", s.Source, l)
		}
		for _, h := range s.Held {
			fmt.Fprintf(c.stdout, "%s: HELD %s since %s: %s (%s)\n  approve with: eirctl sync approve %s %s\n",
				s.Source, h.File, h.Since.Format(time.RFC3339), h.Message, h.Reason, s.Source, h.File)
		}
	}
	if len(res.Rejects) > 0 {
		fmt.Fprintln(c.stdout, "recent rejections:")
		for _, r := range res.Rejects[:min(len(res.Rejects), 10)] {
			fmt.Fprintf(c.stdout, "  %s %s %s: %s (%s)\n", r.Time.Format(time.RFC3339), r.Source, r.File, r.Message, r.Code)
		}
	}
	return exitOK
}
