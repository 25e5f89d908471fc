// Package fetch holds the two transports a registry sync source uses to
// obtain files from a national stolen-equipment registry: a drop directory
// (an SFTP landing folder the registry uploads into) and an HTTPS pull. It
// only obtains, stages and files away files; it does not parse or apply them.
//
// # Drop directory
//
// [Dir] lists the files that are ready in its landing folder and, once the
// caller has dealt with a file, moves it into one of three subfolders created
// on demand (mode 0o750):
//
//	done/<name>              processed; done/<name>.result.json holds the caller's result
//	rejected/<name>          refused;   rejected/<name>.reason holds a [Reason]
//	held/<name>              parked for an operator; held/<name>.reason holds a [Reason]
//
// A file is ready when it is a regular file directly in the folder (symlinks
// to regular files count, symlinks to directories do not), its name is not
// hidden or a partial-upload name (.part, .partial, .tmp, .filepart,
// .crdownload, .lock, any case; a leading '.' or '~'), and it has not been
// modified for [Dir.Settle]. A file's mtime in the future counts as "just
// modified", so such a file waits until the clock passes it. Whether a
// writer may still be writing a ready file is [Dir.Complete]'s question
// (see below): it says why the file must wait, for the caller's report.
//
// Sidecars <name>.sha256, <name>.md5 and <name>.manifest.json are never
// listed themselves; they are attached to <name> ([File.Sidecars]) and travel
// with it on every move. A sidecar that is itself still being written (not
// settled, or present under a partial-upload name such as
// <name>.sha256.filepart) holds <name> back, so a file is never handed out
// without the checksum that is on its way. [ReadChecksum], [FileSHA256] and
// [FileChecksum] verify them.
//
// Moves are renames inside the landing folder. When the target name is
// taken (the same file name arrived twice) the moved file becomes
// <name>.<YYYYMMDDTHHMMSS>[.<n>] (UTC, from [Dir.Now]) rather than
// overwriting anything; its sidecars and .reason/.result.json file follow the
// new name. [Dir.Release] strips such a suffix again, so a released file gets
// its original name (and extension) back. The .reason/.result.json file is
// written atomically (temporary file, fsync, rename) before the file is
// moved, so a failed write leaves the file where it was, to be retried on the
// next pass. The main file moves before its sidecars when leaving the landing
// folder and after them when [Dir.Release] brings it back, so it is never
// visible there without them. If a rename fails with EXDEV (a subfolder on
// another filesystem) the move falls back to copy, fsync, rename, remove,
// keeping the modification time.
//
// A Dir serialises its own moves; one process (one Dir) should own a landing
// folder.
//
// # Writers still at work
//
// Size and modification time cannot tell a finished upload from one that
// stalled for longer than Settle while the uploader still holds the file
// open (an in-place SFTP upload at 85%). [Dir.Writing] asks two more
// witnesses, and [Dir.Complete] and the moves heed it, for the file and
// for each of its sidecars:
//
//   - A read lease (fcntl F_SETLEASE, F_RDLCK on a descriptor opened
//     O_RDONLY|O_NONBLOCK). The kernel refuses it while any process holds
//     the file open for writing: "open for writing by another process (read
//     lease refused)". Granted, it is released at once. Leases need the
//     process to own the file or to have CAP_LEASE, a local filesystem and
//     fs.leases-enable=1; without them Writing falls back to the watcher.
//     A writer that opens the file while the lease lasts waits for its
//     release (at most /proc/sys/fs/lease-break-time, 45s by default), or
//     gets EWOULDBLOCK if it opens non-blocking. The lease break signals
//     this process with SIGIO, which the Go runtime ignores unless the
//     program asks for it (signal.Notify without arguments would deliver
//     it).
//   - An inotify watcher of the landing folder ([Dir.Watch], [Dir.Close]).
//     A name created afresh or modified after Watch, and not closed for
//     writing (IN_CLOSE_WRITE) since its last modification, is still being
//     written: "modified since its last close (inotify)". A name moved in
//     (IN_MOVED_TO, the <name>.part then rename convention) is complete;
//     symlinks and hard links created in the folder are not writes. Names
//     are forgotten when closed, moved away or deleted, and at most 100,000
//     are tracked. When the kernel's event queue overflows, every name is
//     forgotten (a close may have been lost: the name would stay busy for
//     ever). Names the watcher never saw written (they were being written
//     before Watch or before an overflow, the table was full) are unknown.
//     One goroutine reads the events; Close stops it. The watcher stops when
//     the landing folder is removed or moved; [Dir.Watch] starts a new one
//     (the caller calls it at each pass), and [Dir.Watching] tells.
//
// Without either witness, Settle alone guards a file, as before. Neither
// sees a writer on another host of a network filesystem, nor an uploader
// that closes the file and reopens it later to resume; the registry's
// checksum sidecars and manifests are the guard there.
//
// [Dir.Done], [Dir.Reject] and [Dir.Hold] take the files of one unit (the
// files applied together, often one) and move all of them or none: they
// refuse, with an error matching [ErrBusy], when a writer may still be
// writing any of them, and the files stay for a later pass; a move that
// fails half-way puts the files already moved back. Where a lease can be
// taken, it is held on every file for the whole move, so no writer can
// open one between the check and the rename. The caller
// calls [Dir.Complete] after parsing a file, just before applying it, and
// before filing it away.
//
// # Processing markers
//
// A file whose processing kills the process (an out-of-memory zip bomb, a
// crash) would otherwise stay in the landing folder and kill every restart.
// Before processing a unit (files applied together) the caller calls
// [Dir.BeginProcessing], which durably writes one marker per file:
//
//	.processing/<name>.json   {"name","size","mtime","pid","hostname","started"}
//
// (a digest of the name stands in for very long names). Markers are
// written atomically (temporary file, fsync, rename, folder fsync).
// [Dir.EndProcessing] removes them whatever the outcome, whenever the process
// survived; Done, Reject and Hold remove the marker of the file they move.
// After a restart [Dir.Interrupted] lists the landing files that still have
// a marker recording their current size and modification time: their
// processing began and never finished. The caller rejects them
// (crashed_during_processing) instead of trying them again. Markers whose
// file is gone or changed (a new upload of that name) are removed. Files
// that this Dir is processing right now are never listed, so Interrupted
// may be called at any time. Ready never lists .processing, which is hidden.
//
// # HTTPS pull
//
// [HTTP.Fetch] makes a conditional GET of one URL and spools a changed file
// into [HTTP.SpoolDir], which is then processed like a drop directory. The
// validators (ETag, Last-Modified) of the last successful download are kept
// in SpoolDir/.<hash of the URL>.validators.json. The body is streamed to
// <name>.part, fsynced, checked against Content-Length and [HTTP.MaxBytes],
// and renamed to <name>; a failure removes the .part. If an earlier download
// of the same name is still unprocessed in the spool folder, the new file is
// written as <stem>.<YYYYMMDDTHHMMSS>[.<n>]<ext> instead, so nothing is
// overwritten or lost.
//
// Only https URLs are fetched, redirects to anything else are refused, and
// "Accept-Encoding: identity" is sent so the spooled file is byte for byte
// the published one (transparent decompression would break checksums and
// names like .csv.gz). Network errors (including a body cut short), 5xx and
// 429 are retried with exponential backoff and jitter, honouring
// Retry-After; other statuses fail at once with a [*StatusError], and so do
// errors a retry would only repeat: a server certificate that does not
// verify, a TLS alert from the server (a refused client certificate), a
// refused redirect, an oversize body, a local filesystem error. The bearer
// token is never put in an error: a response body quoted in an error has it
// replaced by "[redacted]", and URLs in errors carry no query string or user
// information.
//
// [NewClient] builds the http.Client: TLS 1.2 or later, an optional private
// CA (which then replaces the system roots), an optional client certificate
// for mutual TLS.
package fetch
