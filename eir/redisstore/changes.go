package redisstore

import (
	"github.com/eir-sidecar/eir/eir"
)

// entryKey identifies an entry within a dataset.
type entryKey struct {
	a, b uint64 // IMEI or TAC in a; range start and end in a and b
	imsi eir.IMSI
}

func keyOf(t eir.Target, e eir.Entry) entryKey {
	switch t {
	case eir.TargetTAC:
		return entryKey{a: uint64(e.TAC)}
	case eir.TargetRange:
		return entryKey{a: uint64(e.From), b: uint64(e.To)}
	case eir.TargetPair:
		return entryKey{a: uint64(e.IMEI), imsi: e.IMSI}
	}
	return entryKey{a: uint64(e.IMEI)}
}

// hash returns eir.Entry.Hash of k.
func (k entryKey) hash(t eir.Target) uint64 {
	var e eir.Entry
	switch t {
	case eir.TargetTAC:
		e.TAC = eir.TAC(k.a)
	case eir.TargetRange:
		e.From, e.To = eir.IMEI(k.a), eir.IMEI(k.b)
	default:
		e.IMEI, e.IMSI = eir.IMEI(k.a), k.imsi
	}
	return e.Hash(t)
}

// work is the net effect of an Apply on one dataset: the removals are
// applied first, then the additions. The slices are the callers' (no copy;
// AddKeys may be reordered).
type work struct {
	ds         eir.Dataset
	name       string
	replace    bool
	removes    [][]eir.Entry
	removeKeys [][]uint64
	adds       []eir.Entry
	addKeys    []uint64
	// compact folds the dataset's overlay into a new version (no change).
	compact bool
	// ifExists: every change is IfExists (an empty replacement of an
	// absent dataset writes nothing).
	ifExists bool
}

func (w *work) numAdds() int { return len(w.adds) + len(w.addKeys) }

func (w *work) eachRemove(fn func(entryKey)) {
	for _, list := range w.removes {
		for _, e := range list {
			fn(keyOf(w.ds.Target, e))
		}
	}
	for _, list := range w.removeKeys {
		for _, k := range list {
			fn(entryKey{a: k})
		}
	}
}

func (w *work) eachAdd(fn func(entryKey)) {
	for _, e := range w.adds {
		fn(keyOf(w.ds.Target, e))
	}
	for _, k := range w.addKeys {
		fn(entryKey{a: k})
	}
}

// groupChanges gathers the changes of each dataset. When only the last
// change of a dataset adds entries (the usual case: one change, or
// removals then one change), the slices are kept as they are; otherwise the
// changes are merged in order through a map.
func groupChanges(changes []eir.Change) []*work {
	var order []eir.Dataset
	byDS := map[eir.Dataset][]eir.Change{}
	for _, ch := range changes {
		if _, ok := byDS[ch.Dataset]; !ok {
			order = append(order, ch.Dataset)
		}
		byDS[ch.Dataset] = append(byDS[ch.Dataset], ch)
	}
	out := make([]*work, 0, len(order))
	for _, ds := range order {
		chs := byDS[ds]
		w := &work{ds: ds, name: ds.String(), ifExists: true}
		simple := true
		for i, ch := range chs {
			w.ifExists = w.ifExists && ch.IfExists
			if (ch.Replace && i > 0) || ((len(ch.Add) > 0 || len(ch.AddKeys) > 0) && i < len(chs)-1) {
				simple = false
			}
		}
		if simple {
			w.replace = chs[0].Replace
			for _, ch := range chs {
				if len(ch.Remove) > 0 {
					w.removes = append(w.removes, ch.Remove)
				}
				if len(ch.RemoveKeys) > 0 {
					w.removeKeys = append(w.removeKeys, ch.RemoveKeys)
				}
			}
			last := chs[len(chs)-1]
			w.adds, w.addKeys = last.Add, last.AddKeys
			out = append(out, w)
			continue
		}
		present := map[entryKey]bool{}
		var order []entryKey
		set := func(k entryKey, add bool) {
			if _, ok := present[k]; !ok {
				order = append(order, k)
			}
			present[k] = add
		}
		for _, ch := range chs {
			if ch.Replace {
				w.replace = true
				clear(present)
				order = order[:0]
			}
			cw := &work{ds: ds, removes: [][]eir.Entry{ch.Remove}, removeKeys: [][]uint64{ch.RemoveKeys}, adds: ch.Add, addKeys: ch.AddKeys}
			cw.eachRemove(func(k entryKey) { set(k, false) })
			cw.eachAdd(func(k entryKey) { set(k, true) })
		}
		var removes []eir.Entry
		for _, k := range order {
			e := keyEntry(ds.Target, k)
			if present[k] {
				w.adds = append(w.adds, e)
			} else if !w.replace {
				removes = append(removes, e)
			}
		}
		if len(removes) > 0 {
			w.removes = [][]eir.Entry{removes}
		}
		out = append(out, w)
	}
	return out
}

func keyEntry(t eir.Target, k entryKey) eir.Entry {
	switch t {
	case eir.TargetTAC:
		return eir.Entry{TAC: eir.TAC(k.a)}
	case eir.TargetRange:
		return eir.Entry{From: eir.IMEI(k.a), To: eir.IMEI(k.b)}
	}
	return eir.Entry{IMEI: eir.IMEI(k.a), IMSI: k.imsi}
}
