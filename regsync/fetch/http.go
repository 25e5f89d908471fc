package fetch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eir-sidecar/eir/internal/atomicfile"
)

// Defaults of HTTP.
const (
	DefaultRetries  = 3
	DefaultBackoff  = time.Second
	MaxBackoff      = time.Minute // cap of a retry delay, Retry-After included
	DefaultMaxBytes = 4 << 30
)

const (
	// maxNameLen bounds a spooled file's name, leaving room below the
	// usual 255-byte limit for ".part" and a collision suffix.
	maxNameLen = 200
	// maxExtLen is the longest extension kept when a name is shortened.
	maxExtLen = 32
	// errBodyLen is how much of a response body an error quotes.
	errBodyLen = 200
	// errBodyRead is how much of it is read (before redaction).
	errBodyRead = 4096
	// fallbackName names a download that has no usable name.
	fallbackName = "download"
)

// HTTP pulls one file over HTTPS with conditional GETs and spools it.
//
// An HTTP must not be copied after first use. Its Fetch calls are
// serialised; one HTTP should own a given URL and spool folder.
type HTTP struct {
	// URL is the https URL of the file.
	URL string
	// Client makes the requests; build it with NewClient. Its Timeout
	// bounds one attempt.
	Client *http.Client
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	// It never appears in errors.
	BearerToken string
	// Retries is the number of attempts after the first on network
	// errors, 5xx and 429 (DefaultRetries when zero; negative: none).
	Retries int
	// Backoff is the first retry delay (DefaultBackoff when zero), doubled
	// each time, with ±20% jitter, capped at MaxBackoff. A Retry-After of
	// a 429 or 503 replaces it, capped the same way.
	Backoff time.Duration
	// SpoolDir is where downloaded files land (created 0o750 on demand).
	SpoolDir string
	// Sleep waits between attempts (default: a timer, cut short by ctx).
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxBytes refuses larger bodies (DefaultMaxBytes when zero). An
	// oversize body is an error and leaves nothing in SpoolDir.
	MaxBytes int64

	mu sync.Mutex // serialises Fetch
}

// Result is the outcome of a Fetch.
type Result struct {
	// Fetched is true when a new file was spooled (200), false when the
	// server said it is unchanged (304).
	Fetched bool
	// File is the spooled file's path in SpoolDir; Name its base name.
	File string
	Name string
	// ETag and LastModified are the response's validators.
	ETag, LastModified string
	// Status is the HTTP status of the last attempt (0: none received).
	Status int
	// Attempts counts the requests made.
	Attempts int
}

// StatusError is the error of a response whose status is neither 200 nor
// 304 (after retries, for 5xx and 429).
type StatusError struct {
	URL    string // without query or user information
	Status int
	Body   string // at most 200 bytes of the body, bearer token redacted
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("fetch: GET %s: status %d %s", e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += fmt.Sprintf(": %q", e.Body)
	}
	return s
}

// validators are what the spool folder remembers of the last download.
type validators struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Name         string    `json:"name,omitempty"`
	Fetched      time.Time `json:"fetched"`
}

// redactedError hides the bearer token in an error's text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (h *HTTP) redact(s string) string {
	if h.BearerToken == "" {
		return s
	}
	return strings.ReplaceAll(s, h.BearerToken, "[redacted]")
}

func (h *HTTP) redactErr(err error) error {
	if err == nil || h.BearerToken == "" || !strings.Contains(err.Error(), h.BearerToken) {
		return err
	}
	return &redactedError{msg: h.redact(err.Error()), err: err}
}

// safeURL is u without user information, query or fragment, for errors.
func safeURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// ValidatorsPath is the file in which h remembers the validators of its
// last download: SpoolDir/.<hash of URL>.validators.json.
func (h *HTTP) ValidatorsPath() string {
	sum := sha256.Sum256([]byte(h.URL))
	return filepath.Join(h.SpoolDir, "."+hex.EncodeToString(sum[:16])+".validators.json")
}

// Fetch makes a conditional GET of URL. On 304 it returns Fetched false; on
// 200 it spools the body and returns its path. Network errors, 5xx and 429
// are retried; other statuses return a *StatusError at once; a cancelled ctx
// stops at once. On error the Result still tells the attempts made and the
// last status. If the file was spooled but its validators could not be
// saved, Fetch returns the Result (Fetched true) and an error.
func (h *HTTP) Fetch(ctx context.Context) (res Result, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() { err = h.redactErr(err) }()

	u, err := h.check()
	if err != nil {
		return res, err
	}
	retries, backoff := h.Retries, h.Backoff
	if retries == 0 {
		retries = DefaultRetries
	}
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	sleep := h.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	val := h.loadValidators()

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("fetch: GET %s: %w", safeURL(u), err)
		}
		res.Attempts = attempt
		wait, retry, err := h.attempt(ctx, u, val, &res)
		if err == nil {
			return res, nil
		}
		if !retry || attempt > retries || ctx.Err() != nil {
			return res, err
		}
		if wait < 0 {
			wait = backoffDelay(backoff, attempt)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return res, fmt.Errorf("fetch: GET %s: waiting to retry (%v): %w", safeURL(u), h.redactErr(err), serr)
		}
	}
}

func (h *HTTP) check() (*url.URL, error) {
	if h.URL == "" {
		return nil, errors.New("fetch: no url")
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		// url.Parse quotes the URL; say only that it is malformed.
		return nil, errors.New("fetch: malformed url")
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("fetch: url %s: want an https url", safeURL(u))
	}
	if h.Client == nil {
		return nil, errors.New("fetch: no http client (build one with NewClient)")
	}
	if h.SpoolDir == "" {
		return nil, errors.New("fetch: no spool folder")
	}
	for _, r := range h.BearerToken {
		if r <= ' ' || r == 0x7f {
			return nil, errors.New("fetch: bearer token contains spaces or control characters")
		}
	}
	return u, nil
}

// attempt makes one request. wait is the server's Retry-After, or negative.
func (h *HTTP) attempt(ctx context.Context, u *url.URL, val validators, res *Result) (wait time.Duration, retry bool, err error) {
	wait = -1
	res.Status, res.ETag, res.LastModified = 0, "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return wait, false, fmt.Errorf("fetch: GET %s: %w", safeURL(u), err)
	}
	// The file must be stored exactly as published: no transparent
	// decompression.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "eir-regsync")
	if h.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.BearerToken)
	}
	if val.ETag != "" {
		req.Header.Set("If-None-Match", val.ETag)
	}
	if val.LastModified != "" {
		req.Header.Set("If-Modified-Since", val.LastModified)
	}

	resp, err := h.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the full URL
		}
		return wait, retryable(err), fmt.Errorf("fetch: GET %s: %w", safeURL(u), err)
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.ETag, res.LastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return h.save(u, resp, res)
	case code == http.StatusNotModified:
		if res.ETag == "" {
			res.ETag = val.ETag
		}
		if res.LastModified == "" {
			res.LastModified = val.LastModified
		}
		res.Fetched, res.File, res.Name = false, "", ""
		return wait, false, nil
	case code == http.StatusTooManyRequests || code >= 500:
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
				wait = d
			}
		}
		err := &StatusError{URL: safeURL(u), Status: code, Body: h.bodySnippet(resp.Body)}
		_, _ = io.CopyN(io.Discard, resp.Body, errBodyRead) // let the connection be reused
		return wait, true, err
	default:
		return wait, false, &StatusError{URL: safeURL(u), Status: code, Body: h.bodySnippet(resp.Body)}
	}
}

// retryable tells a transient request error from one that the next attempt
// would repeat: a refused redirect, a server certificate that does not
// verify, a TLS alert from the server (a client certificate it refuses), a
// server that does not speak TLS.
func retryable(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		aerr tls.AlertError
		herr tls.RecordHeaderError
		oerr *net.OpError
	)
	switch {
	case errors.Is(err, errRedirect),
		errors.As(err, &verr), errors.As(err, &aerr), errors.As(err, &herr):
		return false
	case errors.As(err, &oerr) && oerr.Op == "remote error":
		return false // crypto/tls reports a peer's alert this way
	}
	return true
}

// bodySnippet returns at most errBodyLen bytes of printable body text, the
// bearer token redacted.
func (h *HTTP) bodySnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, errBodyRead))
	s := h.redact(strings.ToValidUTF8(string(b), "\uFFFD"))
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
	return truncateUTF8(s, errBodyLen)
}

// truncateUTF8 cuts s to at most n bytes at a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// bodyReader tells read errors (network: retried) from write errors.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// save streams a 200 body into the spool folder.
func (h *HTTP) save(u *url.URL, resp *http.Response, res *Result) (wait time.Duration, retry bool, err error) {
	wait = -1
	fail := func(retry bool, format string, args ...any) (time.Duration, bool, error) {
		return wait, retry, fmt.Errorf("fetch: GET %s: "+format, append([]any{safeURL(u)}, args...)...)
	}
	maxBytes := h.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if resp.ContentLength > maxBytes {
		return fail(false, "body of %d bytes exceeds the limit of %d bytes", resp.ContentLength, maxBytes)
	}
	name := responseName(resp.Header.Get("Content-Disposition"), u)
	if err := os.MkdirAll(h.SpoolDir, dirMode); err != nil {
		return fail(false, "create spool folder: %w", err)
	}

	part := filepath.Join(h.SpoolDir, name+".part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fail(false, "%w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(part)
		}
	}()
	body := &bodyReader{r: io.LimitReader(resp.Body, maxBytes+1)}
	n, err := io.Copy(f, body)
	switch {
	case body.err != nil:
		return fail(true, "read body after %d bytes: %w", n, body.err)
	case err != nil:
		return fail(false, "write %s: %w", part, err)
	case n > maxBytes:
		return fail(false, "body exceeds the limit of %d bytes", maxBytes)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return fail(true, "body truncated: %d of %d bytes", n, resp.ContentLength)
	}
	if err := f.Sync(); err != nil {
		return fail(false, "sync %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return fail(false, "close %s: %w", part, err)
	}
	final, err := freeSpoolName(h.SpoolDir, name, time.Now())
	if err != nil {
		return fail(false, "%w", err)
	}
	dst := filepath.Join(h.SpoolDir, final)
	if err := os.Rename(part, dst); err != nil {
		return fail(false, "%w", err)
	}
	done = true
	atomicfile.SyncDir(h.SpoolDir)

	res.Fetched, res.File, res.Name = true, dst, final
	val := validators{URL: safeURL(u), ETag: res.ETag, LastModified: res.LastModified, Name: final, Fetched: time.Now().UTC()}
	data, err := json.MarshalIndent(val, "", "  ")
	if err == nil {
		err = atomicfile.WriteFile(h.ValidatorsPath(), append(data, '\n'), fileMode)
	}
	if err != nil {
		return fail(false, "spooled %s but could not save its validators: %w", final, err)
	}
	return wait, false, nil
}

// loadValidators reads the validators of the last download. A missing or
// unreadable file means none: the next GET is unconditional.
func (h *HTTP) loadValidators() validators {
	var v validators
	data, err := os.ReadFile(h.ValidatorsPath())
	if err != nil || json.Unmarshal(data, &v) != nil {
		return validators{}
	}
	return v
}

// responseName picks the spooled file's name: Content-Disposition's
// filename (filename* preferred, RFC 6266), else the URL's last path
// segment, else "download".
func responseName(contentDisposition string, u *url.URL) string {
	if contentDisposition != "" {
		if _, params, err := mime.ParseMediaType(contentDisposition); err == nil {
			if n := sanitizeName(params["filename"]); n != "" {
				return n
			}
		}
	}
	if n := sanitizeName(path.Base(u.Path)); n != "" {
		return n
	}
	return fallbackName
}

// sanitizeName reduces a server-given name to a safe base name: no path,
// no control characters, no leading '.' or '~' (which a drop directory
// would skip), not ending in a partial-upload suffix (a '_' is appended),
// at most maxNameLen bytes (the extension kept). It returns "" when nothing
// is left.
func sanitizeName(s string) string {
	s = strings.ReplaceAll(s, "\\", "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ToValidUTF8(s, "_")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	s = strings.TrimLeft(strings.TrimSpace(s), ".~")
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if isPartialName(s) {
		s += "_"
	}
	if len(s) > maxNameLen {
		stem, ext := splitExt(s)
		if len(ext) > maxExtLen {
			stem, ext = s, ""
		}
		s = truncateUTF8(stem, maxNameLen-len(ext)) + ext
	}
	return s
}

// compressionExts are extensions that keep the one before them
// (x.csv.gz has extension .csv.gz).
var compressionExts = map[string]bool{".gz": true, ".bz2": true, ".xz": true, ".zst": true, ".z": true, ".lz4": true}

// splitExt splits name into stem and extension.
func splitExt(name string) (stem, ext string) {
	ext = filepath.Ext(name)
	stem = name[:len(name)-len(ext)]
	if compressionExts[strings.ToLower(ext)] {
		if inner := filepath.Ext(stem); inner != "" && inner != stem {
			stem, ext = stem[:len(stem)-len(inner)], inner+ext
		}
	}
	if stem == "" { // ".gz" alone: no stem to keep
		return name, ""
	}
	return stem, ext
}

// freeSpoolName returns name, or <stem>.<YYYYMMDDTHHMMSS>[.<n>]<ext> when
// name is taken in dir (an earlier download not yet processed).
func freeSpoolName(dir, name string, now time.Time) (string, error) {
	taken := func(n string) (bool, error) {
		_, err := os.Lstat(filepath.Join(dir, n))
		if err == nil {
			return true, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if t, err := taken(name); !t || err != nil {
		return name, err
	}
	stem, ext := splitExt(name)
	stamp := stem + "." + now.UTC().Format("20060102T150405")
	for n := 0; n < maxCollisions; n++ {
		cand := stamp
		if n > 0 {
			cand += "." + strconv.Itoa(n)
		}
		cand += ext
		if t, err := taken(cand); !t || err != nil {
			return cand, err
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// backoffDelay is the delay before retry number n (1-based): base doubled
// n-1 times, ±20% jitter, capped at MaxBackoff.
func backoffDelay(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(d, MaxBackoff)
}

// parseRetryAfter reads a Retry-After header (delay-seconds, or an
// HTTP-date), capped at MaxBackoff.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs >= int64(MaxBackoff/time.Second) {
			return MaxBackoff, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), MaxBackoff), true
	}
	return 0, false
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
