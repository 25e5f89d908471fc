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
}

// Observer is told of every check answered, once, after the answer is
// sent. It must not block. The Answer is passed by value: a caller on the
// answer path allocates nothing to tell it.
type Observer interface {
	Answered(a Answer)
}
