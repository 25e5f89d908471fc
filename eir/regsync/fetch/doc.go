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
// modified", so such a file waits until the clock passes it.
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
