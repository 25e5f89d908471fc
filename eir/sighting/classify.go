package sighting

import "github.com/eir-sidecar/eir/eir"

// Device-change event kinds.
const (
	// EventIMSINewDevice: the IMSI was seen on another IMEI than its
	// current one (a SIM moved to another device).
	EventIMSINewDevice = "imsi_new_device"
	// EventListedIMEINewIMSI: a black- or grey-listed IMEI answered with an
	// IMSI it had not been seen with (a stolen device with a new SIM).
	EventListedIMEINewIMSI = "listed_imei_new_imsi"
)

// Event is a device change found by Classify. Nothing is published here:
// the caller decides where events go.
type Event struct {
	Kind     string
	IMEI     eir.IMEI
	IMSI     eir.IMSI
	Answer   Answer
	PrevIMEI eir.IMEI // imsi_new_device: the IMSI's previous current IMEI
	// PrevIMSIs (listed_imei_new_imsi) are the other IMSIs the IMEI was
	// seen with within retention, as far as the write returned them (none
	// when the IMEI had no other pair), sorted.
	PrevIMSIs []eir.IMSI
}

// Classify returns the device-change events of one recorded observation
// (r is its Result from Write or Record). A deduplicated or failed write
// gives none.
func Classify(o Observation, r Result) []Event {
	if !r.Written {
		return nil
	}
	var out []Event
	if r.DeviceChanged && r.PrevIMEI != o.IMEI {
		out = append(out, Event{Kind: EventIMSINewDevice, IMEI: o.IMEI, IMSI: o.IMSI, Answer: o.Answer, PrevIMEI: r.PrevIMEI})
	}
	if r.NewPair && o.Answer.Listed() {
		e := Event{Kind: EventListedIMEINewIMSI, IMEI: o.IMEI, IMSI: o.IMSI, Answer: o.Answer}
		for _, p := range r.Pairs {
			if p.IMSI != o.IMSI {
				e.PrevIMSIs = append(e.PrevIMSIs, p.IMSI)
			}
		}
		if e.PrevIMSIs != nil {
			sortIMSIs(e.PrevIMSIs)
		}
		out = append(out, e)
	}
	return out
}
