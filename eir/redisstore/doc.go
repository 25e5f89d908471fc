// Package redisstore keeps the EIR's lists in Redis (standalone, Sentinel or
// Cluster) and answers eir.Lookup with one network round trip per check.
//
// # Key layout
//
// Every list entry belongs to a dataset (source/target/list, e.g.
// national/imei/black), and each dataset is stored as numbered, immutable
// versions. A version of an IMEI or TAC dataset is spread over B buckets:
// the entry x lives in the set
//
//	<prefix>d:{<source>/<target>/<list>/<x mod B>}:<version>   member x div B
//
// so buckets stay small (about 128 members) and keep Redis's compact intset
// encoding: 5 to 9 bytes per IMEI instead of 60 to 70 for one key per IMEI.
// Pair (IMEI–IMSI exception) datasets use the same buckets as hashes whose
// field is the IMEI quotient and whose value lists the IMSIs. Range datasets
// are one sorted set per version holding the union of the ranges (score =
// first IMEI, member = "first-last"), and a hash of the ranges as loaded.
//
// The hash tag of a data key names the dataset and the bucket, not the
// version, so that the versions of a bucket share a cluster slot (COPY from
// one version to the next works on Redis Cluster) while buckets spread over
// the cluster.
//
// Metadata lives under the hash tag {<prefix>meta}, in one slot: the
// manifest (hash: dataset → version in force, bucket count, entry count,
// time), the epoch (incremented at every switch), the version sequence, the
// versions being built and the retired versions awaiting deletion.
//
// # Versions and switching
//
// A write builds new versions beside the ones in force (a copy plus the
// changes, or a fresh build), then a Lua script switches every dataset of
// the write in the manifest at once and increments the epoch. The versions
// replaced stay readable for the grace period and are then deleted by the
// janitor, like versions whose build was abandoned (a crashed writer).
//
// # Reading
//
// Match sends one pipeline: GET of the epoch followed by one command per
// non-empty dataset of the manifest cached in the process. When the epoch
// differs from the cached one, the manifest is reloaded and the check
// repeated, so a check never answers from a manifest older than the switch
// that preceded it, and never from a half-written version.
//
// Package redisstore is the only package that imports go-redis.
package redisstore
