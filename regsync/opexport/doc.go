// Package opexport writes the day's observations (eir/sighting) as the
// DIRBS operator data dump (regsync/opdata) that a national registry
// collects from each operator (issue 14, part 4), on demand (Exporter.
// Export: eirctl export operator-data, GET /v1/export/operator-data) and
// once a day into a directory for the SFTP upload DIRBS deployments use
// (Scheduler).
//
// # Rows
//
// For a date D (a civil date in the sighting store's zone, UTC +
// observe day offset), every (IMEI, IMSI) pair the store saw on D and
// ADMITTED on D (sighting.Pair.AdmittedOn: a WHITELISTED or GREYLISTED
// answer that day) gives one row: date D, the IMEI's 14 digits, the IMSI,
// the MSISDN and the RAT. Pairs only ever answered BLACKLISTED or UNKNOWN
// on D are left out: DIRBS asks operators to exclude the attempts their
// EIR already blocked. opdata.Write then keeps one row per distinct
// date-IMEI-IMSI-MSISDN (merging RATs) and runs the importer's checks
// before anything is written.
//
// MSISDN: the pair's last MSISDN (the N5g-eir gpsi, "msisdn-" stripped);
// else the one the optional IMSI→MSISDN file (Options.MSISDNFile, CSV
// "imsi,msisdn", re-read at every export) gives; else empty (NULL, which
// DIRBS allows up to 5 % of the rows).
//
// RAT: S13 (MME, i.e. 4G/E-UTRAN) is 006 E-UTRAN. N5g-eir (AMF, 5G
// standalone) has no code: DIRBS's schema, up to OperatorImportSchema_v2
// (etc/schema in DIRBS-Core), accepts only 001–007 and 101–105, with no
// NR. The export maps N5g-eir to Options.N5GRAT, default 006: every 5G
// handset also supports E-UTRAN, so 006 does not trip DIRBS's
// inconsistent-RAT check against the GSMA TAC database, while leaving the
// RAT empty would count against the 5 % NULL ratio and fail the file on a
// network with much 5G SA traffic, and leaving the rows out would hide
// duplicates seen only on 5G from the registry. N5GRAT "omit" leaves out
// pairs seen on D only through N5g-eir (the pair's interfaces are those
// seen over its whole history, not per day).
//
// # Schedule
//
// Scheduler.Run exports the previous day once its time of day (At) has
// passed, into Dir, at most once per date across every eird sharing the
// Redis: a lock per date (regsync.Coordinator.TryLock) while one eird
// writes and a record of the dates done (Coordinator.MetaSet) once it
// has; a failed export is retried every RetryInterval.
package opexport
