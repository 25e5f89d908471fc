package diameter

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// PeerRule is one entry of the peer allow-list. A CER is accepted when every
// set field of some rule matches: Origin-Host and Origin-Realm against shell
// patterns (path.Match, case-insensitive), the transport peer's address
// against prefixes.
type PeerRule struct {
	OriginHost  string
	OriginRealm string // empty matches any realm
	Prefixes    []netip.Prefix
}

// allowList is immutable once built; the server swaps it atomically, so the
// accept-time filter and the CER check always judge by the same list.
type allowList struct {
	any   bool
	rules []PeerRule
	// byAddr: every rule restricts source addresses, so a connection from
	// an address no rule names can be refused at accept (admits).
	byAddr bool
}

func newAllowList(any bool, rules []PeerRule) (*allowList, error) {
	l := &allowList{any: any, byAddr: !any}
	for i, r := range rules {
		r.OriginHost = strings.ToLower(r.OriginHost)
		r.OriginRealm = strings.ToLower(r.OriginRealm)
		if r.OriginHost == "" {
			return nil, fmt.Errorf("diameter: peer rule %d: origin host pattern required", i)
		}
		for _, p := range []string{r.OriginHost, r.OriginRealm} {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("diameter: peer rule %d: pattern %q: %w", i, p, err)
			}
		}
		l.rules = append(l.rules, r)
		if len(r.Prefixes) == 0 {
			l.byAddr = false
		}
	}
	return l, nil
}

// admits reports whether a connection from addr may be served at all,
// before anything is read from it. It is false only when every rule
// restricts source addresses and none matches addr; with no rules at all
// (and not any) nothing can pass the CER check, so nothing is admitted.
func (l *allowList) admits(addr netip.Addr) bool {
	if !l.byAddr {
		return true
	}
	for i := range l.rules {
		if l.rules[i].fromAddr(addr) {
			return true
		}
	}
	return false
}

// allows reports whether a peer may complete the capabilities exchange.
func (l *allowList) allows(host, realm string, addr netip.Addr) bool {
	if l.any {
		return true
	}
	host, realm = strings.ToLower(host), strings.ToLower(realm)
	for i := range l.rules {
		r := &l.rules[i]
		if ok, _ := path.Match(r.OriginHost, host); !ok {
			continue
		}
		if r.OriginRealm != "" {
			if ok, _ := path.Match(r.OriginRealm, realm); !ok {
				continue
			}
		}
		if !r.fromAddr(addr) {
			continue
		}
		return true
	}
	return false
}

// fromAddr reports whether a connection from a meets the rule's address
// restriction (always, when it has none). An IPv4-mapped IPv6 address is
// matched as the IPv4 address it carries. It is the one address match of
// the package: the accept-time filter and the CER check both use it.
func (r *PeerRule) fromAddr(a netip.Addr) bool {
	if len(r.Prefixes) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range r.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
