package test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testNet is a private network of test hosts on this machine: a bridge in
// the root namespace with an address of its own (hostAddr), and one network
// namespace per host, joined to the bridge by a veth pair, each with its
// own address on the bridge's /24. Every name carries a random suffix, so
// that test runs never share one; everything is deleted at cleanup, also
// when the test fails. Traffic stays between the namespaces and the root
// namespace's bridge address: no route leads anywhere else.
type testNet struct {
	suffix   string
	bridge   string
	subnet   string // "10.A.B."
	hostAddr string // the bridge's address, in the root namespace
	hosts    []netHost
}

// netHost is one network namespace with its address.
type netHost struct {
	ns   string
	addr string
}

// ipCmd runs `ip args...` and fails the test, loudly, when it fails: a
// machine where the test cannot create namespaces (not root, no iproute2)
// must not pass silently.
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ipRun(args...)
	if err != nil {
		t.Fatalf("ip %s: %v\n%s\n(this test creates network namespaces, a bridge and veth pairs: it needs root and iproute2, which `make deps` installs)", strings.Join(args, " "), err, out)
	}
	return out
}

func ipRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}

// newTestNet creates the bridge and n hosts. The /24 is drawn at random
// from 10.200.0.0/13 among those no address or route of this machine
// touches.
func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	tn := &testNet{suffix: hex.EncodeToString(b)}
	tn.bridge = "eirbr" + tn.suffix
	tn.subnet = pickSubnet(t)
	tn.hostAddr = tn.subnet + "1"

	ipCmd(t, "link", "add", tn.bridge, "type", "bridge")
	t.Cleanup(func() {
		if out, err := ipRun("link", "del", tn.bridge); err != nil {
			t.Errorf("deleting bridge %s: %v %s", tn.bridge, err, out)
		}
	})
	ipCmd(t, "addr", "add", tn.hostAddr+"/24", "dev", tn.bridge)
	ipCmd(t, "link", "set", tn.bridge, "up")
	for i := range n {
		h := netHost{ns: fmt.Sprintf("eir%s-%d", tn.suffix, i+1), addr: fmt.Sprintf("%s%d", tn.subnet, 11+i)}
		outer, inner := fmt.Sprintf("eirh%s%d", tn.suffix, i+1), fmt.Sprintf("eirn%s%d", tn.suffix, i+1)
		ipCmd(t, "netns", "add", h.ns)
		t.Cleanup(func() {
			// Deleting the namespace deletes the veth pair with it.
			if out, err := ipRun("netns", "del", h.ns); err != nil {
				t.Errorf("deleting namespace %s: %v %s", h.ns, err, out)
			}
		})
		ipCmd(t, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", h.ns)
		ipCmd(t, "link", "set", outer, "master", tn.bridge, "up")
		ipCmd(t, "-n", h.ns, "addr", "add", h.addr+"/24", "dev", inner)
		ipCmd(t, "-n", h.ns, "link", "set", inner, "up")
		ipCmd(t, "-n", h.ns, "link", "set", "lo", "up")
		tn.hosts = append(tn.hosts, h)
	}
	return tn
}

// pickSubnet draws a /24 that no address or route of this machine is in.
func pickSubnet(t *testing.T) string {
	t.Helper()
	used := ipCmd(t, "-4", "addr") + ipCmd(t, "-4", "route", "show", "table", "all")
	for range 50 {
		a, _ := rand.Int(rand.Reader, big.NewInt(8))
		c, _ := rand.Int(rand.Reader, big.NewInt(256))
		s := fmt.Sprintf("10.%d.%d.", 200+a.Int64(), c.Int64())
		if !strings.Contains(used, " "+s) {
			return s
		}
	}
	t.Fatal("no free /24 in 10.200.0.0/13")
	return ""
}

// inNS returns the command prefix that runs a program in host h's
// namespace (`ip netns exec` execs the program: the process id is the
// program's).
func (h netHost) inNS() []string { return []string{"ip", "netns", "exec", h.ns} }
