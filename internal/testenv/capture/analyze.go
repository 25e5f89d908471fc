package capture

import (
	"encoding/xml"
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

// Report is what Wireshark's dissector found in a capture, restricted to the
// frames with tcp.port == Port.
type Report struct {
	File string // the pcapng file analysed
	Port int    // the TCP port decoded as Diameter

	// All holds every Diameter message in capture order. A message spanning
	// several TCP segments is reported once, in the frame that completes it;
	// a segment carrying several messages yields several entries with the
	// same Frame (and increasing Index).
	All []Message

	// Malformed lists every "Malformed Packet" item (_ws.malformed) and every
	// frame whose TCP payload on Port was not decoded as Diameter at all
	// (Wireshark silently falls back to "Data" when a message fails its
	// Diameter sanity check, e.g. a bad first AVP), one readable line each,
	// starting with "frame N:".
	Malformed []string

	// Expert holds every expert info item of those frames, any severity.
	Expert []ExpertInfo

	malformedFrames []int
	frameSrc        map[int]int // frame number → TCP source port
	allow           []string
	configDir       string // empty Wireshark configuration directory
}

// Message is one Diameter message as decoded by Wireshark.
type Message struct {
	Frame   int // frame number (1-based) in which Wireshark decoded the message
	Index   int // 0-based position among the Diameter messages of that frame
	Src     string
	Dst     string
	SrcPort int
	DstPort int

	Version       uint8
	Length        uint32 // the header's Message Length field
	Flags         uint8  // raw command flags byte
	Request       bool   // R bit (0x80)
	Proxiable     bool   // P bit (0x40)
	Error         bool   // E bit (0x20)
	Retransmit    bool   // T bit (0x10)
	CommandCode   uint32
	Command       string // Wireshark's name, e.g. "Capabilities-Exchange"
	ApplicationID uint32
	HopByHop      uint32
	EndToEnd      uint32
	AnswerIn      int // requests: frame of the matching answer (0: none seen)
	AnswerTo      int // answers: frame of the matching request (0: none seen)

	AVPs []AVP // top-level AVPs in wire order
}

// AVP is one AVP as decoded by Wireshark. Grouped AVPs have Children.
type AVP struct {
	Name     string // dictionary name, e.g. "Origin-Host" ("Unknown" if not in it)
	Code     uint32
	VendorID uint32 // 0 unless the V bit is set
	Flags    uint8  // raw flags byte (V 0x80, M 0x40, P 0x20)
	Length   uint32 // the AVP Length field (header + data, without padding)
	// Value is Wireshark's value as a string: the text of strings and
	// identities, the decimal number of integers and enumerations, the
	// address of Address AVPs ("127.0.0.1"), colon-separated hex otherwise.
	Value string
	// Display is Wireshark's rendering, e.g. "DIAMETER_SUCCESS (2001)".
	Display  string
	Field    string // Wireshark field name of the value, e.g. "diameter.Result-Code"
	Children []AVP
}

// ExpertInfo is one item of Wireshark's expert analysis.
type ExpertInfo struct {
	Frame    int
	Severity string // "Comment", "Chat", "Note", "Warning" or "Error"
	Group    string // e.g. "Malformed", "Sequence", "Undecoded", "Protocol"
	Protocol string // top-level protocol it was raised in, e.g. "diameter", "tcp"
	Field    string // expert item's filter name, e.g. "diameter.avp.invalid-len"
	Message  string
}

func (e ExpertInfo) String() string {
	return fmt.Sprintf("frame %d: %s/%s [%s] %s (%s)", e.Frame, e.Severity, e.Group, e.Protocol, e.Message, e.Field)
}

// Messages returns the messages with the given command code, in capture order.
func (r *Report) Messages(code uint32) []Message {
	var out []Message
	for _, m := range r.All {
		if m.CommandCode == code {
			out = append(out, m)
		}
	}
	return out
}

// AVP returns the first top-level AVP with the given code, or nil.
func (m Message) AVP(code uint32) *AVP {
	for i := range m.AVPs {
		if m.AVPs[i].Code == code {
			return &m.AVPs[i]
		}
	}
	return nil
}

// Child returns the first child AVP with the given code, or nil. It may be
// called on a nil *AVP (and then returns nil), so lookups can be chained:
// m.AVP(260).Child(266).
func (a *AVP) Child(code uint32) *AVP {
	if a == nil {
		return nil
	}
	for i := range a.Children {
		if a.Children[i].Code == code {
			return &a.Children[i]
		}
	}
	return nil
}

func (m Message) String() string {
	kind := "Answer"
	if m.Request {
		kind = "Request"
	}
	return fmt.Sprintf("frame %d: %d→%d %s %s(%d) app=%d flags=%#02x hbh=%#x e2e=%#x avps=%d",
		m.Frame, m.SrcPort, m.DstPort, m.Command, kind, m.CommandCode, m.ApplicationID,
		m.Flags, m.HopByHop, m.EndToEnd, len(m.AVPs))
}

// Summary is a one-line-per-message listing, for test logs.
func (r *Report) Summary() string {
	var b strings.Builder
	for _, m := range r.All {
		b.WriteString(m.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Allow makes AssertClean tolerate expert items with the given field names
// (e.g. "tcp.connection.rst" for a test that aborts connections on purpose).
// It returns r for chaining. Malformed items are never tolerated.
func (r *Report) Allow(fields ...string) *Report {
	r.allow = append(r.allow, fields...)
	return r
}

// SentBy returns a copy of r restricted to the frames sent from TCP port
// port. A test that sends deliberately malformed requests (which Wireshark
// rightly flags) uses it to check everything the server sent.
func (r *Report) SentBy(port int) *Report {
	c := *r
	c.All, c.Malformed, c.malformedFrames, c.Expert = nil, nil, nil, nil
	for _, m := range r.All {
		if m.SrcPort == port {
			c.All = append(c.All, m)
		}
	}
	for i, f := range r.malformedFrames {
		if r.frameSrc[f] == port {
			c.Malformed = append(c.Malformed, r.Malformed[i])
			c.malformedFrames = append(c.malformedFrames, f)
		}
	}
	for _, e := range r.Expert {
		if r.frameSrc[e.Frame] == port {
			c.Expert = append(c.Expert, e)
		}
	}
	c.allow = append([]string(nil), r.allow...)
	return &c
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

func (r *Report) flagged(e ExpertInfo) bool {
	if e.Group == "Malformed" {
		return true
	}
	if slices.Contains(r.allow, e.Field) {
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
	tshark := lookTool(tb, "tshark")
	args := append(tsharkArgs(pcap, port, ""), "-T", "pdml")
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

// pdmlNode is a <proto> or <field> element of tshark's PDML output.
type pdmlNode struct {
	XMLName  xml.Name
	Name     string     `xml:"name,attr"`
	ShowName string     `xml:"showname,attr"`
	Show     string     `xml:"show,attr"`
	Value    string     `xml:"value,attr"`
	Children []pdmlNode `xml:",any"`
}

func (n *pdmlNode) isProto() bool { return n.XMLName.Local == "proto" }

// find returns the first descendant (depth-first, excluding n) named name.
func (n *pdmlNode) find(name string) *pdmlNode {
	for i := range n.Children {
		c := &n.Children[i]
		if c.Name == name {
			return c
		}
		if f := c.find(name); f != nil {
			return f
		}
	}
	return nil
}

// child returns the first direct child named name.
func (n *pdmlNode) child(name string) *pdmlNode {
	for i := range n.Children {
		if n.Children[i].Name == name {
			return &n.Children[i]
		}
	}
	return nil
}

// parsePDML streams tshark's PDML, one <packet> at a time.
func (r *Report) parsePDML(in io.Reader) error {
	dec := xml.NewDecoder(in)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "packet" {
			continue
		}
		var pkt struct {
			Protos []pdmlNode `xml:",any"`
		}
		if err := dec.DecodeElement(&pkt, &se); err != nil {
			return err
		}
		r.addPacket(pkt.Protos)
	}
}

func (r *Report) addPacket(protos []pdmlNode) {
	var frame, srcPort, dstPort, tcpLen int
	var src, dst, protocols string
	var reassembledElsewhere, repeated, hasDiameter, hasData bool
	for i := range protos {
		p := &protos[i]
		switch p.Name {
		case "geninfo":
			if f := p.child("num"); f != nil {
				frame = atoi(f.Show)
			}
		case "frame":
			if f := p.find("frame.number"); f != nil && frame == 0 {
				frame = atoi(f.Show)
			}
			if f := p.find("frame.protocols"); f != nil {
				protocols = f.Show
			}
		case "ip", "ipv6":
			if f := p.find(p.Name + ".src"); f != nil {
				src = f.Show
			}
			if f := p.find(p.Name + ".dst"); f != nil {
				dst = f.Show
			}
		case "tcp":
			if f := p.find("tcp.srcport"); f != nil {
				srcPort = atoi(f.Show)
			}
			if f := p.find("tcp.dstport"); f != nil {
				dstPort = atoi(f.Show)
			}
			if f := p.find("tcp.len"); f != nil {
				tcpLen = atoi(f.Show)
			}
			reassembledElsewhere = p.find("tcp.reassembled_in") != nil
			// Segments whose payload was already seen carry no new data.
			repeated = p.find("tcp.analysis.retransmission") != nil ||
				p.find("tcp.analysis.fast_retransmission") != nil ||
				p.find("tcp.analysis.spurious_retransmission") != nil ||
				p.find("tcp.analysis.keep_alive") != nil
		case "diameter":
			hasDiameter = true
		case "data":
			hasData = true
		case "fake-field-wrapper":
			// PDML wraps top-level fields that belong to no protocol; the
			// "data" dissector's payload field ends up here.
			hasData = hasData || p.child("data") != nil
		}
	}
	if r.frameSrc == nil {
		r.frameSrc = map[int]int{}
	}
	r.frameSrc[frame] = srcPort

	index := 0
	for i := range protos {
		p := &protos[i]
		if p.Name == "diameter" {
			m := parseMessage(p)
			m.Frame, m.Index = frame, index
			m.Src, m.Dst, m.SrcPort, m.DstPort = src, dst, srcPort, dstPort
			r.All = append(r.All, m)
			index++
		}
	}
	// Expert items and malformed markers, attributed to the top-level
	// protocol they sit in. An exception caught by the dissector framework
	// adds a top-level "[Malformed Packet: X]" element: attribute it to the
	// protocol before it.
	last := ""
	for i := range protos {
		p := &protos[i]
		if strings.HasPrefix(p.Name, "_ws.") {
			r.collectIssues(frame, last, &pdmlNode{Children: protos[i : i+1]})
			continue
		}
		last = p.Name
		r.collectIssues(frame, p.Name, p)
	}

	switch {
	case hasData:
		r.addMalformed(frame, fmt.Sprintf("frame %d: %d→%d: TCP payload (%d bytes) not decoded as Diameter: "+
			"the dissector rejected it and shows it as Data (protocols %s)", frame, srcPort, dstPort, tcpLen, protocols))
	case tcpLen > 0 && !hasDiameter && !reassembledElsewhere && !repeated:
		r.addMalformed(frame, fmt.Sprintf("frame %d: %d→%d: TCP payload (%d bytes) not decoded as Diameter: "+
			"it never completed a Diameter message (message cut short, or capture ended mid-message; protocols %s)",
			frame, srcPort, dstPort, tcpLen, protocols))
	}
}

func (r *Report) addMalformed(frame int, s string) {
	r.Malformed = append(r.Malformed, s)
	r.malformedFrames = append(r.malformedFrames, frame)
}

// collectIssues walks n's subtree for expert items and malformed markers.
func (r *Report) collectIssues(frame int, proto string, n *pdmlNode) {
	for i := range n.Children {
		c := &n.Children[i]
		switch {
		case c.Name == "_ws.expert":
			r.Expert = append(r.Expert, parseExpert(frame, proto, c))
			continue
		case c.Name == "_ws.malformed":
			// "Malformed Packet" markers come with an expert item next to
			// them (expert_add_info with group Malformed) or inside them
			// (exception caught by the dissector framework).
			text := strings.Trim(c.ShowName, "[]")
			if text == "" {
				text = "Malformed Packet"
			}
			ex := n.child("_ws.expert")
			if ex == nil {
				ex = c.find("_ws.expert")
			}
			if ex != nil {
				e := parseExpert(frame, proto, ex)
				text = fmt.Sprintf("%s (%s/%s): %s", text, e.Severity, e.Group, e.Message)
			}
			r.addMalformed(frame, fmt.Sprintf("frame %d: [%s] %s", frame, proto, text))
		}
		r.collectIssues(frame, proto, c)
	}
}

func parseExpert(frame int, proto string, n *pdmlNode) ExpertInfo {
	e := ExpertInfo{Frame: frame, Protocol: proto}
	for i := range n.Children {
		c := &n.Children[i]
		switch c.Name {
		case "_ws.expert.message":
			e.Message = c.Show
		case "_ws.expert.severity":
			e.Severity = afterColon(c.ShowName, severityNames[c.Show])
		case "_ws.expert.group":
			e.Group = afterColon(c.ShowName, c.Show)
		default:
			if e.Field == "" && c.Name != "" && !strings.HasPrefix(c.Name, "_ws.expert") {
				e.Field = c.Name
			}
		}
	}
	if e.Message == "" {
		e.Message = afterColon(n.ShowName, n.ShowName)
	}
	return e
}

// severityNames maps PDML's numeric severities (epan/proto.h PI_*) to the
// names used in shownames, in case a showname is missing.
var severityNames = map[string]string{
	"1048576": "Comment",
	"2097152": "Chat",
	"4194304": "Note",
	"6291456": "Warning",
	"8388608": "Error",
}

// parseMessage converts one <proto name="diameter"> element.
func parseMessage(p *pdmlNode) Message {
	var m Message
	for i := range p.Children {
		f := &p.Children[i]
		switch f.Name {
		case "diameter.version":
			m.Version = uint8(atou(f.Show))
		case "diameter.length":
			m.Length = uint32(atou(f.Show))
		case "diameter.flags":
			m.Flags = uint8(atou(f.Show))
			m.Request = m.Flags&0x80 != 0
			m.Proxiable = m.Flags&0x40 != 0
			m.Error = m.Flags&0x20 != 0
			m.Retransmit = m.Flags&0x10 != 0
		case "diameter.cmd.code":
			m.CommandCode = uint32(atou(f.Show))
			m.Command = nameBeforeParen(afterColon(f.ShowName, ""))
		case "diameter.applicationId":
			m.ApplicationID = uint32(atou(f.Show))
		case "diameter.hopbyhopid":
			m.HopByHop = uint32(atou(f.Show))
		case "diameter.endtoendid":
			m.EndToEnd = uint32(atou(f.Show))
		case "diameter.answer_in":
			m.AnswerIn = atoi(f.Show)
		case "diameter.answer_to":
			m.AnswerTo = atoi(f.Show)
		case "diameter.avp":
			m.AVPs = append(m.AVPs, parseAVP(f))
		}
	}
	return m
}

// avpHeaderFields are the children of a diameter.avp element that are not
// its value.
var avpHeaderFields = map[string]bool{
	"diameter.avp.code":     true,
	"diameter.avp.flags":    true,
	"diameter.avp.len":      true,
	"diameter.avp.vendorId": true,
	"diameter.avp.pad":      true,
}

func parseAVP(n *pdmlNode) AVP {
	var a AVP
	for i := range n.Children {
		f := &n.Children[i]
		switch {
		case f.Name == "diameter.avp.code":
			a.Code = uint32(atou(f.Show))
			// "AVP Code: 264 Origin-Host"
			if rest := afterColon(f.ShowName, ""); rest != "" {
				if _, name, ok := strings.Cut(rest, " "); ok {
					a.Name = name
				}
			}
		case f.Name == "diameter.avp.flags":
			a.Flags = uint8(atou(f.Show))
		case f.Name == "diameter.avp.len":
			a.Length = uint32(atou(f.Show))
		case f.Name == "diameter.avp.vendorId":
			a.VendorID = uint32(atou(f.Show))
		case avpHeaderFields[f.Name], f.Name == "", strings.HasPrefix(f.Name, "_ws."), f.isProto():
		case a.Field == "":
			a.Field = f.Name
			a.Value = f.Show
			a.Display = afterColon(f.ShowName, f.Show)
			for j := range f.Children {
				g := &f.Children[j]
				switch {
				case g.Name == "diameter.avp":
					a.Children = append(a.Children, parseAVP(g))
				case strings.HasSuffix(g.Name, ".IPv4"), strings.HasSuffix(g.Name, ".IPv6"):
					a.Value = g.Show // Address AVP: the address, not family+bytes
				}
			}
		}
	}
	if a.Name == "" {
		a.Name = strings.TrimPrefix(a.Field, "diameter.")
	}
	return a
}

// afterColon returns the text after the first ": " of a showname, or def.
func afterColon(showname, def string) string {
	if _, v, ok := strings.Cut(showname, ": "); ok {
		return v
	}
	return def
}

// nameBeforeParen turns "Capabilities-Exchange (257)" into "Capabilities-Exchange".
func nameBeforeParen(s string) string {
	if i := strings.LastIndex(s, " ("); i > 0 {
		return s[:i]
	}
	return s
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// atou parses decimal or 0x-prefixed hex, as PDML "show" attributes use both.
func atou(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	return n
}
