package observe

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eir-sidecar/eir/eir"
)

// sightings records the answers handed over.
type sightings struct{ got []Answer }

func (s *sightings) Sighted(a Answer) bool { s.got = append(s.got, a); return true }

func TestSightings(t *testing.T) {
	const imei = eir.IMEI(35209900176148)
	black := eir.Decision{Status: eir.Blacklisted, Rule: eir.RuleIMEI, Source: "national"}
	q := eir.Query{IMEI: imei, IMSI: "001010000000001"}
	for _, tc := range []struct {
		name   string
		ifaces []string
		a      Answer
		want   bool
	}{
		{"s13 with imsi", nil, Answer{Interface: S13, Peer: "mme1", Query: q, Decision: black, SVN: "07"}, true},
		{"n5g unknown equipment", nil, Answer{Interface: N5g, Query: q, Err: eir.ErrUnknown}, true},
		{"no imsi", nil, Answer{Interface: S13, Query: eir.Query{IMEI: imei}, Decision: black}, false},
		{"failed check", nil, Answer{Interface: S13, Query: q, Err: errors.Join(eir.ErrUnavailable)}, false},
		{"admin check", nil, Answer{Interface: Admin, Query: q, Decision: black}, false},
		{"mac pei", nil, Answer{Interface: N5g, Query: eir.Query{IMSI: q.IMSI, Kind: eir.PEIMAC}}, false},
		{"interface not observed", []string{N5g}, Answer{Interface: S13, Query: q, Decision: black}, false},
		{"interface observed", []string{N5g}, Answer{Interface: N5g, Query: q, Decision: black, MSISDN: "491701234567"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sightings{}
			c, err := New(Options{Registerer: prometheus.NewRegistry(), Sightings: s, SightingInterfaces: tc.ifaces})
			if err != nil {
				t.Fatal(err)
			}
			c.Answered(tc.a)
			if got := len(s.got) == 1; got != tc.want {
				t.Fatalf("handed over: %v, want %v", got, tc.want)
			}
			if tc.want && (s.got[0].SVN != tc.a.SVN || s.got[0].MSISDN != tc.a.MSISDN || s.got[0].Peer != tc.a.Peer) {
				t.Fatalf("handed over %+v, want %+v", s.got[0], tc.a)
			}
		})
	}
	if _, err := New(Options{Registerer: prometheus.NewRegistry(), SightingInterfaces: []string{"gx"}}); err == nil {
		t.Fatal("an unknown interface was accepted")
	}
}

// TestSightingSample: a sample of 0.25 hands over about a quarter of the
// answers (10,000 draws: 2,500 ± 5 standard deviations).
func TestSightingSample(t *testing.T) {
	s := &sightings{}
	c, err := New(Options{Registerer: prometheus.NewRegistry(), Sightings: s, SightingSample: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	a := Answer{Interface: S13, Query: eir.Query{IMEI: 1, IMSI: "001010000000001"}}
	for range 10_000 {
		c.Answered(a)
	}
	if n := len(s.got); n < 2500-5*43 || n > 2500+5*43 {
		t.Fatalf("%d of 10,000 handed over with a sample of 0.25", n)
	}
}

type nopSightings struct{}

func (nopSightings) Sighted(Answer) bool { return true }

// TestSightedAllocs: handing an answer to the Sightings costs no
// allocation.
func TestSightedAllocs(t *testing.T) {
	c, err := New(Options{Registerer: prometheus.NewRegistry(), Sightings: nopSightings{}, SightingSample: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	a := Answer{Interface: S13, Query: eir.Query{IMEI: 35209900176148, IMSI: "001010000000001"}, SVN: SVN([]byte("07"))}
	c.Answered(a)
	if n := testing.AllocsPerRun(100, func() { c.Answered(a) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestSVN(t *testing.T) {
	for in, want := range map[string]string{"00": "00", "07": "07", "99": "99", "7": "", "123": "", "0a": "", "": ""} {
		if got := SVN([]byte(in)); got != want {
			t.Errorf("SVN(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = SVN([]byte{'4', '2'}) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
