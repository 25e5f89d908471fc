package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// keys names the Redis keys under one prefix.
type keys struct {
	prefix   string
	manifest string // hash: dataset → manifestEntry (JSON)
	epoch    string // string counter, incremented at every switch
	seq      string // string counter for version numbers
	building string // zset: buildRef → lease deadline (unix ms)
	retired  string // zset: buildRef → deletion time (unix ms)
	// identity is the hash naming the data set (see trust.go): its id,
	// created once, and the marker of the last restore.
	identity string
	// syncState is the hash written atomically with version switches
	// (registry sync: which run of which list is applied).
	syncState string
	meta      string // prefix of other metadata keys
}

func newKeys(prefix string) keys {
	meta := "{" + prefix + "meta}:"
	return keys{
		prefix:   prefix,
		manifest: meta + "manifest",
		epoch:    meta + "epoch",
		seq:      meta + "seq",
		building: meta + "building",
		retired:  meta + "retired",
		identity: meta + "identity",

		syncState: meta + "sync",
		meta:      meta,
	}
}

// switchKeys are the keys the switch scripts (commit, restore) touch, all
// in the metadata slot: manifest, epoch, building, retired, sync state,
// identity.
func (k keys) switchKeys() []string {
	return []string{k.manifest, k.epoch, k.building, k.retired, k.syncState, k.identity}
}

// lockKey names the key of the lock name (see TryLock).
func (k keys) lockKey(name string) string { return k.meta + "lock:" + name }

// foldLock is the name of the fold lock of a dataset (see serializeFold).
func foldLock(ds string) string { return "fold:" + ds }

// appendFields appends the number of fields of m, then each field and
// value, to the arguments of a script.
func appendFields(args []any, m map[string]string) []any {
	args = append(args, len(m))
	for f, v := range m {
		args = append(args, f, v)
	}
	return args
}

// bucketKey names bucket b of version v of a bucketed dataset.
func (k keys) bucketKey(ds string, b, v uint64) string {
	var sb strings.Builder
	sb.Grow(len(k.prefix) + len(ds) + 32)
	sb.WriteString(k.prefix)
	sb.WriteString("d:{")
	sb.WriteString(ds)
	sb.WriteByte('/')
	sb.WriteString(strconv.FormatUint(b, 10))
	sb.WriteString("}:")
	sb.WriteString(strconv.FormatUint(v, 10))
	return sb.String()
}

// bucketKeyParts returns what comes before and after the bucket number in
// bucketKey(ds, b, v).
func (k keys) bucketKeyParts(ds string, v uint64) (head, tail string) {
	return k.prefix + "d:{" + ds + "/", "}:" + strconv.FormatUint(v, 10)
}

// overlayKey names version v of the overlay of a dataset: one hash whose
// fields are the entries (IMEI, TAC or, for pairs, IMEI) the overlay
// changes. Its hash tag names the dataset, so COPY from one overlay version
// to the next works on Redis Cluster.
func (k keys) overlayKey(ds string, v uint64) string {
	return k.prefix + "d:{" + ds + "/o}:" + strconv.FormatUint(v, 10)
}

// rangeKeys names the sorted set (the union used by lookups) and the hash of
// loaded ranges of version v of a range dataset.
func (k keys) rangeKeys(ds string, v uint64) (union, rows string) {
	base := k.prefix + "d:{" + ds + "}:" + strconv.FormatUint(v, 10)
	return base, base + ":rows"
}

// manifestEntry describes the version of a dataset in force.
type manifestEntry struct {
	Version uint64    `json:"v"`
	Buckets uint64    `json:"b,omitempty"`
	Count   uint64    `json:"n"`
	Hash    hexUint64 `json:"h"`  // XOR of eir.Entry.Hash over the entries
	At      int64     `json:"at"` // unix milliseconds of the switch
	// Overlay is the version of the overlay of changes made on top of
	// version Version (0: none), and OCount its number of fields; Count and
	// Hash describe the dataset with the overlay applied (see overlay.go).
	Overlay uint64 `json:"o,omitempty"`
	OCount  uint64 `json:"oc,omitempty"`
	// From and FromOverlay name the version and overlay a compaction made
	// this version from (same content), so that a replica holding them
	// derives it without reading it.
	From        uint64 `json:"f,omitempty"`
	FromOverlay uint64 `json:"fo,omitempty"`
}

// current is the version of the dataset's content: the version of its
// overlay when it has one (versions and overlays share one sequence, so it
// increases with every change).
func (e manifestEntry) current() uint64 { return max(e.Version, e.Overlay) }

// tag identifies the content of a dataset in force: its version and the
// version of its overlay. Writes compare it to detect a concurrent writer
// (the switch scripts' tag, in switchLua, mirrors it).
func (e manifestEntry) tag() string {
	return strconv.FormatUint(e.Version, 10) + "." + strconv.FormatUint(e.Overlay, 10)
}

// hexUint64 is a uint64 in JSON as a hex string: Lua's cjson would round a
// 64-bit number.
type hexUint64 uint64

func (h hexUint64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(h), 16) + `"`), nil
}

func (h *hexUint64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*h = 0
		return nil
	}
	v, err := strconv.ParseUint(s, 16, 64)
	*h = hexUint64(v)
	return err
}

func parseManifestEntry(s string) (manifestEntry, error) {
	var e manifestEntry
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return e, fmt.Errorf("manifest entry %q: %w", s, err)
	}
	return e, nil
}

// buildRef names a version for the building and retired sets:
// "<dataset>|<version>|<buckets>", or "<dataset>|<version>|0|o" for an
// overlay version. The switch scripts' ref (switchLua) mirrors String.
type buildRef struct {
	ds      eir.Dataset
	version uint64
	buckets uint64
	overlay bool
}

func (r buildRef) String() string {
	s := r.ds.String() + "|" + strconv.FormatUint(r.version, 10) + "|" + strconv.FormatUint(r.buckets, 10)
	if r.overlay {
		s += "|o"
	}
	return s
}

func parseBuildRef(s string) (buildRef, error) {
	parts := strings.Split(s, "|")
	overlay := len(parts) == 4 && parts[3] == "o"
	if overlay {
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return buildRef{}, fmt.Errorf("version reference %q", s)
	}
	ds, err := eir.ParseDataset(parts[0])
	if err != nil {
		return buildRef{}, err
	}
	v, err1 := strconv.ParseUint(parts[1], 10, 64)
	b, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return buildRef{}, fmt.Errorf("version reference %q", s)
	}
	return buildRef{ds: ds, version: v, buckets: b, overlay: overlay}, nil
}

// dataKeys lists every key of a version.
func (k keys) dataKeys(r buildRef) []string {
	name := r.ds.String()
	if r.overlay {
		return []string{k.overlayKey(name, r.version)}
	}
	if r.ds.Target == eir.TargetRange {
		u, rows := k.rangeKeys(name, r.version)
		return []string{u, rows}
	}
	out := make([]string, 0, r.buckets)
	for b := uint64(0); b < r.buckets; b++ {
		out = append(out, k.bucketKey(name, b, r.version))
	}
	return out
}

func unixMilli(t time.Time) int64 { return t.UnixMilli() }

// rangeMember encodes a range of the union sorted set.
func rangeMember(from, to eir.IMEI) string { return from.String() + "-" + to.String() }

func parseRangeMember(s string) (from, to eir.IMEI, ok bool) {
	if len(s) != 29 || s[14] != '-' {
		return 0, 0, false
	}
	f, err1 := eir.ParseIMEI(s[:14])
	t, err2 := eir.ParseIMEI(s[15:])
	return f, t, err1 == nil && err2 == nil
}
