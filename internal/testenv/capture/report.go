package capture

import (
	"fmt"
	"strings"
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
