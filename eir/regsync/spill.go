package regsync

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/eir-sidecar/eir/eir/regsync/regformat"
)

// Validation in bounded memory. An IMEI or TAC list keeps its rows in
// memory only up to spillAt records (collapsed); beyond, each batch is
// sorted and written to a run file, and validation merges the runs (a
// k-way merge), checking duplicates and conflicts as the rows stream by.
// What remains in memory is the validated list: 9 bytes per distinct entry
// (its key and its change), whatever the number of rows.

// spillDirName is the folder, in a source's drop (or spool) directory,
// that holds the runs of the lists being validated. It is emptied at the
// start of each pass.
const spillDirName = ".spill"

// defaultSpillAt is the number of rows (24 bytes each) kept in memory
// before they are written to a run: 96 MiB.
const defaultSpillAt = 4 << 20

// recSize is the size of a record in a run file: key, data, op, blocking,
// line.
const recSize = 8 + 4 + 1 + 1 + 4

// spillRun writes recs (sorted) to a new run file in dir.
func spillRun(dir string, recs []rec[uint64]) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("regsync: spill: %w", err)
	}
	f, err := os.CreateTemp(dir, "run-")
	if err != nil {
		return "", fmt.Errorf("regsync: spill: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b [recSize]byte
	for _, r := range recs {
		binary.LittleEndian.PutUint64(b[0:], r.key)
		binary.LittleEndian.PutUint32(b[8:], r.data)
		b[12] = byte(r.op)
		b[13] = 0
		if r.blocking {
			b[13] = 1
		}
		binary.LittleEndian.PutUint32(b[14:], uint32(r.line))
		w.Write(b[:])
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("regsync: spill: %w", err)
	}
	return f.Name(), nil
}

// runReader reads the records of a run file in order.
type runReader struct {
	f   *os.File
	r   *bufio.Reader
	cur rec[uint64]
	err error
}

func openRun(path string) (*runReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("regsync: spill: %w", err)
	}
	return &runReader{f: f, r: bufio.NewReaderSize(f, 256<<10)}, nil
}

// next reads the next record into cur; false at the end.
func (rr *runReader) next() bool {
	var b [recSize]byte
	if _, err := io.ReadFull(rr.r, b[:]); err != nil {
		if err != io.EOF {
			rr.err = fmt.Errorf("regsync: spill: %w", err)
		}
		return false
	}
	rr.cur = rec[uint64]{key: binary.LittleEndian.Uint64(b[0:]), data: binary.LittleEndian.Uint32(b[8:]),
		op: regformat.Op(b[12]), blocking: b[13] == 1, line: int32(binary.LittleEndian.Uint32(b[14:]))}
	return true
}

// runHeap orders the runs by their current record (key, then line).
type runHeap []*runReader

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	a, b := h[i].cur, h[j].cur
	if a.key != b.key {
		return a.key < b.key
	}
	return a.line < b.line
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRuns calls fn with every record of the runs, in (key, line) order.
func mergeRuns(paths []string, fn func(rec[uint64])) error {
	h := make(runHeap, 0, len(paths))
	defer func() {
		for _, rr := range h {
			rr.f.Close()
		}
	}()
	for _, p := range paths {
		rr, err := openRun(p)
		if err != nil {
			return err
		}
		if rr.next() {
			h = append(h, rr)
		} else {
			rr.f.Close()
			if rr.err != nil {
				return rr.err
			}
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		rr := h[0]
		fn(rr.cur)
		if rr.next() {
			heap.Fix(&h, 0)
			continue
		}
		if rr.err != nil {
			return rr.err
		}
		heap.Pop(&h)
		rr.f.Close()
	}
	return nil
}

// removeRuns deletes run files.
func removeRuns(paths []string) {
	for _, p := range paths {
		os.Remove(p)
	}
}

// clearSpill empties a spill folder (runs left by a process that died).
func clearSpill(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// runRecords counts the records of run files (from their sizes).
func runRecords(paths []string) (int, error) {
	n := 0
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("regsync: spill: %w", err)
		}
		n += int(fi.Size() / recSize)
	}
	return n, nil
}
