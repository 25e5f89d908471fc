package n5g

import (
	"net/url"
	"sort"
	"strings"

	"github.com/eir-sidecar/eir/eir"
)

// invalidQuery is a 400 answer: the cause of TS 29.500 Table 5.2.7.2-1 of
// the most serious problem, and every parameter at fault.
type invalidQuery struct {
	cause, detail string
	params        []InvalidParam
}

// request is a valid query of GetEquipmentStatus: the check, and what the
// observer records besides.
type request struct {
	q      eir.Query
	svn    string // an imeisv- PEI's last two digits, else ""
	msisdn string // an msisdn- gpsi's digits, else ""
}

// parseQuery reads the query of GetEquipmentStatus: pei (mandatory),
// supi, gpsi and supported-features (optional). The schemas' patterns end
// in "|.+": the forms are checked here. A parameter given twice is
// incorrect; one the operation does not define is INVALID_QUERY_PARAM. The
// query's Kind is the form of the pei: a MAC or EUI-64 PEI has no IMEI.
func parseQuery(raw string) (request, *invalidQuery) {
	var req request
	q := &req.q
	values, err := url.ParseQuery(raw)
	if err != nil {
		return req, &invalidQuery{cause: "INVALID_QUERY_PARAM", detail: "the query cannot be decoded: " + err.Error(),
			params: []InvalidParam{{Param: "query", Reason: err.Error()}}}
	}
	var bad []InvalidParam
	mandatory, optional, unknown := "", false, false
	one := func(name string) (string, bool) {
		v := values[name]
		if len(v) > 1 {
			bad = append(bad, InvalidParam{Param: "query " + name, Reason: "given more than once"})
			return "", false
		}
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if _, given := values["pei"]; !given {
		mandatory = "MANDATORY_QUERY_PARAM_MISSING"
		bad = append(bad, InvalidParam{Param: "query pei", Reason: "missing"})
	} else if v, ok := one("pei"); !ok {
		mandatory = "MANDATORY_QUERY_PARAM_INCORRECT"
	} else if pei, err := eir.ParsePEI(v); err != nil {
		mandatory = "MANDATORY_QUERY_PARAM_INCORRECT"
		bad = append(bad, InvalidParam{Param: "query pei", Reason: plainReason(err)})
	} else {
		q.IMEI, q.Kind = pei.IMEI, pei.Kind
		if pei.Kind == eir.PEIIMEISV {
			req.svn = v[len(v)-2:]
		}
	}
	n := len(bad)
	if v, ok := one("supi"); ok {
		imsi, err := eir.ParseSUPI(v)
		if err != nil {
			bad = append(bad, InvalidParam{Param: "query supi", Reason: plainReason(err)})
		}
		q.IMSI = imsi
	}
	if v, ok := one("gpsi"); ok && !eir.ValidGPSI(v) {
		bad = append(bad, InvalidParam{Param: "query gpsi", Reason: "want msisdn-<5 to 15 digits> or extid-<user>@<domain>"})
	} else if ok {
		req.msisdn, _ = strings.CutPrefix(v, "msisdn-")
		if len(req.msisdn) == len(v) {
			req.msisdn = "" // an extid- gpsi: no MSISDN
		}
	}
	if v, ok := one("supported-features"); ok && !isHex(v) {
		bad = append(bad, InvalidParam{Param: "query supported-features", Reason: "want hexadecimal digits"})
	}
	optional = len(bad) > n
	var names []string
	for name := range values {
		switch name {
		case "pei", "supi", "gpsi", "supported-features":
		default:
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		unknown = true
		bad = append(bad, InvalidParam{Param: "query " + name, Reason: "not a parameter of GetEquipmentStatus"})
	}
	if len(bad) == 0 {
		return req, nil
	}
	iq := &invalidQuery{params: bad}
	switch {
	case mandatory != "":
		iq.cause, iq.detail = mandatory, "the pei query parameter is missing or incorrect"
	case optional:
		iq.cause, iq.detail = "OPTIONAL_QUERY_PARAM_INCORRECT", "an optional query parameter is incorrect"
	case unknown:
		iq.cause, iq.detail = "INVALID_QUERY_PARAM", "the query has a parameter the operation does not define"
	}
	return req, iq
}

// plainReason is err's text without the domain's package prefix ("supi:
// eir: invalid imsi: …" is "supi: invalid imsi: …"): an AMF's operator
// reads it.
func plainReason(err error) string {
	return strings.ReplaceAll(err.Error(), "eir: ", "")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
