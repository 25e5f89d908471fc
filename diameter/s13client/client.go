// Package s13client is a small S13 Diameter client: it connects as an MME or
// SGSN, completes the capabilities exchange, sends ME-Identity-Check
// requests (or any raw message) and matches answers by Hop-by-Hop
// identifier. It answers the server's DWR and DPR itself. eirbench and the
// end-to-end tests use it; messages are built and decoded with go-diameter.
package s13client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Options configures a client.
type Options struct {
	OriginHost       string // default "mme.test"
	OriginRealm      string // default "test"
	DestinationRealm string // default: the server's Origin-Realm from the CEA
	DestinationHost  string // optional
	HostIP           net.IP // default: the connection's local address
	// AuthAppID is advertised in the CER; default 16777252 (S13). Use
	// 0xffffffff to advertise Relay.
	AuthAppID uint32
	// NoVendorSpecific sends Auth-Application-Id plainly instead of a
	// Vendor-Specific-Application-Id{10415, AuthAppID}.
	NoVendorSpecific bool
}

// Answer is a decoded answer with the bytes it came in.
type Answer struct {
	Msg *diam.Message
	Raw []byte
}

// Client is one connection to an EIR.
type Client struct {
	opts Options
	nc   net.Conn
	CEA  Answer

	wmu     sync.Mutex
	hbh     atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan Answer
	others  []Answer // answers nobody waited for, and server requests
	done    chan struct{}
	err     error
	session atomic.Uint64
}

// Dial connects to addr over TCP and completes CER/CEA. A CEA other than
// 2001 is returned as an error along with the client, whose CEA field holds
// the answer (the connection is then closed).
func Dial(ctx context.Context, addr string, o Options) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ctx, nc, o)
}

// New runs the capabilities exchange on an established connection.
func New(ctx context.Context, nc net.Conn, o Options) (*Client, error) {
	if o.OriginHost == "" {
		o.OriginHost = "mme.test"
	}
	if o.OriginRealm == "" {
		o.OriginRealm = "test"
	}
	if o.AuthAppID == 0 {
		o.AuthAppID = diam.TGPP_S13_APP_ID
	}
	if o.HostIP == nil {
		if ta, ok := nc.LocalAddr().(*net.TCPAddr); ok {
			o.HostIP = ta.IP
		} else {
			o.HostIP = net.IPv4(127, 0, 0, 1)
		}
	}
	c := &Client{opts: o, nc: nc, pending: map[uint32]chan Answer{}, done: make(chan struct{})}
	c.hbh.Store(uint32(time.Now().UnixNano()) | 1)
	go c.readLoop()
	cer := c.NewRequest(diam.CapabilitiesExchange, 0)
	cer.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(o.OriginHost))
	cer.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(o.OriginRealm))
	cer.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(o.HostIP))
	cer.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	cer.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("s13client"))
	cer.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(uint32(time.Now().Unix())))
	if o.NoVendorSpecific {
		cer.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(o.AuthAppID))
	} else {
		cer.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(10415))
		cer.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(10415)),
			diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(o.AuthAppID)),
		}})
	}
	a, err := c.Send(ctx, cer)
	if err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("s13client: capabilities exchange: %w", err)
	}
	c.CEA = a
	if rc := ResultCode(a.Msg); rc != 2001 {
		c.nc.Close()
		return c, fmt.Errorf("s13client: CEA result code %d", rc)
	}
	if o.DestinationRealm == "" {
		if v, err := a.Msg.FindAVP(avp.OriginRealm, 0); err == nil {
			c.opts.DestinationRealm = string(v.Data.(datatype.DiameterIdentity))
		}
	}
	return c, nil
}

// NewRequest returns a request message with a fresh Hop-by-Hop identifier.
func (c *Client) NewRequest(code, app uint32) *diam.Message {
	flags := uint8(diam.RequestFlag)
	if app != 0 {
		flags |= diam.ProxiableFlag
	}
	hbh := c.hbh.Add(1)
	m := diam.NewMessage(code, flags, app, hbh, hbh^0x5a5a5a5a, dict.Default)
	m.Header.HopByHopID = hbh
	return m
}

// ECR builds an ME-Identity-Check-Request for imei and, when not empty,
// imsi (User-Name).
func (c *Client) ECR(imei, imsi string) *diam.Message { return c.ECRWithSV(imei, "", imsi) }

// ECRWithSV is ECR with, when not empty, the Software-Version AVP (the
// IMEISV's 2-digit SVN) in Terminal-Information.
func (c *Client) ECRWithSV(imei, sv, imsi string) *diam.Message {
	m := c.NewRequest(diam.MEIdentityCheck, diam.TGPP_S13_APP_ID)
	sid := fmt.Sprintf("%s;%d;%d", c.opts.OriginHost, time.Now().Unix(), c.session.Add(1))
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sid))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginRealm))
	if c.opts.DestinationHost != "" {
		m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.DestinationHost))
	}
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.DestinationRealm))
	ti := &diam.GroupedAVP{AVP: []*diam.AVP{diam.NewAVP(avp.IMEI, avp.Mbit|avp.Vbit, 10415, datatype.UTF8String(imei))}}
	if sv != "" {
		ti.AVP = append(ti.AVP, diam.NewAVP(avp.SoftwareVersion, avp.Mbit|avp.Vbit, 10415, datatype.UTF8String(sv)))
	}
	m.NewAVP(avp.TerminalInformation, avp.Mbit|avp.Vbit, 10415, ti)
	if imsi != "" {
		m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(imsi))
	}
	return m
}

// Check sends an ECR for imei (and imsi) and returns the answer.
func (c *Client) Check(ctx context.Context, imei, imsi string) (Answer, error) {
	return c.Send(ctx, c.ECR(imei, imsi))
}

// Send writes m and waits for the answer with the same Hop-by-Hop identifier.
func (c *Client) Send(ctx context.Context, m *diam.Message) (Answer, error) {
	b, err := m.Serialize()
	if err != nil {
		return Answer{}, err
	}
	return c.SendRaw(ctx, b)
}

// SendRaw writes b, which must start with a Diameter header, and waits for
// the answer carrying the Hop-by-Hop identifier found at bytes 12-15.
func (c *Client) SendRaw(ctx context.Context, b []byte) (Answer, error) {
	if len(b) < 20 {
		return Answer{}, errors.New("s13client: message shorter than a header")
	}
	hbh := binary.BigEndian.Uint32(b[12:16])
	ch := make(chan Answer, 1)
	c.mu.Lock()
	c.pending[hbh] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, hbh)
		c.mu.Unlock()
	}()
	if err := c.Write(b); err != nil {
		return Answer{}, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.done:
		// readLoop queues an answer before it closes done: an answer
		// followed by a close (a refused CEA) is an answer.
		select {
		case a := <-ch:
			return a, nil
		default:
		}
		return Answer{}, fmt.Errorf("s13client: connection closed: %w", c.err)
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// Write writes raw bytes without waiting for anything.
func (c *Client) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// Done is closed when the connection ends; Err then tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns the error that ended the connection (io.EOF when the server
// closed it).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Unsolicited returns the messages received that no Send waited for: the
// server's requests (DWR, DPR) and stray answers.
func (c *Client) Unsolicited() []Answer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Answer(nil), c.others...)
}

// Disconnect sends DPR, waits for DPA (or ctx) and closes the connection.
func (c *Client) Disconnect(ctx context.Context) (Answer, error) {
	m := c.NewRequest(diam.DisconnectPeer, 0)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginRealm))
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(0))
	a, err := c.Send(ctx, m)
	c.Close()
	return a, err
}

// Close closes the connection without DPR.
func (c *Client) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

func (c *Client) readLoop() {
	br := bufio.NewReader(c.nc)
	var err error
	for {
		var raw []byte
		raw, err = ReadFrame(br)
		if err != nil {
			break
		}
		m := decode(raw)
		a := Answer{Msg: m, Raw: raw}
		if m.Header.CommandFlags&diam.RequestFlag != 0 {
			c.answerServer(m)
			c.mu.Lock()
			c.others = append(c.others, a)
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[m.Header.HopByHopID]
		if ok {
			delete(c.pending, m.Header.HopByHopID)
		} else {
			c.others = append(c.others, a)
		}
		c.mu.Unlock()
		if ok {
			ch <- a
		}
	}
	c.err = err
	c.nc.Close()
	close(c.done)
}

// decode decodes a message with go-diameter's dictionary. go-diameter only
// decodes commands it knows; the answer to a request of an unknown command
// (3001, 3007) is decoded as if it were a CEA, whose AVPs are base AVPs,
// and keeps its real header.
func decode(raw []byte) *diam.Message {
	m, err := diam.ReadMessage(bytes.NewReader(raw), dict.Default)
	if err == nil || m != nil && len(m.AVP) > 0 {
		return m
	}
	patched := append([]byte(nil), raw...)
	patched[5], patched[6], patched[7] = 0, 1, 1
	patched[8], patched[9], patched[10], patched[11] = 0, 0, 0, 0
	patched[4] &^= diam.RequestFlag
	if m, err = diam.ReadMessage(bytes.NewReader(patched), dict.Default); err != nil && m == nil {
		m = &diam.Message{}
	}
	m.Header, _ = diam.DecodeHeader(raw)
	return m
}

// answerServer answers the server's DWR and DPR with 2001.
func (c *Client) answerServer(m *diam.Message) {
	if m.Header.ApplicationID != 0 || (m.Header.CommandCode != diam.DeviceWatchdog && m.Header.CommandCode != diam.DisconnectPeer) {
		return
	}
	a := diam.NewMessage(m.Header.CommandCode, 0, 0, m.Header.HopByHopID, m.Header.EndToEndID, dict.Default)
	a.Header.HopByHopID, a.Header.EndToEndID = m.Header.HopByHopID, m.Header.EndToEndID
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(2001))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.opts.OriginRealm))
	if b, err := a.Serialize(); err == nil {
		c.Write(b)
	}
}

// ReadFrame reads one Diameter message (header and body) from r.
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	l := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if l < 20 {
		return nil, fmt.Errorf("s13client: message length %d", l)
	}
	b := make([]byte, l)
	copy(b, h[:])
	if _, err := io.ReadFull(r, b[20:]); err != nil {
		return nil, err
	}
	return b, nil
}

// ResultCode returns the Result-Code of m, the Experimental-Result-Code when
// there is no Result-Code, or 0.
func ResultCode(m *diam.Message) uint32 {
	if a, err := m.FindAVP(avp.ResultCode, 0); err == nil {
		if v, ok := a.Data.(datatype.Unsigned32); ok {
			return uint32(v)
		}
	}
	if a, err := m.FindAVP(avp.ExperimentalResultCode, 0); err == nil {
		if v, ok := a.Data.(datatype.Unsigned32); ok {
			return uint32(v)
		}
	}
	return 0
}

// EquipmentStatus returns the Equipment-Status of m, or -1.
func EquipmentStatus(m *diam.Message) int {
	if a, err := m.FindAVP(avp.EquipmentStatus, 10415); err == nil {
		if v, ok := a.Data.(datatype.Enumerated); ok {
			return int(v)
		}
	}
	return -1
}
