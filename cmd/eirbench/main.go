// Command eirbench is an MME simulator for testing and measuring an S13 EIR.
//
//	eirbench check [flags] IMEI[,IMSI] ...   connect as a Diameter peer, send one ECR per argument, print each answer
//	eirbench load [flags]                    act as one or several MMEs: closed- or open-loop ECR load, throughput, latency percentiles, answers checked
//	eirbench amf [flags]                     act as one or several AMFs: closed-loop N5g-eir load over HTTP/2, throughput, latency percentiles, answers checked
//	eirbench ref [flags]                     run a bare reference S13 server (go-diameter defaults, in-memory lists), and N5g-eir server (net/http), as a yardstick
//	eirbench ratio [flags]                   measure eird against the reference server in the same run (own Redis, eird and ref processes)
//	eirbench lists [flags]                   write the generated lists of load/ref/ratio as a CSV file for eirctl import
//	eirbench layout [flags]                  load synthetic IMEIs into Redis and report bytes per IMEI and load rate
//	eirbench sync [flags]                    apply a generated N-row DIRBS full blacklist through the sync engine: rows/s and bytes per IMEI
//	eirbench edits [flags]                   single edits into an N-entry list while checks run: Redis memory, edit and replica costs, check latency; the local copy's size and load time
//	eirbench scale [flags]                   carrier scale: 100 M IMEIs, 10 M TAC/range rules, 10 M exceptions through the sync path; apply time, memory, eird cold start, throughput against 1 M
//	eirbench -version                        eirbench's version, commit and Go version (also eirbench version)
//
// The load engine is cmd/eirbench/loadgen; the messages it patches are
// serialised here with diameter/wire (codec.go), whose bytes a test keeps
// equal to go-diameter's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir/redisstore"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...",
// as for eird.
var (
	version = "dev"
	commit  = "unknown"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	redisstore.RouteLibraryLog(zap.NewNop()) // the measures report failures themselves
	if len(args) == 0 {
		fmt.Fprint(stderr, "eirbench: want a command\n"+usageText)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usageText)
			return exitOK
		}
		if args[0] != "help" {
			fmt.Fprintf(stderr, "eirbench: %s takes no argument\n%s", args[0], usageText)
			return exitUsage
		}
		// eirbench help CMD: the same as eirbench CMD -h.
		if !isCommand(args[1]) || len(args) > 2 {
			fmt.Fprintf(stderr, "eirbench help: want one command, got %q\n%s", strings.Join(args[1:], " "), usageText)
			return exitUsage
		}
		return run([]string{args[1], "-h"}, stdout, stderr)
	case "-version", "--version", "version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "eirbench: %s takes no argument\n", args[0])
			return exitUsage
		}
		fmt.Fprintf(stdout, "eirbench %s (commit %s, %s)\n", version, commit, runtime.Version())
		return exitOK
	case "check":
		return check(args[1:], stdout, stderr)
	case "load":
		return loadCommand(args[1:], stdout, stderr)
	case "amf":
		return amfCommand(args[1:], stdout, stderr)
	case "ref":
		return refCommand(args[1:], stdout, stderr)
	case "ratio":
		return ratioCommand(args[1:], stdout, stderr)
	case "lists":
		return listsCommand(args[1:], stdout, stderr)
	case "layout":
		return layout(args[1:], stdout, stderr)
	case "sync":
		return syncBench(args[1:], stdout, stderr)
	case "edits":
		return editsBench(args[1:], stdout, stderr)
	case "scale":
		return scaleCommand(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "eirbench: unknown command %q\n%s", args[0], usageText)
	return exitUsage
}

// isCommand reports whether name is one of eirbench's commands.
func isCommand(name string) bool {
	switch name {
	case "check", "load", "amf", "ref", "ratio", "lists", "layout", "sync", "edits", "scale":
		return true
	}
	return false
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:3868", "EIR address (TCP)")
	host := fs.String("origin-host", "mme.eirbench.localdomain", "Origin-Host of the simulated MME")
	realm := fs.String("origin-realm", "eirbench.localdomain", "Origin-Realm of the simulated MME")
	destRealm := fs.String("destination-realm", "", "Destination-Realm (default: the EIR's Origin-Realm from its CEA)")
	destHost := fs.String("destination-host", "", "Destination-Host (default: none)")
	verbose := fs.Bool("v", false, "print every AVP of the answers")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout per request")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench check [flags] IMEI[,IMSI] ...

Connects to an EIR as a Diameter peer (CER advertising S13), sends one
ME-Identity-Check request per argument (an IMEI, or IMEI,IMSI for an
exception pair), prints each decoded answer, and disconnects with DPR.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(fs, "want at least one IMEI")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := s13client.Dial(ctx, *addr, s13client.Options{OriginHost: *host, OriginRealm: *realm,
		DestinationRealm: *destRealm, DestinationHost: *destHost})
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		if c != nil {
			fmt.Fprintln(stderr, c.CEA.Msg)
		}
		return 1
	}
	defer c.Close()
	fmt.Fprintf(stdout, "connected to %s (%s)\n", *addr, avpText(c.CEA, avp.OriginHost, 0))
	failed := 0
	for _, arg := range fs.Args() {
		imei, imsi, _ := strings.Cut(arg, ",")
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		a, err := c.Check(ctx, imei, imsi)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "eirbench: %s: %v\n", arg, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", arg, describe(a))
		if *verbose {
			fmt.Fprintln(stdout, a.Msg)
		}
	}
	dctx, dcancel := context.WithTimeout(context.Background(), *timeout)
	c.Disconnect(dctx)
	dcancel()
	if failed > 0 {
		return 1
	}
	return 0
}

// describe summarises an ECA the way an MME sees it.
func describe(a s13client.Answer) string {
	m := a.Msg
	status := map[int]string{0: "WHITELISTED", 1: "BLACKLISTED", 2: "GREYLISTED"}
	if _, err := m.FindAVP(avp.ExperimentalResult, 0); err == nil {
		return fmt.Sprintf("Experimental-Result-Code %d (vendor 10415)", s13client.ResultCode(m))
	}
	rc := s13client.ResultCode(m)
	if es := s13client.EquipmentStatus(m); es >= 0 {
		return fmt.Sprintf("Result-Code %d, Equipment-Status %d (%s)", rc, es, status[es])
	}
	text := fmt.Sprintf("Result-Code %d", rc)
	if msg := avpText(a, avp.ErrorMessage, 0); msg != "" {
		text += " (" + msg + ")"
	}
	return text
}

func avpText(a s13client.Answer, code, vendor uint32) string {
	if a.Msg == nil {
		return ""
	}
	v, err := a.Msg.FindAVP(code, vendor)
	if err != nil {
		return ""
	}
	switch d := v.Data.(type) {
	case datatype.DiameterIdentity:
		return string(d)
	case datatype.UTF8String:
		return string(d)
	}
	return fmt.Sprint(v.Data)
}

// redisFlag declares -redis, the Redis the store measures use.
func redisFlag(fs *flag.FlagSet) *string {
	return fs.String("redis", "auto", "Redis address; auto starts a throw-away redis-server (used_memory is measured server-wide: use a dedicated instance)")
}

// resolveRedis starts a throw-away redis-server when addr is auto, and
// returns the address to use and what stops it.
func resolveRedis(addr string, stderr io.Writer) (string, func(), error) {
	if addr != "auto" {
		return addr, func() {}, nil
	}
	return startRedis(stderr)
}

// benchStore opens a store with o on the Redis at addr (auto: a
// throw-away redis-server), and returns what closes it (and stops that
// server).
func benchStore(ctx context.Context, addr string, o redisstore.Options, stderr io.Writer) (*redisstore.Store, func(), error) {
	addr, stop, err := resolveRedis(addr, stderr)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := redisstore.NewClient(redisstore.ClientOptions{Addresses: []string{addr}, DialTimeout: 2 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolSize: 8})
	if err != nil {
		stop()
		return nil, nil, err
	}
	s, err := redisstore.New(ctx, rdb, o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		rdb.Close()
		stop()
		return nil, nil, err
	}
	return s, func() { rdb.Close(); stop() }, nil
}

// startRedis starts a throw-away redis-server on a free loopback port (for
// measurements that need a Redis of their own) and returns its address and
// a stop function.
func startRedis(stderr io.Writer) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found: install Debian's redis-server (make deps)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "eirbench-redis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not start on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "started redis-server on %s\n", addr)
	return addr, stop, nil
}

// parseFlags parses a command's flags by eirctl's rule: -h prints the
// command's usage once on standard output (exit 0); a bad flag prints the
// error and the usage on standard error (exit 2). fs.Usage writes to
// fs.Output(). When the command must stop, ok is false and code is the
// exit code.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {} // the flag package would print it on every error
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(stderr)
		return exitOK, false
	case err != nil:
		return usageError(fs, "%v", err), false
	}
	return exitOK, true
}

// parseNoArgs parses the flags of a command that takes no arguments, as
// parseFlags does; a stray argument is a usage error.
func parseNoArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0)), false
	}
	return exitOK, true
}

// usageError prints the error and the command's usage on fs.Output()
// (standard error) and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(fs.Output(), "eirbench %s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return exitUsage
}

// usageText is eirbench's full usage (eirbench -h, eirbench help).
const usageText = `usage: eirbench <command> [flags] [args]

commands:
  check [flags] IMEI[,IMSI] ...  connect as a Diameter peer, send one ECR per argument, print each answer
  load [flags]                   act as one or several MMEs: ECR load, throughput, latency percentiles
  amf [flags]                    act as one or several AMFs: N5g-eir load over HTTP/2
  ref [flags]                    run a bare reference S13 and N5g-eir server, as a yardstick
  ratio [flags]                  measure eird against the reference server in the same run
  lists [flags]                  write the generated lists of load/ref/ratio as a CSV file for eirctl import
  layout [flags]                 load synthetic IMEIs into Redis: bytes per IMEI and load rate
  sync [flags]                   apply a generated full blacklist through the sync engine: rows/s, bytes per IMEI
  edits [flags]                  single edits into a large list while checks run
  scale [flags]                  100 M IMEIs through the sync path: apply time, memory, eird cold start, throughput
  version                        eirbench's version, commit and Go version (also -version)
  help [COMMAND]                 this text, or a command's usage (as eirbench COMMAND -h)

exit codes: 0 ok, 1 failure, 2 usage error
`
