package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// slot is one request in flight, found again by its Hop-by-Hop identifier.
type slot struct {
	hbh      uint32 // 0: the slot is free
	e2e      uint32
	cat      Category
	idx      int32  // index of the IMEI in the category's list
	imsi     uint64 // User-Name sent; 0: none
	intended int64  // intended send time, ns since the run's base
	sent     int64  // actual send time (timeouts count from it)
}

// measured reports whether a request intended at t is in the window.
func (e *engine) measured(t int64) bool { return t >= e.measureStart && t < e.stopAt.Load() }

// readStats are kept by a connection's reader.
type readStats struct {
	hist      *Histogram // from the intended send time
	service   *Histogram // from the actual send time
	results   Results
	answered  [numCategories]uint64
	mismatch  [numCategories]uint64
	answers   uint64
	inWindow  uint64
	unmatched uint64
	malformed uint64
	samples   []MismatchSample
}

// writeStats are kept by a connection's writer.
type writeStats struct {
	sent     [numCategories]uint64
	timeouts [numCategories]uint64
	lost     uint64
}

// conn is one Diameter connection of the run: a reader goroutine matching
// answers to the slots, and a writer goroutine that builds requests from
// the templates and writes all that are ready with one Write.
type conn struct {
	e    *engine
	peer Peer
	nc   net.Conn
	br   *bufio.Reader
	tmpl [2]*Template // without, with User-Name

	// Owned by the writer.
	rng     *rand.Rand
	session uint64
	e2e     uint32
	next    uint64 // open loop: number of the next scheduled request
	ws      writeStats
	wbuf    []byte
	batch   []pendingRequest

	// Owned by the reader.
	rs readStats

	mu       sync.Mutex
	slots    []slot
	mask     uint32
	hbh      uint32 // last Hop-by-Hop identifier used
	inflight int
	wantWake bool     // the writer waits for a slot to free
	ctrl     [][]byte // answers to the server's requests, for the writer
	peerGone bool     // the server sent DPR
	err      error    // first connection error

	wake       chan struct{} // cap 1: something for the writer
	dpa        chan struct{} // closed when our DPR is answered
	dpaOnce    sync.Once
	readerDone chan struct{}
	closing    atomic.Bool

	// For the progress line.
	nSent, nAnswers, nTimeouts, nMismatches atomic.Uint64
	nInflight                               atomic.Int64
}

type pendingRequest struct {
	withIMSI bool
	r        Request
}

// dial connects connection number idx and completes the capabilities
// exchange; the connection is not started.
func (e *engine) dial(ctx context.Context, idx int) (*conn, error) {
	o := &e.o
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: connection %d: %w", idx+1, err)
	}
	c, err := e.handshake(ctx, nc, idx)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("loadgen: connection %d: %w", idx+1, err)
	}
	return c, nil
}

func (e *engine) handshake(ctx context.Context, nc net.Conn, idx int) (*conn, error) {
	o := &e.o
	size := 64
	for size < 2*o.Window {
		size <<= 1
	}
	c := &conn{
		e:          e,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 64<<10),
		rng:        rand.New(rand.NewPCG(o.Seed, uint64(idx)+1)),
		slots:      make([]slot, size),
		mask:       uint32(size - 1),
		wake:       make(chan struct{}, 1),
		dpa:        make(chan struct{}),
		readerDone: make(chan struct{}),
		rs:         readStats{hist: NewHistogram(), service: NewHistogram()},
	}
	c.peer = Peer{Index: idx, OriginHost: fmt.Sprintf("mme%d.%s", idx+1, o.Realm), OriginRealm: o.Realm}
	c.peer.HostIP = net.IPv4(127, 0, 0, 1)
	if ta, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		c.peer.HostIP = ta.IP
	}
	now := time.Now()
	c.hbh = c.rng.Uint32()
	c.e2e = uint32(now.Unix()&0xfff)<<20 | c.rng.Uint32()&0xfffff
	deadline := now.Add(o.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})

	cer, err := o.Codec.CER(c.peer)
	if err != nil {
		return nil, fmt.Errorf("cer: %w", err)
	}
	if len(cer) < headerLen {
		return nil, fmt.Errorf("cer: %d bytes", len(cer))
	}
	hbh := c.nextHBH()
	putIDs(cer, hbh, c.nextE2E())
	if _, err := nc.Write(cer); err != nil {
		return nil, fmt.Errorf("write cer: %w", err)
	}
	msg, err := readFrame(c.br)
	if err != nil {
		return nil, fmt.Errorf("read cea: %w", err)
	}
	h, _ := parseHeader(msg)
	if h.hbh != hbh {
		return nil, fmt.Errorf("cea hop-by-hop id %#x, want %#x", h.hbh, hbh)
	}
	cea, err := parseCEA(msg)
	if err != nil {
		return nil, fmt.Errorf("cea: %w", err)
	}
	if cea.resultCode != resultSuccess {
		return nil, fmt.Errorf("cea result code %d", cea.resultCode)
	}
	if cea.originRealm == "" {
		return nil, errors.New("cea without origin-realm")
	}
	c.peer.ServerHost, c.peer.ServerRealm = cea.originHost, cea.originRealm
	prefix := fmt.Sprintf("%s;%d;", c.peer.OriginHost, now.Unix())
	for i, withIMSI := range []bool{false, true} {
		if c.tmpl[i], err = NewTemplate(o.Codec, c.peer, prefix, withIMSI); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// readFrame reads one whole message (a copy) from br.
func readFrame(br *bufio.Reader) ([]byte, error) {
	hb, err := br.Peek(headerLen)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	b := make([]byte, h.length)
	_, err = io.ReadFull(br, b)
	return b, err
}

// nextHBH returns a fresh Hop-by-Hop identifier whose slot is free. It
// never returns 0: go-diameter's Message.Answer replaces an identifier of 0
// with a random one, and the answer would be lost. c.mu must be held once
// the connection runs.
func (c *conn) nextHBH() uint32 {
	for {
		c.hbh++
		if c.hbh != 0 && c.slots[c.hbh&c.mask].hbh == 0 {
			return c.hbh
		}
	}
}

// nextE2E returns the next End-to-End identifier, never 0. Writer only.
func (c *conn) nextE2E() uint32 {
	c.e2e++
	if c.e2e == 0 {
		c.e2e++
	}
	return c.e2e
}

// fail records the first error of the connection.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// readLoop reads until the connection closes.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	wake := false
	for {
		if wake && c.br.Buffered() < headerLen {
			c.signal()
			wake = false
		}
		hb, err := c.br.Peek(headerLen)
		if err != nil {
			c.readFailed(err)
			return
		}
		h, err := parseHeader(hb)
		if err != nil {
			c.readFailed(err)
			return
		}
		if wake && c.br.Buffered() < h.length {
			c.signal()
			wake = false
		}
		var msg []byte
		if h.length <= c.br.Size() {
			msg, err = c.br.Peek(h.length)
		} else {
			msg = make([]byte, h.length)
			_, err = io.ReadFull(c.br, msg)
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.handle(h, msg) {
			wake = true
		}
		if h.length <= c.br.Size() {
			c.br.Discard(h.length)
		}
	}
}

func (c *conn) readFailed(err error) {
	if c.closing.Load() {
		return
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("closed by the server")
	}
	c.fail(fmt.Errorf("connection %d: read: %w", c.peer.Index+1, err))
}

// handle processes one message from the server; it reports whether the
// writer should be woken.
func (c *conn) handle(h header, msg []byte) bool {
	now := c.e.now()
	if h.isRequest() {
		return c.serverRequest(h)
	}
	if h.code == cmdDPR {
		c.dpaOnce.Do(func() { close(c.dpa) })
		return false
	}
	c.mu.Lock()
	i := h.hbh & c.mask
	s := c.slots[i]
	if h.code != cmdECR || h.hbh == 0 || s.hbh != h.hbh {
		c.mu.Unlock()
		c.rs.unmatched++
		return false
	}
	c.slots[i].hbh = 0
	c.inflight--
	wake := c.wantWake
	c.wantWake = false
	c.mu.Unlock()
	c.nInflight.Add(-1)
	c.nAnswers.Add(1)

	e := c.e
	stop := e.stopAt.Load()
	if now >= e.measureStart && now < stop {
		c.rs.inWindow++
	}
	if s.intended < e.measureStart || s.intended >= stop {
		return wake
	}
	rs := &c.rs
	rs.answers++
	rs.answered[s.cat]++
	rs.hist.Record(time.Duration(now - s.intended))
	rs.service.Record(time.Duration(now - s.sent))
	a, err := ParseAnswer(msg)
	if err != nil {
		rs.malformed++
	}
	rs.results.add(a)
	if err != nil || h.e2e != s.e2e || !s.cat.Matches(a) {
		rs.mismatch[s.cat]++
		c.nMismatches.Add(1)
		if len(rs.samples) < maxSamples {
			got := describeAnswer(a)
			switch {
			case err != nil:
				got = "malformed answer: " + err.Error()
			case h.e2e != s.e2e:
				got = fmt.Sprintf("%s with End-to-End identifier %#x, sent %#x", got, h.e2e, s.e2e)
			}
			rs.samples = append(rs.samples, c.sample(s, got))
		}
	}
	return wake
}

// sample describes the request of s for a mismatch report.
func (c *conn) sample(s slot, got string) MismatchSample {
	imei := c.e.lists[s.cat][s.idx]
	m := MismatchSample{Category: s.cat.String(), IMEI: IMEIString(imei), Got: got, Want: describeExpected(s.cat)}
	if s.imsi != 0 {
		m.IMSI = IMSIString(s.imsi)
	}
	return m
}

// serverRequest answers the server's DWR (DWA) and DPR (DPA, then the
// connection ends).
func (c *conn) serverRequest(h header) bool {
	if h.app != 0 || (h.code != cmdDWR && h.code != cmdDPR) {
		return false
	}
	b, err := c.e.o.Codec.BaseAnswer(c.peer, h.code, h.hbh, h.e2e)
	c.mu.Lock()
	if err == nil {
		c.ctrl = append(c.ctrl, b)
	}
	if h.code == cmdDPR {
		c.peerGone = true
		if c.err == nil {
			c.err = fmt.Errorf("connection %d: the server sent DPR", c.peer.Index+1)
		}
	}
	c.mu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("connection %d: answer to command %d: %w", c.peer.Index+1, h.code, err))
	}
	return true
}

// writeLoop sends requests until the run stops, waits for the answers (or
// their timeouts), then disconnects with DPR and closes the connection.
func (c *conn) writeLoop() {
	e := c.e
	o := &e.o
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sweepEvery := min(max(o.Timeout/10, 5*time.Millisecond), 100*time.Millisecond).Nanoseconds()
	nextSweep := e.start + sweepEvery
	var interval float64
	first := e.start
	if o.Rate > 0 {
		interval = float64(time.Second) * float64(o.Conns) / o.Rate
		first += int64(interval * float64(c.peer.Index) / float64(o.Conns))
	}
	imsiLimit := uint64(o.IMSIShare * (1 << 32))
	for {
		now := e.now()
		stop := e.stopAt.Load()
		c.mu.Lock()
		ctrl := c.ctrl
		c.ctrl = nil
		if now >= nextSweep {
			c.sweepLocked(now)
			nextSweep = now + sweepEvery
		}
		sending := now < stop && !c.peerGone && c.err == nil
		backlog := 0
		c.batch = c.batch[:0]
		if sending {
			n := o.Window - c.inflight
			if o.Rate > 0 {
				backlog = int(max(scheduledBy(now, first, interval)-int64(c.next), 0))
				n = min(n, backlog)
			}
			for range n {
				var intended int64 = now
				if o.Rate > 0 {
					intended = first + int64(interval*float64(c.next))
					c.next++
					backlog--
				}
				c.batch = append(c.batch, c.newRequestLocked(intended, now, imsiLimit))
			}
		}
		// Wait for an answer when the window is what holds us (closed
		// loop, or a backlog in open loop) or when draining.
		c.wantWake = !sending || o.Rate == 0 || backlog > 0
		inflight := c.inflight
		failed := c.err != nil
		c.mu.Unlock()

		c.wbuf = c.wbuf[:0]
		for _, b := range ctrl {
			c.wbuf = append(c.wbuf, b...)
		}
		for _, p := range c.batch {
			c.wbuf = c.tmpl[b2i(p.withIMSI)].Append(c.wbuf, p.r)
		}
		if len(c.wbuf) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(max(o.Timeout, 5*time.Second)))
			if _, err := c.nc.Write(c.wbuf); err != nil {
				c.fail(fmt.Errorf("connection %d: write: %w", c.peer.Index+1, err))
				break
			}
			c.nSent.Add(uint64(len(c.batch)))
		}
		if failed || !sending && inflight == 0 {
			break
		}
		wait := nextSweep - now
		if sending && o.Rate > 0 && backlog == 0 {
			wait = min(wait, first+int64(interval*float64(c.next))-now)
		}
		if sending && stop-now < wait {
			wait = stop - now
		}
		timer.Reset(time.Duration(max(wait, 0)))
		select {
		case <-c.wake:
		case <-timer.C:
		case <-c.readerDone:
			c.fail(fmt.Errorf("connection %d: closed", c.peer.Index+1))
		}
	}
	c.disconnect()
}

// newRequestLocked draws the next request, takes a slot for it and
// returns what the writer patches into the template.
func (c *conn) newRequestLocked(intended, now int64, imsiLimit uint64) pendingRequest {
	e := c.e
	r := c.rng.Uint64()
	cat := e.picker.pick(uint32(r))
	lo, n := e.o.Data.span(cat)
	idx := int32(lo + c.rng.IntN(n))
	withIMSI := cat == Exception || uint64(uint32(r>>32)) < imsiLimit
	var imsi uint64
	if cat == Exception {
		imsi = e.o.Data.Exceptions[idx].IMSI
	} else if withIMSI {
		imsi = subscriberIMSI(cat, int(idx))
	}
	hbh, e2e := c.nextHBH(), c.nextE2E()
	c.slots[hbh&c.mask] = slot{hbh: hbh, e2e: e2e, cat: cat, idx: idx, imsi: imsi, intended: intended, sent: now}
	c.inflight++
	c.nInflight.Add(1)
	if e.measured(intended) {
		c.ws.sent[cat]++
	}
	c.session++
	return pendingRequest{withIMSI: withIMSI, r: Request{HopByHop: hbh, EndToEnd: e2e, Session: c.session, IMEI: e.lists[cat][idx], IMSI: imsi}}
}

// sweepLocked frees the slots of requests older than the timeout.
func (c *conn) sweepLocked(now int64) {
	limit := c.e.o.Timeout.Nanoseconds()
	for i := range c.slots {
		s := &c.slots[i]
		if s.hbh == 0 || now-s.sent < limit {
			continue
		}
		if c.e.measured(s.intended) {
			c.ws.timeouts[s.cat]++
			c.nTimeouts.Add(1)
		}
		s.hbh = 0
		c.inflight--
		c.nInflight.Add(-1)
	}
}

// disconnect sends DPR and waits briefly for DPA (unless the connection
// failed or the server disconnected), then closes the connection and
// counts what is still in flight as lost.
func (c *conn) disconnect() {
	c.mu.Lock()
	healthy := c.err == nil && !c.peerGone
	c.mu.Unlock()
	if healthy {
		if dpr, err := c.e.o.Codec.DPR(c.peer); err == nil && len(dpr) >= headerLen {
			c.mu.Lock()
			hbh := c.nextHBH()
			c.mu.Unlock()
			putIDs(dpr, hbh, c.nextE2E())
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.nc.Write(dpr); err == nil {
				t := time.NewTimer(2 * time.Second)
				select {
				case <-c.dpa:
				case <-c.readerDone:
				case <-t.C:
				}
				t.Stop()
			}
		}
	}
	c.closing.Store(true)
	c.nc.Close()
	<-c.readerDone
	c.mu.Lock()
	for i := range c.slots {
		s := &c.slots[i]
		if s.hbh != 0 {
			if c.e.measured(s.intended) {
				c.ws.lost++
			}
			s.hbh = 0
			c.inflight--
			c.nInflight.Add(-1)
		}
	}
	c.mu.Unlock()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scheduledBy returns how many requests of an open-loop schedule starting
// at first, one every interval ns, are due at now.
func scheduledBy(now, first int64, interval float64) int64 {
	if now < first {
		return 0
	}
	return int64(float64(now-first)/interval) + 1
}

// IMEIString returns the IMEIDigits digits sent for imei: its 14 digits and
// the check digit.
func IMEIString(imei eir.IMEI) string {
	return digits(uint64(imei)*10+uint64(imei.CheckDigit()), IMEIDigits)
}
