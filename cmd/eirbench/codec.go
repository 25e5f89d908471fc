package main

import (
	"net"
	"time"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/diameter/wire"
)

// Values eirbench advertises.
const (
	vendor3GPP          = wire.Vendor3GPP
	productName         = "eirbench"
	disconnectDoNotTalk = wire.DisconnectDoNotWantToTalkTo // Disconnect-Cause DO_NOT_WANT_TO_TALK_TO_YOU
)

const mbit = wire.AVPFlagMandatory

// diamCodec serialises the load engine's messages with diameter/wire: the
// same AVPs as diameter/s13client sends. The engine writes the identifiers
// of each message it sends.
type diamCodec struct {
	stateID uint32 // Origin-State-Id in the CER
}

func newDiamCodec() diamCodec { return diamCodec{stateID: uint32(time.Now().Unix())} }

// message appends the AVPs made by body after a header h and writes the
// header.
func message(h wire.Header, body func(b []byte) []byte) []byte {
	b := body(make([]byte, wire.HeaderLen, 256))
	wire.PutHeader(b, h)
	return b
}

func origin(b []byte, p loadgen.Peer) []byte {
	b = wire.AppendString(b, wire.AVPOriginHost, mbit, 0, p.OriginHost)
	return wire.AppendString(b, wire.AVPOriginRealm, mbit, 0, p.OriginRealm)
}

// CER advertises S13 as Vendor-Specific-Application-Id {10415, 16777252}
// with Supported-Vendor-Id 10415 (TS 29.272 §7.1.7).
func (c diamCodec) CER(p loadgen.Peer) ([]byte, error) {
	return message(wire.Header{Flags: wire.FlagRequest, Code: wire.CmdCER}, func(b []byte) []byte {
		b = origin(b, p)
		ip := p.HostIP
		if ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
		b, start := wire.BeginAVP(b, wire.AVPHostIPAddress, mbit, 0)
		if ip4 := ip.To4(); ip4 != nil {
			b = append(append(b, 0, 1), ip4...)
		} else {
			b = append(append(b, 0, 2), ip.To16()...)
		}
		b = wire.EndAVP(b, start)
		b = wire.AppendU32(b, wire.AVPVendorID, mbit, 0, 0)
		b = wire.AppendString(b, wire.AVPProductName, 0, 0, productName)
		b = wire.AppendU32(b, wire.AVPOriginStateID, mbit, 0, c.stateID)
		b = wire.AppendU32(b, wire.AVPSupportedVendorID, mbit, 0, vendor3GPP)
		b, start = wire.BeginAVP(b, wire.AVPVendorSpecificApplicationID, mbit, 0)
		b = wire.AppendU32(b, wire.AVPVendorID, mbit, 0, vendor3GPP)
		b = wire.AppendU32(b, wire.AVPAuthApplicationID, mbit, 0, wire.AppS13)
		return wire.EndAVP(b, start)
	}), nil
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
func (c diamCodec) ECR(p loadgen.Peer, f loadgen.ECRFields) ([]byte, error) {
	h := wire.Header{Flags: wire.FlagRequest | wire.FlagProxiable, Code: wire.CmdECR, App: wire.AppS13, HopByHop: 1, EndToEnd: 1}
	return message(h, func(b []byte) []byte {
		b = wire.AppendString(b, wire.AVPSessionID, mbit, 0, f.SessionID)
		b = wire.AppendU32(b, wire.AVPAuthSessionState, mbit, 0, 1)
		b = origin(b, p)
		b = wire.AppendString(b, wire.AVPDestinationRealm, mbit, 0, f.DestinationRealm)
		b, start := wire.BeginAVP(b, wire.AVPTerminalInformation, mbit|wire.AVPFlagVendor, vendor3GPP)
		b = wire.AppendString(b, wire.AVPIMEI, mbit|wire.AVPFlagVendor, vendor3GPP, f.IMEI)
		b = wire.EndAVP(b, start)
		if f.IMSI != "" {
			b = wire.AppendString(b, wire.AVPUserName, mbit, 0, f.IMSI)
		}
		return b
	}), nil
}

// BaseAnswer answers the server's DWR (DWA) or DPR (DPA) with 2001.
func (c diamCodec) BaseAnswer(p loadgen.Peer, command, hbh, e2e uint32) ([]byte, error) {
	return message(wire.Header{Code: command, HopByHop: hbh, EndToEnd: e2e}, func(b []byte) []byte {
		b = wire.AppendU32(b, wire.AVPResultCode, mbit, 0, wire.Success)
		b = origin(b, p)
		if command == wire.CmdDWR {
			b = wire.AppendU32(b, wire.AVPOriginStateID, mbit, 0, c.stateID)
		}
		return b
	}), nil
}

// DPR says goodbye: Disconnect-Cause DO_NOT_WANT_TO_TALK_TO_YOU.
func (c diamCodec) DPR(p loadgen.Peer) ([]byte, error) {
	return message(wire.Header{Flags: wire.FlagRequest, Code: wire.CmdDPR}, func(b []byte) []byte {
		b = origin(b, p)
		return wire.AppendU32(b, wire.AVPDisconnectCause, mbit, 0, disconnectDoNotTalk)
	}), nil
}
