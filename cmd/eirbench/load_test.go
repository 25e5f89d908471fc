package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir/provision"
)

func TestLoadAgainstReference(t *testing.T) {
	d := loadgen.Generate(1, 1000)
	r, err := loadgen.Run(context.Background(), testOptions(startRefT(t, d), d))
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if r.Server != "ref.test" || r.Throughput <= 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestLoadOpenLoopAgainstReference(t *testing.T) {
	d := loadgen.Generate(1, 1000)
	o := testOptions(startRefT(t, d), d)
	o.Rate, o.Duration, o.Warmup = 1000, time.Second, 200*time.Millisecond
	r, err := loadgen.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	// The open loop sends on its schedule: the requests whose send time
	// falls in the measured second, however late the generator ran (the
	// answers in the window, Throughput, depend on a loaded machine).
	if r.Sent < 990 || r.Sent > 1010 || r.Throughput <= 0 {
		t.Fatalf("sent %d in 1s at a rate of 1000/s, throughput %.0f/s", r.Sent, r.Throughput)
	}
}

// TestLoadAgainstEIRServer runs the load against eird's own Diameter server
// (strict request validation) with the generated lists in a memstore:
// every request of every category is accepted and answered as expected.
func TestLoadAgainstEIRServer(t *testing.T) {
	d := loadgen.Generate(2, 1000)
	r, err := loadgen.Run(context.Background(), testOptions(startEIRServerT(t, d), d))
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, r)
	if r.Server != "eir.test" {
		t.Fatalf("server %q", r.Server)
	}
}

// TestParseRealAnswers parses the answers of eird's server and of the
// reference server to requests of the engine's codec.
func TestParseRealAnswers(t *testing.T) {
	d := loadgen.Generate(3, 100)
	codec := newDiamCodec()
	p := loadgen.Peer{OriginHost: "mme1.eirbench.test", OriginRealm: "eirbench.test"}
	pair := d.Exceptions[0]
	tests := []struct {
		name  string
		imei  string
		imsi  string
		realm string // Destination-Realm; default: the server's
		want  loadgen.Answer
		ref   bool // also asked to the reference server
	}{
		{"black", loadgen.IMEIString(d.Black[1]), "", "", loadgen.Answer{ResultCode: 2001, EquipmentStatus: 1}, true},
		{"grey", loadgen.IMEIString(d.Grey[0]), "", "", loadgen.Answer{ResultCode: 2001, EquipmentStatus: 2}, true},
		{"exception", loadgen.IMEIString(pair.IMEI), pair.IMSIString(), "", loadgen.Answer{ResultCode: 2001, EquipmentStatus: 0}, true},
		{"unknown: experimental result", loadgen.IMEIString(d.Unknown[0]), "", "", loadgen.Answer{ExperimentalResultCode: 5422, EquipmentStatus: -1}, true},
		{"invalid IMEI", "123", "", "", loadgen.Answer{ResultCode: 5004, EquipmentStatus: -1}, true},
		{"realm not served: E-bit", loadgen.IMEIString(d.Black[0]), "", "other.realm", loadgen.Answer{ResultCode: 3003, EquipmentStatus: -1, ErrorBit: true}, false},
	}
	servers := []struct {
		name, addr string
		ref        bool
	}{{"eird", startEIRServerT(t, d), false}, {"reference", startRefT(t, d), true}}
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := s13client.Dial(ctx, srv.addr, s13client.Options{OriginHost: p.OriginHost, OriginRealm: p.OriginRealm})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", srv.name, err)
		}
		p.ServerRealm = avpText(c.CEA, avp.OriginRealm, 0)
		for i, tc := range tests {
			if srv.ref && !tc.ref {
				continue
			}
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				realm := p.ServerRealm
				if tc.realm != "" {
					realm = tc.realm
				}
				b, err := codec.ECR(p, loadgen.ECRFields{SessionID: fmt.Sprintf("mme1;1;%d", i), DestinationRealm: realm, IMEI: tc.imei, IMSI: tc.imsi})
				if err != nil {
					t.Fatal(err)
				}
				b[12], b[13], b[14], b[15] = 0, 0, 1, byte(i+1) // a fresh hop-by-hop id
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				a, err := c.SendRaw(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				got, err := loadgen.ParseAnswer(a.Raw)
				if err != nil || got != tc.want {
					t.Fatalf("ParseAnswer = %+v, %v; want %+v\n%v", got, err, tc.want, a.Msg)
				}
			})
		}
		c.Close()
	}
}

// TestLoadCommand runs `eirbench load -json` against the reference server.
func TestLoadCommand(t *testing.T) {
	d := loadgen.Generate(1, 500)
	addr := startRefT(t, d)
	var out, errb bytes.Buffer
	code := run([]string{"load", "-addr", addr, "-entries", "500", "-duration", "300ms", "-warmup", "50ms", "-window", "8",
		"-json", "-strict"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Answers == 0 || rep.Mismatches != 0 || rep.Conns != 2 || rep.Window != 8 || rep.Mode != "closed" {
		t.Fatalf("report %+v", rep)
	}
	for _, key := range []string{`"throughput"`, `"p99_9_ms"`, `"2001_es1"`, `"5422"`, `"categories"`, `"timeouts"`, `"conn_errors"`} {
		if !strings.Contains(out.String(), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	out.Reset()
	code = run([]string{"load", "-addr", addr, "-entries", "500", "-duration", "200ms", "-warmup", "0", "-rate", "500"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "open loop at 500 requests/s") || !strings.Contains(out.String(), "exception") {
		t.Fatalf("exit %d, table:\n%s", code, out.String())
	}
}

func TestLoadCommandErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"load", "-addr", closed, "-entries", "10", "-duration", "100ms"}, exitFailure, "connection refused"},
		{[]string{"load", "-mix", "red=1"}, exitUsage, "unknown category"},
		{[]string{"load", "-h"}, exitOK, "usage: eirbench load"},
		{[]string{"load", "extra"}, exitUsage, "usage: eirbench load"},
		{[]string{"ref", "-h"}, exitOK, "usage: eirbench ref"},
		{[]string{"ratio", "-h"}, exitOK, "usage: eirbench ratio"},
		{[]string{"ratio", "-rounds", "0"}, exitUsage, "-rounds"},
		{[]string{"lists", "-h"}, exitOK, "usage: eirbench lists"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String()+out.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
}

// TestListsCommand checks that the CSV imports with eirctl's parser.
func TestListsCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"lists", "-entries", "50", "-seed", "9"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	res, err := provision.Parse(&out, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 4*50 || len(res.Sources) != 1 || res.Sources[0] != benchSource {
		t.Fatalf("rows %d, sources %v", res.Rows, res.Sources)
	}
}
