package regformat

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// List is the kind of registry list a file carries.
type List string

// Lists.
const (
	Blacklist     List = "blacklist"     // DIRBS, national, same for all operators
	Exceptions    List = "exceptions"    // DIRBS, per operator: IMEI–IMSI pairs allowed despite the blacklist
	Notifications List = "notifications" // DIRBS, per operator: (IMEI, IMSI, MSISDN) triplets being notified (grey)
	Stolen        List = "stolen"        // generic/LSDS stolen list: imei[,reporting_date,status][,change_type]
	BarredTAC     List = "tac"           // barred TAC list: tac[,change_type]
	Ranges        List = "ranges"        // GSMA-style IMEI ranges: from,to[,reason][,change_type]
)

// Op is what a row does to the list.
type Op uint8

// Ops. The zero Op means "none": a full file's FileInfo.DeltaOp, or a file
// whose rows carry their own change_type.
const (
	OpAdd Op = iota + 1
	OpRemove
	OpUpdate
)

// String returns "add", "remove", "update" or "op(N)".
func (o Op) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpRemove:
		return "remove"
	case OpUpdate:
		return "update"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// FileInfo is what a file name (and the source's configured format) says.
type FileInfo struct {
	Name      string // base name
	List      List
	Operator  string // exceptions/notifications: the <op> part of the name, lowercased
	Timestamp string // DIRBS "<YYYYMMDD_HHMMSS>"; LSDS "MM-DD-YYYYTHHMMSS" normalised to "YYYYMMDD_HHMMSS"; "" if none
	Delta     bool
	Base, Run int64 // DIRBS deltas: <base>_<run> from the name (base may be -1); 0/0 otherwise
	// DeltaOp is the op of every row of a per-change-type DIRBS delta file;
	// 0 for full files and for files whose rows carry a change_type column.
	DeltaOp Op
	// ChangeType is the change-type word of a per-change-type DIRBS delta
	// file ("blocked", "unblocked", "changed", "added", "removed", "new",
	// "resolved", "blacklisted", "no_longer_seen"); "" otherwise. When set,
	// a change_type column in the file must repeat it.
	ChangeType string
}

// Errors of Identify.
var (
	// ErrUnrecognised reports a file name that matches no pattern of the
	// source's format.
	ErrUnrecognised = errors.New("regformat: file name not recognised")
	// ErrUnknownFormat reports a source format Identify does not know.
	ErrUnknownFormat = errors.New("regformat: unknown source format")
)

// Source formats accepted by Identify.
const (
	FormatDIRBS  = "dirbs"
	FormatLSDS   = "lsds"
	FormatStolen = "stolen"
	FormatTAC    = "tac"
	FormatRanges = "ranges"
)

// changeWords maps every change-type word, lowercased, to its op. The keys
// are also the canonical spelling reported in Record.Change.
var changeWords = map[string]Op{
	"add": OpAdd, "added": OpAdd, "blocked": OpAdd, "new": OpAdd,
	"remove": OpRemove, "removed": OpRemove, "unblocked": OpRemove,
	"resolved": OpRemove, "blacklisted": OpRemove, "no_longer_seen": OpRemove,
	"update": OpUpdate, "changed": OpUpdate,
}

const (
	reTS    = `(\d{8}_\d{6})`
	reRuns  = `_delta_(-1|\d+)_(\d+)`
	reBlack = `(blocked|unblocked|changed)`
	reExc   = `(added|removed)`
	reNotif = `(new|resolved|blacklisted|no_longer_seen|changed)`
)

// dirbsPattern is one DIRBS name pattern. Submatches: 1 timestamp; then the
// operator when op is set; then base and run when delta is set; then the
// change type when typed is set.
type dirbsPattern struct {
	re    *regexp.Regexp
	list  List
	op    bool
	delta bool
	typed bool
}

// dirbsPatterns are tried in order: per-type deltas, then legacy combined
// deltas, then full files, so that the greedy operator group of a full-file
// pattern never swallows a delta suffix.
var dirbsPatterns = []dirbsPattern{
	{regexp.MustCompile(`^` + reTS + `_blacklist` + reRuns + `_` + reBlack + `\.csv$`), Blacklist, false, true, true},
	{regexp.MustCompile(`^` + reTS + `_exceptions_(.+)` + reRuns + `_` + reExc + `\.csv$`), Exceptions, true, true, true},
	{regexp.MustCompile(`^` + reTS + `_notifications_(.+)` + reRuns + `_` + reNotif + `\.csv$`), Notifications, true, true, true},
	{regexp.MustCompile(`^` + reTS + `_blacklist` + reRuns + `\.csv$`), Blacklist, false, true, false},
	{regexp.MustCompile(`^` + reTS + `_exceptions_(.+)` + reRuns + `\.csv$`), Exceptions, true, true, false},
	{regexp.MustCompile(`^` + reTS + `_notifications_(.+)` + reRuns + `\.csv$`), Notifications, true, true, false},
	{regexp.MustCompile(`^` + reTS + `_blacklist\.csv$`), Blacklist, false, false, false},
	{regexp.MustCompile(`^` + reTS + `_exceptions_(.+)\.csv$`), Exceptions, true, false, false},
	{regexp.MustCompile(`^` + reTS + `_notifications_(.+)\.csv$`), Notifications, true, false, false},
}

// reDeltaInOp finds a delta suffix inside the operator part of a full-file
// match, i.e. a delta whose change type is not one of its list's.
var reDeltaInOp = regexp.MustCompile(reRuns + `(_|$)`)

// reLSDS matches the LSDS export names.
var reLSDS = regexp.MustCompile(`^Stolen(Full|Delta)List(?:(\d{2})-(\d{2})-(\d{4})T(\d{6}))?\.csv$`)

// IsPackage reports whether name is a zip package (it ends with .zip, in any
// case). Packages are opened by the caller, and each member identified.
func IsPackage(name string) bool {
	return strings.HasSuffix(strings.ToLower(baseName(name)), ".zip")
}

// Identify recognises a list file by its name. name may carry a directory
// (either separator); FileInfo.Name is the base name. format is the source's
// configured format:
//
//   - "dirbs": the name must match a DIRBS listgen pattern exactly (case
//     sensitive), see the package documentation;
//   - "lsds" or "stolen": any *.csv is a Stolen list; "StolenFullList…" and
//     "StolenDeltaList…" give Delta and Timestamp; for other names Delta is
//     false and Parse takes the ops from a change_type column if present;
//   - "tac": any *.csv is a BarredTAC list;
//   - "ranges": any *.csv is a Ranges list.
//
// The .csv extension is matched in any case except for "dirbs". Zip
// packages are ErrUnrecognised (see IsPackage); an unknown format is
// ErrUnknownFormat.
func Identify(name string, format string) (FileInfo, error) {
	base := baseName(name)
	fi := FileInfo{Name: base}
	f := strings.ToLower(strings.TrimSpace(format))
	switch f {
	case FormatDIRBS:
	case FormatLSDS, FormatStolen, FormatTAC, FormatRanges:
		if IsPackage(base) {
			return fi, fmt.Errorf("%w: %q is a zip package: identify its members", ErrUnrecognised, base)
		}
		if !strings.HasSuffix(strings.ToLower(base), ".csv") || len(base) <= len(".csv") {
			return fi, fmt.Errorf("%w: %q: want a .csv file", ErrUnrecognised, base)
		}
	default:
		return fi, fmt.Errorf("%w: %q: want dirbs, lsds, stolen, tac or ranges", ErrUnknownFormat, format)
	}
	switch f {
	case FormatTAC:
		fi.List = BarredTAC
		return fi, nil
	case FormatRanges:
		fi.List = Ranges
		return fi, nil
	case FormatLSDS, FormatStolen:
		fi.List = Stolen
		if m := reLSDS.FindStringSubmatch(base); m != nil {
			fi.Delta = m[1] == "Delta"
			if m[2] != "" {
				ts := m[4] + m[2] + m[3] + "_" + m[5]
				if validTimestamp(ts) {
					fi.Timestamp = ts
				}
			}
		}
		return fi, nil
	}
	return identifyDIRBS(fi)
}

func identifyDIRBS(fi FileInfo) (FileInfo, error) {
	name := fi.Name
	if IsPackage(name) {
		return fi, fmt.Errorf("%w: %q is a zip package: identify its members", ErrUnrecognised, name)
	}
	for _, p := range dirbsPatterns {
		m := p.re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		i := 1
		fi.List = p.list
		fi.Timestamp = m[i]
		i++
		if !validTimestamp(fi.Timestamp) {
			return FileInfo{Name: name}, fmt.Errorf("%w: %q: invalid timestamp %s", ErrUnrecognised, name, fi.Timestamp)
		}
		if p.op {
			fi.Operator = strings.ToLower(m[i])
			i++
			if !p.delta && reDeltaInOp.MatchString(fi.Operator) {
				return FileInfo{Name: name}, fmt.Errorf("%w: %q looks like a %s delta with an unknown change type", ErrUnrecognised, name, p.list)
			}
		}
		if p.delta {
			fi.Delta = true
			var err error
			if fi.Base, err = strconv.ParseInt(m[i], 10, 64); err != nil {
				return FileInfo{Name: name}, fmt.Errorf("%w: %q: base run id out of range", ErrUnrecognised, name)
			}
			if fi.Run, err = strconv.ParseInt(m[i+1], 10, 64); err != nil {
				return FileInfo{Name: name}, fmt.Errorf("%w: %q: run id out of range", ErrUnrecognised, name)
			}
			i += 2
		}
		if p.typed {
			fi.ChangeType = m[i]
			fi.DeltaOp = changeWords[m[i]]
		}
		return fi, nil
	}
	return fi, fmt.Errorf("%w: %q is not a dirbs list file name", ErrUnrecognised, name)
}

func validTimestamp(ts string) bool {
	_, err := time.Parse("20060102_150405", ts)
	return err == nil
}

func baseName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[i+1:]
	}
	return name
}
