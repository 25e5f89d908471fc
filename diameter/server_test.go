// Test harness of the socket tests: a server on loopback, clients (s13client
// and raw connections) and go-diameter builders of requests.

package diameter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testServer struct {
	*Server
	addr string
	reg  *prometheus.Registry
	done chan error
}

func startServer(t *testing.T, c eir.Checker, mod func(*Options)) *testServer {
	t.Helper()
	return startServerLog(t, c, mod, zaptest.NewLogger(t))
}

// startServerLog is startServer logging to log.
func startServerLog(t *testing.T, c eir.Checker, mod func(*Options), log *zap.Logger) *testServer {
	t.Helper()
	o := Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true,
		HostIPAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if mod != nil {
		mod(&o)
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(o, c, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), reg: reg, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ts
}

// startServerB starts a server for a benchmark and returns its address.
func startServerB(b *testing.B, c eir.Checker) string {
	s, err := NewServer(Options{OriginHost: "eir.test", OriginRealm: "eir.test", AllowAnyPeer: true}, c, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return l.Addr().String()
}

// waitCounter polls c until it reaches want: the server updates counters
// after the client has seen the effect (e.g. a close).
func waitCounter(t *testing.T, c prometheus.Collector, want float64) {
	t.Helper()
	eventually(t, func() bool { return testutil.ToFloat64(c) == want },
		func() string { return fmt.Sprintf("counter %v, want %v", testutil.ToFloat64(c), want) })
}

// eventually polls cond until it holds, and fails with what() after 5s.
func eventually(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	testenv.EventuallyShow(t, 5*time.Second, cond, what)
}

func dial(t *testing.T, addr string, o s13client.Options) *s13client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s13client.Dial(ctx, addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitClosed waits until the server closes the client's connection.
func waitClosed(t *testing.T, c *s13client.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed by the server")
	}
}

// rawConn is a bare TCP connection for messages the client would not send.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc, bufio.NewReader(nc)}
}

func (r *rawConn) send(t *testing.T, m *diam.Message) {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, b)
}

func (r *rawConn) write(t *testing.T, b []byte) {
	t.Helper()
	r.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Write(b); err != nil {
		t.Fatal(err)
	}
}

// read returns the next message, or nil when the server closed the
// connection.
func (r *rawConn) read(t *testing.T) *decoded {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := s13client.ReadFrame(r.br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("no message and no close within 5s")
		}
		return nil
	}
	w := decodeWire(t, b)
	return &w
}

func cer(host string, withHostIP bool) *diam.Message {
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	if withHostIP {
		m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1)))
	}
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("raw"))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(16777252))
	return m
}
