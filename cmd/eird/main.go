// Command eird is the EIR daemon: the S13/S13' Diameter server and the admin
// API, answering from the lists kept in Redis.
//
// Usage:
//
//	eird -config eird.yaml       run
//	eird -config eird.yaml -check-config
//	eird -config eird.yaml -print-addresses   where eird listens, which Redis it uses
//	eird -config eird.yaml -healthcheck
//	eird -print-keys             list every configuration key, its default and environment variable
//	eird -version
//
// main.go reads the flags and the configuration and handles the signals;
// wire.go builds every component from the configuration; run.go starts
// them and stops them in the documented order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/eir-sidecar/eir/config"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eird", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML); keys can also be set with EIR_* environment variables")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	printAddrs := fs.Bool("print-addresses", false, "validate the configuration, print where eird listens and which Redis it uses (after EIR_* variables), and exit")
	printKeys := fs.Bool("print-keys", false, "print every configuration key with its default and environment variable, and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probe := fs.Bool("healthcheck", false, "ask the eird running with this configuration whether it is ready (GET /readyz on admin.listen); exit 0 when it is, 1 otherwise")
	// eirctl's rule: -h prints the usage on standard output (exit 0); a
	// usage error prints the error and the usage on standard error (exit 2).
	usage := func(w io.Writer) {
		fmt.Fprint(w, usageHead)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0
	case err == nil && fs.NArg() > 0:
		hint := ""
		if f := fs.Lookup(fs.Arg(0)); f != nil {
			hint = fmt.Sprintf(" (did you mean -%s?)", f.Name)
		}
		err = fmt.Errorf("unexpected argument %q: eird takes flags only%s", fs.Arg(0), hint)
	}
	if err != nil {
		fmt.Fprintf(stderr, "eird: %v\n", err)
		usage(stderr)
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "eird %s (commit %s, %s)\n", version, commit, runtime.Version())
		return 0
	case *printKeys:
		for _, k := range config.Keys() {
			fmt.Fprintf(stdout, "%-40s %-36s %s\n", k.Path, k.Env, k.Default)
		}
		return 0
	}
	cfg, err := config.Load(*path)
	if *probe { // a container health check knows only 0 and 1
		if err != nil {
			fmt.Fprintf(stderr, "eird: healthcheck: configuration: %v\n", err)
			return 1
		}
		return healthcheck(cfg, stdout, stderr)
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "eird: configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	switch {
	case *check:
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	case *printAddrs:
		printAddresses(stdout, cfg)
		return 0
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "eird: %v\n", err)
		return 2
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = serve(ctx, *path, cfg, log)
	// A SIGINT or SIGTERM that arrives once eird has stopped (a terminal's
	// Ctrl-C and a supervisor's SIGTERM together) must not turn the exit
	// status into death by that signal.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	if err != nil {
		log.Error("eird stopped", zap.Error(err))
		return 1
	}
	return 0
}

const usageHead = `usage: eird [flags]

  eird -config eird.yaml                 run
  eird -config eird.yaml -check-config   validate the configuration and exit
  eird -config eird.yaml -print-addresses
                                         where eird listens and which Redis it uses, and exit
  eird -config eird.yaml -healthcheck    exit 0 when the eird running with it is ready (/readyz), else 1
  eird -print-keys                       every configuration key, its default and environment variable
  eird -version                          version, commit and Go version

flags:
`

func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	// Sampling keeps a burst of identical messages (a store outage seen by
	// every request) from flooding the log: the first 10 per second, then
	// one in 100.
	core = zapcore.NewSamplerWithOptions(core, time.Second, 10, 100)
	return zap.New(core, zap.AddCaller()), nil
}

// serve runs eird until ctx is done: it builds the daemon (wire), runs it
// and stops it (see daemon.run for the shutdown order), then closes the
// Redis client.
func serve(ctx context.Context, path string, cfg config.Config, log *zap.Logger) error {
	d, err := wire(ctx, path, cfg, log)
	if err != nil {
		return err
	}
	defer d.store.Close()
	return d.run(ctx)
}
