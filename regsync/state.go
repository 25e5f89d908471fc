package regsync

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// ListState is what is applied of one list of one source. It is written in
// the same atomic step as the list's datasets.
type ListState struct {
	Source    string    `json:"source"`
	List      string    `json:"list"`
	Run       int64     `json:"run"`       // run id applied; 0 when the registry gives none
	Base      int64     `json:"base"`      // base of the delta applied last (deltas only)
	Timestamp string    `json:"timestamp"` // timestamp of the file applied (YYYYMMDD_HHMMSS)
	Mode      string    `json:"mode"`      // full, delta, reconciled
	File      string    `json:"file"`      // file or package applied
	SHA256    string    `json:"sha256"`    // of that file
	Rows      int       `json:"rows"`      // rows read
	BadRows   int       `json:"bad_rows"`  // rows quarantined
	Added     uint64    `json:"added"`     // entries added by the apply
	Removed   uint64    `json:"removed"`   // entries removed by the apply
	Changed   int       `json:"changed"`   // update rows (no change of membership)
	Count     uint64    `json:"count"`     // entries of the list in force
	Hash      string    `json:"hash"`      // set hash of the list in force (hex)
	AppliedAt time.Time `json:"applied_at"`
}

func stateKey(source string, list regformat.List) string { return source + "/" + string(list) }

func parseState(s string) (ListState, bool) {
	if s == "" {
		return ListState{}, false
	}
	var st ListState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return ListState{}, false
	}
	return st, true
}

func (st ListState) json() string {
	b, _ := json.Marshal(st)
	return string(b)
}

// datasetFor returns the dataset a list of source feeds.
func datasetFor(source string, l regformat.List) (eir.Dataset, error) {
	d := eir.Dataset{Source: source}
	switch l {
	case regformat.Blacklist, regformat.Stolen:
		d.Target, d.List = eir.TargetIMEI, eir.ListBlack
	case regformat.BarredTAC:
		d.Target, d.List = eir.TargetTAC, eir.ListBlack
	case regformat.Ranges:
		d.Target, d.List = eir.TargetRange, eir.ListBlack
	case regformat.Exceptions:
		d.Target, d.List = eir.TargetPair, eir.ListException
	case regformat.Notifications:
		d.Target, d.List = eir.TargetPair, eir.ListGrey
	default:
		return d, fmt.Errorf("regsync: list %q has no dataset", l)
	}
	return d, d.Validate()
}

func jsonUnmarshal(s string, v any) { json.Unmarshal([]byte(s), v) }

func listOf(s string) regformat.List { return regformat.List(s) }
