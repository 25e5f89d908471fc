package regsync

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestPassReportsSettlingFiles checks that a pass names the files it did
// not read because they (or a sidecar) were modified within the settle
// time, with when they settle, and that the first pass from then on
// reads them.
func TestPassReportsSettlingFiles(t *testing.T) {
	e := stolenEnv(t) // settle: 1s
	now := time.Unix(0, e.now.Load())
	e.write("a.csv", "imei\n35209900176148\n") // settled
	b := e.write("b.csv", "imei\n49015420323751\n")
	bMod := now.Add(-300 * time.Millisecond).Truncate(time.Millisecond)
	os.Chtimes(b, bMod, bMod)
	e.write("c.csv", "imei\n86000000000001\n") // settled, its sidecar not
	cs := e.write("c.csv.sha256", "0000\n")
	csMod := now.Add(-100 * time.Millisecond).Truncate(time.Millisecond)
	os.Chtimes(cs, csMod, csMod)
	rep, err := e.engine.Pass(context.Background(), "national")
	if err != nil {
		t.Fatal(err)
	}
	if fr := fileResult(t, rep, "a.csv"); fr.Result != "applied" || len(rep.Files) != 1 {
		t.Fatalf("files %+v: want a.csv applied, nothing else read", rep.Files)
	}
	want := []SettlingFile{
		{File: "b.csv", Modified: bMod.UTC(), ReadyAt: bMod.Add(time.Second).UTC()},
		{File: "c.csv", Modified: csMod.UTC(), ReadyAt: csMod.Add(time.Second).UTC()},
	}
	if !reflect.DeepEqual(rep.Settling, want) {
		t.Fatalf("settling %+v, want %+v", rep.Settling, want)
	}
	// From b's ready_at on, the pass reads it.
	e.now.Store(want[0].ReadyAt.UnixNano())
	if rep, err = e.engine.Pass(context.Background(), "national"); err != nil {
		t.Fatal(err)
	}
	if fr := fileResult(t, rep, "b.csv"); fr.Result != "applied" {
		t.Fatalf("b.csv at its ready_at: %+v", fr)
	}
	if len(rep.Settling) != 1 || rep.Settling[0].File != "c.csv" {
		t.Fatalf("settling %+v, want c.csv only", rep.Settling)
	}
}
