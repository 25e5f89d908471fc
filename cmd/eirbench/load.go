package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
)

// defaultEntries is the default size of each generated list.
const defaultEntries = 100_000

// Exit codes of load and ratio.
const (
	exitOK       = 0
	exitFailure  = 1 // a connection failed, or a process could not start
	exitUsage    = 2
	exitMismatch = 3 // -strict: mismatches, timeouts, lost or malformed answers
)

// loadFlags are the load settings shared by load and ratio.
type loadFlags struct {
	conns     int
	window    int
	rate      float64
	duration  time.Duration
	warmup    time.Duration
	timeout   time.Duration
	mix       string
	entries   int
	seed      uint64
	realm     string
	imsiShare float64
}

func (lf *loadFlags) register(fs *flag.FlagSet, withRate bool) {
	fs.IntVar(&lf.conns, "conns", 2, "Diameter connections, each its own MME (Origin-Host mme<i>.<realm>)")
	fs.IntVar(&lf.window, "window", 128, "requests in flight per connection")
	if withRate {
		fs.Float64Var(&lf.rate, "rate", 0, "open loop: requests/s in total, latency measured from each request's scheduled time; 0: closed loop at the window's maximum")
	}
	fs.DurationVar(&lf.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&lf.warmup, "warmup", 2*time.Second, "warm-up before the measure (results discarded)")
	fs.DurationVar(&lf.timeout, "timeout", 5*time.Second, "per request: unanswered after this, it counts as a timeout")
	fs.StringVar(&lf.mix, "mix", loadgen.DefaultMix, "weights of the request categories: black, grey, white, unknown (on no list), exception (a black IMEI with its exception IMSI)")
	fs.IntVar(&lf.entries, "entries", defaultEntries, "IMEIs per generated list (black, grey, white, unknown; as many exception pairs)")
	fs.Uint64Var(&lf.seed, "seed", 1, "seed of the generated lists and of the request draws")
	fs.StringVar(&lf.realm, "realm", "eirbench.localdomain", "Origin-Realm of the simulated MMEs")
	fs.Float64Var(&lf.imsiShare, "imsi-share", 1, "fraction of requests (other than exceptions) carrying a User-Name: the IMSI of the device's subscriber (one per IMEI of the data set, on no exception)")
}

// options returns the engine's options for lf against addr.
func (lf *loadFlags) options(addr string, data *loadgen.Dataset) (loadgen.Options, error) {
	mix, err := loadgen.ParseMix(lf.mix)
	if err != nil {
		return loadgen.Options{}, err
	}
	return loadgen.Options{
		Addr: addr, Codec: newDiamCodec(), Data: data, Mix: mix, Seed: lf.seed, Realm: lf.realm,
		Conns: lf.conns, Window: lf.window, Rate: lf.rate, Duration: lf.duration, Warmup: lf.warmup,
		Timeout: lf.timeout, IMSIShare: lf.imsiShare,
	}, nil
}

// loadCommand runs `eirbench load`.
func loadCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loadFlags
	addr := fs.String("addr", "127.0.0.1:3868", "EIR address (TCP)")
	lf.register(fs, true)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	progress := fs.Bool("progress", false, "print a progress line on stderr every second (default: when stderr is a terminal)")
	strict := fs.Bool("strict", false, "exit 3 on any mismatch, timeout, lost or malformed answer")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench load [flags]

Acts as one or several MMEs sending ME-Identity-Check requests to an EIR and
reports throughput, latency percentiles (HDR histogram, µs resolution),
answers by result, mismatches against what each request's category expects
(black: 2001/ES 1, grey: 2001/ES 2, white: 2001/ES 0, unknown:
Experimental-Result 5422, exception: 2001/ES 0), timeouts and connection
errors. Requests draw from lists generated from -seed and -entries; the EIR
must hold the same lists (eirbench lists writes them for eirctl import).

Exit status: 0 done; 1 a connection failed; 2 usage; 3 with -strict, a
mismatch, timeout, lost or malformed answer.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	data := loadgen.Generate(lf.seed, lf.entries)
	o, err := lf.options(*addr, data)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return exitUsage
	}
	tty := isTerminal(stderr)
	if *progress || tty {
		print := progressPrinter(stderr, tty)
		o.Progress = func(p loadgen.Progress) { print(p) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, o)
	if tty && o.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if rep == nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteTable(stdout)
	}
	return loadExit(rep, *strict)
}

// loadExit maps a report to the exit status.
func loadExit(rep *loadgen.Report, strict bool) int {
	switch {
	case rep.ConnErrors > 0:
		return exitFailure
	case strict && (rep.Mismatches > 0 || rep.Timeouts > 0 || rep.Lost > 0 || rep.Malformed > 0):
		return exitMismatch
	}
	return exitOK
}

// progressPrinter returns a Progress callback writing to w: one line
// rewritten in place on a terminal, one line per report otherwise.
func progressPrinter(w io.Writer, tty bool) func(fmt.Stringer) {
	return func(p fmt.Stringer) {
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", p)
			return
		}
		fmt.Fprintln(w, p)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
