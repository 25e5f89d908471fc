package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/sm"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
)

// refReadyMsg starts the line `eirbench ref` prints on stdout once it
// listens, a JSON object: {"msg":"ref ready","diameter":"host:port",...}.
const refReadyMsg = "ref ready"

// refServer is the yardstick: a bare S13 server on go-diameter with the
// library's defaults — diam.Server with sequential dispatch
// (MaxConcurrentHandlers 0), the sm state machine for CER/CEA and DWR/DWA,
// one handler for ECR — answering from Go maps and doing nothing else (no
// logging, no metrics). Messages are read and built with the ordinary
// API: FindAVP, Answer, NewAVP, WriteTo.
type refServer struct {
	srv    *diam.Server
	status map[uint64]uint8     // 14-digit IMEI → Equipment-Status
	pairs  map[refPair]struct{} // IMEI–IMSI exceptions
	host   datatype.DiameterIdentity
	realm  datatype.DiameterIdentity

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

type refPair struct {
	imei uint64
	imsi string
}

// newRefServer builds the reference server's maps from d.
func newRefServer(d *loadgen.Dataset, originHost, originRealm string) *refServer {
	r := &refServer{
		status: make(map[uint64]uint8, 3*d.N),
		pairs:  make(map[refPair]struct{}, len(d.Exceptions)),
		host:   datatype.DiameterIdentity(originHost),
		realm:  datatype.DiameterIdentity(originRealm),
		conns:  map[net.Conn]struct{}{},
	}
	for _, v := range d.White {
		r.status[uint64(v)] = 0
	}
	for _, v := range d.Grey {
		r.status[uint64(v)] = 2
	}
	for _, v := range d.Black {
		r.status[uint64(v)] = 1
	}
	for _, p := range d.Exceptions {
		r.pairs[refPair{uint64(p.IMEI), p.IMSIString()}] = struct{}{}
	}
	mux := sm.New(&sm.Settings{
		OriginHost:  r.host,
		OriginRealm: r.realm,
		VendorID:    0,
		ProductName: "eirbench-ref",
	})
	mux.HandleIdx(diam.CommandIndex{AppID: diam.TGPP_S13_APP_ID, Code: diam.MEIdentityCheck, Request: true}, diam.HandlerFunc(r.handleECR))
	mux.HandleIdx(diam.CommandIndex{AppID: 0, Code: diam.DisconnectPeer, Request: true}, diam.HandlerFunc(r.handleDPR))
	r.srv = &diam.Server{Handler: mux}
	return r
}

// Serve accepts connections on l until Close.
func (r *refServer) Serve(l net.Listener) error {
	err := r.srv.Serve(&trackingListener{Listener: l, r: r})
	if errors.Is(err, diam.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting and closes every connection (go-diameter's
// Server.Close closes only the listeners).
func (r *refServer) Close() error {
	err := r.srv.Close()
	r.mu.Lock()
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close() // takes r.mu to forget itself
	}
	return err
}

// handleECR answers an ME-Identity-Check-Request: 2001 with the
// Equipment-Status, or Experimental-Result 5422 for unknown equipment,
// 5004 for an IMEI that is not 14 to 16 digits, 5005 without one.
func (r *refServer) handleECR(c diam.Conn, m *diam.Message) {
	a := m.Answer(0)
	if sid, err := m.FindAVP(avp.SessionID, 0); err == nil {
		a.AddAVP(sid)
	}
	imeiAVP, err := m.FindAVP(avp.IMEI, vendor3GPP)
	if err != nil {
		r.result(a, diam.MissingAVP)
		a.WriteTo(c)
		return
	}
	imei, ok := imeiKey(imeiAVP.Data)
	if !ok {
		r.result(a, diam.InvalidAVPValue)
		a.WriteTo(c)
		return
	}
	status, listed := r.status[imei]
	if u, err := m.FindAVP(avp.UserName, 0); err == nil && listed {
		if imsi, ok := u.Data.(datatype.UTF8String); ok {
			if _, exception := r.pairs[refPair{imei, string(imsi)}]; exception {
				status = 0
			}
		}
	}
	if !listed {
		a.NewAVP(avp.ExperimentalResult, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(vendor3GPP)),
			diam.NewAVP(avp.ExperimentalResultCode, avp.Mbit, 0, datatype.Unsigned32(5422)),
		}})
		r.identity(a)
		a.WriteTo(c)
		return
	}
	r.result(a, diam.Success)
	a.NewAVP(avp.EquipmentStatus, avp.Mbit|avp.Vbit, vendor3GPP, datatype.Enumerated(status))
	a.WriteTo(c)
}

// result adds Result-Code, Auth-Session-State and the origin.
func (r *refServer) result(a *diam.Message, code uint32) {
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code))
	r.identity(a)
}

func (r *refServer) identity(a *diam.Message) {
	a.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, r.host)
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, r.realm)
}

// handleDPR answers a peer's DPR with DPA 2001 (the sm state machine has
// no DPR handler); the peer then closes.
func (r *refServer) handleDPR(c diam.Conn, m *diam.Message) {
	a := m.Answer(diam.Success)
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, r.host)
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, r.realm)
	a.WriteTo(c)
}

// imeiKey returns the 14 digits (TAC and SNR) of an IMEI AVP of 14 to 16
// digits.
func imeiKey(d datatype.Type) (uint64, bool) {
	s, ok := d.(datatype.UTF8String)
	if !ok || len(s) < 14 || len(s) > 16 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(s[:14]), 10, 64)
	return v, err == nil
}

// trackingListener remembers the accepted connections so that Close can
// close them.
type trackingListener struct {
	net.Listener
	r *refServer
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, r: l.r}
	l.r.mu.Lock()
	l.r.conns[tc] = struct{}{}
	l.r.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	r    *refServer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		delete(c.r.conns, c)
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}

// refCommand runs `eirbench ref`: the reference server until SIGINT or
// SIGTERM.
func refCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ref", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:3869", "address to listen on (TCP); port 0 picks a free port")
	entries := fs.Int("entries", defaultEntries, "IMEIs per generated list (as for load and ratio)")
	seed := fs.Uint64("seed", 1, "seed of the generated lists (as for load and ratio)")
	host := fs.String("origin-host", "ref.eirbench.localdomain", "Origin-Host")
	realm := fs.String("origin-realm", "localdomain", "Origin-Realm")
	n5gListen := fs.String("n5g-listen", "", "also serve a reference N5g-eir (h2c) on this address; port 0 picks a free port")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench ref [flags]

Runs a bare reference S13 server: go-diameter v4 with its default settings
(diam.Server, sequential dispatch, the sm state machine for CER/CEA and
DWR/DWA, one ECR handler, DPR answered), answering from in-memory maps of
the lists that load and ratio generate from the same -entries and -seed.
With -n5g-listen it also serves GetEquipmentStatus from the same maps with
net/http's HTTP/2 server (h2c) and one handler, the yardstick of eirbench
amf. It prints one JSON line {"msg":"ref ready","diameter":ADDR,"n5g":ADDR,...}
on stdout once it listens, and runs until SIGINT or SIGTERM.

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r := newRefServer(loadgen.Generate(*seed, *entries), *host, *realm)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: ref: %v\n", err)
		return 1
	}
	diamErr := make(chan error, 1)
	go func() { diamErr <- r.Serve(l) }()
	ready := map[string]any{"msg": refReadyMsg, "diameter": l.Addr().String(), "entries": *entries, "seed": *seed, "pid": os.Getpid()}
	var hs *http.Server
	httpErr := make(chan error, 1)
	if *n5gListen != "" {
		hl, err := net.Listen("tcp", *n5gListen)
		if err != nil {
			r.Close()
			<-diamErr
			fmt.Fprintf(stderr, "eirbench: ref: n5g: %v\n", err)
			return 1
		}
		hs = n5gServer(r.n5gHandler())
		go func() { httpErr <- hs.Serve(hl) }()
		ready["n5g"] = hl.Addr().String()
	}
	line, _ := json.Marshal(ready)
	fmt.Fprintln(stdout, string(line))
	err = nil
	select {
	case <-ctx.Done():
	case err = <-diamErr:
		diamErr <- nil
	case err = <-httpErr:
	}
	if hs != nil {
		hs.Close()
	}
	r.Close()
	<-diamErr
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: ref: %v\n", err)
		return 1
	}
	return 0
}
