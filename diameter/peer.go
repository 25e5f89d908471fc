package diameter

import (
	"net"
	"net/netip"
	"strings"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// Capabilities-Exchange-Request, RFC 6733 §5.3.1.
//
//	<CER> ::= < Diameter Header: 257, REQ >
//	          { Origin-Host }
//	          { Origin-Realm }
//	       1* { Host-IP-Address }
//	          { Vendor-Id }
//	          { Product-Name }
//	          [ Origin-State-Id ]
//	        * [ Supported-Vendor-Id ]
//	        * [ Auth-Application-Id ]
//	        * [ Inband-Security-Id ]
//	        * [ Acct-Application-Id ]
//	        * [ Vendor-Specific-Application-Id ]
//	          [ Firmware-Revision ]
//	        * [ AVP ]
type cerRequest struct {
	originHost  rawAVP
	originRealm rawAVP
	hostIPs     []rawAVP
	vendorID    rawAVP
	productName rawAVP
	stateID     rawAVP
	firmware    rawAVP
	authApps    []uint32
	acctApps    []uint32
	inbandSec   []uint32
	s13         bool // S13 or Relay advertised

	unsupported []byte
	excess      []byte
}

func parseCER(body []byte) (cerRequest, *reqError) {
	var r cerRequest
	single := func(slot *rawAVP, a rawAVP) {
		if slot.raw != nil {
			if r.excess == nil {
				r.excess = a.raw
			}
			return
		}
		*slot = a
	}
	var valueErr *reqError
	app := func(a rawAVP, list *[]uint32) {
		v, ok := u32(a)
		if !ok {
			if valueErr == nil {
				valueErr = avpError(codeInvalidAVPLength, a.raw, "AVP length invalid for its type")
			}
			return
		}
		*list = append(*list, v)
		if v == appS13 || v == appRelay {
			r.s13 = true
		}
	}
	bad, err := forEachAVP(body, func(a rawAVP) error {
		if a.vendor != 0 || a.flags&flagV != 0 {
			if a.mandatory() && r.unsupported == nil {
				r.unsupported = a.raw
			}
			return nil
		}
		switch a.code {
		case avpOriginHost:
			single(&r.originHost, a)
		case avpOriginRealm:
			single(&r.originRealm, a)
		case avpHostIPAddress:
			r.hostIPs = append(r.hostIPs, a)
		case avpVendorID:
			single(&r.vendorID, a)
		case avpProductName:
			single(&r.productName, a)
		case avpOriginStateID:
			single(&r.stateID, a)
		case avpFirmwareRevision:
			single(&r.firmware, a)
		case avpSupportedVendorID:
		case avpAuthApplicationID:
			app(a, &r.authApps)
		case avpAcctApplicationID:
			app(a, &r.acctApps)
		case avpInbandSecurityID:
			app(a, &r.inbandSec)
		case avpVendorSpecificAppID:
			_, gerr := forEachAVP(a.data, func(g rawAVP) error {
				if g.vendor == 0 && (g.code == avpAuthApplicationID || g.code == avpAcctApplicationID) {
					if v, ok := u32(g); ok && (v == appS13 || v == appRelay) {
						r.s13 = true
					}
				}
				return nil
			})
			if gerr != nil && valueErr == nil {
				valueErr = avpError(codeInvalidAVPLength, a.raw, "AVP length inconsistent within Vendor-Specific-Application-Id")
			}
		default:
			if a.mandatory() && r.unsupported == nil {
				r.unsupported = a.raw
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return r, avpError(codeInvalidAVPLength, minimalHeader(bad.raw), "AVP length inconsistent with the message")
	case r.unsupported != nil:
		return r, avpError(codeAVPUnsupported, r.unsupported, "mandatory AVP not supported")
	case r.excess != nil:
		return r, avpError(codeAVPOccursTooManyTimes, r.excess, "AVP occurs too many times")
	case r.originHost.raw == nil:
		return r, avpError(codeMissingAVP, exampleAVP(avpOriginHost, 0, 0), "Origin-Host missing")
	case r.originRealm.raw == nil:
		return r, avpError(codeMissingAVP, exampleAVP(avpOriginRealm, 0, 0), "Origin-Realm missing")
	case len(r.hostIPs) == 0:
		// The example is an IPv4 address of zeros: AddressType 0 is
		// reserved and would make the answer itself undecodable.
		return r, avpError(codeMissingAVP, encodeAVP(avpHostIPAddress, flagM, 0, datatype.Address(net.IPv4zero.To4())), "Host-IP-Address missing")
	case r.vendorID.raw == nil:
		return r, avpError(codeMissingAVP, exampleAVP(avpVendorID, 0, 4), "Vendor-Id missing")
	case r.productName.raw == nil:
		return r, avpError(codeMissingAVP, exampleAVP(avpProductName, 0, 0), "Product-Name missing")
	case valueErr != nil:
		return r, valueErr
	}
	for _, a := range []rawAVP{r.vendorID, r.stateID, r.firmware} {
		if a.raw != nil && len(a.data) != 4 {
			return r, avpError(codeInvalidAVPLength, a.raw, "AVP length invalid for its type")
		}
	}
	if len(r.originHost.data) == 0 || len(r.originRealm.data) == 0 {
		return r, avpError(codeInvalidAVPValue, r.originHost.raw, "empty Origin-Host or Origin-Realm")
	}
	return r, nil
}

// securityOK reports whether the peer accepts a connection without in-band
// TLS: Inband-Security-Id absent, or one of its values NO_INBAND_SECURITY (0).
func (r *cerRequest) securityOK() bool {
	if len(r.inbandSec) == 0 {
		return true
	}
	for _, v := range r.inbandSec {
		if v == 0 {
			return true
		}
	}
	return false
}

// capabilities appends this node's capability AVPs to a CEA, in the order of
// the CEA grammar (RFC 6733 §5.3.2) around Error-Message and Failed-AVP.
func (s *Server) capabilities(b msg, local net.Addr, e *reqError, apps bool) {
	b.origin(s.id)
	for _, ip := range s.hostIPs(local) {
		b.add(avpHostIPAddress, flagM, 0, datatype.Address(ip))
	}
	b.u32(avpVendorID, s.opts.VendorID)
	b.add(avpProductName, 0, 0, datatype.UTF8String(s.opts.ProductName))
	b.u32(avpOriginStateID, s.stateID)
	if e != nil {
		b.errorMessage(e.text)
		b.failedAVP(e.failed)
	}
	if apps {
		// TS 29.272 §7.1.7: S13 is advertised as a vendor-specific
		// application of 3GPP.
		b.u32(avpSupportedVendorID, vendor3GPP)
		b.add(avpVendorSpecificAppID, flagM, 0, datatype.Grouped(append(
			encodeAVP(avpVendorID, flagM, 0, datatype.Unsigned32(vendor3GPP)),
			encodeAVP(avpAuthApplicationID, flagM, 0, datatype.Unsigned32(appS13))...)))
	}
	if s.opts.FirmwareRevision != 0 {
		b.add(avpFirmwareRevision, 0, 0, datatype.Unsigned32(s.opts.FirmwareRevision))
	}
}

// hostIPs returns the configured Host-IP-Address values, or the local
// address of the connection (every address of an SCTP association).
func (s *Server) hostIPs(local net.Addr) []net.IP {
	if len(s.opts.HostIPAddresses) > 0 {
		out := make([]net.IP, 0, len(s.opts.HostIPAddresses))
		for _, a := range s.opts.HostIPAddresses {
			out = append(out, net.IP(a.AsSlice()))
		}
		return out
	}
	var out []net.IP
	if local != nil {
		str := local.String()
		if h, _, err := net.SplitHostPort(str); err == nil {
			str = h
		}
		for _, part := range strings.Split(str, "/") {
			if a, err := netip.ParseAddr(strings.Trim(part, "[]")); err == nil {
				out = append(out, net.IP(a.Unmap().AsSlice()))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, net.IPv4(127, 0, 0, 1).To4())
	}
	return out
}
