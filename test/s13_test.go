package test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/capture"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

const baseConfig = `
diameter:
  listen: 127.0.0.1:0
  origin_host: eir.e2e.test
  origin_realm: e2e.test
  request_timeout: 500ms
  peers:
    - origin_host: "mme*.e2e.test"
      addresses: ["127.0.0.1/32"]
    - origin_host: "relay.test"
redis:
  addresses: ["%s"]
  dial_timeout: 200ms
  read_timeout: 300ms
  write_timeout: 300ms
store:
  version_grace: 5s
admin:
  listen: 127.0.0.1:0
`

const demoLists = `imei,status,imsi,source
35209900176148,black,,national
352099001761481,black,,gsma
49015420323751,grey,,national
26053179311383,white,,manual
35209900176148,white,001010000000001,national
`

const ruleLists = `tac,status,source
01001001,black,manual
`

const rangeLists = `from,to,status,source
86000000000000,86000000999999,grey,gsma
`

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func diamPort(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// loadLists imports the demo lists with the eirctl binary.
func loadLists(t *testing.T, e *eird) {
	t.Helper()
	for _, csv := range []string{demoLists, ruleLists, rangeLists} {
		out, errOut, code := e.eirctl(t, csv, "import", "-reason", "s13 test lists", "-")
		if code != 0 {
			t.Fatalf("eirctl import: exit %d\n%s%s", code, out, errOut)
		}
	}
}

// TestS13EndToEnd drives a real eird over S13 with good, unknown, malformed
// and hostile requests, asserts on the decoded answers, and has tshark check
// that every message of the session decodes cleanly.
func TestS13EndToEnd(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	port := diamPort(t, e.diameter)
	cap := capture.Start(t, port)
	loadLists(t, e)

	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme1.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		imei, imsi string
		code       uint32
		status     int
	}{
		{"35209900176148", "", 2001, 1},
		{"352099001761481", "", 2001, 1},
		{"352099001761489", "", 2001, 1}, // 15th digit fails Luhn
		{"3520990017614807", "", 2001, 1},
		{"35209900176148", "001010000000001", 2001, 0}, // exception pair
		{"35209900176148", "001010000000002", 2001, 1},
		{"49015420323751", "", 2001, 2},
		{"26053179311383", "", 2001, 0},
		{"01001001123456", "", 2001, 1},  // TAC rule
		{"86000000500000", "", 2001, 2},  // range rule
		{"12345678901234", "", 5422, -1}, // unknown
		{"1234567890123", "", 5004, -1},  // 13 digits
		{"3520990017614A", "", 5004, -1}, // letter
		{"352099001761481234", "", 5004, -1},
	}
	for _, ck := range checks {
		a, err := c.Check(ctxT(t), ck.imei, ck.imsi)
		if err != nil {
			t.Fatalf("%s: %v", ck.imei, err)
		}
		if rc := s13client.ResultCode(a.Msg); rc != ck.code {
			t.Errorf("%s/%s: result %d, want %d", ck.imei, ck.imsi, rc, ck.code)
		}
		if es := s13client.EquipmentStatus(a.Msg); es != ck.status {
			t.Errorf("%s/%s: Equipment-Status %d, want %d", ck.imei, ck.imsi, es, ck.status)
		}
		_, rcErr := a.Msg.FindAVP(avp.ResultCode, 0)
		if ck.code == 5422 && rcErr == nil {
			t.Errorf("%s: Result-Code present next to Experimental-Result", ck.imei)
		}
	}

	// Hostile and malformed requests on the same connection.
	hostile := []struct {
		name  string
		build func() *diam.Message
		code  uint32
		eBit  bool
	}{
		{"missing terminal-information", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			n := 0
			for _, a := range m.AVP {
				if a.Code != avp.TerminalInformation {
					m.AVP[n] = a
					n++
				}
			}
			m.AVP = m.AVP[:n]
			m.Header.MessageLength = uint32(m.Len())
			return m
		}, 5005, false},
		{"s6a to an eir", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			m.Header.ApplicationID = 16777251
			m.Header.CommandCode = 316
			return m
		}, 3007, true},
		{"unknown s13 command", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			m.Header.CommandCode = 325
			return m
		}, 3001, true},
		{"e-bit on request", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			m.Header.CommandFlags |= diam.ErrorFlag
			return m
		}, 3008, true},
		{"unknown mandatory avp", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			// An S6a AVP an EIR does not support, with the M-bit
			// (Visited-PLMN-Id, TS 29.272 §7.3.9).
			m.NewAVP(avp.VisitedPLMNID, avp.Mbit|avp.Vbit, 10415, datatype.OctetString("\x00\xf1\x10"))
			return m
		}, 5001, false},
		{"proxy-info echoed", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			for _, st := range []string{"first", "second"} {
				m.NewAVP(avp.ProxyInfo, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
					diam.NewAVP(avp.ProxyHost, avp.Mbit, 0, datatype.DiameterIdentity("dra.e2e.test")),
					diam.NewAVP(avp.ProxyState, avp.Mbit, 0, datatype.OctetString(st)),
				}})
			}
			m.NewAVP(avp.RouteRecord, avp.Mbit, 0, datatype.DiameterIdentity("dra.e2e.test"))
			return m
		}, 2001, false},
		{"destination-host of another node", func() *diam.Message {
			m := c.ECR("35209900176148", "")
			m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity("other-eir.e2e.test"))
			return m
		}, 3002, true},
	}
	for _, h := range hostile {
		a, err := c.Send(ctxT(t), h.build())
		if err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		if rc := s13client.ResultCode(a.Msg); rc != h.code {
			t.Errorf("%s: result %d, want %d", h.name, rc, h.code)
		}
		if got := a.Msg.Header.CommandFlags&diam.ErrorFlag != 0; got != h.eBit {
			t.Errorf("%s: E-bit %v, want %v", h.name, got, h.eBit)
		}
		if h.name == "proxy-info echoed" {
			pis, _ := a.Msg.FindAVPs(avp.ProxyInfo, 0)
			rrs, _ := a.Msg.FindAVPs(avp.RouteRecord, 0)
			if len(pis) != 2 || len(rrs) != 0 {
				t.Errorf("%d Proxy-Info and %d Route-Record in the answer, want 2 and 0", len(pis), len(rrs))
			}
		}
	}

	// An unlisted peer is refused with 3010 and disconnected.
	bad, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "hss.e2e.test", OriginRealm: "e2e.test"})
	if err == nil || bad == nil || s13client.ResultCode(bad.CEA.Msg) != 3010 {
		t.Fatalf("unlisted peer: %v", err)
	}
	select {
	case <-bad.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("unlisted peer not disconnected")
	}

	if _, err := c.Disconnect(ctxT(t)); err != nil {
		t.Fatalf("DPR: %v", err)
	}

	// Wireshark's dissector decodes every message eird sent cleanly. (The
	// client's E-bit request is rightly not decoded as Diameter.)
	rep := capture.Analyze(t, cap.Stop(t), port).SentBy(port)
	rep.AssertClean(t)
	ecas, unknown, blacklisted := 0, 0, 0
	for _, m := range rep.Messages(324) {
		if m.Request {
			t.Errorf("frame %d: eird sent an ECR", m.Frame)
			continue
		}
		ecas++
		if m.AVPs[0].Code != 263 {
			t.Errorf("frame %d: first AVP %s, want Session-Id", m.Frame, m.AVPs[0].Name)
		}
		if m.AVP(293) != nil || m.AVP(283) != nil {
			t.Errorf("frame %d: answer carries Destination-Host/Realm", m.Frame)
		}
		if er := m.AVP(297); er != nil {
			if er.Child(298).Value != "5422" || er.Child(266).Value != "10415" || m.AVP(268) != nil || m.AVP(1445) != nil {
				t.Errorf("frame %d: unknown-equipment answer as Wireshark decodes it: %v", m.Frame, m.AVPs)
			}
			unknown++
		}
		if es := m.AVP(1445); es != nil && es.Value == "1" && m.AVP(268).Value == "2001" {
			blacklisted++
		}
	}
	if unknown != 1 || blacklisted < 5 {
		t.Errorf("Wireshark decoded %d 5422 answers and %d BLACKLISTED answers, want 1 and at least 5", unknown, blacklisted)
	}
	if want := len(checks) + len(hostile) - 2; ecas < want { // 3007/3001 answers are not 324 in app 16777252
		t.Errorf("tshark saw %d ECAs, want at least %d", ecas, want)
	}
	if len(rep.Messages(257)) != 2 || len(rep.Messages(282)) != 1 {
		t.Errorf("tshark saw %d CEAs and %d DPAs from eird, want 2 and 1", len(rep.Messages(257)), len(rep.Messages(282)))
	}
	for _, m := range rep.Messages(257) {
		rc := m.AVP(268).Value
		app := m.AVP(260).Child(258)
		if (rc == "3010") != m.Error || rc == "2001" && (app == nil || app.Value != "16777252") {
			t.Errorf("frame %d: CEA %s with E-bit %v: %v", m.Frame, rc, m.Error, m.AVPs)
		}
	}
}

// TestShutdownDisconnectsPeers checks SIGTERM: eird sends DPR with
// Disconnect-Cause REBOOTING to open peers and exits 0.
func TestShutdownDisconnectsPeers(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme2.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := e.stop(t); err != nil {
		t.Fatalf("eird exit: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after eird exited")
	}
	var cause = -1
	for _, m := range c.Unsolicited() {
		if m.Msg.Header.CommandCode == diam.DisconnectPeer {
			if a, err := m.Msg.FindAVP(avp.DisconnectCause, 0); err == nil {
				cause = int(a.Data.(datatype.Enumerated))
			}
		}
	}
	if cause != 0 {
		t.Fatalf("Disconnect-Cause %d, want DPR with REBOOTING (0)", cause)
	}
}

// TestStoreOutage: while Redis is down, checks are answered from the lists
// held for store.max_stale (here 1s), each at once; then the store-failure
// policy applies (5012, without waiting for Redis), and eirctl status says
// so. Once Redis is back, the lists answer again.
func TestStoreOutage(t *testing.T) {
	rds := redistest.Start(t, redistest.WithPersistence())
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()), "EIR_STORE_MAX_STALE=1s")
	loadLists(t, e)
	e.waitHeld(t)
	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme3.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stopped := time.Now()
	rds.Stop()
	answered := 0
	// Answered from the lists held until store.max_stale (1s) passes, then
	// 5012: still answering 5s into the outage fails.
	testenv.Eventually(t, "5012 once store.max_stale (1s) passed with redis down", 5*time.Second, func() bool {
		start := time.Now()
		a, err := c.Check(ctxT(t), "35209900176148", "")
		if err != nil {
			t.Fatal(err)
		}
		// Waiting for Redis would take redis.read_timeout or the request
		// timeout (1s each here); 500ms leaves room for a loaded machine
		// (100ms failed 3 times in 9 under a load of 15 on 2 cores).
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("answer took %v during the outage: a check must not wait for Redis", d)
		}
		rc := s13client.ResultCode(a.Msg)
		if rc == 5012 {
			if a.Msg.Header.CommandFlags&diam.ErrorFlag != 0 {
				t.Fatal("5012 with the E-bit")
			}
			// max_stale counts from the last confirmation: at most one
			// refresh (100ms) before Redis stopped.
			if time.Since(stopped) < 900*time.Millisecond {
				t.Fatalf("5012 after %v, before store.max_stale (1s)", time.Since(stopped))
			}
			return true
		}
		if rc != 2001 || s13client.EquipmentStatus(a.Msg) != 1 {
			t.Fatalf("with redis down: result %d, want the answer in force (2001, BLACKLISTED) or 5012", rc)
		}
		answered++
		return false
	})
	if answered < 10 {
		t.Fatalf("only %d answers from the lists held before max_stale", answered)
	}
	_, _, code := e.eirctl(t, "", "status")
	if code != 1 {
		t.Errorf("eirctl status with redis down: exit %d, want 1", code)
	}
	rds.Restart(t)
	testenv.Eventually(t, "BLACKLISTED again after the Redis restart", 15*time.Second, func() bool {
		a, err := c.Check(ctxT(t), "35209900176148", "")
		return err == nil && s13client.ResultCode(a.Msg) == 2001 && s13client.EquipmentStatus(a.Msg) == 1
	})
}

// TestEirctl checks the operator's commands and their exit codes.
func TestEirctl(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	if _, _, code := e.eirctl(t, "", "status"); code != 1 {
		t.Errorf("status with no lists: exit %d, want 1 (not ready)", code)
	}
	// No entries: the source listed (eird's default) and the filters are named.
	out, errOut, code := e.eirctl(t, "", "list")
	if code != 0 || !strings.Contains(out, "no entries in source manual (eird's default source") {
		t.Errorf("list of an empty default source: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = e.eirctl(t, "", "list", "-source", "national", "-list", "white")
	if code != 0 || !strings.Contains(out, "no entries in source national on list white\n") {
		t.Errorf("list of an empty list: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = e.eirctl(t, "imei,status\n35209900176148,black\n1234,black\n3520990017614X,grey\n", "import", "-reason", "bad rows", "-")
	if code != 3 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "line 4") {
		t.Fatalf("bad file: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := e.eirctl(t, "", "check", "35209900176148"); !strings.Contains(out, "UNKNOWN") {
		t.Fatalf("a rejected file changed the lists:\n%s", out)
	}
	loadLists(t, e)
	out, _, code = e.eirctl(t, "", "check", "352099001761481", "001010000000001")
	if code != 0 || !strings.Contains(out, "WHITELISTED") || !strings.Contains(out, "exception") {
		t.Fatalf("check exception: exit %d\n%s", code, out)
	}
	out, _, _ = e.eirctl(t, "", "check", "35209900176148")
	if !strings.Contains(out, "BLACKLISTED") || !strings.Contains(out, "Result-Code 2001, Equipment-Status 1") {
		t.Fatalf("check:\n%s", out)
	}
	out, _, _ = e.eirctl(t, "", "-o", "json", "check", "12345678901234")
	if !strings.Contains(out, `"experimental_result_code": 5422`) {
		t.Fatalf("json check:\n%s", out)
	}
	if _, errOut, code := e.eirctl(t, "", "check", "123"); code != 3 || !strings.Contains(errOut, "imei: invalid imei") || strings.Contains(errOut, "eir: ") {
		t.Errorf("invalid IMEI: exit %d, want 3 and the error without package prefixes\n%s", code, errOut)
	}
	// An expiry keeps its milliseconds, as added and as listed.
	out, errOut, code = e.eirctl(t, "", "add", "-list", "grey", "-expires", "2999-01-01T00:00:00.250Z", "-reason", "loan", "35355500000001")
	if code != 0 || !strings.Contains(out, "EXPIRES  2999-01-01T00:00:00.250Z") {
		t.Fatalf("add with an expiry to the millisecond: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = e.eirctl(t, "", "list", "-imei", "35355500000001")
	if code != 0 || !strings.Contains(out, "manual/imei/grey/exp") || !strings.Contains(out, "2999-01-01T00:00:00.250Z") {
		t.Fatalf("list an expiry to the millisecond: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := e.eirctl(t, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	out, _, code = e.eirctl(t, "", "datasets")
	if code != 0 || !strings.Contains(out, "national/imei/black") || !strings.Contains(out, "gsma/range/grey") {
		t.Fatalf("datasets: exit %d\n%s", code, out)
	}
	datasetsBefore := out
	if _, _, code := e.eirctl(t, "", "status"); code != 0 {
		t.Errorf("status: exit %d", code)
	}
	// Replacing the national source removes its entries, not gsma's. It
	// empties national's black list: held by the guards until forced.
	replace := "imei,status,source\n49015420323751,grey,national\n"
	if _, errOut, code := e.eirctl(t, replace, "import", "-replace", "-reason", "shrink", "-"); code != 3 || !strings.Contains(errOut, "would leave 0 entries") {
		t.Fatalf("replace without -force: %d %s; want it held (exit 3)", code, errOut)
	}
	if out, _, _ := e.eirctl(t, "", "list", "-imei", "35209900176148"); !strings.Contains(out, "national/imei/black") {
		t.Fatalf("a held import changed the lists:\n%s", out)
	}
	// A dry run says so too (exit 3), and counts what the import does.
	dry, errOut, code := e.eirctl(t, replace, "import", "-dry-run", "-replace", "-")
	if code != 3 || !strings.Contains(errOut, "would leave 0 entries") || !strings.Contains(dry, "national/imei/black") {
		t.Fatalf("dry run of the replace: %d\n%s%s; want the counts, and held (exit 3)", code, dry, errOut)
	}
	dry, errOut, code = e.eirctl(t, replace, "import", "-dry-run", "-replace", "-force", "-")
	if code != 0 {
		t.Fatalf("dry run -force: %d %s", code, errOut)
	}
	out, errOut, code = e.eirctl(t, replace, "import", "-replace", "-force", "-reason", "shrink", "-")
	if code != 0 {
		t.Fatalf("replace -force: %d %s", code, errOut)
	}
	if got, want := importCounts(dry), importCounts(out); got != want || !strings.Contains(got, "national/imei/black 0 ") {
		t.Fatalf("the dry run counted\n%s\nthe import did\n%s", got, want)
	}
	// The replacement created no empty dataset: national has those it had,
	// and the grey list the file fills.
	out, _, _ = e.eirctl(t, "", "datasets")
	for _, l := range strings.Split(out, "\n") {
		if ds, _, _ := strings.Cut(l, " "); strings.HasPrefix(ds, "national/") && ds != "national/imei/grey" && !strings.Contains(datasetsBefore, ds+" ") {
			t.Errorf("the replacement created %s:\n%s", ds, out)
		}
	}
	if out, _, _ := e.eirctl(t, "", "check", "35209900176148"); !strings.Contains(out, "BLACKLISTED") || !strings.Contains(out, "gsma") {
		t.Fatalf("after replacing national, gsma's entry must still block:\n%s", out)
	}
}

// importCounts is the table of an import's output without its VERSION
// column (a dry run has none).
func importCounts(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 5 {
			fmt.Fprintln(&b, f[0], f[2], f[3], f[4])
		}
	}
	return b.String()
}

var _ = errors.New
