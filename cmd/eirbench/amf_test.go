package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/memstore"
	"github.com/eir-sidecar/eir/n5g"
)

// serveH2CT serves srv on a free port until the test ends and returns its
// http:// apiRoot.
func serveH2CT(t *testing.T, srv *http.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

// startN5gT runs eird's N5g-eir service (package n5g) in-process with the
// lists of d in a memstore.
func startN5gT(t *testing.T, d *loadgen.Dataset, o n5g.Options) string {
	t.Helper()
	store := memstore.New()
	if _, err := store.Apply(context.Background(), listChanges(d, benchSource)); err != nil {
		t.Fatal(err)
	}
	s, err := n5g.New(o, eir.NewDecider(store, eir.Policy{}), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return serveH2CT(t, s.HTTPServer(nil))
}

// amfJSON runs `eirbench amf -json` with args and returns the exit status
// and the report. A run in which some category of the mix sent nothing (a
// loaded machine sends few requests in 300 ms) is run again for longer,
// up to 4 s, so that every category is exercised.
func amfJSON(t *testing.T, args ...string) (int, loadgen.SBIReport, string) {
	t.Helper()
	var (
		code int
		rep  loadgen.SBIReport
		errs string
	)
	for _, d := range []string{"300ms", "1s", "4s"} {
		var out, errb bytes.Buffer
		code = run(append([]string{"amf", "-json", "-duration", d, "-warmup", "50ms", "-streams", "8",
			"-mix", "black=1,grey=1,white=1,unknown=1,exception=1", "-supi-share", "0.5"}, args...), &out, &errb)
		rep, errs = loadgen.SBIReport{}, errb.String()
		if code == exitOK || code == exitMismatch {
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
		}
		if everyCategorySent(rep) {
			break
		}
	}
	return code, rep, errs
}

func everyCategorySent(r loadgen.SBIReport) bool {
	for _, c := range []string{"black", "grey", "white", "unknown", "exception"} {
		if r.Categories[c].Sent == 0 {
			return false
		}
	}
	return true
}

// checkSBIClean fails unless every request of r was answered as its
// category expects, in every category.
func checkSBIClean(t *testing.T, r loadgen.SBIReport) {
	t.Helper()
	if r.Mismatches != 0 || r.Timeouts != 0 || r.Errors != 0 || r.ConnErrors != 0 {
		t.Fatalf("mismatches %d (%v), timeouts %d, errors %d %v, conn errors %d",
			r.Mismatches, r.MismatchExamples, r.Timeouts, r.Errors, r.ErrorText, r.ConnErrors)
	}
	if r.Sent == 0 || r.Answers != r.Sent || r.Throughput <= 0 {
		t.Fatalf("sent %d, answered %d, throughput %g", r.Sent, r.Answers, r.Throughput)
	}
	for _, c := range []string{"black", "grey", "white", "unknown", "exception"} {
		if s := r.Categories[c]; s.Sent == 0 || s.Answered != s.Sent {
			t.Errorf("%s: %+v", c, s)
		}
	}
	for _, k := range []string{"200 BLACKLISTED", "200 GREYLISTED", "200 WHITELISTED", "404 ERROR_EQUIPMENT_UNKNOWN"} {
		if r.Codes[k] == 0 {
			t.Errorf("no %s answer: %v", k, r.Codes)
		}
	}
	l := r.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("percentiles not monotonic: %+v", l)
	}
}

func TestAMFAgainstReference(t *testing.T) {
	d := loadgen.Generate(1, 500)
	root := serveH2CT(t, n5gServer(newRefServer(d, "ref.test", "ref.realm").n5gHandler()))
	code, rep, stderr := amfJSON(t, "-api-root", root, "-entries", "500", "-strict")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkSBIClean(t, rep)
	if rep.Conns != 2 || rep.Streams != 8 {
		t.Fatalf("report %+v", rep)
	}
}

// TestAMFAgainstN5gServer runs the load against eird's own N5g-eir
// service with the generated lists: every category is answered as
// expected, exceptions through the supi.
func TestAMFAgainstN5gServer(t *testing.T) {
	d := loadgen.Generate(2, 500)
	code, rep, stderr := amfJSON(t, "-api-root", startN5gT(t, d, n5g.Options{}), "-entries", "500", "-seed", "2", "-strict")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkSBIClean(t, rep)
}

// TestAMFSendsToken runs the load against a service that wants a bearer
// token under an API prefix: with -token every request is answered, without
// every answer is a 401 mismatch.
func TestAMFSendsToken(t *testing.T) {
	d := loadgen.Generate(3, 200)
	root := startN5gT(t, d, n5g.Options{APIPrefix: "/eir", Authorize: func(h string) (string, *n5g.AuthFailure) {
		if h != "Bearer tok" {
			return "", &n5g.AuthFailure{Status: http.StatusUnauthorized, WWWAuthenticate: `Bearer error="invalid_token"`}
		}
		return "amf-1", nil
	}}) + "/eir"
	code, rep, stderr := amfJSON(t, "-api-root", root, "-entries", "200", "-seed", "3", "-token", "tok", "-strict")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkSBIClean(t, rep)
	code, rep, _ = amfJSON(t, "-api-root", root, "-entries", "200", "-seed", "3", "-strict")
	if code != exitMismatch || rep.Mismatches != rep.Sent || rep.Codes["401"] != rep.Sent {
		t.Fatalf("without the token: exit %d, codes %v, mismatches %d of %d", code, rep.Codes, rep.Mismatches, rep.Sent)
	}
}

// TestAMFCountsMismatches serves other lists than the load expects: the
// answers are counted as mismatches, with examples, and -strict exits 3.
func TestAMFCountsMismatches(t *testing.T) {
	root := serveH2CT(t, n5gServer(newRefServer(loadgen.Generate(7, 500), "ref.test", "ref.realm").n5gHandler()))
	code, rep, stderr := amfJSON(t, "-api-root", root, "-entries", "500", "-seed", "1", "-strict")
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d: %s", code, exitMismatch, stderr)
	}
	if rep.Mismatches == 0 || len(rep.MismatchExamples) == 0 || rep.Categories["unknown"].Mismatches != 0 {
		t.Fatalf("mismatches %d, examples %v, categories %v", rep.Mismatches, rep.MismatchExamples, rep.Categories)
	}
	if m := rep.MismatchExamples[0]; m.Got != "404 ERROR_EQUIPMENT_UNKNOWN" || !strings.HasPrefix(m.Want, "200 ") {
		t.Fatalf("example %+v", m)
	}
	// The table shows a mismatch example once a request of a listed
	// category was sent (a loaded machine may send only unknown ones in
	// 100 ms: run again for longer).
	var out bytes.Buffer
	for _, d := range []string{"100ms", "1s", "4s"} {
		out.Reset()
		run([]string{"amf", "-api-root", root, "-entries", "500", "-duration", d, "-warmup", "0"}, &out, io.Discard)
		if strings.Contains(out.String(), "mismatch: ") {
			break
		}
	}
	if !strings.Contains(out.String(), "mismatch: ") || !strings.Contains(out.String(), "want 200 ") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func TestAMFCommandErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	// An HTTP/1.1-only server is not an N5g-eir service.
	http1 := serveH2CT(t, &http.Server{Handler: http.NotFoundHandler()})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"amf", "-api-root", "http://" + closed, "-entries", "10", "-duration", "100ms"}, exitFailure, "connection refused"},
		{[]string{"amf", "-api-root", http1, "-entries", "10", "-duration", "100ms"}, exitFailure, "no answer from"},
		{[]string{"amf", "-api-root", "ftp://x", "-entries", "10"}, exitUsage, "want http:// or https://"},
		{[]string{"amf", "-api-root", "http://" + closed, "-streams", "1001"}, exitUsage, "streams: 1001"},
		{[]string{"amf", "-mix", "red=1"}, exitUsage, "unknown category"},
		{[]string{"amf", "-cacert", "/nonexistent.pem"}, exitUsage, "-cacert"},
		{[]string{"amf", "-h"}, exitOK, "usage: eirbench amf"},
		{[]string{"amf", "extra"}, exitUsage, "usage: eirbench amf"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String()+out.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
}
