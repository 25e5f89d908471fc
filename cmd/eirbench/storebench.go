package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/regsync"
)

// layout loads synthetic IMEIs into Redis and reports the bytes of Redis
// memory per IMEI and the load rate, for each size of -n.
func layout(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("layout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := redisFlag(fs)
	sizes := fs.String("n", "1000000", "IMEIs to load; several sizes separated by commas are measured one after the other")
	prefix := fs.String("prefix", "eirbench:", "key prefix (deleted after the measure)")
	keep := fs.Bool("keep", false, "keep the data after measuring (the last size)")
	markdown := fs.String("markdown", "", "also write the results as a markdown section to this file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench layout [flags]

Loads synthetic IMEIs into Redis and reports the bytes of Redis memory per
IMEI and the load rate, for each size of -n.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "eirbench: -n %q: want positive numbers separated by commas\n", *sizes)
			return 2
		}
		ns = append(ns, n)
	}
	ctx := context.Background()
	resolved, stop, err := resolveRedis(*addr, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	defer stop()
	*addr = resolved
	type result struct {
		n          int
		took       time.Duration
		delta      int64
		perIMEI    float64
		imeiPerSec float64
	}
	var results []result
	for i, n := range ns {
		// A store of its own per size: the previous one is purged.
		s, closeStore, err := benchStore(ctx, *addr, redisstore.Options{Prefix: fmt.Sprintf("%s%d:", strings.TrimSuffix(*prefix, ":"), i), Grace: time.Millisecond}, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return 1
		}
		defer closeStore()
		list := redisstore.SyntheticIMEIs(n, 1)
		ds := eir.Dataset{Source: "eirbench", Target: eir.TargetIMEI, List: eir.ListBlack}
		before, _ := s.UsedMemory(ctx)
		start := time.Now()
		if _, err := s.Apply(ctx, []eir.Change{{Dataset: ds, Replace: true, Add: list}}); err != nil {
			fmt.Fprintf(stderr, "eirbench: load: %v\n", err)
			return 1
		}
		took := time.Since(start)
		after, _ := s.UsedMemory(ctx)
		r := result{n: n, took: took, delta: after - before, perIMEI: float64(after-before) / float64(n), imeiPerSec: float64(n) / took.Seconds()}
		results = append(results, r)
		fmt.Fprintf(stdout, "imeis\t%d\nload_seconds\t%.2f\nimeis_per_second\t%.0f\nused_memory_delta_bytes\t%d\nbytes_per_imei\t%.2f\n",
			n, took.Seconds(), r.imeiPerSec, r.delta, r.perIMEI)
		if !*keep || i < len(ns)-1 {
			if err := s.Purge(ctx); err != nil {
				fmt.Fprintf(stderr, "eirbench: clean-up: %v\n", err)
			}
		}
	}
	if *markdown != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "## Redis memory per IMEI\n\n`eirbench layout -n %s`: a synthetic stolen-phone list (5,000 TACs with Zipf-skewed popularity, random serial numbers) loaded through the store as one replacement, into an own redis-server; memory is `used_memory` growth.\n\n", *sizes)
		b.WriteString("| IMEIs | Bytes of Redis memory per IMEI | Load time | IMEIs/s |\n|---|---|---|---|\n")
		for _, r := range results {
			fmt.Fprintf(&b, "| %s | %.2f | %.2f s | %.1f M |\n", thousandsf(float64(r.n)), r.perIMEI, r.took.Seconds(), r.imeiPerSec/1e6)
		}
		b.WriteString("\n")
		if err := os.WriteFile(*markdown, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return 1
		}
	}
	return 0
}

// syncBench measures a registry sync of a generated DIRBS full blacklist of
// n rows through the sync engine into a Redis: rows per second of the whole
// pass (parse, validate, load, switch), Redis memory per listed IMEI and
// the Go heap; then a second full list of the same size with -swap other
// IMEIs, which the guards hold (compared by content).
func syncBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := redisFlag(fs)
	n := fs.Int("n", 10_000_000, "rows of the generated full blacklist")
	swap := fs.Int("swap", 50_000, "IMEIs the second full list has instead of as many of the first (0: no second pass)")
	dir := fs.String("dir", "", "work directory (default: a temporary directory, removed afterwards)")
	markdown := fs.String("markdown", "", "also write the results as a markdown section to this file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench sync [flags]

Applies a generated N-row DIRBS full blacklist through the sync engine:
rows per second, Redis memory per IMEI, Go heap; then a second full list
with -swap other IMEIs.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "eirbench-sync")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		work = d
	}
	drop := filepath.Join(work, "drop")
	os.MkdirAll(drop, 0o750)
	name := filepath.Join(drop, "20260101_000000_blacklist.csv")
	genStart := time.Now()
	size, err := writeBlacklist(name, *n, 0)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	old := time.Now().Add(-time.Minute)
	os.Chtimes(name, old, old)
	fmt.Fprintf(stderr, "generated %d rows (%d MB) in %s\n", *n, size>>20, time.Since(genStart).Round(time.Millisecond))

	ctx := context.Background()
	prefix := fmt.Sprintf("eirbench%d:", time.Now().UnixNano())
	store, closeStore, err := benchStore(ctx, *addr, redisstore.Options{Prefix: prefix, Grace: time.Millisecond}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	defer closeStore()
	engine, err := regsync.New(regsync.Options{}, []regsync.SourceConfig{{Name: "national", Format: "dirbs", Dir: drop, Settle: time.Millisecond}},
		store, regsync.CoordinatorFor(store), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	defer engine.Close()
	before, _ := store.UsedMemory(ctx)
	runtime.GC()
	var ms runtime.MemStats
	start := time.Now()
	rep, err := engine.Pass(ctx, "national")
	took := time.Since(start)
	runtime.ReadMemStats(&ms)
	if err != nil || len(rep.Files) != 1 || rep.Files[0].Result != "applied" {
		fmt.Fprintf(stderr, "eirbench: pass failed: %v %+v\n", err, rep)
		return 1
	}
	after, _ := store.UsedMemory(ctx)
	entries := rep.Files[0].Lists[0].Count
	fmt.Fprintf(stdout, "rows\t%d\nentries\t%d\npass_seconds\t%.2f\nrows_per_second\t%.0f\nused_memory_delta_bytes\t%d\nbytes_per_imei\t%.2f\ngo_heap_peak_bytes\t%d\n",
		*n, entries, took.Seconds(), float64(*n)/took.Seconds(), after-before, float64(after-before)/float64(entries), ms.HeapSys)

	// The same list with swap other IMEIs: the guards compare the two by
	// content and hold it.
	var held regsync.FileReport
	var heldTook time.Duration
	if *swap > 0 {
		name2 := filepath.Join(drop, "20260102_000000_blacklist.csv")
		if _, err := writeBlacklist(name2, *n, *swap); err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return 1
		}
		os.Chtimes(name2, old, old)
		start := time.Now()
		rep, err := engine.Pass(ctx, "national")
		heldTook = time.Since(start)
		if err != nil || len(rep.Files) != 1 {
			fmt.Fprintf(stderr, "eirbench: second pass failed: %v %+v\n", err, rep)
			return 1
		}
		held = rep.Files[0]
		fmt.Fprintf(stdout, "second_list_result\t%s\nsecond_list_reason\t%s\nsecond_list_seconds\t%.2f\nsecond_list_message\t%s\n",
			held.Result, held.Reason, heldTook.Seconds(), held.Message)
	}
	if *markdown != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "## Registry sync of a %s-row list\n\n`eirbench sync -n %d -swap %d`: a generated DIRBS full blacklist (%d MB of CSV) applied by one pass of the sync engine (parse, validate through sorted runs on disk, load, switch) into an own redis-server, on the same cores.\n\n",
			thousandsf(float64(*n)), *n, *swap, size>>20)
		b.WriteString("| Pass time | Rows/s | Bytes of Redis memory per IMEI | Go heap obtained from the system |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %.2f s | %s | %.2f | %d MB |\n\n", took.Seconds(), thousandsf(float64(*n)/took.Seconds()), float64(after-before)/float64(entries), ms.HeapSys>>20)
		if *swap > 0 {
			fmt.Fprintf(&b, "Then a full list of the same size in which %s IMEIs are others: %s (%s) in %.2f s, compared by content with the list in force: %s\n\n",
				thousandsf(float64(*swap)), held.Result, held.Reason, heldTook.Seconds(), held.Message)
		}
		if err := os.WriteFile(*markdown, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return 1
		}
	}
	if err := store.Purge(ctx); err != nil {
		fmt.Fprintf(stderr, "eirbench: clean-up: %v\n", err)
	}
	return 0
}

// writeBlacklist writes a DIRBS full blacklist of n distinct synthetic
// IMEIs; with swap, the first swap IMEIs of the sequence are replaced by as
// many IMEIs of another TAC range (a list of the same size, swap entries
// unblocked and swap added).
func writeBlacklist(path string, n, swap int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("imei,block_date,reasons\r\n")
	rng := rand.New(rand.NewSource(1))
	seen := make(map[uint64]struct{}, n)
	buf := make([]byte, 0, 64)
	row := func(v uint64) {
		buf = eir.IMEI(v).AppendDigits(buf[:0])
		buf = append(buf, ",20260101,IMEI found on local stolen list\r\n"...)
		w.Write(buf)
	}
	for len(seen) < n {
		tac := 35_000_000 + uint64(rng.Intn(5000))*997
		v := tac*1_000_000 + uint64(rng.Intn(1_000_000))
		if _, dup := seen[v]; dup {
			continue
		}
		seen[v] = struct{}{}
		if len(seen) > swap {
			row(v)
		}
	}
	for i := range swap {
		row(99_000_000*1_000_000 + uint64(i))
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
