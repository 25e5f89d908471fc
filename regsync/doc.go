// Package regsync keeps the EIR's lists equal to what the national registry
// (and other sources) publish: it fetches list files from a drop directory
// or over HTTPS, validates them, and applies each one atomically through the
// list store, never leaving a half-applied or implausible list in force.
//
// A pass over a source, under a lock shared by every eird on the same Redis:
//
//	fetch (HTTPS) → list complete files → group into units (a zip package,
//	or the per-change-type files of one DIRBS delta set) → per list:
//	choose the path (delta on the exact base applied, else the full file,
//	else refuse) → parse (streaming) → validate (header, bad-row ratio,
//	conflicting rows, one change per key in a delta set) → guards (a full
//	list that shrinks too much, a delta that unblocks too much: held until
//	an operator approves) → apply every list of the unit in one atomic
//	switch, with the sync state (run, file hash, counts) written in the same
//	step → reconcile a delta against the full file of the same package
//	(count and set hash) → move the files to done/, rejected/ (with a
//	.reason) or held/.
//
// Mapping to datasets of source S: DIRBS blacklist and the generic stolen
// list → S/imei/black; barred TAC list → S/tac/black; GSMA-style ranges →
// S/range/black; DIRBS exceptions of this operator → S/pair/exception;
// DIRBS notifications of this operator → S/pair/grey. Removal in one source
// never touches another source's datasets.
//
// regsync never imports the transports (diameter, n5g) or the store
// packages; it reaches the store through the interfaces it declares.
package regsync
