package main

import (
	"github.com/eir-sidecar/eir/admin/api"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// request is one call of the admin API.
type request struct {
	method, path string
	query        url.Values
	json         any       // a JSON body, or
	body         io.Reader // a raw body of contentType and length (-1: unknown)
	contentType  string
	length       int64
	timeout      time.Duration // 0: the -timeout flag
	// sink, when set, receives the body of a 2xx answer as it comes (a
	// download of any size), after gotHeader (when set) is given its
	// header; roundTrip then returns no data.
	sink      io.Writer
	gotHeader func(http.Header)
}

// failure is an answer that is not 2xx.
type failure struct {
	method, path string
	status       int
	statusText   string
	code         string   // from the JSON error body, when there is one
	message      string   // idem
	details      []string // idem
}

func (f *failure) Error() string {
	if f.message == "" {
		return fmt.Sprintf("%s %s: %s", f.method, f.path, f.statusText)
	}
	return fmt.Sprintf("%s (%s)", f.message, f.code)
}

// exitCode is 1 for a 5xx answer, 3 for any other.
func (f *failure) exitCode() int {
	if f.status >= 500 {
		return exitFailure
	}
	return exitRejected
}

// maxAnswer bounds the size of an answer.
const maxAnswer = 64 << 20

// roundTrip sends r and returns the body of a 2xx answer. Its errors are a
// *configError (bad settings), a *failure (eird answered, not 2xx), the
// context's error, or any other (eird unreachable).
func (c *cli) roundTrip(ctx context.Context, r request) ([]byte, error) {
	if err := c.configure(); err != nil {
		return nil, err
	}
	u := c.server + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	timeout := r.timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, length, ctype := r.body, r.length, r.contentType
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, err
		}
		body, length, ctype = bytes.NewReader(b), int64(len(b)), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, configErrorf("%s %s: %v", r.method, r.path, err)
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && c.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("eird at %s did not answer %s %s within %s", c.server, r.method, r.path, timeout)
		}
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach eird at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	if r.sink != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if r.gotHeader != nil {
			r.gotHeader(resp.Header)
		}
		if _, err := io.Copy(r.sink, resp.Body); err != nil {
			if c.ctx.Err() != nil {
				return nil, c.ctx.Err()
			}
			return nil, fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)
		}
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		return nil, fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f := &failure{method: r.method, path: r.path, status: resp.StatusCode, statusText: resp.Status}
		var e api.ErrorBody
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			f.code, f.message, f.details = e.Error.Code, e.Error.Message, e.Error.Details
		}
		return nil, f
	}
	return data, nil
}

// report prints err on standard error and returns the exit code for it.
func (c *cli) report(err error) int {
	var ce *configError
	var f *failure
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitUsage
	case errors.As(err, &f):
		fmt.Fprintf(c.stderr, "eirctl: %v\n", f)
		for _, d := range f.details {
			fmt.Fprintf(c.stderr, "  %s\n", d)
		}
		if f.status == http.StatusUnauthorized {
			fmt.Fprintf(c.stderr, "eirctl: %s\n", c.unauthorizedHint())
		}
		return f.exitCode()
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(c.stderr, "eirctl: interrupted")
		return exitFailure
	default:
		fmt.Fprintf(c.stderr, "eirctl: %v\n", err)
		return exitFailure
	}
}

// unauthorizedHint is what to do after a 401: give a token when none was
// sent, else check the one sent, named by where it came from (never by
// its value).
func (c *cli) unauthorizedHint() string {
	if c.token == "" {
		return "give a token with -token-file, EIRCTL_TOKEN_FILE, EIRCTL_TOKEN or the config file"
	}
	return "eird refused the token from " + c.tokenFrom + ": it is wrong or no longer one of eird's admin.tokens (rotated?)"
}

// call sends r and decodes a 2xx JSON answer into out (when not nil). It
// returns the raw answer and exitOK, or prints why it failed and returns
// the exit code.
func (c *cli) call(r request, out any) ([]byte, int) {
	data, err := c.roundTrip(c.ctx, r)
	if err != nil {
		return nil, c.report(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			fmt.Fprintf(c.stderr, "eirctl: unexpected answer to %s %s: %v\n", r.method, r.path, err)
			return nil, exitFailure
		}
	}
	return data, exitOK
}

// jsonOutput reports whether -o json was asked for.
func (c *cli) jsonOutput() bool { return c.output == "json" }

// printRaw prints an answer as eird sent it, ending with a newline.
func (c *cli) printRaw(data []byte) int {
	c.stdout.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		fmt.Fprintln(c.stdout)
	}
	return exitOK
}
