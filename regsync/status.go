package regsync

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/audit"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// SourceStatus is the sync status of one source, as shown by eirctl.
type SourceStatus struct {
	Source      string       `json:"source"`
	Format      string       `json:"format"`
	Lists       []ListState  `json:"lists"`
	LastPass    *PassSummary `json:"last_pass,omitempty"`
	Held        []HeldFile   `json:"held"`
	ResyncLists []string     `json:"resync_needed,omitempty"`
}

// PassSummary is the last pass recorded for a source.
type PassSummary struct {
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
	Files    int       `json:"files"`
	Applied  int       `json:"applied"`
	Rejected int       `json:"rejected"`
	Held     int       `json:"held"`
	LastOK   time.Time `json:"last_success,omitempty"`
}

// HeldFile is a file waiting for an operator's approval.
type HeldFile struct {
	File    string    `json:"file"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// Status returns every source's status and the newest rejections.
func (e *Engine) Status(ctx context.Context) ([]SourceStatus, []json.RawMessage, error) {
	states, err := e.pub.SyncState(ctx)
	if err != nil {
		return nil, nil, err
	}
	passes, err := e.coord.MetaGetAll(ctx, "sync:passes")
	if err != nil {
		return nil, nil, err
	}
	infos, err := e.pub.Datasets(ctx)
	if err != nil {
		return nil, nil, err
	}
	live := map[eir.Dataset]eir.DatasetInfo{}
	for _, in := range infos {
		live[in.Dataset] = in
	}
	var out []SourceStatus
	for _, name := range e.order {
		s := e.sources[name]
		st := SourceStatus{Source: name, Format: s.cfg.Format, Lists: []ListState{}, Held: []HeldFile{}}
		var keys []string
		for k := range states {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ls, ok := parseState(states[k]); ok && ls.Source == name {
				if ds, err := datasetFor(name, regformat.List(ls.List)); err == nil {
					in := live[ds]
					ls.Count, ls.Hash = in.Count, strconv.FormatUint(in.Hash, 16)
				}
				st.Lists = append(st.Lists, ls)
			}
		}
		if p, ok := passes[name]; ok {
			var ps PassSummary
			if json.Unmarshal([]byte(p), &ps) == nil {
				st.LastPass = &ps
			}
		}
		held, _ := s.dir.Held()
		for _, f := range held {
			r, _ := s.dir.HeldReason(f.Name)
			st.Held = append(st.Held, HeldFile{File: f.Name, Reason: r.Code, Message: r.Message, Since: r.Time})
		}
		resync, _ := e.coord.MetaGetAll(ctx, "sync:resync:"+name)
		for l := range resync {
			st.ResyncLists = append(st.ResyncLists, l)
		}
		sort.Strings(st.ResyncLists)
		out = append(out, st)
	}
	raw, err := e.coord.MetaList(ctx, "sync:rejects", 50)
	if err != nil {
		return out, nil, err
	}
	rejects := make([]json.RawMessage, 0, len(raw))
	for _, r := range raw {
		rejects = append(rejects, json.RawMessage(r))
	}
	return out, rejects, nil
}

func (e *Engine) recordPass(ctx context.Context, rep PassReport, perr error) {
	ps := PassSummary{Time: rep.Started.UTC(), Duration: rep.Duration.Round(time.Millisecond).String(), Files: len(rep.Files)}
	if perr != nil {
		ps.Error = perr.Error()
	}
	for _, f := range rep.Files {
		switch f.Result {
		case "applied":
			ps.Applied++
		case "rejected":
			ps.Rejected++
		case "held":
			ps.Held++
		}
	}
	prev, _ := e.coord.MetaGetAll(ctx, "sync:passes")
	var old PassSummary
	if p, ok := prev[rep.Source]; ok {
		json.Unmarshal([]byte(p), &old)
	}
	ps.LastOK = old.LastOK
	if perr == nil {
		ps.LastOK = ps.Time
		e.m.lastSuccess.WithLabelValues(rep.Source).Set(float64(rep.Started.Unix()))
	}
	b, _ := json.Marshal(ps)
	if err := e.coord.MetaSet(ctx, "sync:passes", rep.Source, string(b)); err != nil {
		e.log.Warn("cannot record the sync pass", zap.Error(err))
	}
	if s := e.sources[rep.Source]; s != nil {
		held, _ := s.dir.Held()
		e.m.held.WithLabelValues(rep.Source).Set(float64(len(held)))
	}
}

// audit records; a failure is logged: the change is made.
func (e *Engine) audit(ctx context.Context, recs ...audit.Record) {
	if e.o.Audit == nil {
		return
	}
	if err := e.o.Audit.Record(ctx, recs...); err != nil {
		e.log.Error("audit record not written", zap.String("action", recs[0].Action), zap.Error(err))
	}
}
