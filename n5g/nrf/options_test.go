package nrf

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// validOptions is a correct configuration to break one field at a time.
func validOptions() Options {
	return Options{
		NRF:        "http://nrf.5gc:8000",
		InstanceID: "4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10",
		IPv4:       []string{"192.0.2.21"},
		Scheme:     "http",
		Port:       8080,
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Options)
		want   []string // in the error's text
	}{
		{"no address", func(o *Options) { o.IPv4 = nil }, []string{"FQDN, IPv4, IPv6: at least one is required"}},
		{"empty address lists", func(o *Options) { o.IPv4, o.IPv6 = []string{}, []string{} }, []string{"at least one is required"}},
		{"bad scheme", func(o *Options) { o.Scheme = "h2c" }, []string{`Scheme "h2c": want http or https`}},
		{"no scheme", func(o *Options) { o.Scheme = "" }, []string{`Scheme ""`}},
		{"no NRF", func(o *Options) { o.NRF = "" }, []string{"NRF: required"}},
		{"NRF without scheme", func(o *Options) { o.NRF = "nrf.5gc:8000" }, []string{`NRF "nrf.5gc:8000": want an http:// or https:// URL`}},
		{"NRF ftp", func(o *Options) { o.NRF = "ftp://nrf.5gc" }, []string{"want an http:// or https:// URL"}},
		{"NRF without host", func(o *Options) { o.NRF = "http:///nnrf" }, []string{"no host"}},
		{"NRF unparsable", func(o *Options) { o.NRF = "http://nrf.5gc:port" }, []string{`NRF "http://nrf.5gc:port"`}},
		{"NRF with credentials", func(o *Options) { o.NRF = "http://u:p@nrf.5gc" }, []string{"without credentials, query or fragment"}},
		{"NRF with query", func(o *Options) { o.NRF = "https://nrf.5gc/?x=1" }, []string{"without credentials, query or fragment"}},
		{"TLS for a cleartext NRF", func(o *Options) { o.TLS = &tls.Config{} }, []string{"TLS: set for the cleartext NRF"}},
		{"instance not a UUID", func(o *Options) { o.InstanceID = "eir-1" }, []string{`InstanceID "eir-1": want a UUID`}},
		{"instance UUID v1", func(o *Options) { o.InstanceID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8" }, []string{"want a UUID version 4 (random), not version 1"}},
		{"instance as URN", func(o *Options) { o.InstanceID = "urn:uuid:4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10" }, []string{"want a UUID such as"}},
		{"instance without dashes", func(o *Options) { o.InstanceID = "4b4f5c1e8d2a4c1e9a3e0e6f2d7b9c10" }, []string{"want a UUID such as"}},
		{"FQDN not qualified", func(o *Options) { o.FQDN = "eir" }, []string{`FQDN "eir": not a fully qualified domain name`}},
		{"FQDN bad label", func(o *Options) { o.FQDN = "-eir.5gc.example" }, []string{"not a fully qualified domain name"}},
		{"IPv4 out of range", func(o *Options) { o.IPv4 = []string{"192.0.2.256"} }, []string{`IPv4 "192.0.2.256"`}},
		{"IPv4 given an IPv6 address", func(o *Options) { o.IPv4 = []string{"2001:db8::1"} }, []string{`IPv4 "2001:db8::1"`}},
		{"IPv6 mapped IPv4", func(o *Options) { o.IPv6 = []string{"::ffff:192.0.2.1"} }, []string{`IPv6 "::ffff:192.0.2.1"`}},
		{"IPv6 zoned", func(o *Options) { o.IPv6 = []string{"fe80::1%eth0"} }, []string{`IPv6 "fe80::1%eth0"`}},
		{"port", func(o *Options) { o.Port = 65536 }, []string{"Port 65536: want 0..65535"}},
		{"API prefix relative", func(o *Options) { o.APIPrefix = "eir" }, []string{`APIPrefix "eir"`}},
		{"PLMN", func(o *Options) { o.PLMNs = []PLMN{{"001", "01"}, {"20", "1"}} }, []string{`PLMNs[1] {mcc "20", mnc "1"}`}},
		{"NF type", func(o *Options) { o.AllowedNFTypes = []string{"AMF", "amf"} }, []string{`AllowedNFTypes[1] "amf"`}},
		{"priority", func(o *Options) { o.Priority = -1 }, []string{"Priority -1"}},
		{"capacity", func(o *Options) { o.Capacity = 70000 }, []string{"Capacity 70000"}},
		{"heartbeat below a second", func(o *Options) { o.Heartbeat = 500 * time.Millisecond }, []string{"Heartbeat 500ms: want a whole number of seconds"}},
		{"heartbeat not whole", func(o *Options) { o.Heartbeat = 1500 * time.Millisecond }, []string{"Heartbeat 1.5s"}},
		{"negative timeout", func(o *Options) { o.RequestTimeout = -time.Second }, []string{"RequestTimeout -1s: want > 0"}},
		{"retry bounds", func(o *Options) { o.RetryMin, o.RetryMax = time.Minute, time.Second }, []string{"RetryMax 1s: below RetryMin 1m0s"}},
		{"every problem at once", func(o *Options) { *o = Options{Port: -1} }, []string{"NRF: required", "at least one is required", `Scheme ""`, "Port -1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.modify(&o)
			c, err := New(o, zaptest.NewLogger(t), prometheus.NewRegistry())
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("New: %v, want ErrInvalidOptions", err)
			}
			if c != nil {
				t.Error("a client with the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestNewAcceptsOptions(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Options)
	}{
		{"minimal", func(o *Options) {}},
		{"FQDN only", func(o *Options) { o.IPv4, o.FQDN = nil, "eir.5gc.mnc001.mcc001.3gppnetwork.org" }},
		{"IPv6 only", func(o *Options) { o.IPv4, o.IPv6 = nil, []string{"2001:db8::21"} }},
		{"https NRF with TLS and a prefix", func(o *Options) { o.NRF, o.TLS = "https://nrf.5gc/prefix/", &tls.Config{} }},
		{"https NRF with system roots", func(o *Options) { o.NRF = "https://nrf.5gc" }},
		{"port 0", func(o *Options) { o.Port = 0 }},
		{"everything", func(o *Options) {
			o.FQDN, o.IPv6, o.Scheme, o.Port, o.APIPrefix, o.OAuth2Required = "eir.example.org", []string{"2001:db8::21"}, "https", 443, "/eir", true
			o.PLMNs, o.AllowedNFTypes, o.Priority, o.Capacity, o.Locality = []PLMN{{"001", "01"}, {"310", "410"}}, []string{"AMF"}, 65535, 100, "dc-1"
			o.Heartbeat, o.RequestTimeout, o.RetryMin, o.RetryMax = time.Minute, time.Second, time.Second, time.Second
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.modify(&o)
			if _, err := New(o, zaptest.NewLogger(t), prometheus.NewRegistry()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	o := validOptions()
	o.InstanceID = "4B4F5C1E-8D2A-4C1E-9A3E-0E6F2D7B9C10"
	o.NRF = "https://nrf.5gc:8443/pfx/"
	c, err := New(o, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if c.s.Heartbeat != 10*time.Second || c.s.heartbeat != 10 || c.s.RequestTimeout != 5*time.Second || c.s.RetryMin != time.Second || c.s.RetryMax != 30*time.Second {
		t.Errorf("defaults %+v", c.s.Options)
	}
	if want := "https://nrf.5gc:8443/pfx/nnrf-nfm/v1/nf-instances/4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10"; c.uri != want {
		t.Errorf("resource %s, want %s", c.uri, want)
	}
	if c.Status().InstanceID != "4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10" {
		t.Errorf("instance %s, want the configured one in lower case", c.Status().InstanceID)
	}
}

func TestNewGeneratesInstanceID(t *testing.T) {
	o := validOptions()
	o.InstanceID = ""
	core, logs := observer.New(zap.InfoLevel)
	c, err := New(o, zap.New(core), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	id := c.Status().InstanceID
	if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || !uuidV4.MatchString(id) {
		t.Fatalf("generated instance %q is not a UUID v4", id)
	}
	if c.Profile().NFInstanceID != id {
		t.Errorf("profile instance %s, status %s", c.Profile().NFInstanceID, id)
	}
	e := logs.FilterField(zap.String(keyInstance, id)).AllUntimed()
	if len(e) != 1 || !strings.Contains(e[0].Message, "generated") {
		t.Errorf("logged %v, want the generated instance", logs.AllUntimed())
	}
	c2, _ := New(o, zap.NewNop(), prometheus.NewRegistry())
	if c2.Status().InstanceID == id {
		t.Error("two clients generated the same instance")
	}
}

func TestNewRegistersMetricsOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(validOptions(), zap.NewNop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(validOptions(), zap.NewNop(), reg); err == nil {
		t.Error("a second client registered the same metrics on one registry")
	}
}
