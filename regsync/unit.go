package regsync

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/regsync/fetch"
	"github.com/eir-sidecar/eir/regsync/regformat"
)

// member is one list file: a file in the drop directory or a zip member.
type member struct {
	info regformat.FileInfo
	open func() (io.ReadCloser, error)
}

// job is one list of a unit: its full file, its delta files, or both.
type job struct {
	list      regformat.List
	full      *member
	deltas    []*member // the change-type files of one delta set, or one combined delta
	base, run int64     // of the delta set (and of the full file beside it)
	timestamp string
	manifest  *manifest
}

// unit is what is applied in one atomic step and moved as one: a zip
// package, a loose DIRBS delta set, or a single file.
type unit struct {
	name   string
	files  []fetch.File
	sha256 string   // of the package or single file (or of the file hashes of a loose delta set)
	sums   []string // sha256 of each file; approvals name them
	jobs   []*job
	zip    *os.File // the package, when u is one
	// inflated counts the bytes read from the unit's list files, against
	// Limits.MaxUncompressedBytes.
	inflated int64
}

func (u *unit) close() {
	if u.zip != nil {
		u.zip.Close()
	}
}

// manifest is the optional <file>.manifest.json of the generic formats
// (REGISTRY.md §5.2): it versions a file that has no run ids in its name.
type manifest struct {
	Source    string `json:"source"`
	List      string `json:"list"`
	RunID     int64  `json:"run_id"`
	BaseRunID *int64 `json:"base_run_id"`
	Rows      *int   `json:"rows"`
	SHA256    string `json:"sha256"`
}

// Bounds of what is read of a file to group it into a unit, before its
// list is parsed (under Limits).
const (
	// maxPackageMembers bounds the members of a zip package: a DIRBS
	// package holds a full list and the change-type files of a delta set
	// (per operator in a shared package).
	maxPackageMembers = 1024
	// maxDirectoryBytes bounds what archive/zip reads of a package before
	// any member is opened (the end record and the central directory): it
	// keeps a File per member it lists, and a 4 GiB zip can list 90
	// million.
	maxDirectoryBytes = 1 << 20
	// maxManifestBytes bounds a .manifest.json (a few fields).
	maxManifestBytes = 64 << 10
)

func readManifest(path string) (*manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("manifest %s: larger than %d bytes", filepath.Base(path), maxManifestBytes)
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// expectedDeltaOps lists the change-type files DIRBS writes for every delta
// set (an empty type is a header-only file).
var expectedDeltaOps = map[regformat.List][]string{
	regformat.Blacklist:     {"blocked", "unblocked", "changed"},
	regformat.Exceptions:    {"added", "removed"},
	regformat.Notifications: {"new", "resolved", "blacklisted", "no_longer_seen", "changed"},
}

// deltaSetKey names the loose DIRBS delta set a change-type file belongs
// to.
type deltaSetKey struct {
	list      regformat.List
	operator  string
	base, run int64
}

func setKeyOf(fi regformat.FileInfo) deltaSetKey {
	return deltaSetKey{fi.List, fi.Operator, fi.Base, fi.Run}
}

// unitSHA256 is the sha256 of a unit, from those of its files in order:
// the file's own for a single file or package.
func unitSHA256(sums []string) string {
	if len(sums) == 1 {
		return sums[0]
	}
	h := sha256.New()
	for _, sum := range sums {
		h.Write([]byte(sum))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unitsFrom groups the ready files of a pass into units; waiting lists the
// files left for a later pass (an incomplete delta set, a checksum not
// there yet).
func (s *source) unitsFrom(files []fetch.File) (units []*unit, rejected []rejection, waiting []FileReport) {
	loose := map[deltaSetKey]*unit{}
	lim := s.cfg.Limits
	for _, f := range files {
		if lim.MaxFileBytes > 0 && f.Size > lim.MaxFileBytes {
			rejected = append(rejected, rejection{files: []fetch.File{f}, reason: &validationError{code: "too_large",
				message: fmt.Sprintf("%s has %d bytes, more than %d (sync.sources[].limits.max_file_bytes)", f.Name, f.Size, lim.MaxFileBytes)}})
			continue
		}
		if regformat.IsPackage(f.Name) {
			var u *unit
			var err error
			if why := s.opening(f, func() { u, err = s.openPackage(f) }); why != "" {
				waiting = append(waiting, FileReport{File: f.Name, Result: "waiting", Message: why})
				continue
			}
			if err != nil {
				rejected = append(rejected, rejection{files: []fetch.File{f}, reason: err})
				continue
			}
			units = append(units, u)
			continue
		}
		fi, err := regformat.Identify(f.Name, s.cfg.Format)
		if err != nil {
			rejected = append(rejected, rejection{files: []fetch.File{f}, reason: &validationError{code: "name", message: err.Error()}})
			continue
		}
		if skip := s.foreign(fi); skip != "" {
			rejected = append(rejected, rejection{files: []fetch.File{f}, ignore: true, reason: &validationError{code: "ignored", message: skip}})
			continue
		}
		m := &member{info: fi, open: func() (io.ReadCloser, error) { return os.Open(f.Path) }}
		if fi.Delta && fi.DeltaOp != 0 {
			// A change-type file of a DIRBS delta set: gather the set.
			k := setKeyOf(fi)
			u := loose[k]
			if u == nil {
				u = &unit{name: fi.Timestamp + "_" + string(fi.List) + fmt.Sprintf("_delta_%d_%d", fi.Base, fi.Run),
					jobs: []*job{{list: fi.List, base: fi.Base, run: fi.Run, timestamp: fi.Timestamp}}}
				loose[k] = u
				units = append(units, u)
			}
			u.files = append(u.files, f)
			u.jobs[0].deltas = append(u.jobs[0].deltas, m)
			continue
		}
		j := &job{list: fi.List, timestamp: fi.Timestamp, base: fi.Base, run: fi.Run}
		// Generic formats: a change_type column makes a delta, whatever
		// the name.
		sniff := !fi.Delta && s.cfg.Format != regformat.FormatDIRBS
		mpath, manifested := f.Sidecars[".manifest.json"]
		var why string
		var merr error
		if sniff || manifested {
			why = s.opening(f, func() {
				if sniff && hasChangeType(m) {
					fi.Delta = true
					m.info = fi
				}
				if manifested {
					j.manifest, merr = readManifest(mpath)
				}
			})
		}
		switch {
		case why != "":
			waiting = append(waiting, FileReport{File: f.Name, Result: "waiting", Message: why})
			continue
		case merr != nil:
			rejected = append(rejected, rejection{files: []fetch.File{f}, reason: &validationError{code: "manifest", message: merr.Error()}})
			continue
		}
		if fi.Delta {
			j.deltas = []*member{m}
		} else {
			j.full = m
		}
		if j.timestamp == "" {
			j.timestamp = f.ModTime.UTC().Format("20060102_150405")
		}
		units = append(units, &unit{name: f.Name, files: []fetch.File{f}, jobs: []*job{j}})
	}
	// A loose delta set must be complete: DIRBS writes every change-type
	// file, even empty ones. With RequireChecksum, every file needs one.
	var complete []*unit
	for _, u := range units {
		why, code := "", ""
		if j := u.jobs[0]; len(u.files) > 0 && u.zip == nil && len(j.deltas) > 0 && j.deltas[0].info.DeltaOp != 0 {
			if missing := missingOps(j); len(missing) > 0 {
				why, code = fmt.Sprintf("delta set %s lacks its %s file(s)", u.name, strings.Join(missing, ", ")), "missing_member"
			}
		}
		if why == "" && s.cfg.RequireChecksum {
			if f, ok := u.unchecked(); ok {
				why, code = fmt.Sprintf("%s has no checksum (a .sha256 or .md5 sidecar, or a manifest with sha256), and sync.sources[].require_checksum is set", f), "missing_checksum"
			}
		}
		switch {
		case why == "":
			complete = append(complete, u)
		case s.engine.now().Sub(s.since(u)) < s.cfg.IncompleteWait:
			// The other files may still be arriving.
			u.close()
			waiting = append(waiting, FileReport{File: u.name, Result: "waiting", Message: why})
		default:
			u.close()
			rejected = append(rejected, rejection{files: u.files, reason: &validationError{code: code, message: why}})
		}
	}
	sort.SliceStable(complete, func(i, k int) bool { return complete[i].sortKey() < complete[k].sortKey() })
	return complete, rejected, waiting
}

// see records when this process first listed each file of files, and
// forgets the files no longer listed.
func (s *source) see(files []fetch.File) {
	now := s.engine.now()
	listed := make(map[string]time.Time, len(files))
	for _, f := range files {
		first, ok := s.seen[f.Name]
		if !ok {
			first = now
		}
		listed[f.Name] = first
	}
	s.seen = listed
}

// since is when this process first listed a file of u: what an incomplete
// unit waits from. Not the files' modification times, which uploads that
// keep them (sftp put -p, rsync -t, WinSCP) set in the past.
func (s *source) since(u *unit) time.Time {
	first := s.engine.now()
	for _, f := range u.files {
		if t, ok := s.seen[f.Name]; ok && t.Before(first) {
			first = t
		}
	}
	return first
}

// opening runs open, which reads f to group it into a unit (a package's
// directory, a list's header, a manifest), under f's processing marker
// (fetch.Dir.BeginProcessing): were the process to die meanwhile, the next
// pass would reject f (crashed_during_processing) rather than die again.
// When the marker cannot be written it returns why, and f waits.
func (s *source) opening(f fetch.File, open func()) (why string) {
	if err := s.dir.BeginProcessing([]fetch.File{f}); err != nil {
		return "cannot record the processing of the file: " + err.Error()
	}
	defer func() {
		if err := s.dir.EndProcessing([]fetch.File{f}); err != nil {
			s.engine.log.Warn("processing marker not removed", zap.String("file", f.Name), zap.Error(err))
		}
	}()
	open()
	return ""
}

// unchecked names a file of u that has nothing to verify its content
// against, or false.
func (u *unit) unchecked() (string, bool) {
	manifested := false
	for _, j := range u.jobs {
		manifested = manifested || (j.manifest != nil && j.manifest.SHA256 != "")
	}
	for _, f := range u.files {
		if !manifested && f.Sidecars[".sha256"] == "" && f.Sidecars[".md5"] == "" {
			return f.Name, true
		}
	}
	return "", false
}

func (u *unit) sortKey() string {
	j := u.jobs[0]
	return fmt.Sprintf("%s|%020d|%s", j.timestamp, j.run, u.name)
}

// missingOps lists the change-type files a delta set lacks. A set from base
// -1 ("deltas will be entire lists") needs only its addition file: it can
// remove or change nothing.
func missingOps(j *job) []string {
	have := map[string]bool{}
	for _, d := range j.deltas {
		have[d.info.ChangeType] = true
	}
	var missing []string
	for i, op := range expectedDeltaOps[j.list] {
		if !have[op] && (j.deltas[0].info.Base != -1 || i == 0) {
			missing = append(missing, op)
		}
	}
	return missing
}

// foreign says why a file is not for this EIR (another operator's list),
// or "".
func (s *source) foreign(fi regformat.FileInfo) string {
	if fi.List == regformat.Exceptions || fi.List == regformat.Notifications {
		if s.cfg.Operator == "" {
			return fmt.Sprintf("%s list of operator %q: sync.sources[].operator is not set", fi.List, fi.Operator)
		}
		if !strings.EqualFold(fi.Operator, s.cfg.Operator) {
			return fmt.Sprintf("%s list of operator %q, not %q", fi.List, fi.Operator, s.cfg.Operator)
		}
	}
	return ""
}

// openPackage opens a zip package and groups its members by list. Every
// member must be a list file of the source's format, and the deltas of a
// package must name one (base, run) pair (REGISTRY.md §5.2).
func (s *source) openPackage(f fetch.File) (*unit, error) {
	pf, err := os.Open(f.Path)
	if err != nil {
		return nil, &validationError{code: "read", message: err.Error()}
	}
	fail := func(code, msg string) (*unit, error) {
		pf.Close()
		return nil, &validationError{code: code, message: msg}
	}
	st, err := pf.Stat()
	if err != nil {
		return fail("read", err.Error())
	}
	// archive/zip reads the whole central directory, however long, before
	// it returns: let it read a bounded part only (and the end record).
	br := &budgetReaderAt{r: pf, left: maxDirectoryBytes + 66<<10}
	zr, err := zip.NewReader(br, st.Size())
	switch {
	case errors.Is(err, errBudget):
		return fail("too_many_members", fmt.Sprintf("%s: a central directory of more than %d bytes (a package holds a few list files)", f.Name, maxDirectoryBytes))
	case err != nil:
		return fail("zip", fmt.Sprintf("%s is not a readable zip (truncated or corrupt): %v", f.Name, err))
	case len(zr.File) > maxPackageMembers:
		return fail("too_many_members", fmt.Sprintf("%s: %d members, more than %d (a package holds a few list files)", f.Name, len(zr.File), maxPackageMembers))
	}
	br.left = math.MaxInt64 // the members are bounded by Limits
	u := &unit{name: f.Name, files: []fetch.File{f}, zip: pf}
	byList := map[string]*job{}
	var base, run int64
	var haveRun bool
	var total uint64
	lim := s.cfg.Limits
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() {
			continue
		}
		// Bounds declared by the package, checked before anything is
		// inflated (archive/zip stops a member that yields more than it
		// declares).
		if lim.MaxRatio > 0 && zf.UncompressedSize64 > 0 &&
			(zf.CompressedSize64 == 0 || float64(zf.UncompressedSize64)/float64(zf.CompressedSize64) > lim.MaxRatio) {
			return fail("compression_ratio", fmt.Sprintf("%s: member %q inflates %d bytes into %d, more than %.0f times (a zip bomb?; sync.sources[].limits.max_ratio)",
				f.Name, zf.Name, zf.CompressedSize64, zf.UncompressedSize64, lim.MaxRatio))
		}
		total += zf.UncompressedSize64
		if lim.MaxUncompressedBytes > 0 && total > uint64(lim.MaxUncompressedBytes) {
			return fail("too_large", fmt.Sprintf("%s holds more than %d bytes once uncompressed (sync.sources[].limits.max_uncompressed_bytes)", f.Name, lim.MaxUncompressedBytes))
		}
		name := zf.Name[strings.LastIndex(zf.Name, "/")+1:]
		fi, err := regformat.Identify(name, s.cfg.Format)
		if err != nil {
			return fail("unexpected_member", fmt.Sprintf("%s: member %q is not a %s list file", f.Name, zf.Name, s.cfg.Format))
		}
		if s.foreign(fi) != "" {
			continue // another operator's list in a shared package
		}
		if fi.Delta {
			if haveRun && (fi.Base != base || fi.Run != run) {
				return fail("mixed_runs", fmt.Sprintf("%s mixes delta sets %d_%d and %d_%d", f.Name, base, run, fi.Base, fi.Run))
			}
			base, run, haveRun = fi.Base, fi.Run, true
		}
		key := string(fi.List) + "/" + fi.Operator
		j := byList[key]
		if j == nil {
			j = &job{list: fi.List, timestamp: fi.Timestamp}
			byList[key] = j
			u.jobs = append(u.jobs, j)
		}
		zf := zf
		m := &member{info: fi, open: func() (io.ReadCloser, error) { return zf.Open() }}
		if fi.Delta {
			j.deltas = append(j.deltas, m)
		} else {
			if j.full != nil {
				return fail("unexpected_member", fmt.Sprintf("%s has two full %s files", f.Name, fi.List))
			}
			j.full = m
		}
	}
	if len(u.jobs) == 0 {
		return fail("empty_package", fmt.Sprintf("%s holds no list for this EIR", f.Name))
	}
	for _, j := range u.jobs {
		if haveRun {
			j.base, j.run = base, run
		}
		if len(j.deltas) > 0 && j.deltas[0].info.DeltaOp != 0 {
			if missing := missingOps(j); len(missing) > 0 {
				return fail("missing_member", fmt.Sprintf("%s: the %s delta set lacks its %s file(s)", f.Name, j.list, strings.Join(missing, ", ")))
			}
		}
		if j.timestamp == "" {
			j.timestamp = f.ModTime.UTC().Format("20060102_150405")
		}
	}
	return u, nil
}

// hasChangeType reports whether a generic list file's header has a
// change_type column.
func hasChangeType(m *member) bool {
	rc, err := m.open()
	if err != nil {
		return false
	}
	defer rc.Close()
	// At most a row's length: a file without a newline is not read whole.
	line, _ := bufio.NewReaderSize(io.LimitReader(rc, regformat.DefaultMaxRowBytes), 4096).ReadString('\n')
	rec, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(line, "\ufeff"))).Read()
	if err != nil {
		return false
	}
	for _, h := range rec {
		if strings.EqualFold(strings.TrimSpace(h), "change_type") {
			return true
		}
	}
	return false
}

// errBudget is a read beyond what a budgetReaderAt allows.
var errBudget = errors.New("regsync: read budget exhausted")

// budgetReaderAt reads at most left bytes from r, then fails with
// errBudget.
type budgetReaderAt struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		n, _ := b.r.ReadAt(p[:b.left], off)
		b.left = 0
		return n, errBudget
	}
	b.left -= int64(len(p))
	return b.r.ReadAt(p, off)
}
