package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
)

// refCodec is the codec eirbench had before diamCodec: the load engine's
// messages serialised with go-diameter, the reference diamCodec's bytes are
// compared with.
type refCodec struct {
	stateID uint32 // Origin-State-Id in the CER
}

// CER advertises S13 as Vendor-Specific-Application-Id {10415, 16777252}
// with Supported-Vendor-Id 10415 (TS 29.272 §7.1.7).
func (c refCodec) CER(p loadgen.Peer) ([]byte, error) {
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginRealm))
	ip := p.HostIP
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(ip))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String(productName))
	m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(c.stateID))
	m.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(vendor3GPP))
	m.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(vendor3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(diam.TGPP_S13_APP_ID)),
	}})
	return m.Serialize()
}

// ECR builds an ME-Identity-Check-Request (TS 29.272 §7.2.19):
//
//	< ME-Identity-Check-Request > ::= < Diameter Header: 324, REQ, PXY, 16777252 >
//	        < Session-Id >
//	        { Auth-Session-State }          1, NO_STATE_MAINTAINED
//	        { Origin-Host }
//	        { Origin-Realm }
//	        { Destination-Realm }           the EIR's realm, from its CEA
//	        { Terminal-Information }        { IMEI }
//	        [ User-Name ]                   the IMSI, when given
//
// Vendor-Specific-Application-Id and Destination-Host are optional and not
// sent, as diameter/s13client does not send them.
func (c refCodec) ECR(p loadgen.Peer, f loadgen.ECRFields) ([]byte, error) {
	m := diam.NewMessage(diam.MEIdentityCheck, diam.RequestFlag|diam.ProxiableFlag, diam.TGPP_S13_APP_ID, 1, 1, dict.Default)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(f.SessionID))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginRealm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(f.DestinationRealm))
	m.NewAVP(avp.TerminalInformation, avp.Mbit|avp.Vbit, vendor3GPP, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.IMEI, avp.Mbit|avp.Vbit, vendor3GPP, datatype.UTF8String(f.IMEI)),
	}})
	if f.IMSI != "" {
		m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(f.IMSI))
	}
	return m.Serialize()
}

// BaseAnswer answers the server's DWR (DWA) or DPR (DPA) with 2001.
func (c refCodec) BaseAnswer(p loadgen.Peer, command, hbh, e2e uint32) ([]byte, error) {
	m := diam.NewMessage(command, 0, 0, hbh, e2e, dict.Default)
	m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(diam.Success))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginRealm))
	if command == diam.DeviceWatchdog {
		m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(c.stateID))
	}
	return m.Serialize()
}

// DPR says goodbye: Disconnect-Cause DO_NOT_WANT_TO_TALK_TO_YOU.
func (c refCodec) DPR(p loadgen.Peer) ([]byte, error) {
	m := diam.NewRequest(diam.DisconnectPeer, 0, dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(p.OriginRealm))
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(disconnectDoNotTalk))
	return m.Serialize()
}

// TestCodecMatchesReference keeps diamCodec's bytes equal to go-diameter's
// encoding of the same messages (identifiers aside: the engine writes them).
func TestCodecMatchesReference(t *testing.T) {
	c := newDiamCodec()
	ref := refCodec(c)
	ids := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		clear(b[12:20])
		return b
	}
	for _, p := range []loadgen.Peer{
		{OriginHost: "mme1.bench", OriginRealm: "bench.realm"},
		{OriginHost: "mme22.bench.x", OriginRealm: "r", HostIP: net.ParseIP("2001:db8::1")},
		{OriginHost: "m", OriginRealm: "rr", HostIP: net.ParseIP("10.1.2.3")},
	} {
		pairs := [][2]func() ([]byte, error){
			{func() ([]byte, error) { return c.CER(p) }, func() ([]byte, error) { return ref.CER(p) }},
			{func() ([]byte, error) { return c.DPR(p) }, func() ([]byte, error) { return ref.DPR(p) }},
			{func() ([]byte, error) { return c.BaseAnswer(p, 280, 7, 8) }, func() ([]byte, error) { return ref.BaseAnswer(p, 280, 7, 8) }},
			{func() ([]byte, error) { return c.BaseAnswer(p, 282, 7, 8) }, func() ([]byte, error) { return ref.BaseAnswer(p, 282, 7, 8) }},
		}
		for _, f := range []loadgen.ECRFields{
			{SessionID: "mme1;1;1", DestinationRealm: "eir.realm", IMEI: "35209900176148"},
			{SessionID: "s", DestinationRealm: "eir", IMEI: "352099001761481", IMSI: "001010123456789"},
		} {
			pairs = append(pairs, [2]func() ([]byte, error){
				func() ([]byte, error) { return c.ECR(p, f) }, func() ([]byte, error) { return ref.ECR(p, f) }})
		}
		for i, pr := range pairs {
			got, err1 := pr[0]()
			want, err2 := pr[1]()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !bytes.Equal(ids(got), ids(want)) {
				t.Errorf("%s message %d:\n got %x\nwant %x", p.OriginHost, i, got, want)
			}
			decode(t, got)
		}
	}
}
