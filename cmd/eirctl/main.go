// Command eirctl is the operator's tool for eird. It talks to eird's admin
// API over HTTP(S) only (it needs no Redis or Diameter access, and imports
// neither client):
//
//	eirctl check IMEI [IMSI]          the decision for an IMEI (and IMSI), with any shadow verdict
//	eirctl add [flags] ENTRY          put an entry on a list (-reason required)
//	eirctl remove [flags] ENTRY       take an entry off a source's lists (-reason required)
//	eirctl list [flags]               a source's entries (-all: every page), or -imei X: what applies to it
//	eirctl import [flags] FILE|-      load list entries from a CSV file
//	eirctl datasets                   the datasets in force, with versions and counts
//	eirctl audit [flags]              the audit trail: who changed what, when and why
//	eirctl events [-kind K] [-follow] events: listed IMEIs seen, device changes, duplicates
//	eirctl observed IMEI              the subscribers seen with an IMEI, and the duplicate rules it trips
//	eirctl observed -imsi X -reason R a subscriber's devices (audited)
//	eirctl forget -imsi X -reason R   remove a subscriber's observations (audited)
//	eirctl export operator-data -date D [-o DIR]  a day's DIRBS operator data dump
//	eirctl status                     version, readiness, store, counts, peers, shadow mode, sync
//	eirctl reload                     make eird re-read its configuration file
//	eirctl sync status|now|approve    registry sync
//	eirctl store status|restore|accept  whether Redis holds the lists in force; repair it when it does not
//	eirctl version                    eirctl's version, commit and Go version (also eirctl -version)
//
// ENTRY is an IMEI (14 to 16 digits), a TAC (8 digits), an IMEI range
// FROM-TO, or an exception pair IMEI,IMSI.
//
// Global flags (before the command): -server, -token, -token-file, -o
// table|json, -timeout, -config, -cacert, -cert, -key, -version. Each setting is
// taken from the flag, else the environment (EIRCTL_SERVER, EIRCTL_TOKEN,
// EIRCTL_TOKEN_FILE, EIRCTL_OUTPUT, EIRCTL_CACERT, EIRCTL_CERT, EIRCTL_KEY),
// else the config file, else the default. The config file is -config PATH,
// else EIRCTL_CONFIG, else $XDG_CONFIG_HOME/eirctl/config.yaml
// (~/.config/eirctl/config.yaml) when it exists; it holds "key: value"
// lines with the keys server, token, token_file, output, cacert, cert and
// key. The token is never printed.
//
// Every command takes -h and prints its usage on standard output.
//
// Exit codes: 0 success; 1 eird unreachable or failing (5xx), not ready, or
// (status, store status) its store not ok;
// 2 usage error (bad flag, argument or configuration); 3 request rejected
// (4xx: invalid input, authentication, authorisation, nothing matched).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...",
// as for eird.
var (
	version = "dev"
	commit  = "unknown"
)

const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitRejected = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// cli is one invocation of eirctl.
type cli struct {
	ctx            context.Context
	flags          globalFlags
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time

	// Set by configure, on the first request.
	server    string // base URL without a trailing slash
	token     string
	tokenFrom string // where the token comes from (-token, EIRCTL_TOKEN, ...), "" without one
	output    string
	timeout   time.Duration
	http      *http.Client

	eventKind string // events -kind
}

// command is one of eirctl's commands.
type command struct {
	name, args, summary string
	run                 func(c *cli, args []string) int
}

func commands() []command {
	return []command{
		{"check", "IMEI [IMSI]", "the decision, its rule and source, the S13 answer and any shadow verdict", (*cli).check},
		{"add", "[flags] -reason TEXT ENTRY", "put an entry on a list (-list, -source, -expires or -for)", (*cli).add},
		{"remove", "[flags] -reason TEXT ENTRY", "take an entry off a source's lists; exit 3 when nothing matched", (*cli).remove},
		{"list", "[flags]", "a source's entries (-source, -list, -target, -limit, -all), or -imei X [-imsi Y]", (*cli).list},
		{"import", "[flags] FILE|-", "load list entries from a CSV file (- reads standard input)", (*cli).importFile},
		{"datasets", "", "the datasets in force with their versions and entry counts", (*cli).datasets},
		{"audit", "[flags]", "the audit trail (-imei, -actor, -action, -since, -until, -limit)", (*cli).audit},
		{"events", "[flags]", "events: listed IMEIs seen, device changes, duplicates (-kind K, -follow to keep watching)", (*cli).events},
		{"observed", "IMEI | -imsi IMSI -reason TEXT", "who used an IMEI and the duplicate rules it trips; a subscriber's devices (audited)", (*cli).observed},
		{"forget", "-imsi IMSI -reason TEXT", "remove a subscriber's observations (audited)", (*cli).forget},
		{"export", "operator-data -date D [-o DIR]", "write a day's DIRBS operator data dump (zip and .sha256)", (*cli).export},
		{"status", "", "version, readiness, store, counts, peers, shadow mode and sync; exit 1 when not ready or store not ok", (*cli).status},
		{"reload", "", "make eird re-read its configuration file and print what was reloaded", (*cli).reload},
		{"sync", "status|now|approve", "registry sync: state, run a pass now, approve a held file", (*cli).sync},
		{"store", "status|restore|accept", "whether Redis holds the lists in force; restore them, or accept Redis's state", (*cli).store},
		{"version", "", "eirctl's version, commit and Go version (eird's: status)", (*cli).version},
	}
}

const usageHead = `usage: eirctl [global flags] <command> [flags] [args]

eirctl talks to eird's admin API over HTTP(S).

commands:
`

const usageTail = `
ENTRY is an IMEI (14 to 16 digits), a TAC (8 digits), an IMEI range FROM-TO,
or an exception pair IMEI,IMSI.

configuration: each setting comes from its flag, else its environment
variable, else the config file, else the default. The config file is
-config PATH, else EIRCTL_CONFIG, else $XDG_CONFIG_HOME/eirctl/config.yaml
(default ~/.config/eirctl/config.yaml) when it exists, with "key: value"
lines: server, token, token_file, output, cacert, cert, key ('#' starts a
comment; values may be quoted; relative paths are relative to the file).
The token is never printed.

exit codes:
  0  success
  1  eird unreachable or failing (5xx), not ready, or (status) its store degraded
  2  usage error: bad flag, argument or configuration
  3  request rejected (4xx): invalid input, authentication, authorisation,
     nothing matched

Run 'eirctl <command> -h' for a command's flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext runs eirctl with args; ctx bounds everything it does (events
// -follow stops, with exit code 0, when ctx is done).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	defer func() {
		if c.http != nil {
			c.http.CloseIdleConnections()
		}
	}()
	fs := c.flags.flagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printMainUsage(fs, stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "eirctl: %v\nrun 'eirctl -h' for usage\n", err)
		return exitUsage
	}
	fs.Visit(func(f *flag.Flag) { c.flags.set[f.Name] = true })
	if c.flags.version {
		printVersion(stdout)
		return exitOK
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printMainUsage(fs, stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			printMainUsage(fs, stdout)
			return exitOK
		}
		// eirctl help CMD [SUB]: the same as eirctl CMD [SUB] -h.
		name, rest = rest[0], append(rest[1:], "-h")
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(c, rest)
		}
	}
	fmt.Fprintf(stderr, "eirctl: unknown command %q\nrun 'eirctl -h' for usage\n", name)
	return exitUsage
}

// version prints eirctl's own version; it needs no configuration and asks
// eird nothing.
func (c *cli) version(args []string) int {
	f := c.newFlags("version", "", "Prints eirctl's version, the commit it was built from and its Go version, as eirctl -version\ndoes. eird's version is in eirctl status.")
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	printVersion(c.stdout)
	return exitOK
}

// printVersion prints the line eird -version prints, for eirctl.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "eirctl %s (commit %s, %s)\n", version, commit, runtime.Version())
}

func printMainUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	width := 0
	for _, cmd := range commands() {
		width = max(width, len(cmd.name)+1+len(cmd.args))
	}
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help [COMMAND]", "this text, or a command's usage")
	fmt.Fprint(w, "\nglobal flags (before the command):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, usageTail)
}

// cmdFlags parses a command's flags and arguments.
type cmdFlags struct {
	*flag.FlagSet
	c        *cli
	synopsis string // after "eirctl NAME"
	help     string
	args     []string // the arguments left after the flags
}

// newFlags returns the flag set of the command name ("add", "sync now").
func (c *cli) newFlags(name, synopsis, help string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, c: c, synopsis: synopsis, help: help}
}

// parse parses args: flags and arguments may be mixed, and "--" ends the
// flags. It checks that there are from minArgs to maxArgs arguments
// (maxArgs < 0: no limit). When the command must stop, ok is false and code
// is the exit code: 0 after -h (usage printed on standard output), 2 after
// a usage error (a short message on standard error).
func (f *cmdFlags) parse(args []string, minArgs, maxArgs int) (code int, ok bool) {
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp(f.c.stdout)
			return exitOK, false
		}
		if err != nil {
			name, undefined := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
			if undefined && isGlobalFlag(name) {
				return f.usageError("-%s is a global flag: put it before the command (eirctl -%s ... %s)", name, name, f.Name()), false
			}
			return f.usageError("%v", err), false
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			f.args = append(f.args, rest...)
			break
		}
		f.args = append(f.args, rest[0])
		args = rest[1:]
	}
	n := len(f.args)
	if n >= minArgs && (maxArgs < 0 || n <= maxArgs) {
		return 0, true
	}
	switch {
	case maxArgs == 0:
		return f.usageError("unexpected argument %q", f.args[0]), false
	case minArgs == maxArgs:
		return f.usageError("want %d %s, got %d", minArgs, plural(minArgs, "argument", "arguments"), n), false
	case n < minArgs:
		return f.usageError("want at least %d %s, got %d", minArgs, plural(minArgs, "argument", "arguments"), n), false
	default:
		return f.usageError("want at most %d %s, got %d", maxArgs, plural(maxArgs, "argument", "arguments"), n), false
	}
}

// isGlobalFlag reports whether name is a flag that goes before the command.
func isGlobalFlag(name string) bool {
	var g globalFlags
	return g.flagSet().Lookup(name) != nil
}

// subcommand is one sub-command of a command ("status" of sync).
type subcommand struct {
	name string
	run  func(args []string) int
}

// dispatch runs the sub-command named by args[0] with the rest of args.
// Without one it parses args (-h prints the command's usage) and reports a
// usage error naming the sub-commands; an unknown one is a usage error.
func (f *cmdFlags) dispatch(args []string, subs []subcommand) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		for _, s := range subs {
			if s.name == args[0] {
				return s.run(args[1:])
			}
		}
		return f.usageError("unknown %s command %q", f.Name(), args[0])
	}
	if code, ok := f.parse(args, 0, 0); !ok {
		return code
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	last := len(names) - 1
	return f.usageError("want %s or %s", strings.Join(names[:last], ", "), names[last])
}

// yesNo shows a yes/no field, the answer that needs attention in capitals.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// usageError prints msg and the command's synopsis on standard error and
// returns exitUsage.
func (f *cmdFlags) usageError(format string, a ...any) int {
	name := f.Name()
	fmt.Fprintf(f.c.stderr, "eirctl %s: %s\nusage: eirctl %s %s\nrun 'eirctl %s -h' for help\n",
		name, fmt.Sprintf(format, a...), name, f.synopsis, name)
	return exitUsage
}

func (f *cmdFlags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: eirctl %s %s\n", f.Name(), f.synopsis)
	if f.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(f.help, "\n"))
	}
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nflags:\n")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
	fmt.Fprint(w, "\nglobal flags (-server, -token, -o, ...) go before the command: see 'eirctl -h'.\n")
	fmt.Fprint(w, "exit codes: 0 ok, 1 eird unreachable or failing, 2 usage error, 3 request rejected\n")
}
