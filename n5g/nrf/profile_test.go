package nrf

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/internal/testenv/sbispec"
)

func TestProfileMatchesNFProfileSchema(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Options)
		want   string // the profile as JSON
	}{
		{
			name:   "minimal",
			modify: func(o *Options) {},
			want: `{"nfInstanceId":"4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10","nfType":"5G_EIR","nfStatus":"REGISTERED","heartBeatTimer":10,` +
				`"ipv4Addresses":["192.0.2.21"],` +
				`"nfServiceList":{"n5g-eir-eic-1":{"serviceInstanceId":"n5g-eir-eic-1","serviceName":"n5g-eir-eic",` +
				`"versions":[{"apiVersionInUri":"v1","apiFullVersion":"1.4.0"}],"scheme":"http","nfServiceStatus":"REGISTERED",` +
				`"ipEndPoints":[{"ipv4Address":"192.0.2.21","transport":"TCP","port":8080}],"oauth2Required":false}}}`,
		},
		{
			name: "FQDN only, non-default port",
			modify: func(o *Options) {
				o.IPv4, o.FQDN, o.Scheme, o.Port = nil, "eir.5gc.mnc001.mcc001.3gppnetwork.org", "https", 8443
			},
			want: `{"nfInstanceId":"4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10","nfType":"5G_EIR","nfStatus":"REGISTERED","heartBeatTimer":10,` +
				`"fqdn":"eir.5gc.mnc001.mcc001.3gppnetwork.org",` +
				`"nfServiceList":{"n5g-eir-eic-1":{"serviceInstanceId":"n5g-eir-eic-1","serviceName":"n5g-eir-eic",` +
				`"versions":[{"apiVersionInUri":"v1","apiFullVersion":"1.4.0"}],"scheme":"https","nfServiceStatus":"REGISTERED",` +
				`"fqdn":"eir.5gc.mnc001.mcc001.3gppnetwork.org","ipEndPoints":[{"transport":"TCP","port":8443}],"oauth2Required":false}}}`,
		},
		{
			name: "everything",
			modify: func(o *Options) {
				o.FQDN, o.IPv6, o.Scheme, o.Port, o.APIPrefix, o.OAuth2Required = "eir.example.org", []string{"2001:DB8:0:0::21"}, "https", 443, "/eir/", true
				o.PLMNs, o.AllowedNFTypes, o.Priority, o.Capacity, o.Locality = []PLMN{{"001", "01"}, {"310", "410"}}, []string{"AMF"}, 1, 100, "dc-1"
				o.Heartbeat = time.Minute
			},
			want: `{"nfInstanceId":"4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10","nfType":"5G_EIR","nfStatus":"REGISTERED","heartBeatTimer":60,` +
				`"plmnList":[{"mcc":"001","mnc":"01"},{"mcc":"310","mnc":"410"}],"fqdn":"eir.example.org",` +
				`"ipv4Addresses":["192.0.2.21"],"ipv6Addresses":["2001:db8::21"],"allowedNfTypes":["AMF"],"priority":1,"capacity":100,"locality":"dc-1",` +
				`"nfServiceList":{"n5g-eir-eic-1":{"serviceInstanceId":"n5g-eir-eic-1","serviceName":"n5g-eir-eic",` +
				`"versions":[{"apiVersionInUri":"v1","apiFullVersion":"1.4.0"}],"scheme":"https","nfServiceStatus":"REGISTERED","fqdn":"eir.example.org",` +
				`"ipEndPoints":[{"ipv4Address":"192.0.2.21","transport":"TCP","port":443},{"ipv6Address":"2001:db8::21","transport":"TCP","port":443}],` +
				`"apiPrefix":"/eir","oauth2Required":true}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.modify(&o)
			c, err := New(o, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(c.Profile())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("profile\n got %s\nwant %s", b, tc.want)
			}
			if string(c.body) != string(b) {
				t.Errorf("registered %s, Profile() %s", c.body, b)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if err := sbispec.Schema(sbispec.NFManagement, "NFProfile", v); err != nil {
				t.Errorf("does not match TS 29.510 NFProfile: %v", err)
			}
			checkProfile(t, o.InstanceID, v)
		})
	}
}

func TestProfileIsACopy(t *testing.T) {
	o := validOptions()
	o.AllowedNFTypes = []string{"AMF"}
	c, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	o.AllowedNFTypes[0] = "SMF"
	p := c.Profile()
	p.IPv4Addresses[0] = "198.51.100.1"
	s := p.NFServiceList[ServiceInstanceID]
	s.IPEndPoints[0].Port = 1
	p.NFServiceList["other"] = NFService{}
	q := c.Profile()
	if q.AllowedNFTypes[0] != "AMF" || q.IPv4Addresses[0] != "192.0.2.21" || q.NFServiceList[ServiceInstanceID].IPEndPoints[0].Port != 8080 || len(q.NFServiceList) != 1 {
		t.Errorf("the profile changed with its copies: %+v", q)
	}
}
