package observe

import "github.com/eir-sidecar/eir/eir"

// Answer is one check as an interface answered it.
type Answer struct {
	Interface string // "s13", "n5g" or "admin"
	Peer      string // who asked: the MME's Origin-Host, the AMF's identity, the admin actor
	PeerAddr  string // the peer's address as the transport gives it (IP, or host:port), when known
	Query     eir.Query
	Decision  eir.Decision
	Err       error // the check's error, when it gave none of the answers a list or policy gives
	// SVN is the software version of an IMEISV ("00" to "99"; S13
	// Software-Version or a 16-digit IMEI, N5g-eir imeisv- PEI), "" when
	// the request carried none. SVN gives it without allocating.
	SVN string
	// MSISDN is the N5g-eir gpsi's digits when it is msisdn-…, else "".
	MSISDN string
}

// svns are the 100 SVNs, so that the answer path does not allocate one.
var svns = func() (t [100]string) {
	for i := range t {
		t[i] = string([]byte{'0' + byte(i/10), '0' + byte(i%10)})
	}
	return t
}()

// SVN returns b, two ASCII digits, as a string without allocating; "" when
// b is not two digits.
func SVN(b []byte) string {
	if len(b) != 2 || b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return ""
	}
	return svns[int(b[0]-'0')*10+int(b[1]-'0')]
}

// Observer is told of every check answered, once, after the answer is
// sent. It must not block. The Answer is passed by value: a caller on the
// answer path allocates nothing to tell it.
type Observer interface {
	Answered(a Answer)
}
