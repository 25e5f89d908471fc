// Package snapshot keeps a checksummed copy of the lists in force on local
// disk, so that an eird started while its list store is down, empty or
// older answers from the last good lists from the first request, and so
// that the lists can be written back into the store (restore) even when
// every eird restarted.
//
// A copy is a folder holding one immutable file per dataset version (a
// "set": sorted keys, delta- and varint-encoded, with their values), named
// after the caller's key for its content, and a small index, copy.json,
// naming the sets of the copy with their SHA-256, and the caller's
// metadata. Every file ends with the SHA-256 of what precedes it; a copy
// whose index or set does not verify is not read. Write replaces the index
// atomically (temporary file, fsync, rename, directory fsync) after writing
// the sets it lacks, then deletes the sets no longer named: a change of
// one small dataset writes one small file and the index.
//
// Package snapshot imports only the standard library and
// internal/atomicfile.
package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// Set is the content of one dataset version as a process holds it.
type Set struct {
	// Key identifies the content; sets with the same key must have the
	// same content (the file of a key already written is reused).
	Key string
	// Keys are sorted, ascending, distinct.
	Keys []uint64
	// Exps, when set, holds one value per key.
	Exps []int64
	// Values, when Offs is set, holds the value of key i as
	// Values[Offs[i]:Offs[i+1]]; len(Offs) is len(Keys)+1.
	Values string
	Offs   []uint32
	// Rows are pairs of numbers (ranges), in any order.
	Rows [][2]uint64
}

// Copy is a copy of the lists in force.
type Copy struct {
	// Meta is the caller's description of the copy (JSON).
	Meta json.RawMessage
	Sets []*Set
}

// Stats describes a write or a read.
type Stats struct {
	Bytes    int64 // size of the copy on disk
	Files    int   // set files of the copy
	Written  int   // set files written (not reused) by Write
	Duration time.Duration
}

// ErrNoCopy reports a folder holding no copy.
var ErrNoCopy = errors.New("snapshot: no copy")

const (
	fileMode  = 0o600
	indexName = "copy.json"
	setMagic  = "EIRSET1\n"
	format    = 1
)

type index struct {
	Format int             `json:"format"`
	Time   time.Time       `json:"time"`
	Meta   json.RawMessage `json:"meta"`
	Sets   []indexSet      `json:"sets"`

	size int64 // of the index file, when read
}

type indexSet struct {
	Key    string `json:"key"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// fileName is the file of a set key.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "set-" + hex.EncodeToString(sum[:16]) + ".bin"
}

// Dir is a folder holding a copy, as one process reads and writes it.
// It remembers the set files whose whole content it read, wrote or
// checked: a set file it reuses is checked whole the first time (a file
// damaged before this process started is written again, never carried
// into a copy that cannot be read), then by its size and the checksum it
// ends with (a small read, so that a write after each edit of a large
// list stays cheap).
type Dir struct {
	Path     string
	verified map[string]string // set file → the SHA-256 of its content
}

// Write writes c into dir (created if needed).
func Write(dir string, c *Copy) (Stats, error) { return (&Dir{Path: dir}).Write(c) }

// Read reads the copy in dir and verifies every checksum. It returns
// ErrNoCopy when dir holds none.
func Read(dir string) (*Copy, Stats, error) { return (&Dir{Path: dir}).Read() }

func (d *Dir) verify(file, sum string) {
	if d.verified == nil {
		d.verified = map[string]string{}
	}
	d.verified[file] = sum
}

// Write writes c into the folder (created if needed).
func (d *Dir) Write(c *Copy) (Stats, error) {
	dir := d.Path
	start := time.Now()
	var st Stats
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return st, fmt.Errorf("snapshot: %w", err)
	}
	prev := map[string]indexSet{}
	if old, err := readIndex(dir); err == nil {
		for _, s := range old.Sets {
			prev[s.Key] = s
		}
	}
	ix := index{Format: format, Time: time.Now().UTC(), Meta: c.Meta}
	keep := map[string]bool{indexName: true}
	for _, s := range c.Sets {
		is, ok := prev[s.Key]
		if !ok || !fileMatches(filepath.Join(dir, is.File), is, d.verified[is.File] != is.SHA256) {
			var err error
			if is, err = writeSet(dir, s); err != nil {
				return st, err
			}
			st.Written++
		}
		d.verify(is.File, is.SHA256)
		ix.Sets = append(ix.Sets, is)
		keep[is.File] = true
		st.Bytes += is.Size
	}
	body, err := json.Marshal(ix)
	if err != nil {
		return st, fmt.Errorf("snapshot: %w", err)
	}
	sum := sha256.Sum256(body)
	data := append(body, '\n')
	data = append(data, hex.EncodeToString(sum[:])+"\n"...)
	if err := writeAtomic(dir, indexName, data); err != nil {
		return st, err
	}
	st.Bytes += int64(len(data))
	st.Files = len(ix.Sets)
	// Sets no longer named, and temporary files of an interrupted write.
	if des, err := os.ReadDir(dir); err == nil {
		for _, de := range des {
			name := de.Name()
			if !keep[name] && (strings.HasPrefix(name, "set-") || strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")) {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}

// fileMatches reports whether the set file at path is the one is names:
// its size and the checksum it ends with, and, when whole, the SHA-256
// of its content.
func fileMatches(path string, is indexSet, whole bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != is.Size || is.Size < sha256.Size {
		return false
	}
	var trailer [sha256.Size]byte
	if !whole {
		_, err := f.ReadAt(trailer[:], is.Size-sha256.Size)
		return err == nil && hex.EncodeToString(trailer[:]) == is.SHA256
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, is.Size-sha256.Size); err != nil {
		return false
	}
	if _, err := io.ReadFull(f, trailer[:]); err != nil {
		return false
	}
	sum := h.Sum(nil)
	return bytes.Equal(sum, trailer[:]) && hex.EncodeToString(sum) == is.SHA256
}

// Read reads the copy in the folder and verifies every checksum. It
// returns ErrNoCopy when the folder holds none.
func (d *Dir) Read() (*Copy, Stats, error) {
	dir := d.Path
	start := time.Now()
	var st Stats
	ix, err := readIndex(dir)
	if err != nil {
		return nil, st, err
	}
	st.Bytes = ix.size
	c := &Copy{Meta: ix.Meta}
	for _, is := range ix.Sets {
		s, err := readSet(filepath.Join(dir, is.File), is.SHA256)
		if err != nil {
			return nil, st, err
		}
		if s.Key != is.Key {
			return nil, st, fmt.Errorf("snapshot: %s holds %q, the index says %q", is.File, s.Key, is.Key)
		}
		c.Sets = append(c.Sets, s)
		st.Bytes += is.Size
		d.verify(is.File, is.SHA256)
	}
	st.Files = len(ix.Sets)
	st.Duration = time.Since(start)
	return c, st, nil
}

func readIndex(dir string) (*index, error) {
	data, err := os.ReadFile(filepath.Join(dir, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCopy
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	body, sumLine, ok := bytes.Cut(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("snapshot: %s: no checksum line", indexName)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != string(sumLine) {
		return nil, fmt.Errorf("snapshot: %s: checksum mismatch (a torn or altered file)", indexName)
	}
	var ix index
	if err := json.Unmarshal(body, &ix); err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w", indexName, err)
	}
	if ix.Format != format {
		return nil, fmt.Errorf("snapshot: %s: format %d, want %d", indexName, ix.Format, format)
	}
	ix.size = int64(len(data))
	return &ix, nil
}

// Flags of a set file.
const (
	hasExps   = 1
	hasValues = 2
	hasRows   = 4
)

// writeSet writes one set file: magic, key, keys, optional parts, and
// the SHA-256 of all of it.
func writeSet(dir string, s *Set) (indexSet, error) {
	is := indexSet{Key: s.Key, File: fileName(s.Key)}
	if len(s.Exps) > 0 && len(s.Exps) != len(s.Keys) || len(s.Offs) > 0 && len(s.Offs) != len(s.Keys)+1 {
		return is, fmt.Errorf("snapshot: set %q: values do not match its keys", s.Key)
	}
	f, err := atomicfile.Create(filepath.Join(dir, is.File), fileMode)
	if err != nil {
		return is, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Abort()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	w := &encoder{w: bw}
	w.raw([]byte(setMagic))
	w.str(s.Key)
	var flags uint64
	if len(s.Exps) > 0 {
		flags |= hasExps
	}
	if len(s.Offs) > 0 {
		flags |= hasValues
	}
	if len(s.Rows) > 0 {
		flags |= hasRows
	}
	w.uvarint(flags)
	w.uvarint(uint64(len(s.Keys)))
	var last uint64
	for i, k := range s.Keys {
		if i > 0 && k <= last {
			return is, fmt.Errorf("snapshot: set %q: keys not sorted", s.Key)
		}
		w.uvarint(k - last)
		last = k
	}
	for _, e := range s.Exps {
		w.varint(e)
	}
	if flags&hasValues != 0 {
		w.str(s.Values)
		for i := 1; i < len(s.Offs); i++ {
			w.uvarint(uint64(s.Offs[i] - s.Offs[i-1]))
		}
	}
	if flags&hasRows != 0 {
		w.uvarint(uint64(len(s.Rows)))
		for _, r := range s.Rows {
			w.uvarint(r[0])
			w.uvarint(r[1])
		}
	}
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		return is, fmt.Errorf("snapshot: write set: %w", w.err)
	}
	sum := h.Sum(nil)
	if _, err := f.Write(sum); err != nil {
		return is, fmt.Errorf("snapshot: write set: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return is, fmt.Errorf("snapshot: %w", err)
	}
	if err := f.Commit(); err != nil {
		return is, fmt.Errorf("snapshot: %w", err)
	}
	is.SHA256, is.Size = hex.EncodeToString(sum), fi.Size()
	return is, nil
}

// readSet reads and verifies one set file; want is the SHA-256 of its
// content (without the trailer) as the index names it.
func readSet(path, want string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if fi.Size() < int64(len(setMagic))+sha256.Size {
		return nil, fmt.Errorf("snapshot: %s: truncated", filepath.Base(path))
	}
	h := sha256.New()
	body := io.LimitReader(f, fi.Size()-sha256.Size)
	d := &decoder{r: bufio.NewReaderSize(io.TeeReader(body, h), 1<<20), limit: fi.Size()}
	s := &Set{}
	if string(d.raw(len(setMagic))) != setMagic {
		return nil, fmt.Errorf("snapshot: %s: not a set file", filepath.Base(path))
	}
	s.Key = d.str()
	flags := d.uvarint()
	n := d.count()
	s.Keys = make([]uint64, 0, n)
	var last uint64
	for i := 0; i < n && d.err == nil; i++ {
		last += d.uvarint()
		s.Keys = append(s.Keys, last)
	}
	if flags&hasExps != 0 {
		s.Exps = make([]int64, n)
		for i := range s.Exps {
			s.Exps[i] = d.varint()
		}
	}
	if flags&hasValues != 0 {
		s.Values = d.str()
		s.Offs = make([]uint32, n+1)
		for i := 1; i <= n && d.err == nil; i++ {
			s.Offs[i] = s.Offs[i-1] + uint32(d.uvarint())
		}
		if d.err == nil && int(s.Offs[n]) != len(s.Values) {
			d.err = errors.New("value offsets do not match the values")
		}
	}
	if flags&hasRows != 0 {
		m := d.count()
		s.Rows = make([][2]uint64, m)
		for i := range s.Rows {
			s.Rows[i] = [2]uint64{d.uvarint(), d.uvarint()}
		}
	}
	if d.err == nil {
		if _, err := d.r.ReadByte(); err != io.EOF {
			d.err = errors.New("data after the set")
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w", filepath.Base(path), d.err)
	}
	var trailer [sha256.Size]byte
	if _, err := io.ReadFull(f, trailer[:]); err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w", filepath.Base(path), err)
	}
	sum := h.Sum(nil)
	if !bytes.Equal(sum, trailer[:]) || hex.EncodeToString(sum) != want {
		return nil, fmt.Errorf("snapshot: %s: checksum mismatch (a torn or altered file)", filepath.Base(path))
	}
	return s, nil
}

// writeAtomic writes dir/name atomically.
func writeAtomic(dir, name string, data []byte) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, name), data, fileMode); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) uvarint(v uint64) { e.raw(e.buf[:binary.PutUvarint(e.buf[:], v)]) }
func (e *encoder) varint(v int64)   { e.raw(e.buf[:binary.PutVarint(e.buf[:], v)]) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

type decoder struct {
	r     *bufio.Reader
	limit int64 // the file's size: no length in it can be larger
	err   error
}

func (d *decoder) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = fmt.Errorf("truncated: %w", err)
		return nil
	}
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.err = fmt.Errorf("truncated: %w", err)
	}
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.err = fmt.Errorf("truncated: %w", err)
	}
	return v
}

// count reads a length, bounded by the file's size so that a corrupt file
// cannot make Read allocate without limit (the checksum is only known at
// the end): every element takes at least one byte.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(d.limit) {
		d.err = fmt.Errorf("implausible length %d", v)
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	var sb strings.Builder
	if _, err := io.CopyN(&sb, d.r, int64(n)); err != nil {
		d.err = fmt.Errorf("truncated: %w", err)
	}
	return sb.String()
}
