// Package nrf registers the 5G-EIR with an NRF (TS 29.510 V19.6.0,
// Nnrf_NFManagement API v1) and keeps the registration alive:
//
//	PUT    {nrfApiRoot}/nnrf-nfm/v1/nf-instances/{nfInstanceId}  NFProfile        → 201 | 200 NFProfile
//	PATCH  {nrfApiRoot}/nnrf-nfm/v1/nf-instances/{nfInstanceId}  [PatchItem]      → 204 | 200 NFProfile
//	DELETE {nrfApiRoot}/nnrf-nfm/v1/nf-instances/{nfInstanceId}                   → 204
//
// The profile is that of NF type 5G_EIR with one service, n5g-eir-eic v1
// (API 1.4.0, TS 29.511), in nfServiceList (nfServices is deprecated). The
// heartbeat is a JSON Patch replacing /nfStatus with REGISTERED, sent at the
// interval the NRF grants in heartBeatTimer. A heartbeat answered 404, or
// failing for any other reason, means the registration is lost: the client
// registers again (PUT), retrying with capped exponential backoff and jitter,
// and never before the time an answer's Retry-After names (RFC 9110).
//
// It speaks HTTP/2 only (TS 29.500 §5): h2c with prior knowledge for an
// http:// NRF, h2 negotiated by ALPN for an https:// NRF.
//
// It owns the NF instance's profile, its registration state and the
// eir_nrf_* metrics. It does not import the eir domain packages, the store
// packages or n5g: it describes the N5g-eir service from its Options only.
package nrf
