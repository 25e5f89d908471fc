// Package opdata writes and checks the DIRBS operator data dump: the file
// in which an operator tells the national registry which IMSI (and MSISDN)
// used which IMEI on which day (DIRBS_Operator_Data_Requirements; DIRBS
// Core importer/operator_data_importer.py, etc/schema/
// OperatorImportSchema_v2.csvs, etc/config.yml).
//
// It is a library: no configuration, store, logging or command line. It
// imports the standard library and internal/atomicfile only, so that
// eirctl may use it.
//
// # Format
//
// A zip <operator_id>_<YYYYMMDD>_<YYYYMMDD>.zip (start and end dates of
// the data, start ≤ end, neither in the future) holding exactly one file,
// the same name with .csv: UTF-8 without byte order mark, RFC 4180, CRLF
// line ends, a header and one row per distinct date, IMEI, IMSI and
// MSISDN:
//
//	date,imei,imsi,msisdn,rat
//	20261201,35120030203334,111018001111111,22300000001,001|006
//
//	date    YYYYMMDD, a real date in 2000–2099 (local time); required
//	imei    14–16 characters of [0-9A-Fa-f*#], leading zeros kept
//	imsi    14–15 digits
//	msisdn  up to 15 digits (E.164 without '+')
//	rat     codes 001–007 or 101–105 separated by '|'
//
// imei, imsi, msisdn and rat may be empty (NULL), within the NULL ratios
// below. Write also puts <name>.zip.sha256 beside the zip, in sha256sum
// format ("<hex>  <name>.zip"), which DIRBS does not define.
//
// # Checks (Write before writing; Parse on reading)
//
// Applied, as DIRBS applies them (ratios are rows failing / rows in the
// file, passing when ratio <= threshold; Thresholds gives the defaults of
// DIRBS's etc/config.yml):
//
//   - name: <operator_id>_<YYYYMMDD>_<YYYYMMDD> (the operator id may hold
//     underscores; letters, digits, '_' and '-'), real dates, start ≤ end,
//     start and end not after today (Options.Now). Parse also wants the
//     .zip extension and, if Options.Operator is set, that operator.
//   - package: a readable zip with exactly one member, whose base name is
//     the zip's with the suffix .csv, in lower case as DIRBS compares it (a
//     directory entry counts as a member; a folder in the member's path is
//     ignored, as DIRBS takes its base name).
//   - header: exactly the five columns in the order above, ASCII
//     case-insensitive. DIRBS loads the rows with a positional COPY that
//     skips the header unread, so a file with the columns in another order
//     would be loaded wrongly; Options.AnyColumnOrder accepts any order,
//     each column once, for files meant for other readers. Rows: exactly
//     five fields; each field by the table above. One bad row rejects the
//     file, as DIRBS's pre-validator does.
//   - date range: every row's date within [start, end] of the name.
//   - NULL ratio ≤ 0.05 for each of imei, imsi, msisdn and rat, and for
//     rows with any of them NULL (a column whose own check is turned off,
//     msisdn or rat, is left out of the combined check, as DIRBS does when
//     it does not import the column). The date cannot be NULL.
//   - unclean IMEI ratio ≤ 0.05: a non-empty IMEI whose first 14
//     characters are not digits, i.e. that does not normalise to 14 digits
//     (DIRBS is_unclean_imei; REGISTRY.md §1.4).
//   - out-of-region IMSI ≤ 0.1 (a non-empty IMSI starting with none of
//     the MCCs of Options.Networks) and non-home-network IMSI ≤ 0.2
//     (starting with none of the MCC+MNCs). Skipped when Networks is empty.
//   - out-of-region MSISDN ≤ 0.1 (starting with none of
//     Options.CountryCodes; skipped without them) and out-of-region any ≤
//     0.1 (IMSI or MSISDN; skipped unless both lists are given).
//   - leading zero, the first half of DIRBS's heuristic: it fails when
//     more IMEIs start with 1 than with 0, the sign of a spreadsheet that
//     stripped the leading zeros.
//
// The ratio checks are skipped on a file without rows (as DIRBS does). The
// Report lists every check with its figures, and says which were skipped
// and why.
//
// Not applied:
//
//   - the second half of the leading-zero heuristic (more than half of
//     the IMEIs starting with 1 match a TAC of the GSMA TAC database once a
//     0 is prepended): it needs the GSMA database;
//   - the historic checks (average distinct IMEIs, IMSIs and MSISDNs a day
//     at least 0.9 × that of the last 30 days already imported): they
//     need DIRBS's history of the operator;
//   - unclean IMSI (not 14–15 digits): the syntax above already refuses
//     such an IMSI, so that ratio is always 0 here;
//   - that rows are distinct: DIRBS does not check it either; Write
//     guarantees it, Parse would need every row in memory.
//
// Where this package differs from DIRBS: DIRBS's schema accepts an imei
// of 1–16 and an imsi of 1–15 characters (and then counts the short ones
// as unclean); this package requires the 14–16 and 14–15 of the operator
// data requirements. Write always ends lines with CRLF; Parse, like DIRBS,
// also accepts LF. A byte order mark is refused: it is not known to pass
// DIRBS's header check.
package opdata
