//go:build linux

package fdtest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	clientHost  = "client.test"
	clientRealm = "test"
	eirHost     = "eir.server"
	eirRealm    = "eir.test"
	imei        = "35209900176148"
)

func micRequest(session string, extra ...avp) *msg {
	m := &msg{Flags: flagR | flagP, Code: cmdMIC, App: appS13, AVPs: []avp{
		aStr(avpSessionID, session),
		aU32(avpAuthSessState, 1),
		aStr(avpOriginHost, clientHost),
		aStr(avpOriginRealm, clientRealm),
		aStr(avpDestRealm, eirRealm),
	}}
	m.AVPs = append(m.AVPs, extra...)
	m.AVPs = append(m.AVPs, vendor(aGroup(avpTerminalInfo, vendor(aStr(avpIMEI, imei), vend3GPP)), vend3GPP))
	return m
}

func resultCode(tb testing.TB, m *msg) uint32 {
	tb.Helper()
	rc, ok := m.u32(avpResultCode)
	if !ok {
		tb.Fatalf("no Result-Code in:\n%v", m)
	}
	return rc
}

func strs(as []avp) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.str())
	}
	return out
}

// (a) A daemon without peers accepts a whitelisted client: CER/CEA 2001,
// STATE_OPEN, then DPR/DPA.
func TestCERFromWhitelistedClient(t *testing.T) {
	t.Parallel()
	d := Start(t, Options{Identity: "fd1.test", Realm: "test", Relay: true, AllowIncoming: []string{clientHost}})
	if d.Identity() != "fd1.test" || d.Port() == 0 || d.Addr() != fmt.Sprintf("127.0.0.1:%d", d.Port()) {
		t.Fatalf("Identity/Port/Addr = %q/%d/%q", d.Identity(), d.Port(), d.Addr())
	}
	c := dialClient(t, d.Addr(), clientHost, clientRealm)
	cea := c.cer(aU32(avpAuthAppID, appS13))
	if cea.Flags&flagR != 0 || cea.Code != cmdCE {
		t.Fatalf("not a CEA:\n%v", cea)
	}
	if rc := resultCode(t, cea); rc != 2001 {
		t.Fatalf("CEA Result-Code %d, want 2001:\n%v", rc, cea)
	}
	if got := cea.str(avpOriginHost); got != d.Identity() {
		t.Errorf("CEA Origin-Host %q, want %q", got, d.Identity())
	}
	if got := cea.str(avpOriginRealm); got != "test" {
		t.Errorf("CEA Origin-Realm %q, want test", got)
	}
	if !hasU32(cea.all(avpAuthAppID), appRelay) {
		t.Errorf("relaying daemon does not advertise Auth-Application-Id 0xffffffff:\n%v", cea)
	}
	d.WaitPeerOpen(t, clientHost, 5*time.Second)

	dpa := c.dpr()
	if rc := resultCode(t, dpa); rc != 2001 || dpa.Code != cmdDP {
		t.Fatalf("DPA Result-Code %d:\n%v", rc, dpa)
	}
	d.WaitPeerClosed(t, clientHost, 5*time.Second)

	start := time.Now()
	d.Stop(t)
	d.Stop(t) // idempotent
	if !d.Exited() {
		t.Fatal("daemon still running after Stop")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Stop without open peers took %v", el)
	}
	if !strings.Contains(d.Log(), "Initiating freeDiameter shutdown sequence") {
		t.Errorf("no shutdown message in log:\n%s", tail(d.Log(), 20))
	}
}

func hasU32(as []avp, v uint32) bool {
	for _, a := range as {
		if a.u32() == v {
			return true
		}
	}
	return false
}

// A client that is neither a ConnectPeer nor whitelisted gets 3010.
func TestUnknownPeerRejected(t *testing.T) {
	t.Parallel()
	d := Start(t, Options{Identity: "fd2.test", Relay: true, AllowIncoming: []string{"*.allowed.test"}})
	if d.Realm() != "test" {
		t.Errorf("default realm %q, want test", d.Realm())
	}
	ok := dialClient(t, d.Addr(), "a.allowed.test", "allowed.test")
	if rc := resultCode(t, ok.cer(aU32(avpAuthAppID, appS13))); rc != 2001 {
		t.Errorf("wildcard-whitelisted client: Result-Code %d, want 2001", rc)
	}
	ok.dpr()

	c := dialClient(t, d.Addr(), "stranger.other", "other")
	cea := c.cer(aU32(avpAuthAppID, appS13))
	if rc := resultCode(t, cea); rc != 3010 || cea.Flags&flagE == 0 {
		t.Fatalf("unknown peer: want Result-Code 3010 with E bit, got:\n%v", cea)
	}
	d.WaitLog(t, "Rejected CER from peer 'stranger.other'", 5*time.Second)
}

// (b) freeDiameterd relays an S13 ME-Identity-Check between the client and
// a fake EIR, although no dictionary knows command 324.
func TestRelayMEIdentityCheck(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, eirHost, eirRealm)
	d := Start(t, Options{
		Identity: "relay.test", Realm: "test", Relay: true,
		Peers:         []PeerOpt{{Identity: eirHost, Realm: eirRealm, Port: srv.port(), Connect: true}},
		AllowIncoming: []string{clientHost},
		Extensions:    []string{"dict_dcca_3gpp.fdx", "dbg_msg_dumps.fdx:0x4444"},
	})
	d.WaitPeerOpen(t, eirHost, 10*time.Second)

	// What freeDiameter advertises in its CER.
	cer := srv.next(t, isReq(cmdCE), time.Second)
	if got := cer.str(avpOriginHost); got != "relay.test" {
		t.Errorf("CER Origin-Host %q", got)
	}
	if !hasU32(cer.all(avpAuthAppID), appRelay) {
		t.Errorf("CER does not advertise Relay:\n%v", cer)
	}
	if isi, ok := cer.u32(avpInbandSecID); !ok || isi != 0 {
		t.Errorf("CER Inband-Security-Id %d (present %v), want 0:\n%v", isi, ok, cer)
	}
	if !hasU32(cer.all(avpSupVendorID), vend3GPP) {
		t.Errorf("dict_dcca_3gpp loaded but no Supported-Vendor-Id 10415:\n%v", cer)
	}
	t.Logf("freeDiameter CER:\n%v", cer)

	c := dialClient(t, d.Addr(), clientHost, clientRealm)
	if rc := resultCode(t, c.cer(aU32(avpAuthAppID, appS13))); rc != 2001 {
		t.Fatalf("client CER: Result-Code %d", rc)
	}

	for _, withDH := range []bool{false, true} {
		t.Run(fmt.Sprintf("DestinationHost=%v", withDH), func(t *testing.T) {
			var extra []avp
			if withDH {
				extra = append(extra, aStr(avpDestHost, eirHost))
			}
			session := fmt.Sprintf("%s;1;%v", clientHost, withDH)
			req := micRequest(session, extra...)
			ans := c.with(t).roundTrip(req)

			if ans.Code != cmdMIC || ans.App != appS13 || ans.Flags&flagR != 0 {
				t.Fatalf("not an ME-Identity-Check-Answer:\n%v", ans)
			}
			if rc := resultCode(t, ans); rc != 2001 {
				t.Fatalf("Result-Code %d:\n%v", rc, ans)
			}
			if ans.HbH != req.HbH || ans.E2E != req.E2E {
				t.Errorf("answer ids hbh=%#x e2e=%#x, request hbh=%#x e2e=%#x", ans.HbH, ans.E2E, req.HbH, req.E2E)
			}
			if got := ans.str(avpSessionID); got != session {
				t.Errorf("answer Session-Id %q, want %q", got, session)
			}
			if got := ans.str(avpOriginHost); got != eirHost {
				t.Errorf("answer Origin-Host %q, want %q", got, eirHost)
			}
			t.Logf("answer received by the client:\n%v", ans)

			// What the server received.
			fwd := srv.next(t, isReq(cmdMIC), 5*time.Second)
			t.Logf("request received by the server:\n%v", fwd)
			if fwd.Flags != flagR|flagP || fwd.App != appS13 {
				t.Errorf("forwarded flags %#x app %d", fwd.Flags, fwd.App)
			}
			if fwd.E2E != req.E2E {
				t.Errorf("End-to-End id changed: %#x -> %#x", req.E2E, fwd.E2E)
			}
			if got := strs(fwd.all(avpRouteRecord)); len(got) != 1 || got[0] != clientHost {
				t.Errorf("Route-Record %q, want [%s]", got, clientHost)
			}
			if _, ok := fwd.find(avpProxyInfo); ok {
				t.Errorf("unexpected Proxy-Info in forwarded request")
			}
			if dh, ok := fwd.find(avpDestHost); ok != withDH || (ok && dh.str() != eirHost) {
				t.Errorf("Destination-Host present=%v (%q), sent=%v", ok, dh.str(), withDH)
			}
			// All original AVPs unchanged, in order, then the Route-Record.
			if len(fwd.AVPs) != len(req.AVPs)+1 {
				t.Fatalf("forwarded request has %d AVPs, sent %d (+1 Route-Record expected)", len(fwd.AVPs), len(req.AVPs))
			}
			for i, a := range req.AVPs {
				if !bytes.Equal(fwd.AVPs[i].encode(), a.encode()) {
					t.Errorf("AVP %d changed:\nsent %v\ngot  %v", i, a, fwd.AVPs[i])
				}
			}
			ti, _ := fwd.find(avpTerminalInfo)
			if im, ok := findAVP(ti.kids(), avpIMEI); !ok || im.str() != imei || im.Vendor != vend3GPP {
				t.Errorf("IMEI not relayed intact: %+v", im)
			}
		})
	}

	// A realm nobody serves: freeDiameter answers 3002 itself.
	req := micRequest(clientHost + ";1;noroute")
	req.AVPs[4] = aStr(avpDestRealm, "nowhere.test")
	ans := c.roundTrip(req)
	if rc := resultCode(t, ans); rc != 3002 || ans.Flags&flagE == 0 || ans.str(avpOriginHost) != "relay.test" {
		t.Errorf("unroutable request: want 3002 from relay.test with E bit, got:\n%v", ans)
	}

	c.dpr()
	d.WaitPeerClosed(t, clientHost, 5*time.Second)
	d.WaitLog(t, "FORWARDING: (no model) unknown(16777252/324)", time.Second)
}

// freeDiameterd as a plain peer: watchdog after Tw, DPR on Stop.
func TestConnectPeerWatchdogAndDPR(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, eirHost, eirRealm)
	const tw = 6
	d := Start(t, Options{
		Identity: "peer.test", Realm: "test", Relay: true, TwSeconds: tw,
		Peers: []PeerOpt{{Identity: eirHost, Realm: eirRealm, Port: srv.port(), Connect: true}},
	})
	d.WaitPeerOpen(t, eirHost, 10*time.Second)
	srv.next(t, isReq(cmdCE), time.Second)
	opened := time.Now()

	dwr := srv.next(t, isReq(cmdDW), (tw+5)*time.Second)
	if got := dwr.str(avpOriginHost); got != "peer.test" {
		t.Errorf("DWR Origin-Host %q", got)
	}
	t.Logf("first DWR %v after STATE_OPEN", time.Since(opened).Round(100*time.Millisecond))

	start := time.Now()
	d.Stop(t)
	dpr := srv.next(t, isReq(cmdDP), time.Second) // already received: Stop waited for the exit
	if cause, ok := dpr.u32(avpDisconnCause); !ok || cause != 0 {
		t.Errorf("DPR Disconnect-Cause %d (present %v), want 0 REBOOTING", cause, ok)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("graceful stop took %v", el)
	}
	if !PeerLeftOpen(eirHost).MatchString(d.Log()) {
		t.Errorf("no state change out of STATE_OPEN logged for %s", eirHost)
	}
}

// fatalTB records Fatalf and ends the goroutine like testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Skip(...any)                  { f.msg = "skipped"; runtime.Goexit() }
func (f *fatalTB) Skipf(string, ...any)         { f.msg = "skipped"; runtime.Goexit() }
func (f *fatalTB) SkipNow()                     { f.msg = "skipped"; runtime.Goexit() }
func (f *fatalTB) Cleanup(fn func())            { f.TB.Cleanup(fn) }
func (f *fatalTB) TempDir() string              { return f.TB.TempDir() }
func (f *fatalTB) Logf(format string, a ...any) { f.TB.Logf(format, a...) }

func TestMissingBinaryFailsLoudly(t *testing.T) {
	t.Setenv(BinaryEnv, filepath.Join(t.TempDir(), "no-such-freeDiameterd"))
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(ftb, Options{})
	}()
	<-done
	const want = "freeDiameterd not found: run `make test`, which installs it"
	if !strings.HasPrefix(ftb.msg, want) {
		t.Fatalf("Fatalf message %q, want prefix %q", ftb.msg, want)
	}
}

func TestExtensionDependencies(t *testing.T) {
	got := withDependencies([]string{"dbg_msg_dumps.fdx:0x4444", "dict_dcca_3gpp.fdx", "dict_nasreq.fdx"})
	want := []string{"dbg_msg_dumps.fdx:0x4444", "dict_nasreq.fdx", "dict_dcca.fdx", "dict_dcca_3gpp.fdx"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("withDependencies = %q, want %q", got, want)
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"Tw below 6":           {TwSeconds: 5},
		"connect without port": {Peers: []PeerOpt{{Identity: "x.test", Connect: true}}},
		"unknown extension":    {Extensions: []string{"no_such_ext.fdx"}},
	} {
		t.Run(name, func(t *testing.T) {
			ftb := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(ftb, o)
			}()
			<-done
			if ftb.msg == "" {
				t.Fatal("Start did not fail")
			}
			t.Log(ftb.msg)
		})
	}
}
