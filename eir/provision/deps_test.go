package provision

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: the workflow does not depend on the admin API or any adapter.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/eir-sidecar/eir/"
	for _, d := range strings.Fields(string(out)) {
		for _, bad := range []string{"admin", "diameter", "n5g", "regsync", "cmd"} {
			if d == mod+bad || strings.HasPrefix(d, mod+bad+"/") {
				t.Errorf("provision depends on %s", d)
			}
		}
	}
}
