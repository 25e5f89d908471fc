package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// ProcessingDir is the hidden subfolder of a landing folder that holds one
// marker per file whose processing began and has not ended (see
// BeginProcessing). Ready never lists it.
const ProcessingDir = ".processing"

const (
	markerSuffix = ".json"
	// maxMarkerName keeps <marker>.json, and the temporary name
	// atomicfile derives from it, under NAME_MAX (255).
	maxMarkerName = 200
)

// processingMarker is the content of a marker: which file, as it was when
// processing began, and who began it.
type processingMarker struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	PID      int       `json:"pid"`
	Hostname string    `json:"hostname"`
	Started  time.Time `json:"started"`
}

// BeginProcessing durably records, before the caller processes files (one
// unit, applied together), that their processing began: one marker per
// file in ProcessingDir with its name, size and modification time as
// listed, this process's pid and host name, and the start time. Each marker
// is written atomically and fsynced with its folder before BeginProcessing
// returns. The files must be in the landing folder. On an error no marker of
// this call is left.
func (d *Dir) BeginProcessing(files []File) error {
	if d.Path == "" {
		return errors.New("fetch: drop directory path is empty")
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	dir := filepath.Join(d.Path, ProcessingDir)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("fetch: begin processing: %w", err)
	}
	atomicfile.SyncDir(d.Path)
	host, _ := os.Hostname()
	m := processingMarker{PID: os.Getpid(), Hostname: host, Started: d.now()}
	var written []string
	for _, f := range files {
		name, err := d.landingName(f)
		if err == nil {
			m.Name, m.Size, m.ModTime = name, f.Size, f.ModTime
			err = d.writeMarker(m)
		}
		if err != nil {
			d.removeMarkers(written)
			return fmt.Errorf("fetch: begin processing %s: %w", f.Name, err)
		}
		written = append(written, name)
	}
	if d.active == nil {
		d.active = map[string]bool{}
	}
	for _, name := range written {
		d.active[name] = true
	}
	return nil
}

// EndProcessing removes the markers of files, whatever the outcome of their
// processing; the caller calls it whenever the process survived it. A
// missing marker (the file was moved: Done, Reject and Hold remove it) is
// not an error.
func (d *Dir) EndProcessing(files []File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, f := range files {
		name, err := d.landingName(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("fetch: end processing: %w", err))
			continue
		}
		delete(d.active, name)
		if err := d.removeMarker(name); err != nil {
			errs = append(errs, fmt.Errorf("fetch: end processing %s: %w", name, err))
		}
	}
	atomicfile.SyncDir(filepath.Join(d.Path, ProcessingDir))
	return errors.Join(errs...)
}

// Interrupted lists, sorted by name, the files of the landing folder whose
// processing began (BeginProcessing) and never ended: they still have a
// marker, and their size and modification time are those the marker
// records. Their processing was cut short by the death of the process (a
// crash, an out-of-memory kill, a power loss), possibly because of the file
// itself, so the caller should not process them again. Files this Dir is
// processing now are not listed. Markers whose file is gone or has changed,
// unreadable markers and leftover temporary files are removed. The listed
// files carry no Sidecars; moves find them by name.
func (d *Dir) Interrupted() ([]File, error) {
	if d.Path == "" {
		return nil, errors.New("fetch: drop directory path is empty")
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	dir := filepath.Join(d.Path, ProcessingDir)
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: list %s: %w", dir, err)
	}
	var out []File
	var errs []error
	for _, de := range des {
		f, keep, err := d.checkMarker(filepath.Join(dir, de.Name()), de)
		if err != nil {
			errs = append(errs, err)
		}
		if keep {
			out = append(out, f)
		}
	}
	atomicfile.SyncDir(dir)
	sortFiles(out)
	return out, errors.Join(errs...)
}

// checkMarker returns the file of an interrupted processing that the marker
// at path records (keep), or removes the marker when it is stale, unreadable
// or a leftover temporary file.
func (d *Dir) checkMarker(path string, de fs.DirEntry) (f File, keep bool, err error) {
	name := de.Name()
	switch {
	case de.IsDir() || !strings.HasSuffix(name, markerSuffix) && !strings.HasPrefix(name, "."):
		return File{}, false, nil // not ours
	case strings.HasPrefix(name, "."):
		return File{}, false, removeStale(path) // a write cut short
	}
	var m processingMarker
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err == nil {
		err = checkName(m.Name)
	}
	if err != nil {
		return File{}, false, removeStale(path)
	}
	if d.active[m.Name] {
		return File{}, false, nil
	}
	p := filepath.Join(d.Path, m.Name)
	info, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return File{}, false, fmt.Errorf("fetch: stat %s: %w", p, err)
	}
	if err != nil || !info.Mode().IsRegular() || info.Size() != m.Size || !info.ModTime().Equal(m.ModTime) {
		return File{}, false, removeStale(path)
	}
	return File{Name: m.Name, Path: p, Size: m.Size, ModTime: info.ModTime()}, true, nil
}

func removeStale(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fetch: remove stale marker: %w", err)
	}
	return nil
}

// landingName returns the name of f, which must be directly in the landing
// folder.
func (d *Dir) landingName(f File) (string, error) {
	name := f.Name
	if name == "" {
		name = filepath.Base(f.Path)
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	if isPartialName(name) {
		return "", fmt.Errorf("fetch: %s: a hidden or partial-upload name is never processed", name)
	}
	if f.Path != "" && filepath.Clean(f.Path) != filepath.Join(d.Path, name) {
		return "", fmt.Errorf("fetch: %s is not %s in the landing folder", f.Path, name)
	}
	return name, nil
}

// markerPath returns where the marker of the landing file name is kept:
// <name>.json, or a digest of the name for very long names.
func (d *Dir) markerPath(name string) string {
	file := name + markerSuffix
	if len(file) > maxMarkerName {
		sum := sha256.Sum256([]byte(name))
		file = "sha256-" + hex.EncodeToString(sum[:]) + markerSuffix
	}
	return filepath.Join(d.Path, ProcessingDir, file)
}

func (d *Dir) writeMarker(m processingMarker) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode marker: %w", err)
	}
	return atomicfile.WriteFile(d.markerPath(m.Name), append(data, '\n'), fileMode)
}

// removeMarker removes the marker of name, if any. d.mu must be held.
func (d *Dir) removeMarker(name string) error {
	if err := os.Remove(d.markerPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeMarkers removes the markers of names, best effort, and syncs their
// folder. d.mu must be held.
func (d *Dir) removeMarkers(names []string) {
	for _, name := range names {
		_ = d.removeMarker(name)
	}
	atomicfile.SyncDir(filepath.Join(d.Path, ProcessingDir))
}
