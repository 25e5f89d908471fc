package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// scaleResult is what `eirbench scale` measured.
type scaleResult struct {
	Started     time.Time
	Machine     machineInfo
	EIRDVersion string
	LoadBefore  string // load averages (1, 5, 15 min) at the start and the end
	LoadAfter   string
	Phases      []*scalePhase
}

// scalePhase is one size: its lists, eird's starts and the rounds.
type scalePhase struct {
	IMEIs     uint64
	Lists     []scaleList
	RedisUsed int64  // used_memory once every list is applied
	Entries   uint64 // of every dataset in force, the load generator's included
	Starts    []scaleStart
	Rounds    []ratioRound
	Summary   *ratioSummary
	Problems  []string
}

// scaleList is one list applied by one sync pass.
type scaleList struct {
	List         string
	Rows         uint64
	FileBytes    int64
	GenSeconds   float64
	ApplySeconds float64
	HeapPeak     uint64 // Go heap objects, largest sample during the pass
	Entries      uint64 // in force after the pass
	Added        uint64
	RedisDelta   int64 // used_memory growth, the replaced version deleted
}

// scaleStart is one eird start.
type scaleStart struct {
	From        string  // Redis or local copy
	Ready       float64 // s from the start until /readyz answers 200
	Full        float64 // s until the replica holds every entry
	Entries     uint64
	HeapAfterGC int64
	RSS         int64
	CopyBytes   int64 // the local copy's size
}

// bytesPer returns b / n, 0 for n == 0.
func bytesPer(b int64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(b) / float64(n)
}

// vsFirst returns the median over the rounds of eird's throughput at the
// last size over that at the first, both measured in the same round.
func (r *scaleResult) vsFirst() spread {
	if len(r.Phases) < 2 {
		return spread{}
	}
	first, last := r.Phases[0].Rounds, r.Phases[len(r.Phases)-1].Rounds
	var v []float64
	for k := range min(len(first), len(last)) {
		if t := first[k].EIRD.throughput(); t > 0 && last[k].EIRD.measured() {
			v = append(v, last[k].EIRD.throughput()/t)
		}
	}
	if len(v) == 0 {
		return spread{}
	}
	return spreadOf(v)
}

// writeText prints the figures as name<TAB>value lines.
func (r *scaleResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "load_average_before\t%s\nload_average_after\t%s\n", r.LoadBefore, r.LoadAfter)
	for i, p := range r.Phases {
		pre := fmt.Sprintf("phase%d_", i+1)
		fmt.Fprintf(w, "%simeis\t%d\n%sentries\t%d\n%sredis_used_memory_bytes\t%d\n", pre, p.IMEIs, pre, p.Entries, pre, p.RedisUsed)
		for _, l := range p.Lists {
			lp := pre + l.List + "_"
			fmt.Fprintf(w, "%srows\t%d\n%sentries\t%d\n%sfile_bytes\t%d\n%sapply_seconds\t%.2f\n%sgo_heap_peak_bytes\t%d\n%sredis_bytes\t%d\n%sredis_bytes_per_entry\t%.2f\n",
				lp, l.Rows, lp, l.Entries, lp, l.FileBytes, lp, l.ApplySeconds, lp, l.HeapPeak, lp, l.RedisDelta, lp, bytesPer(l.RedisDelta, l.Added))
		}
		fmt.Fprintf(w, "%sredis_bytes_per_imei\t%.2f\n", pre, bytesPer(p.RedisUsed, p.IMEIs))
		for _, st := range p.Starts {
			sp := pre + "start_from_" + strings.ReplaceAll(strings.ToLower(st.From), " ", "_") + "_"
			fmt.Fprintf(w, "%sready_seconds\t%.2f\n%sfull_seconds\t%.2f\n%sreplica_entries\t%d\n%sheap_after_gc_bytes\t%d\n%sheap_bytes_per_imei\t%.2f\n%srss_bytes\t%d\n%slocal_copy_bytes\t%d\n",
				sp, st.Ready, sp, st.Full, sp, st.Entries, sp, st.HeapAfterGC, sp, bytesPer(st.HeapAfterGC, p.IMEIs), sp, st.RSS, sp, st.CopyBytes)
		}
		if s := p.Summary; s != nil {
			fmt.Fprintf(w, "%seird_answers_per_second\t%.0f\n%seird_p99_ms\t%.2f\n%sreference_answers_per_second\t%.0f\n%sreference_p99_ms\t%.2f\n%sratio\t%.3f\n",
				pre, s.EIRDThroughput.Median, pre, s.EIRDP99.Median, pre, s.ReferenceThroughput.Median, pre, s.ReferenceP99.Median, pre, s.Ratio.Median)
		}
		fmt.Fprintf(w, "%sproblems\t%d\n", pre, len(p.Problems))
	}
	fmt.Fprintf(w, "throughput_last_over_first\t%.3f\n", r.vsFirst().Median)
}

// markdown returns the BENCHMARKS.md "Scale" section.
func (r *scaleResult) markdown(f *scaleFlags) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "## Scale\n\nMeasured by `eirbench scale -imeis %d -tacs %d -ranges %d -pairs %d -base %d -rounds %d` on %s, %s.\n\n",
		f.imeis, f.tacs, f.ranges, f.pairs, f.base, f.rounds, r.Started.Format("2006-01-02 15:04 UTC"), r.EIRDVersion)
	fmt.Fprintf(&b, "Machine: %s, %d cores, %s, %s. Load average (1, 5, 15 min) %s at the start, %s at the end: the machine is shared, figures are noisy; ratios are within the run.\n\n",
		m.CPU, m.Cores, m.Kernel, m.Redis, r.LoadBefore, r.LoadAfter)
	b.WriteString("Method: at each size, a redis-server of its own started by the tool (free loopback port, no persistence), holding the load generator's lists (source `bench`, " +
		thousandsf(float64(f.load.entries)) + " IMEIs per list, as `eirbench ratio`); the registry files are generated on disk a row at a time " +
		"(a DIRBS full blacklist; a DIRBS full exceptions list of operator `op1`, 1 to 10 IMSIs per IMEI; a barred TAC list; an IMEI range list, 1,000 IMEIs per range) and each is applied by one pass " +
		"of the sync engine in-process (`regsync`, as `eirbench sync`: parse, validate through sorted runs on disk, build, switch), guards opened as an approval would, the file size limit raised " +
		"(a 100-million-row DIRBS blacklist is 5.7 GB, over the default `limits.max_file_bytes` of 4 GiB). Then an eird with an empty local copy starts " +
		"on that Redis, and again from the copy it wrote (`store.replica_max_entries` raised to hold every list), and keeps running. Last, closed-loop S13 rounds " +
		fmt.Sprintf("(%d connections × %d in flight, %s measured after %s warm-up, mix `%s`) against the reference server and the eird of each size, the order rotating every round, so that each size meets the same load of the shared machine.\n\n",
			f.load.conns, f.load.window, f.load.duration, f.load.warmup, f.load.mix))
	b.WriteString("| List | IMEIs in the blacklist | Rows | File | Apply (one sync pass) | Go heap peak | Redis memory | Redis bytes per entry |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Phases {
		for _, l := range p.Lists {
			fmt.Fprintf(&b, "| %s | %s | %s | %d MB | %.1f s | %d MB | %+d MB | %.2f |\n", l.List, thousandsf(float64(p.IMEIs)), thousandsf(float64(l.Rows)),
				l.FileBytes>>20, l.ApplySeconds, l.HeapPeak>>20, l.RedisDelta>>20, bytesPer(l.RedisDelta, l.Added))
		}
	}
	b.WriteString("\nRedis bytes per entry: `used_memory` growth over the entries the pass added (the version it replaced deleted).\n\n")
	b.WriteString("| IMEIs in the blacklist | Entries in Redis, all lists | Redis used_memory | per blacklisted IMEI |\n|---|---|---|---|\n")
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "| %s | %s | %d MB | %.2f B |\n", thousandsf(float64(p.IMEIs)), thousandsf(float64(p.Entries)), p.RedisUsed>>20, bytesPer(p.RedisUsed, p.IMEIs))
	}
	b.WriteString("\n| IMEIs in the blacklist | eird started from | Ready (/readyz) | Every list in the replica | Entries held | Go heap after GC | per blacklisted IMEI | RSS | Local copy |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Phases {
		for _, st := range p.Starts {
			fmt.Fprintf(&b, "| %s | %s | %.1f s | %.1f s | %s | %d MB | %.2f B | %d MB | %d MB |\n", thousandsf(float64(p.IMEIs)), st.From, st.Ready, st.Full,
				thousandsf(float64(st.Entries)), st.HeapAfterGC>>20, bytesPer(st.HeapAfterGC, p.IMEIs), st.RSS>>20, st.CopyBytes>>20)
		}
	}
	b.WriteString("\n| IMEIs in the blacklist | eird answers/s | eird p50 / p99 ms | Reference answers/s | Reference p50 / p99 ms | Ratio eird / reference | Problems |\n|---|---|---|---|---|---|---|\n")
	for _, p := range r.Phases {
		if s := p.Summary; s != nil {
			fmt.Fprintf(&b, "| %s | %s (%s–%s) | %.2f / %.2f | %s | %.2f / %.2f | %.3f (%.3f–%.3f) | %d |\n", thousandsf(float64(p.IMEIs)),
				thousandsf(s.EIRDThroughput.Median), thousandsf(s.EIRDThroughput.Min), thousandsf(s.EIRDThroughput.Max), s.EIRDP50.Median, s.EIRDP99.Median,
				thousandsf(s.ReferenceThroughput.Median), s.ReferenceP50.Median, s.ReferenceP99.Median, s.Ratio.Median, s.Ratio.Min, s.Ratio.Max, len(p.Problems))
		}
	}
	v := r.vsFirst()
	fmt.Fprintf(&b, "\neird's throughput at %s IMEIs over that at %s, measured in the same round: median **%.3f** (%.3f–%.3f over %d rounds).\n\n",
		thousandsf(float64(f.imeis)), thousandsf(float64(f.base)), v.Median, v.Min, v.Max, f.rounds)
	return b.String()
}
