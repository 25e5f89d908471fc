package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/eir"
)

// testAtomicMove moves IMEIs between two lists in one write, many times,
// while checks run: every check must see each IMEI on exactly one list.
func testAtomicMove(t *testing.T, s Store) {
	black, grey := ds("manual", eir.TargetIMEI, eir.ListBlack), ds("manual", eir.TargetIMEI, eir.ListGrey)
	moving := imeis(35209900176148, 49015420323751, 26053179311383)
	apply(t, s, eir.Change{Dataset: black, Add: moving})
	var stop atomic.Bool
	var bad atomic.Value
	var checks atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, e := range moving {
					hits, err := s.Match(context.Background(), eir.Query{IMEI: e.IMEI}, nil)
					if err != nil {
						bad.Store(err.Error())
						return
					}
					if len(hits) != 1 {
						bad.Store(fmt.Sprintf("%s on %d lists: %v", e.IMEI, len(hits), hits))
						return
					}
					checks.Add(1)
				}
			}
		}()
	}
	from, to := black, grey
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 20; i++ {
		// Let the readers run between moves, so that checks really
		// interleave with the switches.
		for seen := checks.Load(); checks.Load() < seen+int64(len(moving)) && bad.Load() == nil; {
			if time.Now().After(deadline) {
				t.Fatal("readers made no progress")
			}
			runtime.Gosched()
		}
		if _, err := s.Apply(ctx(t), []eir.Change{{Dataset: from, Remove: moving}, {Dataset: to, Add: moving}}); err != nil {
			t.Fatal(err)
		}
		from, to = to, from
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if checks.Load() == 0 {
		t.Fatal("no check ran during the moves")
	}
}

// testConcurrentWriters runs deltas on one dataset from several goroutines:
// every addition must survive.
func testConcurrentWriters(t *testing.T, s Store) {
	d := ds("manual", eir.TargetIMEI, eir.ListBlack)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				_, err := s.Apply(ctx(t), []eir.Change{{Dataset: d, Add: imeis(eir.IMEI(1000 + w*10 + i))}})
				if err != nil && !errors.Is(err, eir.ErrConflict) {
					errs <- err
					return
				}
				if errors.Is(err, eir.ErrConflict) {
					i-- // retry: the contract allows a conflict under contention
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 0; w < 4; w++ {
		for i := 0; i < 5; i++ {
			expectHits(t, s, eir.IMEI(1000+w*10+i), "", d.String())
		}
	}
}
