// Socket tests of the peer layer: CER/CEA, DWR/DWA, DPR/DPA, the watchdog
// and shutdown.

package diameter

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/internal/testenv"
)

func TestCapabilitiesExchange(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	w := decodeWire(t, c.CEA.Raw)
	if w.Header.CommandFlags != 0 || w.Header.CommandCode != 257 || w.Header.ApplicationID != 0 {
		t.Fatalf("CEA header %v", w.Header)
	}
	want := []uint32{wire.AVPResultCode, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID,
		wire.AVPProductName, wire.AVPOriginStateID, wire.AVPSupportedVendorID, wire.AVPVendorSpecificApplicationID}
	if len(w.codes) != len(want) {
		t.Fatalf("CEA AVPs %v, want %v", w.codes, want)
	}
	for i := range want {
		if w.codes[i] != want[i] {
			t.Fatalf("CEA AVPs %v, want %v", w.codes, want)
		}
	}
	vsai, _ := w.FindAVP(wire.AVPVendorSpecificApplicationID, 0)
	g := vsai.Data.(*diam.GroupedAVP)
	if len(g.AVP) != 2 || g.AVP[0].Code != wire.AVPVendorID || g.AVP[0].Data.(datatype.Unsigned32) != 10415 ||
		g.AVP[1].Code != wire.AVPAuthApplicationID || g.AVP[1].Data.(datatype.Unsigned32) != 16777252 {
		t.Fatalf("Vendor-Specific-Application-Id %v", g)
	}
	if w.u32(t, wire.AVPSupportedVendorID, 0) != 10415 {
		t.Fatal("Supported-Vendor-Id")
	}
	a, _ := w.FindAVP(wire.AVPHostIPAddress, 0)
	if ip := net.IP(a.Data.(datatype.Address)); !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("Host-IP-Address %v", ip)
	}
	ans, err := c.Check(ctx5(t), "35209900176148", "")
	if err != nil || s13client.ResultCode(ans.Msg) != 2001 || s13client.EquipmentStatus(ans.Msg) != 1 {
		t.Fatalf("check after CEA: %v %v", err, ans.Msg)
	}
}

func TestCapabilitiesRefused(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) {
		o.AllowAnyPeer = false
		o.Peers = []PeerRule{
			{OriginHost: "mme*.allowed", OriginRealm: "allowed"},
			{OriginHost: "sgsn.test", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		}
	})
	tests := []struct {
		name  string
		opts  s13client.Options
		code  uint32
		eBit  bool
		check func(t *testing.T, w decoded)
	}{
		{name: "listed peer", opts: s13client.Options{OriginHost: "MME1.allowed", OriginRealm: "allowed"}, code: 2001},
		{name: "unlisted host", opts: s13client.Options{OriginHost: "mme1.other", OriginRealm: "allowed"}, code: 3010, eBit: true},
		{name: "wrong realm", opts: s13client.Options{OriginHost: "mme1.allowed", OriginRealm: "evil"}, code: 3010, eBit: true},
		{name: "wrong source address", opts: s13client.Options{OriginHost: "sgsn.test", OriginRealm: "x"}, code: 3010, eBit: true},
		{name: "no common application", opts: s13client.Options{OriginHost: "mme1.allowed", OriginRealm: "allowed", AuthAppID: 4, NoVendorSpecific: true}, code: 5010,
			check: func(t *testing.T, w decoded) {
				if !w.has(wire.AVPVendorSpecificApplicationID) {
					t.Error("5010 CEA does not say which application is supported")
				}
			}},
		{name: "relay accepted", opts: s13client.Options{OriginHost: "mme2.allowed", OriginRealm: "allowed", AuthAppID: 0xffffffff, NoVendorSpecific: true}, code: 2001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s13client.Dial(ctx5(t), ts.addr, tc.opts)
			if c == nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			w := decodeWire(t, c.CEA.Raw)
			if got := w.u32(t, wire.AVPResultCode, 0); got != tc.code {
				t.Fatalf("CEA %d, want %d", got, tc.code)
			}
			if got := w.Header.CommandFlags&diam.ErrorFlag != 0; got != tc.eBit {
				t.Errorf("E-bit %v, want %v", got, tc.eBit)
			}
			for _, code := range []uint32{wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID, wire.AVPProductName} {
				if !w.has(code) {
					t.Errorf("CEA lacks AVP %d", code)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
			if tc.code != 2001 {
				waitClosed(t, c)
			}
		})
	}
	waitCounter(t, ts.m.requests.WithLabelValues("CER", "3010"), 3)
}

func TestCERMissingHostIPAddress(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, cer("raw.test", false))
	w := r.read(t)
	if w == nil || w.u32(t, wire.AVPResultCode, 0) != 5005 {
		t.Fatalf("CEA %v, want 5005", w)
	}
	checkFailed(t, *w, []uint32{wire.AVPHostIPAddress})
	if r.read(t) != nil {
		t.Fatal("connection left open after a refused CER")
	}
}

func TestRequestBeforeCER(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	r := dialRaw(t, ts.addr)
	r.send(t, newECR(1).std("35209900176148").m)
	if w := r.read(t); w != nil {
		t.Fatalf("answered %v before CER", w.Header)
	}
	if got := testutil.ToFloat64(ts.m.unanswered.WithLabelValues("before_cer")); got != 1 {
		t.Errorf("before_cer drops %v", got)
	}
}

func TestCERTimeout(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.CERTimeout = 100 * time.Millisecond })
	r := dialRaw(t, ts.addr)
	if w := r.read(t); w != nil {
		t.Fatalf("unexpected message %v", w.Header)
	}
}

func TestWatchdog(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.WatchdogInterval = 150 * time.Millisecond })
	// A live client answers DWR and stays connected.
	c := dial(t, ts.addr, s13client.Options{})
	var dwr []s13client.Answer
	testenv.Eventually(t, "2 DWR from the server", 5*time.Second, func() bool {
		dwr = dwr[:0]
		for _, m := range c.Unsolicited() {
			if m.Msg.Header.CommandCode == 280 {
				dwr = append(dwr, m)
			}
		}
		return len(dwr) >= 2
	})
	w := decodeWire(t, dwr[0].Raw)
	if w.Header.CommandFlags != diam.RequestFlag || !w.has(wire.AVPOriginHost) || !w.has(wire.AVPOriginStateID) {
		t.Fatalf("DWR %v %v", w.Header, w.codes)
	}
	if c.Err() != nil {
		t.Fatalf("live peer disconnected: %v", c.Err())
	}
	// A dead client (never answers) is closed after 2×Tw.
	r := dialRaw(t, ts.addr)
	r.send(t, cer("silent.test", true))
	if w := r.read(t); w == nil || w.u32(t, wire.AVPResultCode, 0) != 2001 {
		t.Fatal("CER refused")
	}
	if w := r.read(t); w == nil || w.Header.CommandCode != 280 {
		t.Fatal("no DWR to a silent peer")
	}
	if w := r.read(t); w != nil {
		t.Fatalf("unexpected %v", w.Header)
	}
	waitCounter(t, ts.m.transport.WithLabelValues("watchdog_timeout"), 1)
}

func TestDWRAnswered(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	m := c.NewRequest(diam.DeviceWatchdog, 0)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("mme.test"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("test"))
	a, err := c.Send(ctx5(t), m)
	if err != nil {
		t.Fatal(err)
	}
	w := decodeWire(t, a.Raw)
	if w.u32(t, wire.AVPResultCode, 0) != 2001 || w.Header.CommandFlags != 0 || !w.has(wire.AVPOriginStateID) {
		t.Fatalf("DWA %v %v", w.Header, w.codes)
	}
}

func TestDPRFromPeer(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	a, err := c.Disconnect(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	w := decodeWire(t, a.Raw)
	if w.u32(t, wire.AVPResultCode, 0) != 2001 || w.Header.CommandCode != 282 {
		t.Fatalf("DPA %v", w.Header)
	}
}

func TestShutdownSendsDPR(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, nil)
	c := dial(t, ts.addr, s13client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitClosed(t, c)
	var dpr *decoded
	for _, m := range c.Unsolicited() {
		if m.Msg.Header.CommandCode == 282 {
			w := decodeWire(t, m.Raw)
			dpr = &w
		}
	}
	if dpr == nil {
		t.Fatal("no DPR before the connection closed")
	}
	if got := dpr.u32(t, wire.AVPDisconnectCause, 0); got != 0 {
		t.Fatalf("Disconnect-Cause %d, want REBOOTING (0)", got)
	}
	waitCounter(t, ts.m.transport.WithLabelValues("disconnected"), 1)
}

// TestShutdownRacesCER shuts the server down while a CER is on its way:
// whichever wins, the wire shows either no CEA (closed before the peer
// opened) or the CEA followed by a DPR; never a DPR before the CEA, never
// a CEA and then a close without DPR.
func TestShutdownRacesCER(t *testing.T) {
	_, chk := testLists(t)
	seen := map[string]int{}
	for i := range 40 {
		ts := startServer(t, chk, func(o *Options) { o.DisconnectTimeout = 20 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		r.send(t, cer(fmt.Sprintf("mme%d.race", i), true))
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ts.Shutdown(ctx)
		}()
		var got []string
		for w := r.read(t); w != nil; w = r.read(t) {
			got = append(got, fmt.Sprint(w.Header.CommandCode))
		}
		<-done
		switch seq := strings.Join(got, ","); seq {
		case "", "257,282":
			seen[seq]++
		default:
			t.Fatalf("round %d: the server sent %q before closing; want nothing, or CEA then DPR", i, seq)
		}
	}
	t.Logf("outcomes: %v", seen)
}

func TestDuplicatePeerRejected(t *testing.T) {
	_, chk := testLists(t)
	ts := startServer(t, chk, func(o *Options) { o.RejectDuplicatePeers = true })
	dial(t, ts.addr, s13client.Options{OriginHost: "mme.dup"})
	c, err := s13client.Dial(ctx5(t), ts.addr, s13client.Options{OriginHost: "MME.dup"})
	if err == nil {
		t.Fatal("second connection accepted")
	}
	defer c.Close()
	if w := decodeWire(t, c.CEA.Raw); w.u32(t, wire.AVPResultCode, 0) != 5012 {
		t.Fatalf("duplicate CEA %d", w.u32(t, wire.AVPResultCode, 0))
	}
}
