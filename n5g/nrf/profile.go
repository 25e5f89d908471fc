package nrf

import "maps"

// What the profile registers (TS 29.510 NFType, TS 29.511 API).
const (
	NFType            = "5G_EIR"
	ServiceName       = "n5g-eir-eic"
	ServiceInstanceID = "n5g-eir-eic-1" // unique within the NF instance
	APIVersionInURI   = "v1"
	APIFullVersion    = "1.4.0" // TS 29.511 V19.1.0

	statusRegistered = "REGISTERED"
)

// NFProfile is the part of TS 29.510's NFProfile the 5G-EIR registers:
//
//	NFProfile ::= nfInstanceId (NfInstanceId, UUID v4) M, nfType (NFType) M,
//	  nfStatus (NFStatus) M, heartBeatTimer (integer ≥ 1) O,
//	  plmnList (array(PlmnId) 1..N) O, fqdn (Fqdn) C,
//	  ipv4Addresses (array(Ipv4Addr) 1..N) C, ipv6Addresses (array(Ipv6Addr) 1..N) C
//	  (at least one of fqdn, ipv4Addresses, ipv6Addresses),
//	  allowedNfTypes (array(NFType) 1..N) O, priority (0..65535) O,
//	  capacity (0..65535) O, locality (string) O,
//	  nfServiceList (map(NFService) keyed by serviceInstanceId) O
//
// The deprecated nfServices array is never sent.
type NFProfile struct {
	NFInstanceID   string               `json:"nfInstanceId"`
	NFType         string               `json:"nfType"`
	NFStatus       string               `json:"nfStatus"`
	HeartBeatTimer int                  `json:"heartBeatTimer,omitempty"`
	PLMNList       []PLMN               `json:"plmnList,omitempty"`
	FQDN           string               `json:"fqdn,omitempty"`
	IPv4Addresses  []string             `json:"ipv4Addresses,omitempty"`
	IPv6Addresses  []string             `json:"ipv6Addresses,omitempty"`
	AllowedNFTypes []string             `json:"allowedNfTypes,omitempty"`
	Priority       int                  `json:"priority,omitempty"`
	Capacity       int                  `json:"capacity,omitempty"`
	Locality       string               `json:"locality,omitempty"`
	NFServiceList  map[string]NFService `json:"nfServiceList,omitempty"`
}

// NFService is the part of TS 29.510's NFService the 5G-EIR registers:
//
//	NFService ::= serviceInstanceId (string) M, serviceName (ServiceName) M,
//	  versions (array(NFServiceVersion) 1..N) M, scheme (UriScheme) M,
//	  nfServiceStatus (NFServiceStatus) M, fqdn (Fqdn) O,
//	  ipEndPoints (array(IpEndPoint) 1..N) O, apiPrefix (string) O,
//	  oauth2Required (boolean) O
type NFService struct {
	ServiceInstanceID string             `json:"serviceInstanceId"`
	ServiceName       string             `json:"serviceName"`
	Versions          []NFServiceVersion `json:"versions"`
	Scheme            string             `json:"scheme"`
	NFServiceStatus   string             `json:"nfServiceStatus"`
	FQDN              string             `json:"fqdn,omitempty"`
	IPEndPoints       []IPEndPoint       `json:"ipEndPoints,omitempty"`
	APIPrefix         string             `json:"apiPrefix,omitempty"`
	OAuth2Required    bool               `json:"oauth2Required"`
}

// NFServiceVersion ::= apiVersionInUri (string) M, apiFullVersion (string) M
type NFServiceVersion struct {
	APIVersionInURI string `json:"apiVersionInUri"`
	APIFullVersion  string `json:"apiFullVersion"`
}

// IPEndPoint ::= ipv4Address (Ipv4Addr) C, ipv6Address (Ipv6Addr) C (not
// both), transport (TransportProtocol) O, port (0..65535) O (absent: the
// scheme's default port)
type IPEndPoint struct {
	IPv4Address string `json:"ipv4Address,omitempty"`
	IPv6Address string `json:"ipv6Address,omitempty"`
	Transport   string `json:"transport,omitempty"`
	Port        int    `json:"port,omitempty"`
}

// newProfile builds the profile registered for s.
func newProfile(s settings) NFProfile {
	svc := NFService{
		ServiceInstanceID: ServiceInstanceID,
		ServiceName:       ServiceName,
		Versions:          []NFServiceVersion{{APIVersionInURI: APIVersionInURI, APIFullVersion: APIFullVersion}},
		Scheme:            s.Scheme,
		NFServiceStatus:   statusRegistered,
		FQDN:              s.FQDN,
		APIPrefix:         s.APIPrefix,
		OAuth2Required:    s.OAuth2Required,
	}
	for _, a := range s.IPv4 {
		svc.IPEndPoints = append(svc.IPEndPoints, IPEndPoint{IPv4Address: a, Transport: "TCP", Port: s.Port})
	}
	for _, a := range s.IPv6 {
		svc.IPEndPoints = append(svc.IPEndPoints, IPEndPoint{IPv6Address: a, Transport: "TCP", Port: s.Port})
	}
	if len(svc.IPEndPoints) == 0 && s.Port != 0 {
		// Reachable by FQDN only: the end point carries the port alone.
		svc.IPEndPoints = []IPEndPoint{{Transport: "TCP", Port: s.Port}}
	}
	return NFProfile{
		NFInstanceID:   s.instance,
		NFType:         NFType,
		NFStatus:       statusRegistered,
		HeartBeatTimer: s.heartbeat,
		PLMNList:       s.PLMNs,
		FQDN:           s.FQDN,
		IPv4Addresses:  s.IPv4,
		IPv6Addresses:  s.IPv6,
		AllowedNFTypes: s.AllowedNFTypes,
		Priority:       s.Priority,
		Capacity:       s.Capacity,
		Locality:       s.Locality,
		NFServiceList:  map[string]NFService{ServiceInstanceID: svc},
	}
}

// clone returns a deep copy of p.
func (p NFProfile) clone() NFProfile {
	c := p
	c.PLMNList = clip(p.PLMNList)
	c.IPv4Addresses = clip(p.IPv4Addresses)
	c.IPv6Addresses = clip(p.IPv6Addresses)
	c.AllowedNFTypes = clip(p.AllowedNFTypes)
	c.NFServiceList = maps.Clone(p.NFServiceList)
	for k, s := range c.NFServiceList {
		s.Versions = clip(s.Versions)
		s.IPEndPoints = clip(s.IPEndPoints)
		c.NFServiceList[k] = s
	}
	return c
}

// clip copies a slice, keeping nil as nil.
func clip[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}
