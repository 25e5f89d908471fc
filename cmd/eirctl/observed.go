package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

func (c *cli) observed(args []string) int {
	f := c.newFlags("observed", "IMEI | -imsi IMSI -reason TEXT",
		`Shows what eird observed on the network (observe.enabled):

  eirctl observed IMEI                      the subscribers (IMSIs) seen with the IMEI: first
                                            and last seen, days seen, last SVN, peer,
                                            interfaces and MSISDN, and the duplicate-IMEI
                                            rules it trips now
  eirctl observed -imsi IMSI -reason TEXT   a subscriber's devices: its current IMEI and
                                            every IMEI it was seen with

A subscriber's devices are personal data: -reason is required and every lookup is
kept in the audit trail (who, when, why).`)
	imsi := f.String("imsi", "", "show the devices of this subscriber `IMSI` instead")
	reason := f.String("reason", "", "with -imsi: why, in `text` (required; recorded in the audit trail)")
	if code, ok := f.parse(args, 0, 1); !ok {
		return code
	}
	switch {
	case *imsi != "" && len(f.args) > 0:
		return f.usageError("give an IMEI or -imsi, not both")
	case *imsi == "" && len(f.args) == 0:
		return f.usageError("want an IMEI, or -imsi IMSI -reason TEXT")
	case *imsi != "" && strings.TrimSpace(*reason) == "":
		return f.usageError("-reason is required with -imsi: every lookup of a subscriber's devices is audited")
	case *imsi == "" && *reason != "":
		return f.usageError("-reason goes with -imsi")
	}
	if *imsi != "" {
		return c.observedIMSI(*imsi, *reason)
	}
	var res api.ObservedIMEI
	data, code := c.call(request{method: "GET", path: "/v1/observed", query: url.Values{"imei": {f.args[0]}}}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	fmt.Fprintf(c.stdout, "IMEI %s: %d %s\n", res.IMEI, len(res.Pairs), plural(len(res.Pairs), "subscriber", "subscribers"))
	c.pairTable("IMSI", res.Pairs, func(p api.ObservedPair) string { return p.IMSI })
	if len(res.Detections) == 0 {
		fmt.Fprintln(c.stdout, "duplicate rules tripped: none")
		return exitOK
	}
	fmt.Fprintln(c.stdout, "duplicate rules tripped:")
	for _, d := range res.Detections {
		fmt.Fprintf(c.stdout, "  %s: %s\n", d.Rule, detectionFigures(d))
	}
	return exitOK
}

// detectionFigures says why a rule fired.
func detectionFigures(d api.ObservedDetection) string {
	var parts []string
	if d.Count > 0 {
		parts = append(parts, fmt.Sprintf("%d IMSIs", d.Count))
	}
	if d.SeenDays > 0 {
		parts = append(parts, fmt.Sprintf("average %.2f IMSIs a day over %d days seen", d.Average, d.SeenDays))
	}
	if len(d.Peers) > 0 {
		parts = append(parts, "peers "+strings.Join(d.Peers, ", "))
	}
	if len(d.IMSIs) > 0 {
		parts = append(parts, "IMSIs "+strings.Join(d.IMSIs, " "))
	}
	return strings.Join(parts, "; ")
}

func (c *cli) observedIMSI(imsi, reason string) int {
	var res api.ObservedIMSI
	data, code := c.call(request{method: "GET", path: "/v1/observed", query: url.Values{"imsi": {imsi}, "reason": {reason}}}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	if res.CurrentIMEI != "" {
		fmt.Fprintf(c.stdout, "IMSI %s: current IMEI %s since %s\n", res.IMSI, res.CurrentIMEI, showTimeOf(res.Since))
	} else {
		fmt.Fprintf(c.stdout, "IMSI %s: no current IMEI\n", res.IMSI)
	}
	c.pairTable("IMEI", res.Pairs, func(p api.ObservedPair) string { return p.IMEI })
	return exitOK
}

// pairTable prints pairs, the other identity of each first.
func (c *cli) pairTable(first string, pairs []api.ObservedPair, other func(api.ObservedPair) string) {
	if len(pairs) == 0 {
		fmt.Fprintln(c.stdout, "nothing observed (within retention)")
		return
	}
	rows := make([][]string, 0, len(pairs))
	for _, p := range pairs {
		rows = append(rows, []string{other(p), showTimeOf(&p.FirstSeen), showTimeOf(&p.LastSeen), strconv.Itoa(p.DaysSeen),
			dash(p.SVN), dash(p.Peer), dash(strings.Join(p.Interfaces, ",")), dash(p.MSISDN)})
	}
	newTable(c.stdout, first, "FIRST SEEN", "LAST SEEN", "DAYS", "SVN", "PEER", "INTERFACES", "MSISDN").write(rows...)
}

func (c *cli) forget(args []string) int {
	f := c.newFlags("forget", "-imsi IMSI -reason TEXT",
		`Removes every observation of a subscriber (its pairs with every IMEI and its current
IMEI), for example when the subscriber asks. Needs a write token; recorded in the
audit trail with the reason.`)
	imsi := f.String("imsi", "", "the subscriber's `IMSI` (required)")
	reason := f.String("reason", "", "why, in `text` (required; recorded in the audit trail)")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case *imsi == "":
		return f.usageError("-imsi is required")
	case strings.TrimSpace(*reason) == "":
		return f.usageError("-reason is required")
	}
	var res api.Forgotten
	data, code := c.call(request{method: "POST", path: "/v1/observed/forget", json: api.ForgetRequest{IMSI: *imsi, Reason: *reason}}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	fmt.Fprintf(c.stdout, "forgot IMSI %s: %d %s removed\n", res.IMSI, res.Pairs, plural(res.Pairs, "pair", "pairs"))
	return exitOK
}

func (c *cli) export(args []string) int {
	f := c.newFlags("export", "operator-data -date YYYYMMDD [-o DIR]", "Exports data for a registry: see 'eirctl export operator-data -h'.")
	return f.dispatch(args, []subcommand{{"operator-data", c.exportOperatorData}})
}

func (c *cli) exportOperatorData(args []string) int {
	f := c.newFlags("export operator-data", "-date YYYYMMDD [-o DIR]",
		`Writes the DIRBS operator data dump of a day (date,imei,imsi,msisdn,rat; one row per
distinct date, IMEI, IMSI and MSISDN the network admitted that day) as eird builds it:
<operator>_<D>_<D>.zip into DIR, and its SHA-256 beside it (.zip.sha256, sha256sum
format). eird checks the file as the registry's importer does before sending it; a file
it would refuse is not written (exit 3, with the failing checks).`)
	date := f.String("date", "", "the day, `YYYYMMDD` (required; yesterday is the last complete day)")
	dir := f.String("o", ".", "the `directory` to write into")
	timeout := f.Duration("timeout", 30*time.Minute, "how long eird may take to build and send the file")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	if _, err := time.Parse("20060102", *date); err != nil || len(*date) != 8 {
		return f.usageError("-date %q: want YYYYMMDD", *date)
	}
	tmp, err := os.CreateTemp(*dir, ".operator-data-*")
	if err != nil {
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitFailure
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	var name, sum string
	_, err = c.roundTrip(c.ctx, request{method: "GET", path: "/v1/export/operator-data", query: url.Values{"date": {*date}},
		timeout: *timeout, sink: io.MultiWriter(tmp, h), gotHeader: func(hdr http.Header) {
			sum = hdr.Get(api.OperatorDataHeaderSHA256)
			if _, p, err := mime.ParseMediaType(hdr.Get("Content-Disposition")); err == nil {
				name = filepath.Base(p["filename"])
			}
		}})
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return c.report(err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	switch {
	case name == "" || name == "." || !strings.HasSuffix(name, ".zip"):
		fmt.Fprintf(c.stderr, "eirctl: eird sent no file name\n")
		return exitFailure
	case sum != "" && !strings.EqualFold(sum, got):
		fmt.Fprintf(c.stderr, "eirctl: %s: SHA-256 %s, eird says %s: not written\n", name, got, sum)
		return exitFailure
	}
	path := filepath.Join(*dir, name)
	if err := os.WriteFile(path+".sha256", []byte(got+"  "+name+"\n"), 0o644); err != nil {
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitFailure
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitFailure
	}
	if c.jsonOutput() {
		fmt.Fprintf(c.stdout, "{\"file\": %q, \"sha256\": %q}\n", path, got)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "wrote %s (sha256 %s)\n", path, got)
	return exitOK
}
