package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Allow makes AssertClean tolerate expert items with the given field names
// (e.g. "tcp.connection.rst" for a test that aborts connections on purpose).
// It returns r for chaining. Malformed items are never tolerated.
func (r *Report) Allow(fields ...string) *Report {
	r.allow = append(r.allow, fields...)
	return r
}

// Problems returns what AssertClean fails on, one readable line each:
//
//   - every Malformed entry;
//   - every expert item of severity Warning or Error, whatever the protocol;
//   - every expert item of group Malformed, whatever the severity (Wireshark
//     reports "Padding is non-zero"/"Padding is missing" of a Diameter AVP
//     as Note/Malformed);
//   - every Diameter expert item of severity Note;
//   - no Diameter message at all (wrong port, or the traffic was not
//     captured: a check that sees nothing must not pass).
//
// Ignored, because they describe normal traffic rather than a defect:
//
//   - severity Chat and Comment, e.g. TCP "Connection establish request
//     (SYN)", "Connection finish (FIN)";
//   - severity Note from protocols other than Diameter, i.e. TCP's
//     "This frame initiates/undergoes the connection closing" on every
//     orderly close and TCP sequence notes (window update, duplicate ACK,
//     retransmission), which are transport behaviour, not encoding errors;
//   - TCP's "D-SACK Sequence" (a Warning): the receiver saw a segment twice,
//     i.e. the sender retransmitted it, as the ignored retransmission notes
//     say (seen on loopback under a load of 6 on 2 cores);
//   - expert items whose field was passed to Allow.
func (r *Report) Problems() []string {
	var out []string
	if len(r.All) == 0 {
		out = append(out, fmt.Sprintf("no Diameter message decoded on tcp port %d in %s", r.Port, r.File))
	}
	out = append(out, r.Malformed...)
	for _, e := range r.Expert {
		if r.flagged(e) && !r.inMalformed(e) {
			out = append(out, e.String())
		}
	}
	return out
}

// inMalformed reports whether e is already listed in Malformed (Wireshark
// adds a "Malformed Packet" marker next to every Malformed-group expert item).
func (r *Report) inMalformed(e ExpertInfo) bool {
	prefix := fmt.Sprintf("frame %d: ", e.Frame)
	for _, m := range r.Malformed {
		if strings.HasPrefix(m, prefix) && strings.HasSuffix(m, ": "+e.Message) {
			return true
		}
	}
	return false
}

// tcpDSACK is the field of TCP's D-SACK expert item.
const tcpDSACK = "tcp.options.sack.dsack"

// flagged reports whether the expert item e is a problem (see Problems).
func (r *Report) flagged(e ExpertInfo) bool {
	if e.Group == "Malformed" {
		return true
	}
	if slices.Contains(r.allow, e.Field) || e.Field == tcpDSACK {
		return false
	}
	switch e.Severity {
	case "Warning", "Error":
		return true
	case "Note":
		return e.Protocol == "diameter" || strings.HasPrefix(e.Field, "diameter.")
	}
	return false // Chat, Comment
}

// AssertClean fails the test (tb.Errorf, so the test goes on) with the list
// of Problems, if any, and logs the full `tshark -V` decode of the offending
// frames. See Problems for what is checked and what is ignored.
func (r *Report) AssertClean(tb testing.TB) {
	tb.Helper()
	problems := r.Problems()
	if len(problems) == 0 {
		return
	}
	var frames []int
	frames = append(frames, r.malformedFrames...)
	for _, e := range r.Expert {
		if r.flagged(e) {
			frames = append(frames, e.Frame)
		}
	}
	slices.Sort(frames)
	frames = slices.Compact(frames)
	if len(frames) > 0 {
		tb.Logf("capture: tshark -V of offending frames %v:\n%s", frames, r.verbose(frames))
	}
	tb.Errorf("capture: Wireshark found %d problem(s) in the Diameter traffic of %s (port %d):\n  %s\nmessages:\n%s",
		len(problems), r.File, r.Port, strings.Join(problems, "\n  "), r.Summary())
}

// maxVerbose caps the tshark -V text logged by AssertClean.
const maxVerbose = 256 << 10

// verbose returns the tshark -V decode of the given frames (or why not).
func (r *Report) verbose(frames []int) string {
	if len(frames) > 50 {
		frames = frames[:50]
	}
	conds := make([]string, len(frames))
	for i, f := range frames {
		conds[i] = "frame.number == " + strconv.Itoa(f)
	}
	tshark, err := findTool("tshark")
	if err != nil {
		return err.Error()
	}
	// -x adds the hex dump to the decoded tree.
	filter := fmt.Sprintf("tcp.port == %d && (%s)", r.Port, strings.Join(conds, " || "))
	args := append(tsharkArgs(r.File, r.Port, filter), "-V", "-x")
	cmd := exec.Command(tshark, args...)
	cmd.Env = tsharkEnv(r.configDir)
	out, err := cmd.Output()
	text := string(out)
	if len(text) > maxVerbose {
		text = text[:maxVerbose] + "\n[... truncated ...]"
	}
	if err != nil {
		text += fmt.Sprintf("\n[tshark -V failed: %v%s]", err, exitStderr(err))
	}
	return text
}

// tsharkArgs are the decode options shared by every tshark run: two passes
// (so reassembly and request/answer links are known in every frame), no name
// resolution, TCP and Diameter reassembly on, checksums not verified
// (loopback checksums are offloaded, i.e. never filled in), and the port
// decoded as Diameter whatever its number. Only frames matching filter
// (default: on that port) are output.
func tsharkArgs(pcap string, port int, filter string) []string {
	p := strconv.Itoa(port)
	if filter == "" {
		filter = "tcp.port == " + p
	}
	return []string{
		"-r", pcap, "-2", "-n",
		"-o", "tcp.desegment_tcp_streams:TRUE",
		"-o", "diameter.desegment:TRUE",
		"-o", "tcp.check_checksum:FALSE",
		"-o", "tcp.analyze_sequence_numbers:TRUE",
		"-d", "tcp.port==" + p + ",diameter",
		"-Y", filter,
	}
}

// tsharkEnv points tshark at an empty configuration directory, so that a
// developer's personal Wireshark profile (preferences, decode-as entries,
// expert severity overrides, ...) cannot change the result.
func tsharkEnv(configDir string) []string {
	return append(os.Environ(), "WIRESHARK_CONFIG_DIR="+configDir)
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "; stderr: " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// Analyze decodes the capture with tshark (PDML output), treating tcp port
// as Diameter, and returns what Wireshark saw on that port. tshark failing
// or producing unparsable output fails the test immediately.
func Analyze(tb testing.TB, pcap string, port int) *Report {
	tb.Helper()
	return analyze(tb, pcap, port, append(tsharkArgs(pcap, port, ""), "-T", "pdml"))
}

// AnalyzeTLS is Analyze for Diameter over TLS/TCP on port: tshark decodes
// the port as TLS, decrypts the records with the session secrets of
// keyLogFile (NSS key log format, as SSLKEYLOGFILE writes it) and decodes
// their content as Diameter. Frames that carry only TLS (handshake, alerts)
// are not reported as undecoded payload; a record that does not decrypt
// leaves its Diameter messages out of Report.All, which the caller's
// counts then show.
func AnalyzeTLS(tb testing.TB, pcap string, port int, keyLogFile string) *Report {
	tb.Helper()
	p := strconv.Itoa(port)
	args := tsharkArgs(pcap, port, "")
	for i := range args {
		if args[i] == "tcp.port=="+p+",diameter" {
			args[i] = "tcp.port==" + p + ",tls"
		}
	}
	args = append(args, "-d", "tls.port=="+p+",diameter", "-o", "tls.keylog_file:"+keyLogFile,
		"-o", "tls.desegment_ssl_records:TRUE", "-o", "tls.desegment_ssl_application_data:TRUE", "-T", "pdml")
	return analyze(tb, pcap, port, args)
}

func analyze(tb testing.TB, pcap string, port int, args []string) *Report {
	tb.Helper()
	tshark := lookTool(tb, "tshark")
	configDir := tb.TempDir()
	cmd := exec.Command(tshark, args...)
	cmd.Env = tsharkEnv(configDir)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("capture: analyze: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("capture: analyze: start %s: %v", tshark, err)
	}
	r := &Report{File: pcap, Port: port, configDir: configDir}
	perr := r.parsePDML(stdout)
	if perr != nil {
		_, _ = io.Copy(io.Discard, stdout) // let tshark finish writing
	}
	werr := cmd.Wait()
	if werr != nil || perr != nil {
		tb.Fatalf("capture: analyze: %s %s: exit: %v, parse: %v\nstderr:\n%s",
			tshark, strings.Join(args, " "), werr, perr, stderr.String())
	}
	return r
}
