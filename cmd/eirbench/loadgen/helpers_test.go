package loadgen

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// The tests of this package encode messages by hand, so that the package
// and its tests stay free of go-diameter; cmd/eirbench tests the engine
// with go-diameter's codec, the reference server and eird's server.

func avpBytes(code uint32, flags uint8, vendor uint32, data []byte) []byte {
	hl := 8
	if vendor != 0 {
		flags |= avpFlagVendor
		hl = 12
	}
	l := hl + len(data)
	b := make([]byte, (l+3)&^3)
	binary.BigEndian.PutUint32(b[0:4], code)
	b[4] = flags
	b[5], b[6], b[7] = byte(l>>16), byte(l>>8), byte(l)
	if vendor != 0 {
		binary.BigEndian.PutUint32(b[8:12], vendor)
	}
	copy(b[hl:], data)
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func grouped(avps ...[]byte) []byte {
	var b []byte
	for _, a := range avps {
		b = append(b, a...)
	}
	return b
}

func msgBytes(code uint32, flags uint8, app, hbh, e2e uint32, avps ...[]byte) []byte {
	body := grouped(avps...)
	l := headerLen + len(body)
	b := make([]byte, headerLen, l)
	b[0] = 1
	b[1], b[2], b[3] = byte(l>>16), byte(l>>8), byte(l)
	b[4] = flags
	b[5], b[6], b[7] = byte(code>>16), byte(code>>8), byte(code)
	binary.BigEndian.PutUint32(b[8:12], app)
	putIDs(b, hbh, e2e)
	return append(b, body...)
}

const mbit = 0x40

// rawCodec is a hand-written Codec.
type rawCodec struct{}

func (rawCodec) CER(p Peer) ([]byte, error) {
	return msgBytes(cmdCER, flagRequest, 0, 0, 0,
		avpBytes(avpOriginHost, mbit, 0, []byte(p.OriginHost)),
		avpBytes(avpOriginRealm, mbit, 0, []byte(p.OriginRealm))), nil
}

func (rawCodec) ECR(p Peer, f ECRFields) ([]byte, error) {
	avps := [][]byte{
		avpBytes(avpSessionID, mbit, 0, []byte(f.SessionID)),
		avpBytes(277, mbit, 0, u32(1)),
		avpBytes(avpOriginHost, mbit, 0, []byte(p.OriginHost)),
		avpBytes(avpOriginRealm, mbit, 0, []byte(p.OriginRealm)),
		avpBytes(283, mbit, 0, []byte(f.DestinationRealm)),
		avpBytes(avpTerminalInformation, mbit, vendor3GPP, avpBytes(avpIMEI, mbit, vendor3GPP, []byte(f.IMEI))),
	}
	if f.IMSI != "" {
		avps = append(avps, avpBytes(avpUserName, mbit, 0, []byte(f.IMSI)))
	}
	return msgBytes(cmdECR, flagRequest|0x40, appS13, 0, 0, avps...), nil
}

func (rawCodec) BaseAnswer(p Peer, command, hbh, e2e uint32) ([]byte, error) {
	return msgBytes(command, 0, 0, hbh, e2e,
		avpBytes(avpResultCode, mbit, 0, u32(resultSuccess)),
		avpBytes(avpOriginHost, mbit, 0, []byte(p.OriginHost)),
		avpBytes(avpOriginRealm, mbit, 0, []byte(p.OriginRealm))), nil
}

func (rawCodec) DPR(p Peer) ([]byte, error) {
	return msgBytes(cmdDPR, flagRequest, 0, 0, 0,
		avpBytes(avpOriginHost, mbit, 0, []byte(p.OriginHost)),
		avpBytes(avpOriginRealm, mbit, 0, []byte(p.OriginRealm)),
		avpBytes(273, mbit, 0, u32(2))), nil
}

// answerFor answers an ECR from d's lists, by hand.
func answerFor(d *Dataset) func(req []byte) []byte {
	status := map[eir.IMEI]int{}
	for _, v := range d.White {
		status[v] = 0
	}
	for _, v := range d.Grey {
		status[v] = 2
	}
	for _, v := range d.Black {
		status[v] = 1
	}
	pairs := map[Pair]bool{}
	for _, p := range d.Exceptions {
		pairs[p] = true
	}
	return func(req []byte) []byte {
		h, _ := parseHeader(req)
		sid, imei, imsi := ecrFields(req)
		avps := [][]byte{avpBytes(avpSessionID, mbit, 0, sid)}
		st, listed := status[imei]
		switch {
		case !listed:
			avps = append(avps, avpBytes(avpExperimentalResult, mbit, 0, grouped(
				avpBytes(266, mbit, 0, u32(vendor3GPP)),
				avpBytes(avpExperimentalResultCode, mbit, 0, u32(resultUnknownEq)))))
		default:
			if pairs[Pair{imei, imsi}] {
				st = 0
			}
			avps = append(avps, avpBytes(avpResultCode, mbit, 0, u32(resultSuccess)),
				avpBytes(avpEquipmentStatus, mbit, vendor3GPP, u32(uint32(st))))
		}
		return msgBytes(cmdECR, 0x40, appS13, h.hbh, h.e2e, avps...)
	}
}

// ecrFields decodes an ECR's Session-Id, IMEI (Terminal-Information) and
// User-Name (0 when absent) from the wire.
func ecrFields(req []byte) (sid []byte, imei eir.IMEI, imsi uint64) {
	it := avpIter{b: req[headerLen:]}
	for a, ok := it.next(); ok; a, ok = it.next() {
		switch a.code {
		case avpSessionID:
			sid = a.data
		case avpUserName:
			for _, c := range a.data {
				imsi = imsi*10 + uint64(c-'0')
			}
		case avpTerminalInformation:
			sub := avpIter{b: a.data}
			for s, ok := sub.next(); ok; s, ok = sub.next() {
				id, _ := eir.ParseIdentity(string(s.data))
				imei = id.IMEI
			}
		}
	}
	return sid, imei, imsi
}

// fakeServer is a hand-written Diameter peer: it answers CER with CEA
// 2001 and DPR with DPA, and hands ECRs to ecr (nil answer: swallowed).
type fakeServer struct {
	l       net.Listener
	ecr     func(req []byte) []byte
	onOpen  func(c net.Conn) // after the CEA
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	answers []header // answers the client sent (DWA)
	ecrs    int
}

func startFake(t *testing.T, ecr func([]byte) []byte, onOpen func(net.Conn)) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{l: l, ecr: ecr, onOpen: onOpen, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.l.Addr().String() }

func (s *fakeServer) accept() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var wmu sync.Mutex
	write := func(b []byte) {
		wmu.Lock()
		c.Write(b)
		wmu.Unlock()
	}
	for {
		msg, err := readFrame(br)
		if err != nil {
			return
		}
		h, _ := parseHeader(msg)
		switch {
		case h.code == cmdCER && h.isRequest():
			write(msgBytes(cmdCER, 0, 0, h.hbh, h.e2e,
				avpBytes(avpResultCode, mbit, 0, u32(resultSuccess)),
				avpBytes(avpOriginHost, mbit, 0, []byte("eir.test")),
				avpBytes(avpOriginRealm, mbit, 0, []byte("test.realm"))))
			if s.onOpen != nil {
				s.onOpen(c)
			}
		case h.code == cmdDPR && h.isRequest():
			write(msgBytes(cmdDPR, 0, 0, h.hbh, h.e2e, avpBytes(avpResultCode, mbit, 0, u32(resultSuccess))))
		case h.code == cmdECR && h.isRequest():
			s.mu.Lock()
			s.ecrs++
			s.mu.Unlock()
			if a := s.ecr(msg); a != nil {
				write(a)
			}
		case !h.isRequest():
			s.mu.Lock()
			s.answers = append(s.answers, h)
			s.mu.Unlock()
		}
	}
}

func (s *fakeServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// baseOptions returns small, fast options against addr.
func baseOptions(addr string, d *Dataset) Options {
	m, _ := ParseMix(DefaultMix)
	return Options{Addr: addr, Codec: rawCodec{}, Data: d, Mix: m, Seed: 7, Conns: 2, Window: 16,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: 2 * time.Second, IMSIShare: 0.5}
}
