package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

// utcMilli is t in UTC to the millisecond, the precision eird keeps an
// expiry with, as expires_at is sent.
func utcMilli(t time.Time) *time.Time {
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}

var (
	listNames   = []string{"black", "grey", "white", "override", "exception"}
	targetNames = []string{"imei", "tac", "range", "pair"}
)

// entryKey names an entry: an IMEI, a TAC, a range or an IMEI–IMSI pair,
// as the admin API's entry objects do.
type entryKey api.EntryKey

// String is the key in eirctl's argument syntax.
func (k entryKey) String() string {
	switch {
	case k.IMSI != "":
		return k.IMEI + "," + k.IMSI
	case k.From != "" || k.To != "":
		return k.From + "-" + k.To
	case k.TAC != "":
		return k.TAC
	}
	return k.IMEI
}

const entrySyntax = "want an IMEI (14 to 16 digits), a TAC (8 digits), a range FROM-TO of IMEIs or an exception pair IMEI,IMSI"

// parseEntryArg infers what an argument names: 14 to 16 digits are an IMEI,
// 8 digits a TAC, A-B a range, IMEI,IMSI a pair. It returns the key and
// its target (imei, tac, range, pair). eird validates the digits further
// (check digit, IMSI length, range order).
func parseEntryArg(s string) (entryKey, string, error) {
	s = strings.TrimSpace(s)
	isIMEI := func(v string) bool { return digits(v) && len(v) >= 14 && len(v) <= 16 }
	if imei, imsi, ok := strings.Cut(s, ","); ok {
		if !isIMEI(imei) || !digits(imsi) {
			return entryKey{}, "", fmt.Errorf("%q: a pair is IMEI,IMSI (14 to 16 digits, a comma, the IMSI's digits)", s)
		}
		return entryKey{IMEI: imei, IMSI: imsi}, "pair", nil
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		if !isIMEI(from) || !isIMEI(to) {
			return entryKey{}, "", fmt.Errorf("%q: a range is FROM-TO, two IMEIs of 14 to 16 digits", s)
		}
		return entryKey{From: from, To: to}, "range", nil
	}
	switch {
	case digits(s) && len(s) == 8:
		return entryKey{TAC: s}, "tac", nil
	case isIMEI(s):
		return entryKey{IMEI: s}, "imei", nil
	}
	return entryKey{}, "", fmt.Errorf("%q: %s", s, entrySyntax)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// oneOf checks an enumerated flag value.
func oneOf(flagName, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("-%s %q: want %s", flagName, v, strings.Join(allowed, ", "))
}

// keyOf is the key of an entry eird returned.
func keyOf(e api.Entry) entryKey {
	return entryKey{IMEI: e.IMEI, TAC: e.TAC, From: e.From, To: e.To, IMSI: e.IMSI}
}

// datasetOf is the entry's dataset name, or source/list when eird left it
// out.
func datasetOf(e api.Entry) string {
	if e.Dataset != "" {
		return e.Dataset
	}
	return strings.Trim(e.Source+"/"+e.List, "/")
}

const entryHelp = `ENTRY is inferred from its form:
  35209900176148                  an IMEI (14 digits; 15 with the check digit, or a 16-digit IMEISV)
  35209900                        a TAC (8 digits): every IMEI of that type
  35209900000000-35209900999999   a range of IMEIs, inclusive
  35209900176148,001010000000001  an IMEI–IMSI pair (the exception list by default)`

func (c *cli) add(args []string) int {
	f := c.newFlags("add", "[-list L] [-source S] [-expires TIME | -for DURATION] -reason TEXT ENTRY",
		`Puts an entry on a list of a source (by default: manual). Adding to a list moves the
entry off the source's other lists. Prints what happened (added, updated or unchanged)
and the entry as stored; -o json prints eird's answer.

`+entryHelp)
	list := f.String("list", "", "`list`: black, grey, white, override or exception (default: exception for a pair, black otherwise)")
	source := f.String("source", "", "`source` of the entry (default: manual, eird's default)")
	reason := f.String("reason", "", "why, in `text` (required; recorded in the audit trail)")
	expires := f.String("expires", "", "expiry `time`, RFC 3339 (2006-01-02T15:04:05Z, 2006-01-02T15:04:05.250Z: to the millisecond); not for ranges")
	var dur days
	f.Var(&dur, "for", "expire after this `duration` from now (720h, 30d, 90s, 500ms: to the millisecond); not for ranges")
	if code, ok := f.parse(args, 1, 1); !ok {
		return code
	}
	key, target, err := parseEntryArg(f.args[0])
	if err != nil {
		return f.usageError("%v", err)
	}
	if strings.TrimSpace(*reason) == "" {
		return f.usageError("-reason is required")
	}
	forDur := time.Duration(dur)
	forGiven := false
	f.Visit(func(fl *flag.Flag) { forGiven = forGiven || fl.Name == "for" })
	if *list == "" {
		*list = "black"
		if target == "pair" {
			*list = "exception"
		}
	}
	if err := oneOf("list", *list, listNames); err != nil {
		return f.usageError("%v", err)
	}
	body := api.EntryRequest{EntryKey: api.EntryKey(key), List: *list, Source: *source, Reason: *reason}
	switch {
	case *expires != "" && forGiven:
		return f.usageError("give -expires or -for, not both")
	case (*expires != "" || forGiven) && target == "range":
		return f.usageError("ranges do not expire: -expires and -for are for IMEIs, TACs and pairs")
	case *expires != "":
		t, err := time.Parse(time.RFC3339Nano, *expires)
		if err != nil {
			return f.usageError("-expires %q: want an RFC 3339 time such as 2006-01-02T15:04:05Z", *expires)
		}
		body.ExpiresAt = utcMilli(t)
		if !body.ExpiresAt.After(c.now()) {
			return f.usageError("-expires %s is not in the future", *expires)
		}
	case forGiven && forDur <= 0:
		// -for 0s is refused, not taken as "no expiry": that would turn an
		// expiring entry into a permanent one.
		return f.usageError("-for %s: must be > 0", forDur)
	case forDur > 0 && forDur < time.Millisecond:
		return f.usageError("-for %s: must be at least 1ms (expiries are kept to the millisecond)", forDur)
	case forDur > 0:
		body.ExpiresAt = utcMilli(c.now().Add(forDur))
	}
	var res api.EntryResult
	data, code := c.call(request{method: "POST", path: "/v1/entries", json: body}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	e := res.Entry
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", strings.ToUpper(dash(res.Action)), keyOf(e))
	fmt.Fprintf(tw, "DATASET\t%s\n", datasetOf(e))
	if e.ExpiresAt != nil {
		fmt.Fprintf(tw, "EXPIRES\t%s\n", showExpiry(e.ExpiresAt))
	}
	if e.Reason != "" {
		fmt.Fprintf(tw, "REASON\t%s\n", clean(e.Reason))
	}
	if res.Action != "unchanged" {
		for _, b := range res.Before {
			was := datasetOf(b)
			if b.ExpiresAt != nil {
				was += ", expires " + showExpiry(b.ExpiresAt)
			}
			fmt.Fprintf(tw, "WAS\t%s\n", was)
		}
	}
	tw.Flush()
	return exitOK
}

func (c *cli) remove(args []string) int {
	f := c.newFlags("remove", "[-list L] [-source S] -reason TEXT ENTRY",
		`Takes an entry off a source's lists (by default: every list of the source manual) and
prints the entries removed. Exits with 3 when nothing matched.

`+entryHelp)
	list := f.String("list", "", "only this `list`: black, grey, white, override or exception (default: every list)")
	source := f.String("source", "", "`source` of the entry (default: manual, eird's default)")
	reason := f.String("reason", "", "why, in `text` (required; recorded in the audit trail)")
	if code, ok := f.parse(args, 1, 1); !ok {
		return code
	}
	key, _, err := parseEntryArg(f.args[0])
	if err != nil {
		return f.usageError("%v", err)
	}
	if strings.TrimSpace(*reason) == "" {
		return f.usageError("-reason is required")
	}
	if *list != "" {
		if err := oneOf("list", *list, listNames); err != nil {
			return f.usageError("%v", err)
		}
	}
	var res api.Removed
	body := api.EntryRequest{EntryKey: api.EntryKey(key), List: *list, Source: *source, Reason: *reason}
	data, code := c.call(request{method: "DELETE", path: "/v1/entries", json: body}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	fmt.Fprintf(c.stdout, "removed %d %s\n", len(res.Removed), plural(len(res.Removed), "entry", "entries"))
	rows := make([][]string, 0, len(res.Removed))
	for _, e := range res.Removed {
		rows = append(rows, []string{datasetOf(e), keyOf(e).String(), showExpiry(e.ExpiresAt), dash(e.Reason)})
	}
	newTable(c.stdout, "DATASET", "ENTRY", "EXPIRES", "REASON").write(rows...)
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (c *cli) list(args []string) int {
	f := c.newFlags("list", "[-source S] [-list L] [-target T] [-limit N] [-cursor C | -all]\n       eirctl list -imei IMEI [-imsi IMSI]",
		`Lists a source's entries (by default: manual), one page at a time (-limit, default 100),
or every page with -all. -list and -target narrow it to some datasets.

With -imei, lists every entry of every source that applies to that IMEI: its IMEI
entries, the TAC and range entries covering it and its pairs (with -imsi: the pairs
with that IMSI).

Columns: DATASET, ENTRY, EXPIRES, REASON, BY (who added it), WHEN.`)
	source := f.String("source", "", "`source` whose entries to list (not sent when empty: eird's default applies)")
	list := f.String("list", "", "only this `list`: black, grey, white, override or exception")
	target := f.String("target", "", "only this `target`: imei, tac, range or pair")
	limit := f.Int("limit", 0, "`N` entries per page, at most 1000 (default 100; with -all 1000)")
	cursor := f.String("cursor", "", "start at this `cursor` (the next_cursor of a previous page)")
	all := f.Bool("all", false, "list every page, following next_cursor")
	imei := f.String("imei", "", "list the entries that apply to this `IMEI`")
	imsi := f.String("imsi", "", "with -imei: only the pairs with this `IMSI`")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	if *imsi != "" && *imei == "" {
		return f.usageError("-imsi goes with -imei")
	}
	if *imei != "" {
		if *source != "" || *list != "" || *target != "" || *limit != 0 || *cursor != "" || *all {
			return f.usageError("-imei takes no other flag than -imsi")
		}
		q := url.Values{"imei": {*imei}}
		if *imsi != "" {
			q.Set("imsi", *imsi)
		}
		_, code := c.showPage(q, func(api.EntriesPage) string { return "no entry applies to " + *imei })
		return code
	}
	if *list != "" {
		if err := oneOf("list", *list, listNames); err != nil {
			return f.usageError("%v", err)
		}
	}
	if *target != "" {
		if err := oneOf("target", *target, targetNames); err != nil {
			return f.usageError("%v", err)
		}
	}
	if *limit < 0 || *limit > 1000 {
		return f.usageError("-limit %d: want 1 to 1000", *limit)
	}
	if *all && *cursor != "" {
		return f.usageError("give -all or -cursor, not both")
	}
	q := url.Values{}
	for k, v := range map[string]string{"source": *source, "list": *list, "target": *target} {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch {
	case *limit > 0:
		q.Set("limit", strconv.Itoa(*limit))
	case *all:
		q.Set("limit", "1000")
	}
	if !*all {
		if *cursor != "" {
			q.Set("cursor", *cursor)
		}
		page, code := c.showPage(q, func(p api.EntriesPage) string { return noEntries(q, p.Source) })
		if code != exitOK || c.jsonOutput() {
			return code
		}
		if page.NextCursor != "" {
			fmt.Fprintf(c.stderr, "more entries: -all lists them all, -cursor %s the next page\n", page.NextCursor)
		}
		return exitOK
	}
	return c.listAll(q)
}

func newEntryTable(c *cli) *table {
	return newTable(c.stdout, "DATASET", "ENTRY", "EXPIRES", "REASON", "BY", "WHEN")
}

// entryExpiry is e's expiry, marked when it has passed: the entry no
// longer applies, though the expiry sweep has not removed it yet.
func entryExpiry(e api.Entry) string {
	if e.Expired {
		return showExpiry(e.ExpiresAt) + " (expired)"
	}
	return showExpiry(e.ExpiresAt)
}

func entryRows(es []api.Entry) [][]string {
	rows := make([][]string, 0, len(es))
	for _, e := range es {
		rows = append(rows, []string{datasetOf(e), keyOf(e).String(), entryExpiry(e), dash(e.Reason), dash(e.Actor), showTimeOf(e.Time)})
	}
	return rows
}

// listAll follows next_cursor until the last page, printing each page as it
// comes; with -o json it prints one {"entries": [...], "next_cursor": ""}
// holding every entry.
func (c *cli) listAll(q url.Values) int {
	t := newEntryTable(c)
	n := 0
	seen := map[string]bool{}
	listed := "" // the source eird names
	for {
		var page api.EntriesPage
		data, code := c.call(request{method: "GET", path: "/v1/entries", query: q}, &page)
		if code != exitOK {
			if n > 0 && !c.jsonOutput() {
				fmt.Fprintf(c.stderr, "eirctl: stopped after %d entries\n", n)
			}
			return code
		}
		if c.jsonOutput() {
			var raw struct {
				Entries []json.RawMessage `json:"entries"`
			}
			if err := json.Unmarshal(data, &raw); err != nil {
				return c.report(fmt.Errorf("unexpected answer to GET /v1/entries: %w", err))
			}
			for _, e := range raw.Entries {
				sep := ",\n  "
				if n == 0 {
					sep = "{\"entries\": [\n  "
				}
				n++
				fmt.Fprint(c.stdout, sep)
				c.stdout.Write(compact(e))
			}
		} else {
			t.write(entryRows(page.Entries)...)
			n += len(page.Entries)
		}
		listed = page.Source
		if page.NextCursor == "" {
			break
		}
		if seen[page.NextCursor] {
			return c.report(errors.New("eird returned the same cursor twice; stopping"))
		}
		seen[page.NextCursor] = true
		q.Set("cursor", page.NextCursor)
	}
	switch {
	case c.jsonOutput() && n == 0:
		fmt.Fprintln(c.stdout, `{"entries": [], "next_cursor": ""}`)
	case c.jsonOutput():
		fmt.Fprintln(c.stdout, "\n], \"next_cursor\": \"\"}")
	case n == 0:
		fmt.Fprintln(c.stdout, noEntries(q, listed))
	}
	return exitOK
}

// noEntries is what list prints when there is no entry: the source listed
// (as eird names it in its answer, else as asked, else eird's default,
// manual) and the -list and -target filters of q.
func noEntries(q url.Values, listed string) string {
	asked := q.Get("source")
	source := listed
	if source == "" {
		source = asked
	}
	if source == "" {
		source = "manual"
	}
	msg := "no entries in source " + source
	if l := q.Get("list"); l != "" {
		msg += " on list " + l
	}
	if t := q.Get("target"); t != "" {
		msg += " with target " + t
	}
	if asked == "" {
		msg += " (eird's default source; -source S lists another, eirctl datasets shows them all)"
	}
	return msg
}

// showPage fetches one page of GET /v1/entries and prints it: eird's answer
// with -o json, else a table, or empty(page) when there is no entry.
func (c *cli) showPage(q url.Values, empty func(api.EntriesPage) string) (api.EntriesPage, int) {
	var page api.EntriesPage
	data, code := c.call(request{method: "GET", path: "/v1/entries", query: q}, &page)
	if code != exitOK {
		return page, code
	}
	if c.jsonOutput() {
		return page, c.printRaw(data)
	}
	newEntryTable(c).write(entryRows(page.Entries)...)
	if len(page.Entries) == 0 {
		fmt.Fprintln(c.stdout, empty(page))
	}
	return page, exitOK
}
