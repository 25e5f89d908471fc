package redisstore

import (
	"strconv"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// keyOps is the net effect of a delta on IMEI or TAC keys: the removals
// apply first, then the additions.
type keyOps struct {
	order   []uint64
	final   map[uint64]bool // present after the delta
	removed map[uint64]bool // named by a removal
	dupAdds uint64          // additions of a key added earlier in the delta
}

func setOps(w *work) *keyOps {
	o := &keyOps{final: map[uint64]bool{}, removed: map[uint64]bool{}}
	w.eachRemove(func(k entryKey) {
		if _, ok := o.final[k.a]; !ok {
			o.order = append(o.order, k.a)
		}
		o.final[k.a], o.removed[k.a] = false, true
	})
	w.eachAdd(func(k entryKey) {
		if _, ok := o.final[k.a]; !ok {
			o.order = append(o.order, k.a)
		}
		if o.final[k.a] {
			o.dupAdds++
		}
		o.final[k.a] = true
	})
	return o
}

// pairOp is the net effect of a delta on one (IMEI, IMSI) pair.
type pairOp struct {
	add, removed bool
}

// pairOps is the net effect of a delta on pairs, by IMEI.
type pairOps struct {
	order []uint64
	ops   map[uint64]map[eir.IMSI]*pairOp
}

func pairOpsOf(w *work) *pairOps {
	o := &pairOps{ops: map[uint64]map[eir.IMSI]*pairOp{}}
	touch := func(k entryKey, add bool) {
		m := o.ops[k.a]
		if m == nil {
			m = map[eir.IMSI]*pairOp{}
			o.ops[k.a] = m
			o.order = append(o.order, k.a)
		}
		op := m[k.imsi]
		if op == nil {
			op = &pairOp{}
			m[k.imsi] = op
		}
		op.add = add
		if !add {
			op.removed = true
		}
	}
	w.eachRemove(func(k entryKey) { touch(k, false) })
	w.eachAdd(func(k entryKey) { touch(k, true) })
	return o
}

// fieldState is one entry (an IMEI or TAC; for pairs, an IMEI) as a delta
// finds it: its value in the version in force and in the overlay.
type fieldState struct {
	key  uint64
	base string // "1"/"" for IMEIs and TACs, the IMSI list for pairs
	ov   string
	inOv bool
	next string // the value after the delta
}

func (f *fieldState) effective() string {
	if f.inOv {
		return f.ov
	}
	return f.base
}

// readFields reads, through pw, the state of keys in the version in force
// of cur and in its overlay.
func (s *Store) readFields(pw *pipeWriter, cur planEntry, keys []uint64) ([]*fieldState, error) {
	base := make([]string, len(keys))
	if err := s.readBase(pw, cur.name, cur.Version, cur.Buckets, cur.ds.Target == eir.TargetPair, keys, base); err != nil {
		return nil, err
	}
	out := make([]*fieldState, len(keys))
	for i, k := range keys {
		out[i] = &fieldState{key: k}
	}
	if cur.overlay != "" {
		for start := 0; start < len(keys); start += 1000 {
			end := min(start+1000, len(keys))
			fields := make([]string, end-start)
			for j := range fields {
				fields[j] = strconv.FormatUint(keys[start+j], 10)
			}
			cmd := pw.pipe.HMGet(pw.ctx, cur.overlay, fields...)
			if err := pw.add(cmd, func() error {
				for j, v := range cmd.Val() {
					if sv, ok := v.(string); ok {
						out[start+j].ov, out[start+j].inOv = sv, true
					}
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	if err := pw.flush(); err != nil {
		return nil, err
	}
	for i, f := range out {
		f.base = base[i]
	}
	return out, nil
}

// readBase queues on pw the reads of keys in version v (B buckets) of a
// dataset: once pw is flushed, vals[i] is the value of keys[i] there
// (presentValue or "" for IMEIs and TACs, the IMSI list for pairs).
func (s *Store) readBase(pw *pipeWriter, name string, v, B uint64, pairs bool, keys []uint64, vals []string) error {
	if B == 0 {
		return nil // no version: nothing is there
	}
	byBucket := map[uint64][]int{}
	for i, k := range keys {
		byBucket[k%B] = append(byBucket[k%B], i)
	}
	for bk, idx := range byBucket {
		key := s.k.bucketKey(name, bk, v)
		if pairs {
			fields := make([]string, len(idx))
			for j, i := range idx {
				fields[j] = strconv.FormatUint(keys[i]/B, 10)
			}
			cmd := pw.pipe.HMGet(pw.ctx, key, fields...)
			if err := pw.add(cmd, func() error {
				for j, x := range cmd.Val() {
					vals[idx[j]], _ = x.(string)
				}
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		members := make([]any, len(idx))
		for j, i := range idx {
			members[j] = keys[i] / B
		}
		cmd := pw.pipe.SMIsMember(pw.ctx, key, members...)
		if err := pw.add(cmd, func() error {
			for j, in := range cmd.Val() {
				if in {
					vals[idx[j]] = presentValue
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// planFields computes the value of every field after the delta w, with the
// counts, no-ops and set hash of the result (b.entry.Hash starts from the
// hash in force).
func (b *built) planFields(fields []*fieldState, sets *keyOps, pairs *pairOps) {
	t := b.w.ds.Target
	for _, f := range fields {
		was := f.effective()
		if pairs == nil {
			now := was
			if final, ok := sets.final[f.key]; ok {
				now = ""
				if final {
					now = presentValue
				}
				switch {
				case was != "" && now != "" && !sets.removed[f.key]:
					b.noopAdd++
				case was == "" && now == "":
					b.noopRem++
				}
			}
			switch {
			case was == "" && now != "":
				b.added++
			case was != "" && now == "":
				b.removed++
			}
			if was != now {
				b.entry.Hash ^= hexUint64(entryKey{a: f.key}.hash(t))
			}
			f.next = now
			continue
		}
		set := map[eir.IMSI]struct{}{}
		if was != "" {
			for _, imsi := range strings.Split(was, ",") {
				set[eir.IMSI(imsi)] = struct{}{}
			}
		}
		for imsi, o := range pairs.ops[f.key] {
			_, had := set[imsi]
			switch {
			case o.add && !had:
				set[imsi] = struct{}{}
				b.added++
			case !o.add && had:
				delete(set, imsi)
				b.removed++
			case o.add && had && !o.removed:
				b.noopAdd++
			case !o.add && !had:
				b.noopRem++
			}
			if o.add != had {
				b.entry.Hash ^= hexUint64(entryKey{a: f.key, imsi: imsi}.hash(eir.TargetPair))
			}
		}
		f.next = joinIMSIs(set)
	}
	b.noopAdd += dupAdds(sets)
}

func dupAdds(o *keyOps) uint64 {
	if o == nil {
		return 0
	}
	return o.dupAdds
}

// touchedKeys lists the keys a delta names, with its net effect.
func touchedKeys(w *work) ([]uint64, *keyOps, *pairOps) {
	if w.ds.Target == eir.TargetPair {
		o := pairOpsOf(w)
		return o.order, nil, o
	}
	o := setOps(w)
	return o.order, o, nil
}
