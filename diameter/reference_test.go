package diameter

import (
	"context"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/eir-sidecar/eir/diameter/wire"
)

// refMsg builds a message with go-diameter's encoder: the independent
// reference the bytes of the package's own encoder (eca.go) are compared
// with. It is the builder the package used before it had one of its own.
type refMsg struct{ m *diam.Message }

// refAnswer starts the answer to req as beginAnswer does.
func refAnswer(req wire.Header, protocolError bool) refMsg {
	flags := req.Flags & wire.FlagProxiable
	if protocolError {
		flags |= wire.FlagError
	}
	return refMessage(req.Code, flags, req.App, req.HopByHop, req.EndToEnd)
}

func refMessage(code uint32, flags uint8, app, hbh, e2e uint32) refMsg {
	m := diam.NewMessage(code, flags, app, hbh, e2e, dict.Default)
	// NewMessage replaces a zero identifier with a random one.
	m.Header.HopByHopID = hbh
	m.Header.EndToEndID = e2e
	return refMsg{m}
}

func (b refMsg) add(code uint32, flags uint8, vendor uint32, v datatype.Type) {
	b.m.AddAVP(diam.NewAVP(code, flags, vendor, v))
}

func (b refMsg) u32(code uint32, v uint32) { b.add(code, flagM, 0, datatype.Unsigned32(v)) }

func (b refMsg) resultCode(code uint32) { b.u32(wire.AVPResultCode, code) }

func (b refMsg) origin(id identity) {
	b.add(wire.AVPOriginHost, flagM, 0, datatype.DiameterIdentity(id.host))
	b.add(wire.AVPOriginRealm, flagM, 0, datatype.DiameterIdentity(id.realm))
}

func (b refMsg) echo(a wire.AVP) {
	b.m.AddAVP(&diam.AVP{Code: a.Code, Flags: a.Flags, VendorID: a.Vendor, Data: datatype.OctetString(a.Data)})
}

func (b refMsg) errorMessage(text string) {
	if text != "" {
		b.add(wire.AVPErrorMessage, 0, 0, datatype.UTF8String(text))
	}
}

func (b refMsg) failedAVP(content []byte) {
	if content != nil {
		b.add(wire.AVPFailedAVP, flagM, 0, datatype.Grouped(wire.Pad(content)))
	}
}

func (b refMsg) bytes() []byte {
	out, err := b.m.Serialize()
	if err != nil {
		panic("serialize: " + err.Error())
	}
	return out
}

// encodeAVP serialises one AVP with go-diameter.
func encodeAVP(code uint32, flags uint8, vendor uint32, v datatype.Type) []byte {
	out, err := diam.NewAVP(code, flags, vendor, v).Serialize()
	if err != nil {
		panic("serialize avp: " + err.Error())
	}
	return out
}

// refStart begins an ECA as eca.begin does: Session-Id, then DRMP unless
// protocol.
func (h *ecrHandler) refStart(hdr wire.Header, r *ecrRequest, protocol bool) refMsg {
	b := refAnswer(hdr, protocol)
	if r.sessionID.Raw != nil {
		b.echo(r.sessionID)
	}
	if r.drmp.Raw != nil && !protocol {
		b.echo(r.drmp)
	}
	return b
}

// refFinish appends every Proxy-Info of the request, as eca.end does.
func (h *ecrHandler) refFinish(b refMsg, r *ecrRequest) {
	for _, p := range r.proxyInfo {
		b.echo(p)
	}
}

// run answers one ECR as the slow path does (Check under ctx).
func (h *ecrHandler) run(ctx context.Context, hdr wire.Header, body []byte) ([]byte, ecrResult) {
	call := ecrCall{hdr: hdr, body: body}
	out, res, _ := h.process(ctx, nil, &call, false)
	return out, res
}
