package eir

import (
	"fmt"
	"strings"
)

// Status is an Equipment-Status (TS 29.272 §7.3.51, TS 29.511 EquipmentStatus).
// The integer values are the S13 wire values and never change; Rel-18 renamed
// them PERMITTEDLISTED, PROHIBITEDLISTED and TRACKINGLISTED.
type Status uint8

// Equipment-Status values.
const (
	Whitelisted Status = 0
	Blacklisted Status = 1
	Greylisted  Status = 2
)

// String returns the name used on the N5g-eir wire: WHITELISTED, BLACKLISTED
// or GREYLISTED.
func (s Status) String() string {
	switch s {
	case Whitelisted:
		return "WHITELISTED"
	case Blacklisted:
		return "BLACKLISTED"
	case Greylisted:
		return "GREYLISTED"
	}
	return fmt.Sprintf("STATUS(%d)", uint8(s))
}

// ParseStatus accepts the wire names, the list names and the Rel-18 names,
// in any case: whitelisted|white|permitted, blacklisted|black|prohibited,
// greylisted|grey|gray|tracking.
func ParseStatus(s string) (Status, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "whitelisted", "white", "permitted", "permittedlisted":
		return Whitelisted, nil
	case "blacklisted", "black", "prohibited", "prohibitedlisted":
		return Blacklisted, nil
	case "greylisted", "grey", "gray", "greylist", "tracking", "trackinglisted":
		return Greylisted, nil
	}
	return 0, fmt.Errorf("%w: status %q: want white, grey or black", ErrInvalidEntry, s)
}

// List is the list an entry belongs to.
type List uint8

// Lists. Black, grey and white carry the matching Equipment-Status. Override
// (never block) and Exception (an IMEI allowed together with one IMSI) make
// the answer WHITELISTED whatever else matches.
const (
	ListBlack List = iota
	ListGrey
	ListWhite
	ListOverride
	ListException
	numLists
)

var listNames = [numLists]string{"black", "grey", "white", "override", "exception"}

// String returns the list's lowercase name.
func (l List) String() string {
	if l < numLists {
		return listNames[l]
	}
	return fmt.Sprintf("list(%d)", uint8(l))
}

// Status returns the Equipment-Status the list gives; Override and Exception
// give WHITELISTED.
func (l List) Status() Status {
	switch l {
	case ListBlack:
		return Blacklisted
	case ListGrey:
		return Greylisted
	}
	return Whitelisted
}

// ListFor returns the list that carries status s.
func ListFor(s Status) List {
	switch s {
	case Blacklisted:
		return ListBlack
	case Greylisted:
		return ListGrey
	}
	return ListWhite
}

// ParseList parses a list name; the status names are accepted too.
func ParseList(s string) (List, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for i, n := range listNames {
		if v == n {
			return List(i), nil
		}
	}
	switch v {
	case "never-block", "never_block", "golden":
		return ListOverride, nil
	case "exceptions", "pair", "pairing":
		return ListException, nil
	}
	st, err := ParseStatus(v)
	if err != nil {
		return 0, fmt.Errorf("%w: list %q: want black, grey, white, override or exception", ErrInvalidEntry, s)
	}
	return ListFor(st), nil
}

// Target is what the entries of a dataset match on.
type Target uint8

// Targets.
const (
	TargetIMEI  Target = iota // one IMEI (TAC+SNR)
	TargetTAC                 // every IMEI of an 8-digit TAC
	TargetRange               // every IMEI from From to To, inclusive
	TargetPair                // one IMEI with one IMSI: an exception (matches that IMEI with that IMSI), or a notification (grey: matches the IMEI whatever the IMSI)
	numTargets
)

var targetNames = [numTargets]string{"imei", "tac", "range", "pair"}

// String returns the target's lowercase name.
func (t Target) String() string {
	if t < numTargets {
		return targetNames[t]
	}
	return fmt.Sprintf("target(%d)", uint8(t))
}

// ParseTarget parses a target name.
func ParseTarget(s string) (Target, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for i, n := range targetNames {
		if v == n {
			return Target(i), nil
		}
	}
	return 0, fmt.Errorf("%w: target %q: want imei, tac, range or pair", ErrInvalidEntry, s)
}

// Dataset names one source's entries of one target and one list, the unit
// that is versioned and replaced atomically. Entries of different sources
// never share a dataset, so removing one source's entry never removes
// another's.
type Dataset struct {
	Source string
	Target Target
	List   List
	// Expiring datasets hold entries that stop applying at their own time
	// (Entry.Expires), exactly: stores check the expiry at lookup. They
	// are for manual entries (IMEI, TAC and pair targets) and are kept
	// apart from the compact permanent datasets.
	Expiring bool
}

// String returns "source/target/list", e.g. "national/imei/black", with
// "/exp" appended for an expiring dataset.
func (d Dataset) String() string {
	s := d.Source + "/" + d.Target.String() + "/" + d.List.String()
	if d.Expiring {
		s += "/exp"
	}
	return s
}

// Validate reports whether d is a dataset a store can hold: a source name of
// 1 to 32 characters [a-z0-9_-]; the exception list holds pairs only; pairs
// are exceptions, or grey notifications (DIRBS notification triplets: the
// IMEI is grey while any pair is listed).
func (d Dataset) Validate() error {
	if err := ValidateSource(d.Source); err != nil {
		return err
	}
	if d.Target >= numTargets || d.List >= numLists {
		return fmt.Errorf("%w: dataset %s", ErrInvalidEntry, d)
	}
	if d.List == ListException && d.Target != TargetPair {
		return fmt.Errorf("%w: dataset %s: the exception list holds imei-imsi pairs only", ErrInvalidEntry, d)
	}
	if d.Target == TargetPair && d.List != ListException && d.List != ListGrey {
		return fmt.Errorf("%w: dataset %s: imei-imsi pairs are exceptions or grey (notifications)", ErrInvalidEntry, d)
	}
	if d.Expiring && d.Target == TargetRange {
		return fmt.Errorf("%w: dataset %s: ranges cannot expire", ErrInvalidEntry, d)
	}
	return nil
}

// ParseDataset parses "source/target/list" or "source/target/list/exp".
func ParseDataset(s string) (Dataset, error) {
	parts := strings.Split(s, "/")
	expiring := len(parts) == 4 && parts[3] == "exp"
	if expiring {
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return Dataset{}, fmt.Errorf("%w: dataset %q: want source/target/list[/exp]", ErrInvalidEntry, s)
	}
	t, err := ParseTarget(parts[1])
	if err != nil {
		return Dataset{}, err
	}
	l, err := ParseList(parts[2])
	if err != nil {
		return Dataset{}, err
	}
	d := Dataset{Source: parts[0], Target: t, List: l, Expiring: expiring}
	return d, d.Validate()
}

// ValidateSource checks a source name: 1 to 32 characters of [a-z0-9_-].
func ValidateSource(s string) error {
	if len(s) == 0 || len(s) > 32 {
		return fmt.Errorf("%w: source %q: want 1 to 32 characters", ErrInvalidEntry, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return fmt.Errorf("%w: source %q: want lowercase letters, digits, '-' or '_'", ErrInvalidEntry, s)
		}
	}
	return nil
}

// Entry is one list entry. Which fields are used depends on the dataset's
// target.
type Entry struct {
	IMEI IMEI // TargetIMEI and TargetPair
	TAC  TAC  // TargetTAC
	From IMEI // TargetRange, inclusive
	To   IMEI // TargetRange, inclusive
	IMSI IMSI // TargetPair
	// Expires is when the entry stops applying, in Unix milliseconds; 0 for
	// never. Only entries of expiring datasets carry it.
	Expires int64
}

// Key returns e without its expiry: what identifies it in a dataset.
func (e Entry) Key() Entry {
	e.Expires = 0
	return e
}

// ValidateFor reports whether e is a well-formed entry for target t.
func (e Entry) ValidateFor(t Target) error {
	if e.Expires < 0 {
		return fmt.Errorf("%w: negative expiry", ErrInvalidEntry)
	}
	switch t {
	case TargetIMEI:
		if e.IMEI > MaxIMEI {
			return fmt.Errorf("%w: imei out of range", ErrInvalidEntry)
		}
	case TargetTAC:
		if e.TAC > MaxTAC {
			return fmt.Errorf("%w: tac out of range", ErrInvalidEntry)
		}
	case TargetRange:
		if e.From > e.To || e.To > MaxIMEI {
			return fmt.Errorf("%w: range start after its end", ErrInvalidEntry)
		}
	case TargetPair:
		if e.IMEI > MaxIMEI {
			return fmt.Errorf("%w: imei out of range", ErrInvalidEntry)
		}
		if _, err := ParseIMSI(string(e.IMSI)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: target %d", ErrInvalidEntry, t)
	}
	return nil
}

// Hash returns a 64-bit hash of e as an entry of target t. The XOR of the
// hashes of a set of distinct entries is the set's hash: stores keep it per
// dataset version so that a registry sync can compare a list in force with a
// full file without reading either back.
func (e Entry) Hash(t Target) uint64 {
	switch t {
	case TargetTAC:
		return mix64(uint64(e.TAC) ^ 0x7ac0000000000000)
	case TargetRange:
		return mix64(uint64(e.From)^0x4a00000000000000) ^ mix64(uint64(e.To)^0x2b00000000000000)
	case TargetPair:
		return mix64(uint64(e.IMEI)^0x9a00000000000000) ^ mix64(imsiKey(e.IMSI))
	}
	return mix64(uint64(e.IMEI))
}

// imsiKey packs an IMSI's digits and length into one integer, so that
// leading zeros count.
func imsiKey(imsi IMSI) uint64 {
	v, _ := parseDigits(string(imsi))
	return v<<4 | uint64(len(imsi))
}

// mix64 is the SplitMix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// KeyString identifies e within a dataset of target t: the IMEI, the TAC,
// "from-to" for a range, "imei/imsi" for a pair.
func (e Entry) KeyString(t Target) string {
	switch t {
	case TargetTAC:
		return e.TAC.String()
	case TargetRange:
		return e.From.String() + "-" + e.To.String()
	case TargetPair:
		return e.IMEI.String() + "/" + string(e.IMSI)
	}
	return e.IMEI.String()
}
