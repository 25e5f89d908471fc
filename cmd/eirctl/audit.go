package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

func (c *cli) audit(args []string) int {
	f := c.newFlags("audit", "[-imei IMEI] [-actor NAME] [-action ACTION] [-since WHEN] [-until WHEN] [-limit N]",
		`Shows the audit trail, newest first: who changed what, when and why.
Actions: entry.add, entry.update, entry.remove, entry.expire, import, sync.apply,
sync.approve, config.reload, store.restore, store.accept, observed.devices (a
subscriber's devices looked up), observed.forget, export.operator_data.
Actors: a token's name, cert:<common name>, sync:<source>, expiry, SIGHUP,
auto_restore (store.auto_restore).

WHEN is an RFC 3339 time (2006-01-02T15:04:05Z) or a duration before now (24h, 90m, 7d).`)
	imei := f.String("imei", "", "only records about this `IMEI`")
	actor := f.String("actor", "", "only records of this `actor` (a token's name, sync:national, auto_restore, ...)")
	action := f.String("action", "", "only records of this `action` (entry.add, import, ...)")
	since := f.String("since", "", "only records from this `time` on (RFC 3339, or a duration: 24h means the last day)")
	until := f.String("until", "", "only records up to this `time` (RFC 3339 or a duration before now)")
	limit := f.Int("limit", 0, "at most `N` records, up to 1000 (default 100)")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	q := url.Values{}
	for k, v := range map[string]string{"imei": *imei, "actor": *actor, "action": *action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	now := c.now()
	for k, v := range map[string]string{"since": *since, "until": *until} {
		if v == "" {
			continue
		}
		t, err := parseWhen(v, now)
		if err != nil {
			return f.usageError("-%s %v", k, err)
		}
		q.Set(k, t.UTC().Format(time.RFC3339))
	}
	if *limit < 0 || *limit > 1000 {
		return f.usageError("-limit %d: want 1 to 1000", *limit)
	}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	var res api.AuditPage
	data, code := c.call(request{method: "GET", path: "/v1/audit", query: q}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	// One batch: every row sets the column widths (a source, a target or
	// an actor may be long).
	rows := make([][]string, 0, len(res.Records))
	for _, r := range res.Records {
		target := string(r.Target)
		if target == "" {
			target = r.IMEI
		}
		if target == "" {
			target = r.Dataset
		}
		rows = append(rows, []string{showTimeOf(&r.Time), dash(r.Actor), dash(r.Action), dash(target), dash(r.Source), dash(r.Reason)})
	}
	newTable(c.stdout, "TIME", "ACTOR", "ACTION", "TARGET", "SOURCE", "REASON").write(rows...)
	if len(res.Records) == 0 {
		fmt.Fprintln(c.stdout, "no audit records")
	}
	if res.Truncated {
		fmt.Fprintln(c.stderr, "more records: narrow with -since, -until, -imei or -actor, or raise -limit (up to 1000)")
	}
	return exitOK
}
