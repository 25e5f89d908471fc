package fetch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// writerEnv names the file a re-executed test binary opens for writing (see
// startWriter); writerDataEnv holds what it appends.
const (
	writerEnv     = "FETCH_TEST_WRITER"
	writerDataEnv = "FETCH_TEST_WRITER_DATA"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(runWriter(path, os.Getenv(writerDataEnv)))
	}
	goleak.VerifyTestMain(m)
}

// runWriter is a stalled uploader: it opens path for writing, appends data,
// says "ready" on stdout and keeps the file open until stdin closes or it is
// killed.
func runWriter(path, data string) int {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := f.WriteString(data); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = f.Close()
	return 0
}

// startWriter starts another process that opens path for writing, appends
// data and holds the file open. It returns once the data is written; stop
// kills the process and waits for it (the kernel has closed its files when
// stop returns). The test's cleanup stops it too.
func startWriter(t *testing.T, path, data string) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+path, writerDataEnv+"="+data)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = stdin.Close()
		})
	}
	t.Cleanup(stop)
	// A writer that hangs is killed, which ends the read below.
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("writer process did not start: %q, %v", line, err)
	}
	return stop
}
