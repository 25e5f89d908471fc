package regsync

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/eir-sidecar/eir/regsync/regformat"
)

// Validation in bounded memory, for every kind of list. An accumulator
// keeps rows in memory only up to about defaultSpillBytes (collapsed);
// beyond, each batch is sorted and written to a run file, and validation
// merges the runs (a k-way merge), checking duplicates and conflicts as the
// rows stream by. What remains in memory is the change the list makes: 8
// bytes per distinct entry of an IMEI or TAC list, an eir.Entry (56 bytes
// and the IMSI) per distinct entry of a pair or range list, whatever the
// number of rows (up to twice that for a moment while a slice grows; the
// slice of a full IMEI or TAC list that spilled is sized once, from the
// records spilled).

// spillDirName is the folder, in a source's drop (or spool) directory,
// that holds the runs of the lists being validated. Runs are removed when
// their list is validated or refused; the folder is emptied at the start
// of each pass (runs of a process that died).
const spillDirName = ".spill"

// defaultSpillBytes is the memory the rows of one list may take before
// they are written to a run: 96 MiB (4 Mi rows of an IMEI or TAC list, 24
// bytes each; 2.4 Mi rows of a pair or range list, 40 bytes each).
const defaultSpillBytes = 96 << 20

// recTail is the size, in a run file, of a record besides its key: data,
// op, blocking, line.
const recTail = 4 + 1 + 1 + 4

// spillRun writes recs (sorted) to a new run file in dir.
func spillRun[K any](dir string, recs []rec[K], ops *keyOps[K]) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("regsync: spill: %w", err)
	}
	f, err := os.CreateTemp(dir, "run-")
	if err != nil {
		return "", fmt.Errorf("regsync: spill: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	b := make([]byte, ops.size+recTail)
	for _, r := range recs {
		ops.put(b, r.key)
		t := b[ops.size:]
		binary.LittleEndian.PutUint32(t[0:], r.data)
		t[4] = byte(r.op)
		t[5] = 0
		if r.blocking {
			t[5] = 1
		}
		binary.LittleEndian.PutUint32(t[6:], uint32(r.line))
		w.Write(b)
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
type runReader[K any] struct {
	f   *os.File
	r   *bufio.Reader
	ops *keyOps[K]
	buf []byte
	cur rec[K]
	err error
}

func openRun[K any](path string, ops *keyOps[K]) (*runReader[K], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("regsync: spill: %w", err)
	}
	return &runReader[K]{f: f, r: bufio.NewReaderSize(f, 256<<10), ops: ops, buf: make([]byte, ops.size+recTail)}, nil
}

// next reads the next record into cur; false at the end.
func (rr *runReader[K]) next() bool {
	b := rr.buf
	if _, err := io.ReadFull(rr.r, b); err != nil {
		if err != io.EOF {
			rr.err = fmt.Errorf("regsync: spill: %w", err)
		}
		return false
	}
	t := b[rr.ops.size:]
	rr.cur = rec[K]{key: rr.ops.get(b), data: binary.LittleEndian.Uint32(t[0:]),
		op: regformat.Op(t[4]), blocking: t[5] == 1, line: int32(binary.LittleEndian.Uint32(t[6:]))}
	return true
}

// runHeap orders the runs by their current record (key, then line).
type runHeap[K any] []*runReader[K]

func (h runHeap[K]) Len() int { return len(h) }
func (h runHeap[K]) Less(i, j int) bool {
	a, b := h[i].cur, h[j].cur
	if c := h[i].ops.compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.line < b.line
}
func (h runHeap[K]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap[K]) Push(x any)   { *h = append(*h, x.(*runReader[K])) }
func (h *runHeap[K]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRuns calls fn with every record of the runs, in (key, line) order.
func mergeRuns[K any](paths []string, ops *keyOps[K], fn func(rec[K])) error {
	h := make(runHeap[K], 0, len(paths))
	defer func() {
		for _, rr := range h {
			rr.f.Close()
		}
	}()
	for _, p := range paths {
		rr, err := openRun(p, ops)
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
