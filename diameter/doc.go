// Package diameter is the S13/S13' adapter of the EIR: a Diameter server
// (RFC 6733) that answers ME-Identity-Check requests (TS 29.272 §7.2.19) from
// MMEs and SGSNs with decisions taken by an eir.Checker.
//
// It owns the peer layer (admission at accept: a bound on open connections
// and the allow-list's source addresses, checked before anything is read;
// CER/CEA with an allow-list, DWR/DWA watchdog, DPR/DPA in both
// directions), request validation (every Result-Code and Failed-AVP of the
// answer is decided here) and the mapping of eir errors to the wire
// (resultFor, in result.go). Its files: conn.go (framing, the read and write
// loops), peer.go (CER/CEA, DWR/DWA, DPR/DPA, the watchdog), ecr.go (the
// ECR, parsed once: answered in the read loop when eir.Checker.TryCheck needs
// no I/O, otherwise checked in its own goroutine), eca.go (the one encoder of
// every message the server sends), tls.go (ServeTLS: Diameter over TLS/TCP
// from the first byte, the handshake bounded by the CER timeout, the peer
// certificate's names against the CER's Origin-Host). Headers and AVPs are read and written
// with diameter/wire; go-diameter is used only by the tests, as the
// independent decoder of what goes on the wire, and by diameter/s13client.
//
// Every check answered is reported to Options.Observer (decision metrics,
// hit events, the shadow and fallback log lines live there); the server
// keeps its own answer metrics and the debug line per answer.
//
// The connection loop is not go-diameter's diam.Server: that server closes
// the connection when a request names an application or command missing from
// its dictionary, so 3007 and 3001 cannot be answered; its state machine
// (diam/sm) has no DPR/DPA, sets the E-bit on 5xxx CEAs, cannot answer 3010
// to an unlisted peer, and flushes one write(2) per answer. This package
// frames messages itself, validates them without reflection, runs requests
// of one connection concurrently (bounded) and coalesces answer writes.
//
// Package diameter must not import the store packages; it reaches the lists
// only through eir.Checker.
package diameter
