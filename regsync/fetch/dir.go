package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// DefaultSettle is how long a file must be unmodified before Dir reads it
// when Dir.Settle is zero.
const DefaultSettle = 5 * time.Second

// Subfolders of a landing folder.
const (
	DoneDir     = "done"
	RejectedDir = "rejected"
	HeldDir     = "held"
)

// Suffixes of the files written next to a moved file.
const (
	ResultSuffix = ".result.json"
	ReasonSuffix = ".reason"
)

// SidecarSuffixes are the suffixes of the sidecar files that belong to the
// file whose name they extend, in the form used as keys of File.Sidecars.
var SidecarSuffixes = []string{".sha256", ".md5", ".manifest.json"}

// partialSuffixes mark a file that is still being uploaded (compared
// case-insensitively).
var partialSuffixes = []string{".part", ".partial", ".tmp", ".filepart", ".crdownload", ".lock"}

// collisionSuffix matches the suffix a move adds when its target name is
// taken.
var collisionSuffix = regexp.MustCompile(`^(.+)\.[0-9]{8}T[0-9]{6}(\.[0-9]+)?$`)

const (
	dirMode  = 0o750
	fileMode = 0o640
	// maxCollisions bounds the .<n> counter of a taken target name.
	maxCollisions = 10000
)

// Dir is a drop directory: a landing folder a registry uploads files into
// (over SFTP, typically). See the package documentation for the layout.
//
// A Dir must not be copied after first use. Its methods are safe for
// concurrent use. Close stops the watcher Watch may have started.
type Dir struct {
	// Path is the landing folder. Subfolders done/, rejected/ and held/ are
	// created inside it on demand.
	Path string
	// Settle is how long a file must be unmodified before it is read
	// (DefaultSettle when zero; a negative value reads files at once).
	Settle time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu     sync.Mutex      // serialises moves and processing markers
	active map[string]bool // names between BeginProcessing and EndProcessing; under mu

	lease leaseFunc  // readLease when nil; tests replace it
	wmu   sync.Mutex // guards watch
	watch *watcher   // started by Watch, nil when not watching
}

// File is a file in a landing folder (or in its held/ subfolder).
type File struct {
	Name    string // base name
	Path    string // full path
	Size    int64
	ModTime time.Time
	// Sidecars maps a suffix of SidecarSuffixes to the path of the sidecar
	// file that belongs to this file.
	Sidecars map[string]string
}

// Reason says why a file was rejected or held. It is stored as JSON in
// <name>.reason next to the file.
type Reason struct {
	// Code is machine-readable: "header", "conflict", "bad_rows",
	// "delta_base", "shrink_guard", "zip", "checksum", ...
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Details []string  `json:"details,omitempty"`
	Time    time.Time `json:"time"` // filled from Dir.Now when zero
}

func (d *Dir) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dir) settle() time.Duration {
	if d.Settle == 0 {
		return DefaultSettle
	}
	return d.Settle
}

// isPartialName reports whether name is hidden or a partial-upload name.
func isPartialName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range partialSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// sidecarOf splits a sidecar name into the name of the file it belongs to
// and its canonical suffix.
func sidecarOf(name string) (base, suffix string, ok bool) {
	lower := strings.ToLower(name)
	for _, s := range SidecarSuffixes {
		if len(name) > len(s) && strings.HasSuffix(lower, s) {
			return name[:len(name)-len(s)], s, true
		}
	}
	return "", "", false
}

// partialSidecarBase returns the file a sidecar being uploaded under a
// partial name (x.csv.sha256.filepart) belongs to.
func partialSidecarBase(name string) (string, bool) {
	lower := strings.ToLower(name)
	for _, s := range partialSuffixes {
		if len(name) > len(s) && strings.HasSuffix(lower, s) {
			base, _, ok := sidecarOf(name[:len(name)-len(s)])
			return base, ok && base != ""
		}
	}
	return "", false
}

// checkName accepts a plain base name.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("fetch: invalid file name %q", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("fetch: invalid file name %q: must be a base name", name)
	}
	return nil
}

type dirEntry struct {
	name string
	path string
	info fs.FileInfo
}

// listRegular returns the regular files directly in dir (following
// symlinks), except partial and hidden names. A missing dir is empty when
// missingOK.
func listRegular(dir string, missingOK bool, partial func(string)) ([]dirEntry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if missingOK && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("fetch: list %s: %w", dir, err)
	}
	out := make([]dirEntry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if isPartialName(name) {
			if partial != nil {
				partial(name)
			}
			continue
		}
		if de.IsDir() {
			continue
		}
		p := filepath.Join(dir, name)
		info, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone meanwhile, or a dangling symlink
			}
			return nil, fmt.Errorf("fetch: stat %s: %w", p, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		out = append(out, dirEntry{name: name, path: p, info: info})
	}
	return out, nil
}

func sortFiles(files []File) {
	sort.Slice(files, func(i, j int) bool {
		if files[i].Name != files[j].Name {
			return files[i].Name < files[j].Name
		}
		return files[i].ModTime.Before(files[j].ModTime)
	})
}

// Ready lists the files in the landing folder that have settled, sorted by
// name (registry names start with timestamps), ties by ModTime; a file one
// of whose sidecars is not settled, or still has a partial-upload name, is
// left out. Ready does not ask whether a writer is still at work on a file:
// the caller asks Complete, which says why a file must wait.
func (d *Dir) Ready() ([]File, error) {
	ready, _, err := d.Scan()
	return ready, err
}

// Settling is a file of the landing folder that Ready leaves out because
// it, or one of its sidecars, was modified within the settle time.
type Settling struct {
	Name    string
	ModTime time.Time // of the file, or of its sidecar modified last
	// ReadyAt is when it will have settled (ModTime + Settle): the first
	// pass from then on reads it, unless it is modified again.
	ReadyAt time.Time
}

// Scan lists the files Ready lists, and those it leaves out because they
// (or one of their sidecars) have not settled yet, sorted by name. A file
// whose sidecar still has a partial-upload name is in neither list.
func (d *Dir) Scan() (ready []File, settling []Settling, err error) {
	if d.Path == "" {
		return nil, nil, errors.New("fetch: drop directory path is empty")
	}
	pending := map[string]bool{} // files with a sidecar still on its way
	entries, err := listRegular(d.Path, false, func(name string) {
		if base, ok := partialSidecarBase(name); ok {
			pending[base] = true
		}
	})
	if err != nil {
		return nil, nil, err
	}
	now, settle := d.now(), d.settle()
	settled := func(e dirEntry) bool { return now.Sub(e.info.ModTime()) >= settle }

	files := map[string]*File{}
	young := map[string]time.Time{} // not settled: the latest ModTime
	var sidecars []dirEntry
	for _, e := range entries {
		if _, _, ok := sidecarOf(e.name); ok {
			sidecars = append(sidecars, e)
			continue
		}
		files[e.name] = &File{Name: e.name, Path: e.path, Size: e.info.Size(), ModTime: e.info.ModTime()}
		if !settled(e) {
			young[e.name] = e.info.ModTime()
		}
	}
	for _, e := range sidecars {
		base, suffix, _ := sidecarOf(e.name)
		f := files[base]
		if f == nil {
			continue // no such file (yet): ignored
		}
		if !settled(e) {
			if m, ok := young[base]; !ok || e.info.ModTime().After(m) {
				young[base] = e.info.ModTime()
			}
			continue
		}
		if f.Sidecars == nil {
			f.Sidecars = map[string]string{}
		}
		f.Sidecars[suffix] = e.path
	}
	ready = make([]File, 0, len(files))
	for name, f := range files {
		m, notYet := young[name]
		switch {
		case pending[name]:
		case notYet:
			settling = append(settling, Settling{Name: name, ModTime: m, ReadyAt: m.Add(settle)})
		default:
			ready = append(ready, *f)
		}
	}
	sortFiles(ready)
	sort.Slice(settling, func(i, j int) bool { return settling[i].Name < settling[j].Name })
	return ready, settling, nil
}

// Done moves files (the files of one unit, applied together; usually one)
// and their sidecars to done/, and writes done/<name>.result.json with the
// JSON of result next to each.
//
// Done, Reject and Hold move all the files or none: they refuse, with an
// error matching ErrBusy, when a writer may still be writing any of them
// or of their sidecars (Writing), and where a read lease can be taken it is
// held on every file during the move, so no writer can open one meanwhile.
// When a move fails, the files already moved are put back (best effort).
// They remove the files' processing markers (BeginProcessing).
func (d *Dir) Done(result any, files ...File) error {
	data, err := json.MarshalIndent(result, "", "  ")
	if err != nil {
		return fmt.Errorf("fetch: done %s: encode result: %w", fileNames(files), err)
	}
	return d.file(files, DoneDir, ResultSuffix, append(data, '\n'))
}

// Reject moves files and their sidecars to rejected/ and writes
// rejected/<name>.reason next to each.
func (d *Dir) Reject(reason Reason, files ...File) error {
	return d.fileReason(files, RejectedDir, reason)
}

// Hold moves files and their sidecars to held/ and writes held/<name>.reason
// next to each. An operator's approval releases them (Release).
func (d *Dir) Hold(reason Reason, files ...File) error {
	return d.fileReason(files, HeldDir, reason)
}

func (d *Dir) fileReason(files []File, sub string, reason Reason) error {
	if reason.Time.IsZero() {
		reason.Time = d.now()
	}
	data, err := json.MarshalIndent(reason, "", "  ")
	if err != nil {
		return fmt.Errorf("fetch: %s %s: encode reason: %w", sub, fileNames(files), err)
	}
	return d.file(files, sub, ReasonSuffix, append(data, '\n'))
}

// fileNames joins the names of files, for messages.
func fileNames(files []File) string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Name
		if out[i] == "" {
			out[i] = filepath.Base(f.Path)
		}
	}
	return strings.Join(out, ", ")
}

// moving is one file of a move: where it is, its sidecars, and where it
// went.
type moving struct {
	name, src string
	sidecars  map[string]string // suffix → path
	target    string            // name in the subfolder, once moved
}

// file moves files and their sidecars into the subfolder sub, each next to
// a metadata file <target><metaSuffix> holding meta: all of them, or none.
func (d *Dir) file(files []File, sub, metaSuffix string, meta []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()

	if d.Path == "" {
		return errors.New("fetch: drop directory path is empty")
	}
	if len(files) == 0 {
		return nil
	}
	moves := make([]*moving, 0, len(files))
	var paths []string
	for _, f := range files {
		src, name := f.Path, f.Name
		if src == "" {
			src = filepath.Join(d.Path, name)
		}
		if name == "" {
			name = filepath.Base(src)
		}
		if err := checkName(name); err != nil {
			return err
		}
		if _, err := os.Lstat(src); err != nil {
			return fmt.Errorf("fetch: move %s to %s/: %w", name, sub, err)
		}
		// The sidecars Ready attached, and any that arrived since.
		m := &moving{name: name, src: src, sidecars: map[string]string{}}
		paths = append(paths, src)
		for _, s := range SidecarSuffixes {
			p := f.Sidecars[s]
			if p == "" {
				p = filepath.Join(filepath.Dir(src), name+s)
			}
			if _, err := os.Lstat(p); err == nil {
				m.sidecars[s] = p
				paths = append(paths, p)
			}
		}
		moves = append(moves, m)
	}
	release, busy := d.hold(paths)
	if busy != "" {
		return fmt.Errorf("fetch: move %s to %s/: %s: %w", fileNames(files), sub, busy, ErrBusy)
	}
	defer release()

	dir := filepath.Join(d.Path, sub)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("fetch: create %s: %w", dir, err)
	}
	var errs []error
	for i, m := range moves {
		if err := d.moveOne(m, dir, sub, metaSuffix, meta); err != nil {
			for _, done := range moves[:i] {
				d.moveBack(done, dir, metaSuffix)
			}
			atomicfile.SyncDir(dir)
			atomicfile.SyncDir(d.Path)
			return err
		}
	}
	for _, m := range moves {
		if filepath.Dir(m.src) == filepath.Clean(d.Path) {
			// Best effort: a marker whose file is gone is removed by
			// Interrupted.
			_ = d.removeMarker(m.name)
		}
		// Sidecars follow the files they belong to: a failure leaves a
		// sidecar behind, not a file.
		for _, s := range SidecarSuffixes {
			if p, ok := m.sidecars[s]; ok {
				if err := moveFile(p, filepath.Join(dir, m.target+s)); err != nil {
					errs = append(errs, fmt.Errorf("fetch: move sidecar %s to %s/: %w", filepath.Base(p), sub, err))
				}
			}
		}
	}
	atomicfile.SyncDir(dir)
	for _, m := range moves {
		atomicfile.SyncDir(filepath.Dir(m.src))
	}
	return errors.Join(errs...)
}

// moveOne writes the metadata of m, then moves the file m into dir. On an
// error nothing of m has moved.
func (d *Dir) moveOne(m *moving, dir, sub, metaSuffix string, meta []byte) error {
	companions := []string{metaSuffix}
	for s := range m.sidecars {
		companions = append(companions, s)
	}
	target, err := d.freeName(dir, m.name, companions)
	if err != nil {
		return err
	}
	metaPath := filepath.Join(dir, target+metaSuffix)
	if err := atomicfile.WriteFile(metaPath, meta, fileMode); err != nil {
		return fmt.Errorf("fetch: move %s to %s/: %w", m.name, sub, err)
	}
	if err := moveFile(m.src, filepath.Join(dir, target)); err != nil {
		_ = os.Remove(metaPath)
		return fmt.Errorf("fetch: move %s to %s/: %w", m.name, sub, err)
	}
	m.target = target
	return nil
}

// moveBack undoes moveOne (best effort).
func (d *Dir) moveBack(m *moving, dir, metaSuffix string) {
	if err := moveFile(filepath.Join(dir, m.target), m.src); err == nil {
		_ = os.Remove(filepath.Join(dir, m.target+metaSuffix))
	}
}

// freeName returns name, or name.<YYYYMMDDTHHMMSS>[.<n>], such that neither
// it nor it with any of the companion suffixes exists in dir.
func (d *Dir) freeName(dir, name string, companions []string) (string, error) {
	free := func(n string) (bool, error) {
		for _, s := range append([]string{""}, companions...) {
			_, err := os.Lstat(filepath.Join(dir, n+s))
			if err == nil {
				return false, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("fetch: stat %s: %w", filepath.Join(dir, n+s), err)
			}
		}
		return true, nil
	}
	if ok, err := free(name); ok || err != nil {
		return name, err
	}
	stamp := name + "." + d.now().UTC().Format("20060102T150405")
	for n := 0; n < maxCollisions; n++ {
		cand := stamp
		if n > 0 {
			cand += "." + strconv.Itoa(n)
		}
		if ok, err := free(cand); ok || err != nil {
			return cand, err
		}
	}
	return "", fmt.Errorf("fetch: no free name for %s in %s", name, dir)
}

// Held lists the files in held/ (not their .reason files), sorted by name,
// with their sidecars. A missing held/ folder holds nothing.
func (d *Dir) Held() ([]File, error) {
	if d.Path == "" {
		return nil, errors.New("fetch: drop directory path is empty")
	}
	dir := filepath.Join(d.Path, HeldDir)
	entries, err := listRegular(dir, true, nil)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.name] = true
	}
	files := map[string]*File{}
	var sidecars []dirEntry
	for _, e := range entries {
		// x.reason is x's reason, unless x.reason.reason exists (a held
		// file whose own name ends in .reason).
		if strings.HasSuffix(e.name, ReasonSuffix) && !names[e.name+ReasonSuffix] {
			continue
		}
		if _, _, ok := sidecarOf(e.name); ok {
			sidecars = append(sidecars, e)
			continue
		}
		files[e.name] = &File{Name: e.name, Path: e.path, Size: e.info.Size(), ModTime: e.info.ModTime()}
	}
	for _, e := range sidecars {
		base, suffix, _ := sidecarOf(e.name)
		if f := files[base]; f != nil {
			if f.Sidecars == nil {
				f.Sidecars = map[string]string{}
			}
			f.Sidecars[suffix] = e.path
		}
	}
	out := make([]File, 0, len(files))
	for _, f := range files {
		out = append(out, *f)
	}
	sortFiles(out)
	return out, nil
}

// HeldReason returns the reason a held file (named as Held lists it) was
// held.
func (d *Dir) HeldReason(name string) (Reason, error) {
	if err := checkName(name); err != nil {
		return Reason{}, err
	}
	p := filepath.Join(d.Path, HeldDir, name+ReasonSuffix)
	data, err := os.ReadFile(p)
	if err != nil {
		return Reason{}, fmt.Errorf("fetch: held reason of %s: %w", name, err)
	}
	var r Reason
	if err := json.Unmarshal(data, &r); err != nil {
		return Reason{}, fmt.Errorf("fetch: held reason of %s: %w", name, err)
	}
	return r, nil
}

// Release moves held/<name> (named as Held lists it) and its sidecars back
// into the landing folder, so that the next pass reads it again, and removes
// its .reason. A collision suffix that Hold added is stripped, so the file
// gets its original name back. Release refuses to overwrite a file of that
// name in the landing folder (the error matches fs.ErrExist). The caller does
// this after an operator's approval.
func (d *Dir) Release(name string) (File, error) {
	if err := checkName(name); err != nil {
		return File{}, err
	}
	if d.Path == "" {
		return File{}, errors.New("fetch: drop directory path is empty")
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	held := filepath.Join(d.Path, HeldDir)
	src := filepath.Join(held, name)
	info, err := os.Stat(src)
	if err != nil {
		return File{}, fmt.Errorf("fetch: release %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return File{}, fmt.Errorf("fetch: release %s: not a regular file", name)
	}
	orig := name
	if m := collisionSuffix.FindStringSubmatch(name); m != nil {
		orig = m[1]
	}
	dst := filepath.Join(d.Path, orig)

	sidecars := map[string]string{}
	for _, s := range SidecarSuffixes {
		p := filepath.Join(held, name+s)
		if _, err := os.Lstat(p); err == nil {
			sidecars[s] = p
		}
	}
	for _, s := range append([]string{""}, SidecarSuffixes...) {
		if _, ok := sidecars[s]; s != "" && !ok {
			continue
		}
		if _, err := os.Lstat(dst + s); err == nil {
			return File{}, fmt.Errorf("fetch: release %s: %s is in the landing folder already: %w", name, orig+s, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return File{}, fmt.Errorf("fetch: release %s: %w", name, err)
		}
	}

	// Sidecars first: the file must not be visible without them. On a
	// failure the sidecars already moved go back to held/.
	f := File{Name: orig, Path: dst}
	undo := func() {
		for s, p := range f.Sidecars {
			_ = moveFile(p, sidecars[s])
		}
	}
	for _, s := range SidecarSuffixes {
		p, ok := sidecars[s]
		if !ok {
			continue
		}
		if err := moveFile(p, dst+s); err != nil {
			undo()
			return File{}, fmt.Errorf("fetch: release %s: move sidecar: %w", name, err)
		}
		if f.Sidecars == nil {
			f.Sidecars = map[string]string{}
		}
		f.Sidecars[s] = dst + s
	}
	if err := moveFile(src, dst); err != nil {
		undo()
		return File{}, fmt.Errorf("fetch: release %s: %w", name, err)
	}
	atomicfile.SyncDir(d.Path)
	if info, err := os.Stat(dst); err == nil {
		f.Size, f.ModTime = info.Size(), info.ModTime()
	}
	if err := os.Remove(filepath.Join(held, name+ReasonSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f, fmt.Errorf("fetch: release %s: remove reason: %w", name, err)
	}
	atomicfile.SyncDir(held)
	return f, nil
}
