package main

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

const storeSynopsis = "status|restore|accept ..."

const storeHelp = `The lists in force and Redis:
  eirctl store status                     whether Redis holds the lists in force: ok, stale
                                          (Redis unreachable: the lists held answer), diverged
                                          (Redis emptied, rolled back or replaced: the lists held
                                          answer, writes are refused) or unavailable
  eirctl store restore -reason TEXT       write the lists this eird holds back into Redis
                                          (refused by the guards when it would unblock entries
                                          Redis holds now: -force)
  eirctl store accept -reason TEXT        take Redis's state as the lists in force (refused by
                                          the guards when it unblocks too much: -force)`

// storeLine describes the store in one line.
func storeLine(s api.StoreStatus) string {
	switch s.State {
	case "ok":
		return fmt.Sprintf("ok: Redis holds the lists in force (epoch %d, data set %s)", s.Epoch, dash(s.StoreID))
	case "stale":
		return fmt.Sprintf("STALE%s: %s; unconfirmed for %s", storeSince(s), clean(s.Reason), time.Duration(s.StaleSeconds*float64(time.Second)).Round(time.Second))
	case "diverged":
		return fmt.Sprintf("DIVERGED%s: %s; answering from the lists held, writes refused: eirctl store restore -reason TEXT", storeSince(s), clean(s.Reason))
	}
	return fmt.Sprintf("%s%s: %s", strings.ToUpper(s.State), storeSince(s), clean(s.Reason))
}

func storeSince(s api.StoreStatus) string {
	if s.Since == nil {
		return ""
	}
	return " since " + s.Since.Format(time.RFC3339)
}

func (c *cli) store(args []string) int {
	return c.newFlags("store", storeSynopsis, storeHelp).dispatch(args, []subcommand{
		{"status", c.storeStatus},
		{"restore", func(args []string) int { return c.storeRecover("restore", args) }},
		{"accept", func(args []string) int { return c.storeRecover("accept", args) }},
	})
}

func (c *cli) storeStatus(args []string) int {
	f := c.newFlags("store status", "", "Shows whether Redis holds the lists in force. Exits with 1 unless it does (state ok).")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	var st api.StoreStatus
	data, code := c.call(request{method: "GET", path: "/v1/store"}, &st)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		c.printRaw(data)
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "STATE\t%s\n", storeLine(st))
		fmt.Fprintf(tw, "SERVING\t%s\n", yesNo(st.Serving))
		fmt.Fprintf(tw, "LISTS HELD\t%s (%d datasets with entries, %d entries)\n", map[bool]string{true: "complete", false: "incomplete"}[st.Replica], st.Datasets, st.Entries)
		fmt.Fprintf(tw, "EPOCH\t%d\n", st.Epoch)
		fmt.Fprintf(tw, "DATA SET\t%s\n", dash(st.StoreID))
		tw.Flush()
	}
	if st.State != "ok" {
		return exitFailure
	}
	return exitOK
}

func (c *cli) storeRecover(action string, args []string) int {
	help := `Writes the lists this eird holds back into Redis, when Redis no longer holds them
(emptied, restored from an older snapshot, replaced). Every eird takes the restored
lists; the next registry sync applies on them. The restore is refused when it would
unblock entries Redis holds now beyond the guards (guards.*): check, then -force.`
	if action == "accept" {
		help = `Takes Redis's state as the lists in force, dropping the lists this eird holds (after
Redis was emptied or replaced on purpose). Refused when it would unblock more than the
guards allow (guards.*): check, then -force.`
	}
	f := c.newFlags("store "+action, "-reason TEXT [-force]", help)
	reason := f.String("reason", "", "why (kept in the audit trail; required)")
	force := f.Bool("force", false, "go past the guards (audited)")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	if strings.TrimSpace(*reason) == "" {
		return f.usageError("-reason is required")
	}
	q := url.Values{"reason": {*reason}}
	if *force {
		q.Set("force", "true")
	}
	var res api.RecoverResult
	data, code := c.call(request{method: "POST", path: "/v1/store/" + action, query: q, timeout: 10 * c.flags.timeout}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	done := "restored the lists in force into Redis"
	if action == "accept" {
		done = "accepted Redis's state as the lists in force"
	}
	fmt.Fprintf(c.stdout, "%s: epoch %d, data set %s\n", done, res.Epoch, dash(res.StoreID))
	if res.Repaired != "" {
		fmt.Fprintf(c.stdout, "repaired: %s\n", clean(res.Repaired))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tENTRIES\tBEFORE\tADDED\tREMOVED\tUNBLOCKED")
	for _, d := range res.Datasets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", d.Dataset, d.Count, d.Previous, d.Added, d.Removed, d.Unblocked)
	}
	tw.Flush()
	return exitOK
}
