package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ioTimeout bounds every blocking read/write of the in-test peers, so a bug
// makes the test fail instead of hang.
const ioTimeout = 10 * time.Second

// session captures one TCP connection on a fresh loopback port: server runs
// on the accepted connection (which is closed when it returns), client on the
// dialled one (closed when it returns). Both sides are finished and closed
// before the capture is stopped and analysed.
func session(t *testing.T, server, client func(net.Conn) error) (rep *Report, pcap string, clientPort int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	c := Start(t, port)

	srvErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(ioTimeout))
		srvErr <- server(conn)
	}()

	conn, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	clientPort = conn.LocalAddr().(*net.TCPAddr).Port
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	cliErr := client(conn)
	conn.Close()
	if err := <-srvErr; err != nil {
		t.Errorf("server: %v", err)
	}
	if cliErr != nil {
		t.Errorf("client: %v", cliErr)
	}
	ln.Close()

	pcap = c.Stop(t)
	return Analyze(t, pcap, port), pcap, clientPort
}

// readMessage reads one Diameter message (header, then the rest as given by
// the Message Length field).
func readMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr) & 0xFFFFFF
	if n < 20 {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr)
	_, err := io.ReadFull(r, msg[20:])
	return msg, err
}

// drain reads until the peer closes.
func drain(c net.Conn) error {
	_, err := io.Copy(io.Discard, c)
	return err
}

func TestCapturesCleanCERCEA(t *testing.T) {
	req, ans := cer(0x1001, 0x2002), cea(0x1001, 0x2002)
	if len(req)%4 != 0 || len(ans)%4 != 0 {
		t.Fatalf("test messages not 32-bit aligned: %d, %d", len(req), len(ans))
	}
	rep, pcap, clientPort := session(t,
		func(s net.Conn) error { // server: CER in, CEA out, wait for the client to close
			m, err := readMessage(s)
			if err != nil {
				return err
			}
			if binary.BigEndian.Uint32(m[4:])&0xFFFFFF != 257 {
				return fmt.Errorf("expected CER, got % x", m[:8])
			}
			if _, err := s.Write(ans); err != nil {
				return err
			}
			return drain(s)
		},
		func(c net.Conn) error { // client: CER out, CEA in
			if _, err := c.Write(req); err != nil {
				return err
			}
			_, err := readMessage(c)
			return err
		})

	rep.AssertClean(t)
	t.Logf("decoded:\n%s", rep.Summary())

	if len(rep.All) != 2 {
		t.Fatalf("got %d Diameter messages, want 2:\n%s", len(rep.All), rep.Summary())
	}
	r, a := rep.All[0], rep.All[1]

	// CER
	if r.CommandCode != 257 || !r.Request || r.Flags != 0x80 || r.Proxiable || r.Error || r.Retransmit {
		t.Errorf("CER: code %d flags %#x (R=%v P=%v E=%v T=%v)", r.CommandCode, r.Flags, r.Request, r.Proxiable, r.Error, r.Retransmit)
	}
	if r.Version != 1 || r.Length != uint32(len(req)) || r.ApplicationID != 0 || r.HopByHop != 0x1001 || r.EndToEnd != 0x2002 {
		t.Errorf("CER header: %+v", r)
	}
	if r.SrcPort != clientPort || r.DstPort != rep.Port || r.Src != "127.0.0.1" {
		t.Errorf("CER direction: %s:%d -> %s:%d, want client port %d -> %d", r.Src, r.SrcPort, r.Dst, r.DstPort, clientPort, rep.Port)
	}
	if r.Command != "Capabilities-Exchange" {
		t.Errorf("CER command name %q", r.Command)
	}
	if len(r.AVPs) != 6 {
		t.Errorf("CER has %d AVPs, want 6: %+v", len(r.AVPs), r.AVPs)
	}
	wantAVPs := []struct {
		code  uint32
		name  string
		flags uint8
		value string
	}{
		{264, "Origin-Host", 0x40, "client.test"},
		{296, "Origin-Realm", 0x40, "test"},
		{257, "Host-IP-Address", 0x40, "127.0.0.1"},
		{266, "Vendor-Id", 0x40, "0"},
		{269, "Product-Name", 0x00, "cap"},
		{258, "Auth-Application-Id", 0x40, "16777252"},
	}
	for _, w := range wantAVPs {
		got := r.AVP(w.code)
		if got == nil {
			t.Errorf("CER: AVP %d missing", w.code)
			continue
		}
		if got.Name != w.name || got.Flags != w.flags || got.Value != w.value || got.VendorID != 0 {
			t.Errorf("CER AVP %d = %+v, want name %q flags %#x value %q", w.code, *got, w.name, w.flags, w.value)
		}
	}
	if oh := r.AVP(264); oh != nil && oh.Length != 8+uint32(len("client.test")) {
		t.Errorf("Origin-Host AVP length %d, want %d (padding excluded)", oh.Length, 8+len("client.test"))
	}
	if r.AVP(999) != nil || r.AVP(999).Child(1) != nil {
		t.Error("lookup of an absent AVP must return nil (and chain safely)")
	}

	// CEA
	if a.CommandCode != 257 || a.Request || a.Flags != 0 || a.HopByHop != 0x1001 || a.EndToEnd != 0x2002 {
		t.Errorf("CEA header: %+v", a)
	}
	if a.SrcPort != rep.Port || a.DstPort != clientPort {
		t.Errorf("CEA direction %d -> %d", a.SrcPort, a.DstPort)
	}
	if rc := a.AVP(268); rc == nil || rc.Value != "2001" || !strings.Contains(rc.Display, "DIAMETER_SUCCESS") {
		t.Errorf("CEA Result-Code = %+v, want 2001 DIAMETER_SUCCESS", rc)
	}
	if a.AnswerTo != r.Frame || r.AnswerIn != a.Frame {
		t.Errorf("request/answer link: CER frame %d answer in %d; CEA frame %d answer to %d", r.Frame, r.AnswerIn, a.Frame, a.AnswerTo)
	}
	if got := rep.Messages(257); len(got) != 2 || len(rep.Messages(280)) != 0 {
		t.Errorf("Messages(257) = %d, Messages(280) = %d", len(got), len(rep.Messages(280)))
	}

	// The expert analysis is really parsed: the TCP handshake yields Chat
	// items, which AssertClean (above) ignored.
	var chats int
	for _, e := range rep.Expert {
		if e.Severity == "Chat" && e.Protocol == "tcp" && e.Group == "Sequence" {
			chats++
		}
	}
	if chats == 0 {
		t.Errorf("no TCP Chat expert items parsed: %v", rep.Expert)
	}

	// Stop flushed the end of the session: both sides' FINs are in the file.
	if fins := countFrames(t, pcap, fmt.Sprintf("tcp.port == %d && tcp.flags.fin == 1", rep.Port)); fins != 2 {
		t.Errorf("capture has %d FIN segments on the port, want 2 (end of session not flushed?)", fins)
	}
}

// countFrames counts the frames of pcap matching a display filter.
func countFrames(t *testing.T, pcap, filter string) int {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-n", "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v%s", err, exitStderr(err))
	}
	return len(strings.Fields(string(out)))
}

func TestReassemblyAndGroupedAVPs(t *testing.T) {
	// A DWR split over two TCP segments, then two DWAs in a single segment.
	dwr := message(flagR|flagP, 280, 0, 7, 8,
		avpStr(264, "client.test"), avpStr(296, "test"),
		avpGrouped(260, avpU32(266, 10415), avpU32(258, s13App))) // Vendor-Specific-Application-Id
	dwa := func(hbh uint32) []byte {
		return message(0, 280, 0, hbh, 8, avpU32(268, 2001), avpStr(264, "server.test"), avpStr(296, "test"))
	}
	const split = 30
	gotFirst := make(chan struct{}) // server -> client: first segment received
	rep, _, _ := session(t,
		func(s net.Conn) error {
			first := make([]byte, split)
			if _, err := io.ReadFull(s, first); err != nil {
				return err
			}
			close(gotFirst) // the first segment was received on its own
			rest := make([]byte, len(dwr)-split)
			if _, err := io.ReadFull(s, rest); err != nil {
				return err
			}
			if _, err := s.Write(append(dwa(7), dwa(9)...)); err != nil {
				return err
			}
			return drain(s)
		},
		func(c net.Conn) error {
			if _, err := c.Write(dwr[:split]); err != nil {
				return err
			}
			select {
			case <-gotFirst:
			case <-time.After(ioTimeout):
				return fmt.Errorf("server did not get the first segment")
			}
			if _, err := c.Write(dwr[split:]); err != nil {
				return err
			}
			_, err := io.ReadFull(c, make([]byte, 2*len(dwa(7))))
			return err
		})
	rep.AssertClean(t)
	t.Logf("decoded:\n%s", rep.Summary())

	msgs := rep.Messages(280)
	if len(msgs) != 3 {
		t.Fatalf("got %d DWR/DWA, want 3:\n%s", len(msgs), rep.Summary())
	}
	req, a1, a2 := msgs[0], msgs[1], msgs[2]
	if !req.Request || !req.Proxiable || req.Flags != 0xC0 || req.Length != uint32(len(dwr)) {
		t.Errorf("reassembled DWR: %+v", req)
	}
	if a1.Frame != a2.Frame || a1.Index != 0 || a2.Index != 1 || a1.HopByHop != 7 || a2.HopByHop != 9 {
		t.Errorf("two DWAs of one segment: %v (index %d) / %v (index %d)", a1, a1.Index, a2, a2.Index)
	}
	vsai := req.AVP(260)
	if vsai == nil || vsai.Name != "Vendor-Specific-Application-Id" || len(vsai.Children) != 2 {
		t.Fatalf("grouped AVP: %+v", vsai)
	}
	if v := vsai.Child(266); v == nil || v.Value != "10415" {
		t.Errorf("Vendor-Id child = %+v", v)
	}
	if v := vsai.Child(258); v == nil || v.Value != strconv.Itoa(s13App) {
		t.Errorf("Auth-Application-Id child = %+v", v)
	}
	if vsai.Child(268) != nil {
		t.Error("Child of an absent code must be nil")
	}
}

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
	logs   []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func TestDetectsBrokenDiameter(t *testing.T) {
	origin := func(hbh uint32, extra ...[]byte) []byte {
		return message(flagR, 280, 0, hbh, hbh, append([][]byte{avpStr(264, "client.test"), avpStr(296, "test")}, extra...)...)
	}
	cases := []struct {
		name  string
		bytes func() []byte
		want  string // substring of one of the reported problems
	}{
		{"AVP length past end of message", func() []byte {
			m := origin(1)
			binary.BigEndian.PutUint32(m[20+20+4:], 0x40<<24|200) // Origin-Realm claims 200 bytes
			return m
		}, "length 200"},
		{"first AVP length past end of message", func() []byte {
			m := origin(2)
			binary.BigEndian.PutUint32(m[20+4:], 0x40<<24|200) // Origin-Host claims 200 bytes
			return m
		}, "frame "},
		{"non-zero padding", func() []byte {
			m := origin(3)
			m[20+19] = 'x' // the padding byte after "client.test"
			return m
		}, "Padding is non-zero"},
		{"unknown AVP", func() []byte { return origin(4, avpU32(9999, 1)) }, "Unknown AVP 9999"},
		{"message cut short", func() []byte { return origin(5)[:30] }, "not decoded as Diameter"},
		{"garbage", func() []byte { return []byte("GET / HTTP/1.0\r\n\r\n") }, "not decoded as Diameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, _, _ := session(t, drain, func(c net.Conn) error {
				_, err := c.Write(tc.bytes())
				return err
			})
			if len(rep.Malformed) == 0 && len(rep.Expert) == 0 {
				t.Fatal("nothing reported for a broken message")
			}
			problems := rep.Problems()
			if len(problems) == 0 {
				t.Fatalf("no problems; Malformed=%q Expert=%v", rep.Malformed, rep.Expert)
			}
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("problems do not mention %q:\n%s", tc.want, strings.Join(problems, "\n"))
			}
			t.Logf("problems:\n%s", strings.Join(problems, "\n"))

			// AssertClean must fail, and show the tshark -V decode of the frame.
			rec := &recorder{TB: t}
			rep.AssertClean(rec)
			if len(rec.errors) != 1 {
				t.Fatalf("AssertClean reported %d errors, want 1", len(rec.errors))
			}
			if !strings.Contains(rec.errors[0], tc.want) {
				t.Errorf("AssertClean message lacks %q:\n%s", tc.want, rec.errors[0])
			}
			if logs := strings.Join(rec.logs, "\n"); !strings.Contains(logs, "Transmission Control Protocol, Src Port") {
				t.Errorf("AssertClean did not log the tshark -V decode:\n%s", logs)
			}
		})
	}
}

func TestAssertCleanFailsOnEmptyCapture(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c := Start(t, port)
	rep := Analyze(t, c.Stop(t), port)
	if len(rep.All) != 0 || len(rep.Malformed) != 0 {
		t.Fatalf("empty capture decoded as %+v", rep)
	}
	rec := &recorder{TB: t}
	rep.AssertClean(rec)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "no Diameter message") {
		t.Errorf("AssertClean on a capture without Diameter: %q", rec.errors)
	}
	if c.Stop(t) != rep.File {
		t.Error("second Stop must return the same path")
	}
}

func TestProblemsPolicy(t *testing.T) {
	msg := Message{Frame: 4, CommandCode: 257}
	cases := []struct {
		e    ExpertInfo
		flag bool
	}{
		{ExpertInfo{Frame: 1, Severity: "Chat", Group: "Sequence", Protocol: "tcp", Field: "tcp.connection.syn"}, false},
		{ExpertInfo{Frame: 2, Severity: "Note", Group: "Sequence", Protocol: "tcp", Field: "tcp.connection.fin_active"}, false},
		{ExpertInfo{Frame: 3, Severity: "Comment", Group: "Comment", Protocol: "frame", Field: "frame.comment.expert"}, false},
		{ExpertInfo{Frame: 4, Severity: "Note", Group: "Malformed", Protocol: "diameter", Field: "diameter.avp.pad.missing"}, true},
		{ExpertInfo{Frame: 4, Severity: "Note", Group: "Protocol", Protocol: "diameter", Field: "diameter.something"}, true},
		{ExpertInfo{Frame: 5, Severity: "Warning", Group: "Sequence", Protocol: "tcp", Field: "tcp.connection.rst"}, true},
		{ExpertInfo{Frame: 6, Severity: "Error", Group: "Malformed", Protocol: "diameter", Field: "diameter.invalid_avp_len"}, true},
	}
	for _, tc := range cases {
		r := &Report{All: []Message{msg}, Expert: []ExpertInfo{tc.e}}
		if got := len(r.Problems()) > 0; got != tc.flag {
			t.Errorf("%v: flagged = %v, want %v", tc.e, got, tc.flag)
		}
	}

	rst := ExpertInfo{Frame: 5, Severity: "Warning", Group: "Sequence", Protocol: "tcp", Field: "tcp.connection.rst"}
	r := &Report{All: []Message{msg}, Expert: []ExpertInfo{rst}}
	if p := r.Allow("tcp.connection.rst").Problems(); len(p) != 0 {
		t.Errorf("allowed item still reported: %q", p)
	}
	bad := ExpertInfo{Frame: 6, Severity: "Error", Group: "Malformed", Protocol: "diameter", Field: "diameter.invalid_avp_len"}
	r = &Report{All: []Message{msg}, Expert: []ExpertInfo{bad}}
	if p := r.Allow(bad.Field).Problems(); len(p) != 1 {
		t.Errorf("Malformed items must not be allowed away: %q", p)
	}
	if p := (&Report{}).Problems(); len(p) != 1 || !strings.Contains(p[0], "no Diameter message") {
		t.Errorf("empty report: %q", p)
	}
}

// TestParsePDMLShapes feeds the parser the PDML shapes that are hard to
// provoke over a real socket: an exception-style top-level "[Malformed
// Packet]" element, and the Data fallback PDML wraps in fake-field-wrapper.
func TestParsePDMLShapes(t *testing.T) {
	const pdml = `<?xml version="1.0" encoding="utf-8"?>
<pdml version="0" creator="wireshark/4.0.17">
<packet>
  <proto name="geninfo"><field name="num" show="7"/></proto>
  <proto name="tcp"><field name="tcp.srcport" show="1000"/><field name="tcp.dstport" show="3868"/><field name="tcp.len" show="24"/></proto>
  <proto name="diameter" showname="Diameter Protocol">
    <field name="diameter.flags" show="0x80"/>
    <field name="diameter.cmd.code" showname="Command Code: Device-Watchdog (280)" show="280"/>
  </proto>
  <proto name="_ws.malformed" showname="[Malformed Packet: Diameter]">
    <field name="_ws.expert" showname="Expert Info (Error/Malformed): Malformed Packet (Exception occurred)">
      <field name="_ws.malformed.expert" showname="Malformed Packet (Exception occurred)" show=""/>
      <field name="_ws.expert.message" show="Malformed Packet (Exception occurred)"/>
      <field name="_ws.expert.severity" show="8388608"/>
      <field name="_ws.expert.group" showname="Group: Malformed" show="117440512"/>
    </field>
  </proto>
</packet>
<packet>
  <proto name="geninfo"><field name="num" show="8"/></proto>
  <proto name="tcp"><field name="tcp.srcport" show="1000"/><field name="tcp.dstport" show="3868"/><field name="tcp.len" show="4"/></proto>
  <proto name="fake-field-wrapper"><field name="data" value="deadbeef"/></proto>
</packet>
</pdml>`
	r := &Report{}
	if err := r.parsePDML(strings.NewReader(pdml)); err != nil {
		t.Fatal(err)
	}
	if len(r.All) != 1 || r.All[0].Frame != 7 || r.All[0].Command != "Device-Watchdog" || !r.All[0].Request {
		t.Errorf("messages: %+v", r.All)
	}
	if len(r.Malformed) != 2 ||
		!strings.HasPrefix(r.Malformed[0], "frame 7: [diameter] Malformed Packet: Diameter (Error/Malformed): Malformed Packet (Exception occurred)") ||
		!strings.HasPrefix(r.Malformed[1], "frame 8: 1000→3868: TCP payload (4 bytes) not decoded as Diameter") {
		t.Errorf("malformed: %q", r.Malformed)
	}
	if len(r.Expert) != 1 || r.Expert[0].Severity != "Error" || r.Expert[0].Field != "_ws.malformed.expert" || r.Expert[0].Protocol != "diameter" {
		t.Errorf("expert: %+v", r.Expert)
	}
	if p := r.Problems(); len(p) != 2 {
		t.Errorf("problems (the expert item duplicates Malformed[0] and is listed once): %q", p)
	}
}
