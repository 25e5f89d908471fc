package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

func (c *cli) events(args []string) int {
	f := c.newFlags("events", "[-kind K] [-limit N] [-follow [-interval D]]",
		`Shows events, oldest first: hits, the blacklisted and greylisted IMEIs (and, in shadow
mode, the verdicts not enforced, marked SHADOW) that eird has seen, with the status,
the answer given, the IMEI, the IMSI, the deciding source and the requesting peer;
with observations on (observe.enabled), also imsi_new_device, listed_imei_new_imsi
and duplicate_imei events (their kind in the STATUS column).

-kind K shows only the events of kind K (hit, imsi_new_device, listed_imei_new_imsi,
duplicate_imei, ...); for a kind other than hit each event's own fields are shown.

With -follow, eirctl keeps polling for new events until interrupted (Ctrl-C exits
with 0); with -o json it then prints one JSON event per line.`)
	limit := f.Int("limit", 0, "at most `N` events per request (default: eird's, the last 100)")
	follow := f.Bool("follow", false, "keep polling for new events until interrupted")
	interval := f.Duration("interval", time.Second, "with -follow: time between polls")
	kind := f.String("kind", "", "only events of this `kind` (hit, imsi_new_device, listed_imei_new_imsi, duplicate_imei)")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	c.eventKind = *kind
	if *limit < 0 {
		return f.usageError("-limit %d: must be > 0", *limit)
	}
	if *interval <= 0 {
		return f.usageError("-interval %s: must be > 0", *interval)
	}
	if !*follow {
		q := url.Values{}
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		if *kind != "" {
			q.Set("kind", *kind)
		}
		var page api.EventsPage
		data, code := c.call(request{method: "GET", path: "/v1/events", query: q}, &page)
		if code != exitOK {
			return code
		}
		if c.jsonOutput() {
			return c.printRaw(data)
		}
		newEventTable(c).write(c.eventRows(page.Events, data)...)
		if len(page.Events) == 0 {
			fmt.Fprintln(c.stdout, "no events")
		}
		return exitOK
	}
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.followEvents(ctx, *limit, *interval)
}

func newEventTable(c *cli) *table {
	if c.otherKind() {
		return newTable(c.stdout, "TIME", "KIND", "IMEI", "IMSI", "EVENT")
	}
	return newTable(c.stdout, "TIME", "STATUS", "ANSWER", "IMEI", "IMSI", "SOURCE", "PEER", "SHADOW")
}

// otherKind reports whether -kind asks for events other than hits, shown
// with their own fields.
func (c *cli) otherKind() bool { return c.eventKind != "" && c.eventKind != "hit" }

// eventRows are the rows of the events of page (data, the raw answer).
func (c *cli) eventRows(es []api.Event, data []byte) [][]string {
	if !c.otherKind() {
		return eventRows(es)
	}
	var raw struct {
		Events []map[string]json.RawMessage `json:"events"`
	}
	json.Unmarshal(data, &raw)
	rows := make([][]string, 0, len(es))
	for i, e := range es {
		rest := "-"
		if i < len(raw.Events) {
			for _, k := range []string{"id", "time", "kind", "imei", "imsi"} {
				delete(raw.Events[i], k)
			}
			if b, err := json.Marshal(raw.Events[i]); err == nil {
				rest = string(b)
			}
		}
		rows = append(rows, []string{showTime(e.Time), dash(e.Kind), dash(e.IMEI), dash(e.IMSI), rest})
	}
	return rows
}

func eventRows(es []api.Event) [][]string {
	rows := make([][]string, 0, len(es))
	for _, e := range es {
		shadow := ""
		if e.Shadow {
			shadow = "SHADOW"
		}
		peer := e.Peer
		if peer == "" {
			peer = e.PeerAddr
		}
		status := e.Status
		if e.Kind != "" && e.Kind != "hit" {
			status = e.Kind
		}
		rows = append(rows, []string{showTime(e.Time), dash(status), dash(e.Answer), dash(e.IMEI), dash(e.IMSI), dash(e.Source), dash(peer), shadow})
	}
	return rows
}

// followEvents polls GET /v1/events every interval, with after= the last
// event id seen, printing new events as they come, until ctx is done (exit
// 0). The first request failing ends it with its exit code, as does any
// rejected (4xx) request; later failures (eird restarting) are reported
// once and polling goes on.
func (c *cli) followEvents(ctx context.Context, limit int, interval time.Duration) int {
	t := newEventTable(c)
	after, lastErr := "", ""
	for first := true; ; first = false {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		if c.eventKind != "" {
			q.Set("kind", c.eventKind)
		}
		data, err := c.roundTrip(ctx, request{method: "GET", path: "/v1/events", query: q})
		if ctx.Err() != nil {
			return exitOK
		}
		var page api.EventsPage
		if err == nil {
			if jerr := json.Unmarshal(data, &page); jerr != nil {
				err = fmt.Errorf("unexpected answer to GET /v1/events: %w", jerr)
			}
		}
		var fl *failure
		var ce *configError
		switch {
		case err != nil && (first || errors.As(err, &ce) || errors.As(err, &fl) && fl.status < 500):
			return c.report(err)
		case err != nil:
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(c.stderr, "eirctl: %v (retrying every %s)\n", err, interval)
				lastErr = msg
			}
		default:
			if lastErr != "" {
				fmt.Fprintln(c.stderr, "eirctl: eird answers again")
				lastErr = ""
			}
			if c.jsonOutput() {
				var raw struct {
					Events []json.RawMessage `json:"events"`
				}
				json.Unmarshal(data, &raw)
				for _, e := range raw.Events {
					fmt.Fprintf(c.stdout, "%s\n", compact(e))
				}
			} else {
				t.write(c.eventRows(page.Events, data)...)
			}
			switch {
			case page.LastID != "":
				after = string(page.LastID)
			case len(page.Events) > 0:
				after = string(page.Events[len(page.Events)-1].ID)
			}
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return exitOK
		case <-timer.C:
		}
	}
}
