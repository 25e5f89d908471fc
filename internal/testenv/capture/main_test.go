package capture

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMain checks that no goroutine outlives the tests: captures, peers and
// tshark runs must all have been cleaned up.
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling for stragglers to exit
		}
		if n := runtime.NumGoroutine(); n > base {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n%s\n", n-base, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}
