package regformat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eir-sidecar/eir/eir"
)

// row validates and normalises one record. A non-empty reason rejects it.
func (p *parser) row(rec []string) (Record, string) {
	out := Record{List: p.fi.List}
	if len(rec) != p.nfields {
		return out, fmt.Sprintf("%d fields, want %d", len(rec), p.nfields)
	}
	var reason string
	switch p.fi.List {
	case Blacklist:
		reason = p.blacklistRow(rec, &out)
	case Exceptions, Notifications:
		reason = p.pairRow(rec, &out)
	case Stolen:
		reason = p.stolenRow(rec, &out)
	case BarredTAC:
		reason = p.barredTACRow(rec, &out)
	case Ranges:
		reason = p.rangeRow(rec, &out)
	}
	if reason != "" {
		return out, reason
	}
	return out, p.rowChange(rec, &out)
}

// blacklistRow fills out from a blacklist record: the IMEI, and the block
// date and reasons as its data.
func (p *parser) blacklistRow(rec []string, out *Record) string {
	var reason string
	if out.IMEI, reason = normIMEI(p.field(rec, cIMEI)); reason != "" {
		return reason
	}
	bd := p.field(rec, cBlockDate)
	if !isDate8(bd) {
		return "block_date not YYYYMMDD: " + show(bd)
	}
	p.buf = append(p.buf[:0], bd...)
	for _, r := range p.reasons(p.field(rec, cReasons)) {
		p.buf = append(p.buf, '|')
		p.buf = append(p.buf, r...)
	}
	out.Data = p.intern(p.buf)
	out.Blocking = true
	return ""
}

// pairRow fills out from an exceptions or notifications record: the IMEI,
// IMSI and MSISDN, and for a notification the block date, reasons and
// amnesty as its data.
func (p *parser) pairRow(rec []string, out *Record) string {
	var reason string
	if out.IMEI, reason = normIMEI(p.field(rec, cIMEI)); reason != "" {
		return reason
	}
	imsi := p.field(rec, cIMSI)
	if imsi == "" {
		return "imsi empty"
	}
	var err error
	if out.IMSI, err = eir.ParseIMSI(imsi); err != nil {
		return "imsi not 5 to 15 digits: " + show(imsi)
	}
	out.MSISDN = p.field(rec, cMSISDN)
	if !isDigits(out.MSISDN, 0, maxMSISDN) {
		return "msisdn not up to 15 digits: " + show(out.MSISDN)
	}
	if p.fi.List == Exceptions {
		return ""
	}
	bd := p.field(rec, cBlockDate)
	if !isDate8(bd) {
		return "block_date not YYYYMMDD: " + show(bd)
	}
	var amnesty string
	switch a := p.field(rec, cAmnesty); {
	case a == "":
	case strings.EqualFold(a, "true"):
		amnesty = "true"
	case strings.EqualFold(a, "false"):
		amnesty = "false"
	default:
		return "amnesty_granted not true or false: " + show(a)
	}
	p.buf = append(p.buf[:0], bd...)
	p.buf = append(p.buf, '|')
	for i, r := range p.reasons(p.field(rec, cReasons)) {
		if i > 0 {
			p.buf = append(p.buf, '|')
		}
		p.buf = append(p.buf, r...)
	}
	p.buf = append(p.buf, '|')
	p.buf = append(p.buf, amnesty...)
	out.Data = p.intern(p.buf)
	return ""
}

// stolenRow fills out from a stolen-devices record: the IMEI, and the
// reporting date (as YYYYMMDD) and status as its data.
func (p *parser) stolenRow(rec []string, out *Record) string {
	var reason string
	if out.IMEI, reason = normIMEI(p.field(rec, cIMEI)); reason != "" {
		return reason
	}
	rd := p.field(rec, cReportingDate)
	p.buf = p.buf[:0]
	switch {
	case isDate8(rd):
		p.buf = append(p.buf, rd...)
	case len(rd) == 10 && rd[4] == '-' && rd[7] == '-' &&
		isDigits(rd[:4], 4, 4) && isDigits(rd[5:7], 2, 2) && isDigits(rd[8:], 2, 2):
		p.buf = append(p.buf, rd[:4]...)
		p.buf = append(p.buf, rd[5:7]...)
		p.buf = append(p.buf, rd[8:]...)
	default:
		return "reporting_date not YYYYMMDD or YYYY-MM-DD: " + show(rd)
	}
	status := text(p.field(rec, cStatus))
	p.buf = append(p.buf, '|')
	p.buf = appendLower(p.buf, status)
	out.Data = p.intern(p.buf)
	out.Blocking = status == "" || strings.EqualFold(status, "blacklist")
	return ""
}

// barredTACRow fills out from a barred-TAC record: the TAC.
func (p *parser) barredTACRow(rec []string, out *Record) string {
	t := p.field(rec, cTAC)
	var err error
	if out.TAC, err = eir.ParseTAC(t); err != nil {
		switch {
		case t == "":
			return "tac empty"
		case len(t) < 8 && isDigits(t, 1, 8):
			return fmt.Sprintf("tac has %d digits, want 8 (leading zero lost?): %s", len(t), t)
		}
		return "tac not 8 digits: " + show(t)
	}
	out.Blocking = true
	return ""
}

// rangeRow fills out from a ranges record: the bounds, and the reason as
// its data.
func (p *parser) rangeRow(rec []string, out *Record) string {
	from, to := p.field(rec, cFrom), p.field(rec, cTo)
	var err error
	if out.From, err = eir.ParseIMEI(from); err != nil {
		return "from not 14 to 16 digits: " + show(from)
	}
	if out.To, err = eir.ParseIMEI(to); err != nil {
		return "to not 14 to 16 digits: " + show(to)
	}
	if out.From > out.To {
		return fmt.Sprintf("range start %s after its end %s", out.From, out.To)
	}
	p.buf = append(p.buf[:0], text(p.field(rec, cReason))...)
	out.Data = p.intern(p.buf)
	out.Blocking = true
	return ""
}

// rowChange sets the operation of out: the file's (an add in a full
// file), or the record's change_type column, which must agree with the
// file's change type when the file names one.
func (p *parser) rowChange(rec []string, out *Record) string {
	out.Op, out.Change = OpAdd, ""
	if p.fi.DeltaOp != 0 {
		out.Op, out.Change = p.fi.DeltaOp, p.fi.ChangeType
		if out.Change == "" {
			out.Change = out.Op.String()
		}
	}
	if i := p.col[cChange]; i >= 0 {
		v := strings.TrimSpace(rec[i])
		c, ok := changes[v]
		if !ok {
			c, ok = changes[strings.ToLower(v)]
		}
		switch {
		case v == "":
			return "change_type empty"
		case !ok:
			return "change_type unknown: " + show(v)
		case p.rowOp:
			out.Op, out.Change = c.op, c.word
		case p.fi.ChangeType != "" && c.word != p.fi.ChangeType,
			p.fi.ChangeType == "" && c.op != p.fi.DeltaOp:
			return fmt.Sprintf("change_type %s in a file of change type %s", c.word, out.Change)
		}
	}
	return ""
}

// reasons splits a reasons field on '|', trims the parts, drops empty
// ones, sorts and de-duplicates them. The result is valid until the next
// call.
func (p *parser) reasons(s string) []string {
	s = text(s)
	p.parts = p.parts[:0]
	if strings.IndexByte(s, '|') < 0 {
		if s != "" {
			p.parts = append(p.parts, s)
		}
		return p.parts
	}
	for s != "" {
		part := s
		if i := strings.IndexByte(s, '|'); i >= 0 {
			part, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if part = strings.TrimSpace(part); part != "" {
			p.parts = append(p.parts, part)
		}
	}
	slices.Sort(p.parts)
	p.parts = slices.Compact(p.parts)
	return p.parts
}

// intern returns b as a string, sharing the few distinct values a list
// repeats on millions of rows (block dates, reasons, statuses).
func (p *parser) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= internLen && len(p.strs) < maxIntern {
		p.strs[s] = s
	}
	return s
}

// normIMEI applies DIRBS imei_norm, keyed on 14 digits: trimmed (by the
// caller), at most 16 characters, starting with 14 digits, of which the
// key is made. A reason is returned for anything else.
func normIMEI(s string) (eir.IMEI, string) {
	switch {
	case s == "":
		return 0, "imei empty"
	case len(s) > maxIMEILen:
		return 0, "imei longer than 16 characters: " + show(s)
	case len(s) < 14:
		if isDigits(s, 1, 13) {
			return 0, "imei shorter than 14 digits: " + s
		}
		return 0, "imei not numeric: " + show(s)
	}
	v, err := eir.ParseIMEI(s[:14])
	if err != nil {
		return 0, "imei not numeric: " + show(s)
	}
	return v, ""
}

func isDate8(s string) bool { return s == "" || isDigits(s, 8, 8) }

// isDigits reports whether s is min to max ASCII digits.
func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// text makes free text valid UTF-8, replacing invalid bytes with U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// truncate cuts b to at most n bytes, at a rune boundary.
func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	cut := n
	for cut > n-utf8.UTFMax && cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return b[:cut]
}

// show renders a value for a reason: at most showLimit bytes, quoted if it
// is not plain printable ASCII.
func show(s string) string {
	t := string(truncate([]byte(s), showLimit))
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] >= 0x7f {
			return strconv.Quote(t)
		}
	}
	if t == "" {
		return `""`
	}
	if len(t) < len(s) {
		t += "…"
	}
	return t
}
