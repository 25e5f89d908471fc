package regformat

import (
	"errors"
	"testing"
)

func TestIdentify(t *testing.T) {
	const ts = "20180217_000302"
	tests := []struct {
		name, format string
		want         FileInfo
	}{
		// DIRBS full files.
		{ts + "_blacklist.csv", "dirbs", FileInfo{List: Blacklist, Timestamp: ts}},
		{ts + "_exceptions_operator1.csv", "dirbs", FileInfo{List: Exceptions, Operator: "operator1", Timestamp: ts}},
		{ts + "_notifications_operator1.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts}},
		{ts + "_exceptions_Op_With_Underscores.csv", "DIRBS", FileInfo{List: Exceptions, Operator: "op_with_underscores", Timestamp: ts}},
		// Per-type blacklist deltas, base -1 (case 4).
		{ts + "_blacklist_delta_-1_42_blocked.csv", "dirbs", FileInfo{List: Blacklist, Timestamp: ts, Delta: true, Base: -1, Run: 42, DeltaOp: OpAdd, ChangeType: "blocked"}},
		{ts + "_blacklist_delta_42_47_unblocked.csv", "dirbs", FileInfo{List: Blacklist, Timestamp: ts, Delta: true, Base: 42, Run: 47, DeltaOp: OpRemove, ChangeType: "unblocked"}},
		{ts + "_blacklist_delta_42_47_changed.csv", "dirbs", FileInfo{List: Blacklist, Timestamp: ts, Delta: true, Base: 42, Run: 47, DeltaOp: OpUpdate, ChangeType: "changed"}},
		// Exceptions deltas; the greedy operator group must not swallow the suffix.
		{ts + "_exceptions_operator1_delta_1_42_added.csv", "dirbs", FileInfo{List: Exceptions, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpAdd, ChangeType: "added"}},
		{ts + "_exceptions_operator1_delta_-1_42_removed.csv", "dirbs", FileInfo{List: Exceptions, Operator: "operator1", Timestamp: ts, Delta: true, Base: -1, Run: 42, DeltaOp: OpRemove, ChangeType: "removed"}},
		{ts + "_exceptions_op_x_delta_7_9_added.csv", "dirbs", FileInfo{List: Exceptions, Operator: "op_x", Timestamp: ts, Delta: true, Base: 7, Run: 9, DeltaOp: OpAdd, ChangeType: "added"}},
		// Notifications deltas (case 27: blacklisted removes the tracked entry).
		{ts + "_notifications_operator1_delta_1_42_new.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpAdd, ChangeType: "new"}},
		{ts + "_notifications_operator1_delta_1_42_resolved.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpRemove, ChangeType: "resolved"}},
		{ts + "_notifications_operator1_delta_1_42_blacklisted.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpRemove, ChangeType: "blacklisted"}},
		{ts + "_notifications_operator1_delta_1_42_no_longer_seen.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpRemove, ChangeType: "no_longer_seen"}},
		{ts + "_notifications_operator1_delta_1_42_changed.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42, DeltaOp: OpUpdate, ChangeType: "changed"}},
		// Legacy combined deltas.
		{ts + "_exceptions_operator1_delta_1_42.csv", "dirbs", FileInfo{List: Exceptions, Operator: "operator1", Timestamp: ts, Delta: true, Base: 1, Run: 42}},
		{ts + "_blacklist_delta_-1_42.csv", "dirbs", FileInfo{List: Blacklist, Timestamp: ts, Delta: true, Base: -1, Run: 42}},
		{ts + "_notifications_operator1_delta_3_4.csv", "dirbs", FileInfo{List: Notifications, Operator: "operator1", Timestamp: ts, Delta: true, Base: 3, Run: 4}},
		// A directory is stripped.
		{"listgen__" + ts + "/" + ts + "_blacklist.csv", "dirbs", FileInfo{Name: ts + "_blacklist.csv", List: Blacklist, Timestamp: ts}},
		// LSDS and generic stolen lists.
		{"StolenFullList08-26-2019T163616.csv", "lsds", FileInfo{List: Stolen, Timestamp: "20190826_163616"}},
		{"StolenDeltaList08-26-2019T164504.csv", "lsds", FileInfo{List: Stolen, Timestamp: "20190826_164504", Delta: true}},
		{"StolenDeltaList08-26-2019T164504.csv", "stolen", FileInfo{List: Stolen, Timestamp: "20190826_164504", Delta: true}},
		{"StolenDeltaList.csv", "lsds", FileInfo{List: Stolen, Delta: true}},
		{"StolenFullList13-45-2019T164504.csv", "lsds", FileInfo{List: Stolen}}, // impossible date: no timestamp
		{"stolen_list_delta_sample.csv", "stolen", FileInfo{List: Stolen}},
		{"police_export.CSV", "lsds", FileInfo{List: Stolen}},
		// TAC and ranges.
		{"sample_barred_tac_list_v2.csv", "tac", FileInfo{List: BarredTAC}},
		{"gsma_ranges.csv", "ranges", FileInfo{List: Ranges}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.format, func(t *testing.T) {
			got, err := Identify(tt.name, tt.format)
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			want := tt.want
			if want.Name == "" {
				want.Name = tt.name
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestIdentifyRejects(t *testing.T) {
	const ts = "20180217_000302"
	tests := []struct {
		name, format string
		want         error
	}{
		{"blacklist.csv", "dirbs", ErrUnrecognised},
		{ts + "_blacklist.CSV", "dirbs", ErrUnrecognised},                          // case-sensitive
		{ts + "_Blacklist.csv", "dirbs", ErrUnrecognised},                          // case-sensitive
		{"20180217_0003_blacklist.csv", "dirbs", ErrUnrecognised},                  // short timestamp
		{"20181317_000302_blacklist.csv", "dirbs", ErrUnrecognised},                // month 13
		{ts + "_blacklist_delta_1_42_added.csv", "dirbs", ErrUnrecognised},         // type of another list
		{ts + "_blacklist_delta_-2_42_blocked.csv", "dirbs", ErrUnrecognised},      // base below -1
		{ts + "_blacklist_delta_1_-1_blocked.csv", "dirbs", ErrUnrecognised},       // negative run
		{ts + "_exceptions_.csv", "dirbs", ErrUnrecognised},                        // no operator
		{ts + "_exceptions_op1_delta_1_42_blocked.csv", "dirbs", ErrUnrecognised},  // delta with a blacklist type, not a full file
		{ts + "_notifications_op1_delta_1_42_added.csv", "dirbs", ErrUnrecognised}, // delta with an exceptions type
		{ts + "_blacklist_delta_1_99999999999999999999_blocked.csv", "dirbs", ErrUnrecognised},
		{ts + "_blacklist.zip", "dirbs", ErrUnrecognised},
		{ts + "_exceptions_operator1.zip", "dirbs", ErrUnrecognised},
		{ts + "_pairing_operator1.csv", "dirbs", ErrUnrecognised},
		{"StolenFullList08-26-2019T163616.zip", "lsds", ErrUnrecognised},
		{"stolen.txt", "stolen", ErrUnrecognised},
		{".csv", "tac", ErrUnrecognised},
		{"tacs.txt", "tac", ErrUnrecognised},
		{"ranges.json", "ranges", ErrUnrecognised},
		{ts + "_blacklist.csv", "gsma", ErrUnknownFormat},
		{ts + "_blacklist.csv", "", ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.format, func(t *testing.T) {
			fi, err := Identify(tt.name, tt.format)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Identify = %+v, %v; want %v", fi, err, tt.want)
			}
		})
	}
}

func TestIsPackage(t *testing.T) {
	for name, want := range map[string]bool{
		"20180217_000302_blacklist.zip":            true,
		"20180217_000302_exceptions_operator1.ZIP": true,
		"dir/20180217_000302_blacklist.zip":        true,
		"20180217_000302_blacklist.csv":            false,
		"zip":                                      false,
	} {
		if got := IsPackage(name); got != want {
			t.Errorf("IsPackage(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpAdd: "add", OpRemove: "remove", OpUpdate: "update", 0: "op(0)"} {
		if got := op.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", op, got, want)
		}
	}
}
