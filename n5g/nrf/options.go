package nrf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Options configures a Client. Zero durations take the defaults noted.
type Options struct {
	// NRF is the NRF's apiRoot (TS 29.501 §4.4.1), optionally with an
	// apiPrefix path: "http://nrf.5gc:8000" is HTTP/2 cleartext with prior
	// knowledge (h2c), "https://nrf.5gc" HTTP/2 over TLS (ALPN h2).
	NRF string
	// TLS configures the connection to an https NRF: roots, client
	// certificate for mutual TLS. nil: the system roots. It must be nil for
	// an http NRF.
	TLS *tls.Config
	// InstanceID is the nfInstanceId, a UUID version 4 in its 36-character
	// form. Empty: New generates one (and logs it); it changes at every
	// start unless configured, leaving the old instance to expire at the NRF.
	InstanceID string

	// Where the N5g-eir service listens. At least one of FQDN, IPv4 and IPv6
	// (NFProfile anyOf); an https service should have an FQDN (the name its
	// certificate carries).
	FQDN string
	IPv4 []string // dotted-decimal addresses
	IPv6 []string // sent in RFC 5952 form; IPv4-mapped and zoned addresses are refused
	// Scheme is the N5g-eir service's URI scheme: "http" or "https".
	Scheme string
	// Port is the N5g-eir service's TCP port. 0: not sent (the scheme's
	// default port applies).
	Port int
	// APIPrefix is the N5g-eir service's apiPrefix (TS 29.501 §4.4.1), e.g.
	// "/eir"; empty: none.
	APIPrefix string
	// OAuth2Required says whether the N5g-eir service requires an OAuth2
	// access token (scope n5g-eir-eic); it is sent as oauth2Required.
	OAuth2Required bool

	// Optional members of the profile.
	PLMNs          []PLMN   // plmnList
	AllowedNFTypes []string // allowedNfTypes, e.g. ["AMF"]; empty: every NF type
	Priority       int      // 0..65535, lower is preferred; 0: not sent
	Capacity       int      // 0..65535, a relative weight; 0: not sent
	Locality       string   // e.g. a data centre; empty: not sent

	// Heartbeat is the heartBeatTimer proposed to the NRF, in whole
	// seconds; default 10s. The NRF's answer decides the interval used.
	Heartbeat time.Duration
	// RequestTimeout bounds each request to the NRF; default 5s.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the delay between failed registration
	// attempts, doubled after each failure, with jitter; defaults 1s and
	// 30s.
	RetryMin time.Duration
	RetryMax time.Duration
}

// PLMN is TS 29.571's PlmnId.
type PLMN struct {
	MCC string `json:"mcc"` // 3 digits
	MNC string `json:"mnc"` // 2 or 3 digits
}

// ErrInvalidOptions is wrapped by every error New returns for bad Options.
var ErrInvalidOptions = errors.New("nrf: invalid options")

var (
	// TS 29.571 Fqdn.
	fqdnRe = regexp.MustCompile(`^([0-9A-Za-z]([-0-9A-Za-z]{0,61}[0-9A-Za-z])?\.)+[A-Za-z]{2,63}\.?$`)
	mccRe  = regexp.MustCompile(`^[0-9]{3}$`)
	mncRe  = regexp.MustCompile(`^[0-9]{2,3}$`)
	// NFType values are upper-case names (TS 29.510 NFType, extensible).
	nfTypeRe = regexp.MustCompile(`^[0-9A-Z][0-9A-Z_]*$`)
)

// settings are validated Options in the form the client uses.
type settings struct {
	Options
	endpoint  *url.URL // NRF apiRoot, no trailing slash
	instance  string   // canonical lower-case UUID
	generated bool     // instance was generated
	heartbeat int      // proposed heartBeatTimer, seconds
}

// validate checks o, applies the defaults and reports every problem at once,
// each under its Options field.
func (o Options) validate() (settings, error) {
	s := settings{Options: o}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	switch u, err := url.Parse(o.NRF); {
	case o.NRF == "":
		bad("NRF: required (the NRF's apiRoot, http:// or https://)")
	case err != nil:
		bad("NRF %q: %v", o.NRF, err)
	case u.Scheme != "http" && u.Scheme != "https":
		bad("NRF %q: want an http:// or https:// URL", o.NRF)
	case u.Host == "" || u.Hostname() == "":
		bad("NRF %q: no host", o.NRF)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		bad("NRF %q: want scheme://host[:port][/prefix] without credentials, query or fragment", o.NRF)
	default:
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		s.endpoint = u
		if u.Scheme == "http" && o.TLS != nil {
			bad("TLS: set for the cleartext NRF %q (use an https:// apiRoot)", o.NRF)
		}
	}

	if o.InstanceID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			bad("InstanceID: generate: %v", err)
		}
		s.instance, s.generated = id.String(), true
	} else if id, err := uuid.Parse(o.InstanceID); err != nil || len(o.InstanceID) != 36 {
		bad("InstanceID %q: want a UUID such as 4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10", o.InstanceID)
	} else if id.Version() != 4 || id.Variant() != uuid.RFC4122 {
		bad("InstanceID %q: want a UUID version 4 (random), not version %d", o.InstanceID, id.Version())
	} else {
		s.instance = id.String()
	}

	if o.FQDN != "" && (len(o.FQDN) < 4 || len(o.FQDN) > 253 || !fqdnRe.MatchString(o.FQDN)) {
		bad("FQDN %q: not a fully qualified domain name", o.FQDN)
	}
	s.IPv4 = nil
	for _, a := range o.IPv4 {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() {
			bad("IPv4 %q: not an IPv4 address in dotted-decimal form", a)
			continue
		}
		s.IPv4 = append(s.IPv4, ip.String())
	}
	s.IPv6 = nil
	for _, a := range o.IPv6 {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
			bad("IPv6 %q: not an IPv6 address (IPv4-mapped and zoned addresses are refused)", a)
			continue
		}
		s.IPv6 = append(s.IPv6, ip.String())
	}
	if o.FQDN == "" && len(o.IPv4) == 0 && len(o.IPv6) == 0 {
		bad("FQDN, IPv4, IPv6: at least one is required (where AMFs reach the N5g-eir service)")
	}
	if o.Scheme != "http" && o.Scheme != "https" {
		bad("Scheme %q: want http or https (the N5g-eir service's)", o.Scheme)
	}
	if o.Port < 0 || o.Port > 65535 {
		bad("Port %d: want 0..65535", o.Port)
	}
	if o.APIPrefix != "" {
		if u, err := url.Parse(o.APIPrefix); err != nil || !strings.HasPrefix(o.APIPrefix, "/") || u.Path != o.APIPrefix {
			bad("APIPrefix %q: want an absolute path such as /eir", o.APIPrefix)
		}
		s.APIPrefix = strings.TrimRight(o.APIPrefix, "/")
	}

	for i, p := range o.PLMNs {
		if !mccRe.MatchString(p.MCC) || !mncRe.MatchString(p.MNC) {
			bad("PLMNs[%d] {mcc %q, mnc %q}: want a 3-digit MCC and a 2- or 3-digit MNC", i, p.MCC, p.MNC)
		}
	}
	for i, t := range o.AllowedNFTypes {
		if !nfTypeRe.MatchString(t) {
			bad("AllowedNFTypes[%d] %q: want an NF type such as AMF", i, t)
		}
	}
	if o.Priority < 0 || o.Priority > 65535 {
		bad("Priority %d: want 0..65535", o.Priority)
	}
	if o.Capacity < 0 || o.Capacity > 65535 {
		bad("Capacity %d: want 0..65535", o.Capacity)
	}

	if s.Heartbeat == 0 {
		s.Heartbeat = 10 * time.Second
	}
	if s.Heartbeat < time.Second || s.Heartbeat%time.Second != 0 {
		bad("Heartbeat %s: want a whole number of seconds, at least 1s", o.Heartbeat)
	}
	s.heartbeat = int(s.Heartbeat / time.Second)
	def := func(name string, d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			bad("%s %s: want > 0", name, *d)
		}
	}
	def("RequestTimeout", &s.RequestTimeout, 5*time.Second)
	def("RetryMin", &s.RetryMin, time.Second)
	def("RetryMax", &s.RetryMax, 30*time.Second)
	if s.RetryMax < s.RetryMin {
		bad("RetryMax %s: below RetryMin %s", s.RetryMax, s.RetryMin)
	}

	if len(errs) > 0 {
		return settings{}, fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return s, nil
}
