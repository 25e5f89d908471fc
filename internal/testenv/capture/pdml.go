package capture

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

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
	var reassembledElsewhere, repeated, hasDiameter, hasData, hasTLS bool
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
		case "tls":
			hasTLS = true // AnalyzeTLS: handshake and alert records carry no Diameter
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
	case tcpLen > 0 && !hasDiameter && !hasTLS && !reassembledElsewhere && !repeated:
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
