package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/internal/tlsconf"
)

// amfCommand runs `eirbench amf`: N5g-eir load.
func amfCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("api-root", "http://127.0.0.1:7777", "apiRoot of the N5g-eir service with its prefix: http:// (h2c, prior knowledge) or https:// (h2)")
	conns := fs.Int("conns", 2, "HTTP/2 connections, each an AMF")
	streams := fs.Int("streams", 64, "requests in flight per connection")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before the measure (results discarded)")
	timeout := fs.Duration("timeout", 5*time.Second, "per request: unanswered after this, it counts as a timeout")
	mix := fs.String("mix", loadgen.DefaultMix, "weights of the request categories: black, grey, white, unknown (on no list), exception (a black IMEI with its exception SUPI)")
	entries := fs.Int("entries", defaultEntries, "IMEIs per generated list (as for load; eirbench lists writes them)")
	seed := fs.Uint64("seed", 1, "seed of the generated lists and of the request draws")
	supiShare := fs.Float64("supi-share", 1, "fraction of requests (other than exceptions) carrying a supi (a random IMSI on no exception)")
	token := fs.String("token", "", "bearer access token to send (n5g.oauth)")
	caFile := fs.String("cacert", "", "https: PEM CAs to verify the server with (default: the system's)")
	certFile := fs.String("cert", "", "https: PEM client certificate (n5g.tls.client_ca_file)")
	keyFile := fs.String("key", "", "https: PEM client key")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	strict := fs.Bool("strict", false, "exit 3 on any mismatch, timeout or request without an answer")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench amf [flags]

Acts as one or several AMFs asking an N5g-eir service for the equipment
status (TS 29.511 GetEquipmentStatus, HTTP/2 only) in a closed loop, and
reports throughput, latency percentiles (HDR histogram, µs resolution),
answers by status and cause, and mismatches against what each request's
category expects (black: 200 BLACKLISTED, grey: 200 GREYLISTED, white and
exception: 200 WHITELISTED, unknown: 404 ERROR_EQUIPMENT_UNKNOWN). Requests
draw from the lists generated from -seed and -entries; the EIR must hold
them (eirbench lists writes them for eirctl import). eirbench ref
-n5g-listen serves the same lists as a bare yardstick.

Exit status: 0 done; 1 no connection answered; 2 usage; 3 with -strict, a
mismatch, timeout or request without an answer.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	m, err := loadgen.ParseMix(*mix)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return exitUsage
	}
	o := loadgen.SBIOptions{APIRoot: *root, Token: *token, Data: loadgen.Generate(*seed, *entries), Mix: m, Seed: *seed,
		Conns: *conns, Streams: *streams, SUPIShare: *supiShare, Duration: *duration, Warmup: *warmup, Timeout: *timeout}
	if *caFile != "" || *certFile != "" {
		if o.TLS, err = clientTLS(*caFile, *certFile, *keyFile); err != nil {
			fmt.Fprintf(stderr, "eirbench: %v\n", err)
			return exitUsage
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.RunSBI(ctx, o)
	if rep == nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteTable(stdout)
	}
	if *strict && (rep.Mismatches > 0 || rep.Timeouts > 0 || rep.Errors > 0) {
		return exitMismatch
	}
	return exitOK
}

// clientTLS is the TLS configuration of an https client: the CAs of
// caFile (the system's when empty) and the client certificate, if any.
func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	conf, err := tlsconf.Client(tlsconf.Files{CA: caFile, Cert: certFile, Key: keyFile}, "", false)
	if err != nil {
		return nil, tlsconf.Name(err, "-cert/-key", "-cacert")
	}
	return conf, nil
}
