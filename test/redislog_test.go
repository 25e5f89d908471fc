package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// TestRedisOutageLog: a Redis outage gives one warning from the store when
// Redis becomes unreachable and one info line when it is back; the Redis
// client's own lines (failed dials, one per retry) are JSON lines at warn,
// at most 3 per message; every line eird writes is JSON.
func TestRedisOutageLog(t *testing.T) {
	rds := redistest.Start(t)
	e := startEIRD(t, fmt.Sprintf(baseConfig, rds.Addr()))
	if out, errOut, code := e.eirctl(t, demoLists, "import", "-reason", "outage test", "-"); code != 0 {
		t.Fatalf("eirctl import: exit %d\n%s%s", code, out, errOut)
	}
	e.waitLog(t, `"eird ready"`, 10*time.Second)

	rds.Kill(t)
	e.waitLog(t, `"redis unreachable`, 10*time.Second)
	// The store keeps calling Redis (its refresh, every 100ms), and
	// go-redis logs each failed dial: wait for more failed calls than
	// the limit lets lines through.
	testenv.EventuallyShow(t, 30*time.Second, func() bool { return e.storeErrors(t) >= 20 && e.hasLog(`"msg":"redis client"`) },
		func() string {
			return fmt.Sprintf("20 store errors and a redis client line; %v errors; log:\n%s", e.storeErrors(t), e.log())
		})
	rds.Restart(t)
	e.waitLog(t, `"redis reachable again"`, 30*time.Second)

	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(e.log()), "\n") {
		var m struct{ Level, Msg, Line string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		counts[m.Msg]++
		if m.Msg == "redis client" {
			if m.Level != "warn" {
				t.Errorf("%q at %s, want warn", line, m.Level)
			}
			counts["client: "+m.Line]++
		}
	}
	t.Logf("lines: %v", counts)
	if n := counts["redis reachable again"]; n != 1 {
		t.Errorf(`"redis reachable again" logged %d times, want once`, n)
	}
	for msg, n := range counts {
		if strings.HasPrefix(msg, "redis unreachable") && n != 1 {
			t.Errorf("%q logged %d times, want once", msg, n)
		}
	}
	for msg, n := range counts {
		if strings.HasPrefix(msg, "client: ") && n > 3 {
			t.Errorf("%d lines %q, want at most 3", n, msg)
		}
	}
}

// storeErrors is the sum of eir_store_errors_total.
func (e *eird) storeErrors(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "eir_store_errors_total{"); ok {
			_, v, _ := strings.Cut(rest, "} ")
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}
