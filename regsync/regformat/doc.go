// Package regformat recognises national registry list files by name and
// parses them, streaming, into normalised records.
//
// It does not apply anything, keep state or compare rows with each other:
// duplicates, conflicts (one key with different Data), one key per delta
// set, base/run checks and shrink guards are the caller's, because a file
// can have tens of millions of rows. Parse reads the file once through a
// 64 KiB buffer and keeps at most Options.MaxBadRows bad-row details and a
// bounded table of interned Data strings, so its memory does not depend on
// the size of the file.
//
// # File names (Identify)
//
// A source has a configured format.
//
// "dirbs": the DIRBS listgen names, matched exactly and case-sensitively
// (<ts> is YYYYMMDD_HHMMSS and must be a real date and time; <base> is -1
// or a run id):
//
//	<ts>_blacklist.csv                                     full
//	<ts>_blacklist_delta_<base>_<run>_<type>.csv           blocked→add, unblocked→remove, changed→update
//	<ts>_exceptions_<op>.csv                               full
//	<ts>_exceptions_<op>_delta_<base>_<run>_<type>.csv     added→add, removed→remove
//	<ts>_notifications_<op>.csv                            full
//	<ts>_notifications_<op>_delta_<base>_<run>_<type>.csv  new→add; resolved, blacklisted,
//	                                                       no_longer_seen→remove; changed→update
//	any delta name without _<type>                         legacy combined delta: rows carry change_type
//
// Per-type deltas are tried first, then legacy combined deltas, then full
// files, so "…_exceptions_operator1_delta_1_42_added.csv" is a delta of
// operator "operator1". A full-file match whose operator part contains a
// delta suffix ("…_exceptions_op_delta_1_42_blocked.csv": a change type of
// another list) is ErrUnrecognised rather than a full file of operator
// "op_delta_1_42_blocked", so that a delta can never be taken for a
// snapshot. The operator is lowercased. Zip packages (IsPackage) are the
// caller's to open; their names are ErrUnrecognised.
//
// "lsds" or "stolen": any *.csv is a Stolen list. The LSDS export names
// StolenFullListMM-DD-YYYYTHHMMSS.csv and StolenDeltaListMM-DD-YYYYTHHMMSS.csv
// give Delta and Timestamp (normalised to YYYYMMDD_HHMMSS). "tac": any
// *.csv is a BarredTAC list. "ranges": any *.csv is a Ranges list. For these
// formats the .csv extension may be in any case.
//
// # Content (Parse)
//
// CSV as RFC 4180: comma separated, CRLF or LF line ends, double-quoted
// fields (a reason may contain commas or, doubled, quotes), an optional
// UTF-8 byte order mark, blank lines skipped. A header row is required.
// Its names are trimmed and matched case-insensitively, in any order;
// unknown columns are ignored (DIRBS adds columns over time).
//
//	list           required columns                          optional columns
//	blacklist      imei                                      block_date, reasons
//	exceptions     imei, imsi                                msisdn
//	notifications  imei, imsi, msisdn, block_date, reasons   amnesty_granted
//	stolen         imei                                      reporting_date, status
//	tac            tac
//	ranges         from, to                                  reason
//
// Ranges also accept imei_from/imei_to and start/end for from/to. Every
// list accepts a change_type column, required in a delta whose FileInfo
// has no DeltaOp (a legacy combined delta, an LSDS delta).
//
// Normalisation, per row:
//
//   - imei: DIRBS imei_norm keyed on 14 digits. The value is trimmed; if it
//     is at most 16 characters and starts with 14 digits, those 14 digits
//     are the key (35120030203334f, 52003020863612#, 351200302033349 and
//     3512003020333401 all give 35120030203334). Anything else is a bad
//     row: empty, longer than 16 characters, shorter than 14 digits, or not
//     numeric (21AA0000000000, a1234, 62%222222222222, 642222#2222222).
//     DIRBS keeps such values upper-cased, but they cannot be queried over
//     S13, so they are quarantined here and counted by the caller.
//   - imsi: 5 to 15 digits. msisdn: empty or up to 15 digits.
//   - tac: exactly 8 digits; 7 digits is a bad row whose reason says the
//     leading zero was probably lost.
//   - from, to: 14 to 16 digits each, keyed on 14; from ≤ to.
//   - block_date: empty or YYYYMMDD. reporting_date: empty, YYYYMMDD, or
//     YYYY-MM-DD (normalised to YYYYMMDD). Dates are checked for shape only.
//   - reasons: split on '|', trimmed, empty parts dropped, sorted,
//     de-duplicated (Record.Data). Invalid UTF-8 in free text (reasons,
//     status, reason) is replaced with U+FFFD rather than rejecting the row.
//   - status (stolen): lowercased in Data; empty or "blacklist" blocks,
//     anything else (pending, recovered, …) does not.
//   - amnesty_granted: empty, true or false, in any case.
//   - change_type, trimmed, in any case: add, added, blocked, new → add;
//     remove, removed, unblocked, resolved, blacklisted, no_longer_seen →
//     remove; update, changed → update. Empty or unknown is a bad row. In a
//     per-type DIRBS delta the column may be absent; if present it must
//     repeat the file's type (a "removed" row in an "_added" file is bad).
//     A file identified as full that has a change_type column is read as a
//     delta: every row's Op comes from the column and Stats.Delta is set,
//     so the caller must not treat it as a snapshot.
//
// # What is rejected
//
// The whole file (Parse returns an error; rows emitted before it must be
// discarded by the caller, who applies a file all or nothing):
//
//   - ErrHeader: an empty file (0 bytes, or only a byte order mark or blank
//     lines); a header without any required column (a missing header: the
//     first row is data); a missing required column; a column given twice;
//     a header field containing '|', ';' or a tab (a pipe-delimited operator
//     dump or GSMA TAC database); a delta without change_type.
//   - ErrFormat: a zip (PK\x03\x04), gzip or UTF-16 file; any NUL byte; a
//     header that is not UTF-8; a row longer than Options.MaxRowBytes (1 MiB
//     by default, which bounds the memory of an unterminated quote); a
//     quoting error in a record that spans several lines. In the last case
//     the CSV reader has read on to the next closing quote, possibly to the
//     end of the file, so the rows it swallowed are unknown and the file is
//     not trusted.
//   - Errors reading the input are returned wrapped (errors.Is works, e.g.
//     for a truncated zip member), and an error from emit as is.
//
// A single row (counted in Stats.Bad, the first MaxBadRows kept with line,
// reason and raw text; never passed to emit): a field count different from
// the header's; a quoting error within one line (a bare or stray quote);
// any value failing the rules above. A header-only file is valid and has no
// rows.
package regformat
