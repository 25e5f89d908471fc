package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv/capture"
	"github.com/eir-sidecar/eir/internal/testenv/fdtest"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestThroughFreeDiameterRelay sends ECRs through freeDiameterd acting as a
// Diameter relay (an independent stack, as a DRA would be) and checks the
// answers that come back, and Wireshark's decode of the eird side.
func TestThroughFreeDiameterRelay(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	loadLists(t, e)
	port := diamPort(t, e.diameter)
	cap := capture.Start(t, port)
	fd := fdtest.Start(t, fdtest.Options{
		Identity: "relay.test", Realm: "test", Relay: true,
		Peers:         []fdtest.PeerOpt{{Identity: "eir.e2e.test", Realm: "e2e.test", Addr: "127.0.0.1", Port: port, Connect: true}},
		AllowIncoming: []string{"*.e2e.test"},
	})
	fd.WaitPeerOpen(t, "eir.e2e.test", 15*time.Second)
	e.waitLog(t, `"peer":"relay.test"`, 5*time.Second)

	c, err := s13client.Dial(ctxT(t), fd.Addr(), s13client.Options{OriginHost: "mme7.e2e.test", OriginRealm: "e2e.test", DestinationRealm: "e2e.test"})
	if err != nil {
		t.Fatalf("CER to the relay: %v", err)
	}
	for _, ck := range []struct {
		imei, imsi string
		code       uint32
		status     int
	}{
		{"35209900176148", "", 2001, 1},
		{"35209900176148", "001010000000001", 2001, 0},
		{"49015420323751", "", 2001, 2},
		{"12345678901234", "", 5422, -1},
		{"not-an-imei", "", 5004, -1},
	} {
		a, err := c.Check(ctxT(t), ck.imei, ck.imsi)
		if err != nil {
			t.Fatalf("%s through the relay: %v", ck.imei, err)
		}
		if rc, es := s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg); rc != ck.code || es != ck.status {
			t.Errorf("%s/%s through the relay: %d/%d, want %d/%d", ck.imei, ck.imsi, rc, es, ck.code, ck.status)
		}
		if oh, err := a.Msg.FindAVP(avp.OriginHost, 0); err != nil || oh.Data.(datatype.DiameterIdentity) != "eir.e2e.test" {
			t.Errorf("%s: Origin-Host of the relayed answer: %v %v", ck.imei, oh, err)
		}
	}
	c.Disconnect(ctxT(t))
	fd.Stop(t) // sends DPR to eird
	e.waitLog(t, "peer disconnecting", 10*time.Second)
	rep := capture.Analyze(t, cap.Stop(t), port)
	rep.AssertClean(t)
	var relayed int
	for _, m := range rep.Messages(324) {
		if m.Request && m.AVP(282) != nil { // Route-Record added by the relay
			relayed++
		}
		if !m.Request && m.AVP(282) != nil {
			t.Errorf("frame %d: eird's answer carries a Route-Record", m.Frame)
		}
	}
	if relayed != 5 {
		t.Errorf("%d relayed requests with Route-Record seen by tshark, want 5", relayed)
	}
}

// TestFreeDiameterPeer has freeDiameterd connect to eird as a plain peer:
// capabilities exchange, the watchdog, and DPR at eird's shutdown.
func TestFreeDiameterPeer(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	port := diamPort(t, e.diameter)
	fd := fdtest.Start(t, fdtest.Options{
		Identity: "relay.test", Realm: "test", Relay: true, TwSeconds: 6,
		Peers: []fdtest.PeerOpt{{Identity: "eir.e2e.test", Realm: "e2e.test", Addr: "127.0.0.1", Port: port, Connect: true}},
	})
	fd.WaitPeerOpen(t, "eir.e2e.test", 15*time.Second)
	// freeDiameter sends DWR after Tw (6 s ± 2 s); eird answers it.
	e.waitMetric(t, `eir_diameter_requests_total{command="DWR",result="2001"}`, 1, 20*time.Second)
	if fd.Exited() || PeerLeft(fd) {
		t.Fatal("freeDiameter left the open state")
	}
	if err := e.stop(t); err != nil {
		t.Fatalf("eird exit: %v", err)
	}
	fd.WaitPeerClosed(t, "eir.e2e.test", 10*time.Second)
	if !e.hasLog(`"reason":"disconnected"`) {
		t.Errorf("eird did not close on freeDiameter's DPA:\n%s", e.log())
	}
}

// PeerLeft reports whether freeDiameter logged leaving STATE_OPEN with eird.
func PeerLeft(fd *fdtest.Daemon) bool {
	return fdtest.PeerLeftOpen("eir.e2e.test").MatchString(fd.Log())
}
