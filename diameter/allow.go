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

// allowList is immutable once built; the server swaps it atomically.
type allowList struct {
	any   bool
	rules []PeerRule
}

func newAllowList(any bool, rules []PeerRule) (*allowList, error) {
	l := &allowList{any: any}
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
	}
	return l, nil
}

// allows reports whether a peer may complete the capabilities exchange.
func (l *allowList) allows(host, realm string, addr netip.Addr) bool {
	if l.any {
		return true
	}
	host, realm = strings.ToLower(host), strings.ToLower(realm)
	addr = addr.Unmap()
	for _, r := range l.rules {
		if ok, _ := path.Match(r.OriginHost, host); !ok {
			continue
		}
		if r.OriginRealm != "" {
			if ok, _ := path.Match(r.OriginRealm, realm); !ok {
				continue
			}
		}
		if len(r.Prefixes) > 0 && !containsAddr(r.Prefixes, addr) {
			continue
		}
		return true
	}
	return false
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
