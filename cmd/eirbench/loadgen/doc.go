// Package loadgen is the load engine of eirbench: it acts as one or several
// MMEs sending ME-Identity-Check requests (S13, TS 29.272) to an EIR and
// measures throughput, latency (an HDR histogram) and the correctness of
// every answer.
//
// The engine is cheap on purpose, because it shares the machine with the
// server it measures. Messages are serialised by a Codec (eirbench's uses
// go-diameter) once per connection; the engine then only patches the
// identifiers, the Session-Id suffix and the IMEI and IMSI digits of a
// template for each request, writes every request ready at the same time
// with one Write, and reads answers with a minimal header and AVP walk.
//
// It owns the framing of the load and template patching, the generated
// lists (Generate), the request mix and the report; headers and AVPs are
// read with diameter/wire. It must not import go-diameter nor anything of
// this module but the domain package eir and diameter/wire.
package loadgen
