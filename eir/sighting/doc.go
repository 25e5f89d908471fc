// Package sighting records observations — every answered equipment check
// that carried an IMSI: IMEI (14 digits), IMSI, SVN, MSISDN/GPSI,
// interface (s13, n5g), peer (MME Origin-Host or AMF id), answer, time —
// in Redis, and evaluates the duplicate-IMEI rules on them (issue 14).
//
// It owns the sighting keys and their format; it publishes nothing (the
// caller turns Detection and Event values into events, CLI and admin API
// output) and imports only the domain package eir, go-redis, Prometheus
// and zap; never an adapter or config. It is not eir/observe (decision
// metrics).
//
// # Redis layout (Cluster-safe: every script touches one key)
//
//	<prefix>sight:i:{b<n>}     hash  <IMEI, 6 bytes><IMSI> → packed pair record (scripts.go: 32 bytes + BCD MSISDN)
//	<prefix>sight:s:{b<n>}     hash  <IMSI> → since, current IMEI, then (IMEI, last seen) per IMEI (scripts.go)
//	<prefix>sight:peer:<id>    string peer name; id = FNV-32a of the name (probing on collision), SET NX once per process per name
//
// Both indexes are spread over Options.Buckets hashes (default 1<<16, a
// power of two): n = FNV-32a of the IMEI's 14 digits, or of the IMSI,
// masked. A key of its own per IMEI and per IMSI cost ~130 bytes of key
// space and expires dict each; a bucket of ~64 fields shares that and
// stays a listpack (hash-max-listpack-entries 128, hash-max-listpack-value
// 64 by default), so size Buckets to the pairs kept / 64. A bucket over
// 128 fields (too few buckets, or a cloned IMEI: MaxPairs allows 256) or
// holding an IMSI with more than 5 IMEIs becomes a hash table: it still
// works, at more memory per field. Changing Buckets moves every IMEI and
// IMSI to another bucket: what was stored is no longer read and expires by
// TTL.
//
// A pair record keeps first and last seen, the number of days seen, a
// 64-day bitmap of the days seen (bit 0 = the day of last seen; UTC days,
// or UTC+Options.DayOffset) and one of the days with an admitted answer
// (the registry export excludes attempts already blocked), the last SVN,
// peer, MSISDN and the interfaces seen. The IMSI index is needed to find a
// subscriber's IMEIs (Devices, Forget) without a scan.
//
// # Retention, by the store itself
//
// Every bucket holds a field "" with the day (UTC) of its last prune. The
// first write to a bucket on a day reads the whole bucket, drops the fields
// last seen before the retention (an IMSI's field: when all its IMEIs
// were) and sets the bucket's TTL to Options.Retention (default 180 days)
// and a day, so that it outlives every write of that day by the
// retention. Every read ignores the fields past the retention, so a stale
// field is never returned, and it is gone from Redis within a day of its
// expiry (at its bucket's next write) or with its bucket: no sweeper. An
// IMEI keeps at most Options.MaxPairs IMSIs (default 256; the pair seen
// longest ago is evicted), and an IMSI's field names at most as many
// IMEIs, so that a widely cloned IMEI or a SIM moved through many devices
// does not make each write O(thousands): the duplicate rules fire long
// before.
//
// # Writes
//
// Write sends a batch in one pipeline (go-redis splits a Cluster pipeline
// per node): per observation, one EVALSHA on the IMEI's bucket (returns new
// pair?, new day?, and the IMEI's live pairs when more than one, so the
// rules need no other read) and one on the IMSI's bucket (swaps the
// current IMEI and returns the previous one). The common write, a pair
// already recorded that day of an IMEI without other pairs, reads and
// writes its own field only. The IMEI's script reads the whole bucket
// (~64 fields) only to prune it, once a day; it reads the IMEI's other
// fields (HSCAN MATCH on the IMEI's 6 bytes, glob characters escaped, so
// Redis does the matching) for a new pair or a new day of a pair (the
// duplicate rules may change) and when the pair is flagged as having
// siblings (bit 7 of its interfaces byte, set on all of an IMEI's pairs by
// the read that finds more than one, cleared by one that finds it alone:
// concurrent use needs the others' last peer). BenchmarkRedisCost
// measures the Redis CPU per observation. A node without the scripts
// (restarted, failed over) gets SCRIPT LOAD (every master) and the batch's
// refused scripts again. An
// observation is not written when this process wrote the same IMSI with
// the same IMEI, day, peer and answer less than Options.MinInterval (60 s)
// ago; the cache is keyed by IMSI and bounded
// (Options.DedupeEntries). Measured in TestDedupe, 1,000 observations in
// batches of 50 cost 1,556 Redis commands when 250 subscribers are each
// checked about every 2.5 minutes (777 written), and 1,162 when checks come
// in bursts of a few seconds (580 written); 2 per written observation plus
// 2 to intern the 2 peers.
//
// Writer (writer.go) is the optional bounded queue in front: Record never
// blocks, a full queue drops and counts, one goroutine writes batches
// within WriterOptions.MaxRate: as many as the rate allows in 5 ms (25 at
// 5,000/s) rather than 512 every 100 ms, so that Redis, on the cores that
// answer checks in small deployments, works in short slices (eirbench's
// open loop at 20,000/s, observation on and off: p99 1.63 and 1.39 ms from
// the scheduled send, against 3.02 and 1.37 with batches of 512). The
// dedupe cache holds no pointers, so the garbage collector does not scan
// it.
//
// # Memory
//
// BenchmarkMemoryPerPair (100,000 pairs, MSISDN and SVN set, Buckets 2048
// as sized above: ~49 fields per bucket, Redis 7.0.15, jemalloc) measured
// used_memory +111.6 bytes per pair when each pair is a new IMEI and a new
// IMSI (two runs), and +111.2 and +111.4 when the pairs share 50,000
// IMEIs, two each (MEMORY USAGE of a bucket: about 4 kB in the IMEI index,
// 1.9 kB in the IMSI index; listpack). The same 100,000 pairs over the
// default 65,536 buckets (1.5 fields each) take 256.9 bytes per pair: size
// Buckets to the pairs. Before the buckets, a key per IMEI and per IMSI
// took 395.8 bytes per pair. With -sighting.pairs=10000000 (262,144
// buckets, about 38 fields each) it measured +112.4 bytes per pair, 1.12
// GB (BENCHMARKS.md).
//
// # Rules (rules.go)
//
// DuplicateThreshold and DuplicateDailyAvg follow DIRBS-Core's
// duplicate_threshold.py and duplicate_daily_avg.py; ConcurrentUse flags
// one IMEI with two IMSIs at two peers within minutes. PeriodDays is at
// most 64, the days a bitmap holds. Classify (classify.go) turns a write's
// Result into imsi_new_device and listed_imei_new_imsi events.
package sighting
