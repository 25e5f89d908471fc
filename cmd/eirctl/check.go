package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eir-sidecar/eir/admin/api"
)

func (c *cli) check(args []string) int {
	f := c.newFlags("check", "IMEI [IMSI]", `Shows what eird answers for an IMEI (14 to 16 digits), with an IMSI when given:
the status, the rule and source that decided, the S13 answer, and, when a
source in shadow mode would have decided otherwise, its verdict (not enforced).`)
	if code, ok := f.parse(args, 1, 2); !ok {
		return code
	}
	q := url.Values{"imei": {f.args[0]}}
	if len(f.args) == 2 {
		q.Set("imsi", f.args[1])
	}
	var res api.CheckResult
	data, code := c.call(request{method: "GET", path: "/v1/check", query: q}, &res)
	if code != exitOK {
		return code
	}
	var s13 api.S13Answer
	if len(res.S13) > 0 {
		if err := json.Unmarshal(res.S13, &s13); err != nil {
			return c.report(fmt.Errorf("unexpected answer to GET /v1/check: s13: %w", err))
		}
	}
	if c.jsonOutput() {
		return c.printRaw(data)
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
		fmt.Fprintf(tw, "ERROR\t%s\n", clean(res.Error))
	}
	switch {
	case s13.ExperimentalResultCode != 0:
		fmt.Fprintf(tw, "S13 ANSWER\tExperimental-Result %d (vendor 10415), no Equipment-Status\n", s13.ExperimentalResultCode)
	case s13.EquipmentStatus != nil:
		fmt.Fprintf(tw, "S13 ANSWER\tResult-Code %d, Equipment-Status %d\n", s13.ResultCode, *s13.EquipmentStatus)
	case s13.ResultCode != 0:
		fmt.Fprintf(tw, "S13 ANSWER\tResult-Code %d\n", s13.ResultCode)
	}
	if s := res.Shadow; s != nil && s.Status != "" {
		var why []string
		if s.Rule != "" {
			why = append(why, s.Rule)
		}
		if s.Source != "" {
			why = append(why, "source "+s.Source)
		}
		verdict := s.Status
		if len(why) > 0 {
			verdict += " (" + strings.Join(why, ", ") + ")"
		}
		fmt.Fprintf(tw, "SHADOW VERDICT\t%s — not enforced\n", verdict)
	}
	tw.Flush()
	return exitOK
}

func (c *cli) datasets(args []string) int {
	f := c.newFlags("datasets", "", "Lists the datasets in force (source/target/list) with their versions, entry counts and\nthe time of their last change.")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	var res api.Datasets
	data, code := c.call(request{method: "GET", path: "/v1/datasets"}, &res)
	if code != exitOK {
		return code
	}
	if c.jsonOutput() {
		return c.printRaw(data)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSION\tENTRIES\tUPDATED")
	for _, d := range res.Datasets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Dataset, d.Version, d.Count, d.UpdatedAt.Format(time.RFC3339))
	}
	tw.Flush()
	return exitOK
}
