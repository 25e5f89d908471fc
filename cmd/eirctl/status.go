package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/eir-sidecar/eir/admin/api"
)

func (c *cli) status(args []string) int {
	f := c.newFlags("status", "", `Shows eird's version, whether it is ready (answering from the lists in force), whether
Redis holds them (ok, stale, diverged), its dataset and entry counts, its open Diameter
peers, shadow mode and the last success of each registry source. Exits with 1 when eird
is not ready or its store is not ok (eirctl store status).

Against an eird without GET /v1/status, or without a token when eird asks for one, only
readiness (GET /readyz) is shown. A token eird refuses is an error (exit 3), as for
every command.`)
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	data, err := c.roundTrip(c.ctx, request{method: "GET", path: "/v1/status"})
	var fl *failure
	if errors.As(err, &fl) {
		switch fl.status {
		case http.StatusNotFound: // an eird older than /v1/status
			return c.readiness()
		case http.StatusUnauthorized, http.StatusForbidden:
			if c.token != "" { // a token refused: an error, whatever the command
				return c.report(err)
			}
			fmt.Fprintf(c.stderr, "eirctl: GET /v1/status: %v; showing readiness only\n", fl)
			return c.readiness()
		}
	}
	if err != nil {
		return c.report(err)
	}
	var st api.Status
	if err := json.Unmarshal(data, &st); err != nil {
		fmt.Fprintf(c.stderr, "eirctl: unexpected answer to GET /v1/status: %v\n", err)
		return exitFailure
	}
	if c.jsonOutput() {
		c.printRaw(data)
	} else {
		c.printStatus(st)
	}
	if !st.Ready {
		fmt.Fprintf(c.stderr, "eirctl: eird is not ready: %s\n", dash(clean(st.ReadyError)))
		return exitFailure
	}
	if st.Store != nil && st.Store.State != "ok" {
		fmt.Fprintf(c.stderr, "eirctl: the store is %s: %s\n", st.Store.State, dash(clean(st.Store.Reason)))
		return exitFailure
	}
	return exitOK
}

func (c *cli) printStatus(st api.Status) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	version := dash(st.Version)
	if st.Commit != "" {
		version += " (commit " + st.Commit + ")"
	}
	fmt.Fprintf(tw, "VERSION\t%s\n", version)
	ready := yesNo(st.Ready)
	if !st.Ready && st.ReadyError != "" {
		ready += ": " + clean(st.ReadyError)
	}
	fmt.Fprintf(tw, "READY\t%s\n", ready)
	if st.Store != nil {
		fmt.Fprintf(tw, "STORE\t%s\n", storeLine(*st.Store))
	}
	// Counted as the readiness counts them: eirctl datasets lists the
	// empty ones too (a list emptied by removals or expiries).
	fmt.Fprintf(tw, "DATASETS\t%d with entries\n", st.Datasets)
	fmt.Fprintf(tw, "ENTRIES\t%d\n", st.Entries)
	fmt.Fprintf(tw, "PEERS\t%d open\n", st.Peers.Open)
	switch {
	case st.Shadow.All:
		fmt.Fprint(tw, "SHADOW\tall verdicts observed, none enforced\n")
	case len(st.Shadow.Sources) > 0:
		fmt.Fprintf(tw, "SHADOW\tsources %s (observed, not enforced)\n", strings.Join(st.Shadow.Sources, ", "))
	default:
		fmt.Fprint(tw, "SHADOW\toff\n")
	}
	if len(st.Shadow.Passive) > 0 {
		fmt.Fprintf(tw, "PASSIVE\tsources %s (observed, never change an answer)\n", strings.Join(st.Shadow.Passive, ", "))
	}
	key := "SYNC"
	if len(st.Sync) == 0 {
		fmt.Fprint(tw, "SYNC\t-\n")
	}
	for _, s := range st.Sync {
		last := "never"
		if s.LastSuccess != "" {
			last = showTime(s.LastSuccess)
		}
		line := fmt.Sprintf("%s: last success %s", s.Source, last)
		if s.Held > 0 {
			line += fmt.Sprintf(", %d held %s (eirctl sync status)", s.Held, plural(s.Held, "file", "files"))
		}
		fmt.Fprintf(tw, "%s\t%s\n", key, line)
		key = ""
	}
	if n := nrfOf(st); n != nil {
		line := "not registered"
		if n.Registered {
			line = fmt.Sprintf("registered as %s, heartbeat every %gs", n.InstanceID, n.HeartbeatInterval)
		}
		if n.LastError != "" {
			line += "; last error: " + clean(n.LastError)
		}
		fmt.Fprintf(tw, "NRF\t%s\n", line)
	}
	tw.Flush()
}

// readiness is the status of an eird without /v1/status: GET /readyz.
func (c *cli) readiness() int {
	if _, code := c.call(request{method: "GET", path: "/readyz"}, nil); code != exitOK {
		return code
	}
	if c.jsonOutput() {
		fmt.Fprintln(c.stdout, `{"ready": true}`)
	} else {
		fmt.Fprintln(c.stdout, "eird is ready")
	}
	return exitOK
}

func (c *cli) reload(args []string) int {
	f := c.newFlags("reload", "", `Makes eird re-read its configuration file and apply what can change at run time
(Diameter peers, admin tokens, policy, the N5g-eir OAuth2 key file), and prints what
changed ("nothing changed" when nothing did; a token file's or the key file's new
content is a change) and the changed keys that apply only after a restart. When the
file on disk is invalid, nothing changes: the problems are printed and eirctl exits
with 3.`)
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	var res api.ReloadResult
	data, code := c.call(request{method: "POST", path: "/v1/reload"}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	switch {
	case len(res.Reloaded) > 0:
		fmt.Fprintf(c.stdout, "reloaded %s", strings.Join(res.Reloaded, ", "))
	case len(res.RestartNeeded) > 0:
		fmt.Fprint(c.stdout, "nothing reloaded")
	default:
		fmt.Fprint(c.stdout, "nothing changed")
	}
	if !res.Time.IsZero() {
		fmt.Fprintf(c.stdout, " at %s", showTimeOf(&res.Time))
	}
	fmt.Fprintln(c.stdout)
	if len(res.RestartNeeded) > 0 {
		fmt.Fprintf(c.stdout, "changed, applied only after a restart: %s\n", strings.Join(res.RestartNeeded, ", "))
	}
	return exitOK
}

// nrfOf is the NRF registration of a status, or nil when there is none
// (or it cannot be read).
func nrfOf(st api.Status) *api.NRFStatus {
	if len(st.NRF) == 0 || string(st.NRF) == "null" {
		return nil
	}
	var n api.NRFStatus
	if json.Unmarshal(st.NRF, &n) != nil {
		return nil
	}
	return &n
}
