package diameter

import (
	"context"
	"errors"

	"github.com/eir-sidecar/eir/diameter/wire"
	"github.com/eir-sidecar/eir/eir"
)

// resultFor maps a decision error to the S13 answer, the one place where eir
// errors become result codes:
//
//	eir.ErrUnknown      → Experimental-Result 5422 DIAMETER_ERROR_EQUIPMENT_UNKNOWN (vendor 10415)
//	eir.ErrInvalidIMEI  → Result-Code 5004 DIAMETER_INVALID_AVP_VALUE
//	eir.ErrUnavailable,
//	context expiry,
//	anything else       → Result-Code 5012 DIAMETER_UNABLE_TO_COMPLY
//
// A store failure under a fixed-status policy never reaches this function:
// the Checker answers it with a decision.
func resultFor(err error) (code uint32, experimental bool) {
	switch {
	case errors.Is(err, eir.ErrUnknown):
		return wire.EquipmentUnknown, true
	case errors.Is(err, eir.ErrInvalidIMEI):
		return wire.InvalidAVPValue, false
	case errors.Is(err, eir.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return wire.UnableToComply, false
	}
	return wire.UnableToComply, false
}

// Outcome describes the ECA that a decision (or decision error) produces,
// for tools that explain answers without sending one (eirctl check).
type Outcome struct {
	ResultCode             uint32 `json:"result_code,omitempty"`
	ExperimentalResultCode uint32 `json:"experimental_result_code,omitempty"`
	EquipmentStatus        *uint8 `json:"equipment_status,omitempty"`
}

// Describe returns the S13 answer for the result of eir.Checker.Check.
func Describe(d eir.Decision, err error) Outcome {
	if err != nil {
		code, experimental := resultFor(err)
		if experimental {
			return Outcome{ExperimentalResultCode: code}
		}
		return Outcome{ResultCode: code}
	}
	st := uint8(d.Status)
	return Outcome{ResultCode: wire.Success, EquipmentStatus: &st}
}
