package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/eir-sidecar/eir/eir/redisstore"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"))
}

func newLog(t *testing.T, o Options) *Log {
	srv := redistest.Start(t)
	st, err := redisstore.New(context.Background(), srv.Client(t), redisstore.Options{}, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return New(st, o)
}

func TestRecordAndFind(t *testing.T) {
	l := newLog(t, Options{})
	ctx := context.Background()
	t0 := time.Now()
	recs := []Record{
		{Actor: "noc-alice", Action: ActionAdd, Dataset: "manual/imei/black", Target: "35209900176148", IMEI: "35209900176148", Source: "manual", Reason: "stolen, police report 1", After: map[string]any{"list": "black"}},
		{Actor: "noc-bob", Action: ActionAdd, Dataset: "manual/imei/grey", Target: "49015420323751", IMEI: "49015420323751", Source: "manual"},
		{Actor: "sync:national", Action: ActionSync, Dataset: "national/imei/black", Target: "20260101_blacklist.zip", Source: "national", Before: map[string]any{"run": 42}, After: map[string]any{"run": 47}},
		{Actor: "noc-alice", Action: ActionRemove, Dataset: "manual/imei/black", Target: "35209900176148", IMEI: "35209900176148", Source: "manual", Reason: "recovered"},
	}
	for _, r := range recs {
		if err := l.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := l.Find(ctx, Query{IMEI: "35209900176148"})
	if err != nil || len(got) != 2 || got[0].Action != ActionRemove || got[1].Reason != "stolen, police report 1" {
		t.Fatalf("by IMEI: %+v %v", got, err)
	}
	if got[0].Time.Before(t0.Add(-time.Second)) || got[0].ID == "" {
		t.Fatalf("time/id %+v", got[0])
	}
	got, _, _ = l.Find(ctx, Query{Actor: "sync:national"})
	if len(got) != 1 || got[0].After.(map[string]any)["run"] != float64(47) {
		t.Fatalf("by actor: %+v", got)
	}
	got, _, _ = l.Find(ctx, Query{Action: ActionAdd, Limit: 1})
	if len(got) != 1 || got[0].Actor != "noc-bob" {
		t.Fatalf("limit: %+v", got)
	}
	got, _, _ = l.Find(ctx, Query{Until: t0.Add(-time.Hour)})
	if len(got) != 0 {
		t.Fatalf("time range: %+v", got)
	}
}

func TestFindPagesAndBounds(t *testing.T) {
	l := newLog(t, Options{MaxRecords: 1000})
	ctx := context.Background()
	var batch []Record
	for i := 0; i < 2500; i++ {
		actor := "bulk"
		if i%500 == 0 {
			actor = "rare"
		}
		batch = append(batch, Record{Actor: actor, Action: ActionAdd, Target: fmt.Sprint(i)})
	}
	if err := l.Record(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	all, _, _ := l.Find(ctx, Query{Limit: 1000})
	if len(all) < 1000 {
		t.Fatalf("%d records", len(all))
	}
	// The size bound keeps about MaxRecords (Redis trims whole nodes).
	got, _, _ := l.Find(ctx, Query{Actor: "rare"})
	if len(got) > 3 || len(got) < 2 {
		t.Fatalf("after trimming to ~1000, %d rare records, want 2 or 3", len(got))
	}
	if got[0].Target != "2000" {
		t.Fatalf("newest first: %+v", got)
	}
}
