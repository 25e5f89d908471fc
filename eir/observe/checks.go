package observe

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/observe/redact"
)

// The interfaces that answer checks, as Answer.Interface names them.
const (
	S13   = "s13"
	N5g   = "n5g"
	Admin = "admin"
)

// EventSink receives the checks answered on the network, to publish hit
// events (events.Publisher). It must not block.
type EventSink interface {
	Decision(iface, peer, peerAddr string, q eir.Query, d eir.Decision, err error)
}

// Sightings receives the checks answered on the network that carried an
// IMSI, to record who uses which device (cmd/eird hands them to
// eir/sighting's Writer). Sighted must not block: it reports whether the
// answer was taken (false: dropped, and counted by the sink).
type Sightings interface {
	Sighted(a Answer) bool
}

// Options configures Checks. Only Registerer is required.
type Options struct {
	Registerer prometheus.Registerer // the decision counters (Recorder)
	Logger     *zap.Logger           // nil: no logs
	Redactor   *redact.Redactor      // IMEIs in logs; nil: a random key
	Events     EventSink             // nil: no hit events
	Sightings  Sightings             // nil: no observations
	// SightingInterfaces are the interfaces whose answers go to Sightings
	// (S13, N5g); nil: both.
	SightingInterfaces []string
	// SightingSample is the share of those answers handed over, drawn at
	// random; 0 or 1: every one.
	SightingSample float64
}

// Checks is the Observer of eird: for every check answered it counts the
// decision (eir_check_decisions_total, eir_check_shadow_decisions_total),
// publishes the hit event, and logs what an operator must see: a shadow
// verdict not enforced (info), a store failure answered by policy (warn)
// and a check that failed for another reason than unknown equipment
// (warn). The admin API's checks are an operator's questions, not
// equipment seen on the network: they are counted, neither published nor
// logged. A check of equipment without an IMEI (a MAC or EUI-64 PEI) is
// not observed: the counts, events and logs are of IMEIs. The answers on
// the network that carried an IMSI (not the failed checks) also go to the
// Sightings, filtered by interface and sampled.
//
// Checks is safe for concurrent use; Answered does not block and
// allocates only when it logs (and in the event sink).
type Checks struct {
	rec    *Recorder
	log    *zap.Logger
	red    *redact.Redactor
	events EventSink
	sight  Sightings
	s13    bool    // S13 answers go to sight
	n5g    bool    // N5g answers go to sight
	sample float64 // in (0, 1): the share handed over; else all
}

var _ Observer = (*Checks)(nil)

// New returns the Observer, its counters registered on o.Registerer.
func New(o Options) (*Checks, error) {
	rec, err := NewRecorder(o.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Checks{rec: rec, log: o.Logger, red: o.Redactor, events: o.Events, sight: o.Sightings, sample: o.SightingSample}
	c.s13, c.n5g = o.SightingInterfaces == nil, o.SightingInterfaces == nil
	for _, i := range o.SightingInterfaces {
		switch i {
		case S13:
			c.s13 = true
		case N5g:
			c.n5g = true
		default:
			return nil, fmt.Errorf("observe: sighting interface %q: want s13 or n5g", i)
		}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.red == nil {
		c.red = redact.New(nil)
	}
	return c, nil
}

// Answered observes one check answered.
func (c *Checks) Answered(a Answer) {
	if !a.Query.Kind.HasIMEI() {
		return
	}
	c.rec.Record(a.Interface, a.Decision, a.Err)
	if a.Interface == Admin {
		return
	}
	if c.events != nil {
		c.events.Decision(a.Interface, a.Peer, peerIP(a.PeerAddr), a.Query, a.Decision, a.Err)
	}
	if c.sight != nil && c.sighted(&a) {
		c.sight.Sighted(a)
	}
	d := &a.Decision
	if sh := d.Shadow; sh != nil {
		c.log.Info("shadow verdict not enforced", c.red.IMEI(a.Query.IMEI), zap.String(peerKey(a.Interface), a.Peer),
			zap.String("verdict", sh.Status.String()), zap.String("rule", sh.Rule.String()),
			zap.String("source", sh.Source), zap.String("answered", d.Status.String()))
	}
	switch {
	case a.Err == nil:
		if d.Rule == eir.RuleStoreFallback {
			c.log.Warn("store unavailable; answered by policy", zap.Error(d.Cause))
		}
	case !errors.Is(a.Err, eir.ErrUnknown):
		c.log.Warn("check failed", zap.Error(a.Err), zap.String("interface", a.Interface))
	}
}

// sighted reports whether a goes to the Sightings: an answer (a list's or
// the policy's, or unknown equipment; not a failed check) with an IMSI, on
// an interface observed, and drawn by the sample.
func (c *Checks) sighted(a *Answer) bool {
	switch {
	case a.Query.IMSI == "":
		return false
	case a.Err != nil && !errors.Is(a.Err, eir.ErrUnknown):
		return false
	case a.Interface == S13 && !c.s13, a.Interface == N5g && !c.n5g:
		return false
	case a.Interface != S13 && a.Interface != N5g:
		return false
	}
	return c.sample <= 0 || c.sample >= 1 || rand.Float64() < c.sample
}

// peerKey is the log field naming the peer, as each interface calls it.
func peerKey(iface string) string {
	switch iface {
	case S13:
		return "origin_host"
	case N5g:
		return "consumer"
	}
	return "peer"
}

// peerIP is the IP address of a transport address (host:port, [v6]:port,
// or an IP already), an IPv4-mapped IPv6 address unmapped. It allocates
// nothing: it runs for every answer.
func peerIP(addr string) string {
	host := addr
	if strings.HasPrefix(addr, "[") {
		if i := strings.LastIndex(addr, "]"); i > 0 {
			host = addr[1:i]
		}
	} else if i := strings.IndexByte(addr, ':'); i >= 0 && i == strings.LastIndexByte(addr, ':') {
		host = addr[:i] // host:port; two colons or more without brackets is an IPv6 address
	}
	if v4, ok := strings.CutPrefix(host, "::ffff:"); ok && strings.Contains(v4, ".") {
		return v4
	}
	return host
}
