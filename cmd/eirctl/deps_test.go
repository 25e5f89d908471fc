package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps: eirctl talks to eird over HTTP only; the types it sends and
// reads are admin/api's, never the server's packages.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	const mod = "github.com/eir-sidecar/eir/"
	if !slices.Contains(deps, mod+"admin/api") {
		t.Errorf("eirctl does not use %sadmin/api", mod)
	}
	for _, d := range deps {
		rel, ok := strings.CutPrefix(d, mod)
		if !ok {
			continue
		}
		switch {
		case rel == "admin", rel == "eir", strings.HasPrefix(rel, "eir/"), strings.HasPrefix(rel, "diameter"), strings.HasPrefix(rel, "n5g"), strings.HasPrefix(rel, "regsync"):
			t.Errorf("eirctl depends on %s: it may use admin/api and the standard library only", d)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "../../admin/api").Output()
	if err != nil {
		t.Fatalf("go list -deps admin/api: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.Contains(d, ".") && d != mod+"admin/api" {
			t.Errorf("admin/api depends on %s: it imports only the standard library", d)
		}
	}
}
