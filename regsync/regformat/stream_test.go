package regformat

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

var genReasons = []string{
	"IMEI found on local stolen list",
	"\"Stolen, police report\"",
	"Duplicate IMEI detected|TAC not found in GSMA TAC database",
	"TAC not found in GSMA TAC database",
}

// genBlacklist writes a DIRBS full blacklist of n rows (CRLF, like DIRBS),
// with a bad row every 100 000 rows, and returns how many rows are bad.
func genBlacklist(w io.Writer, n int) (bad int, err error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString("imei,block_date,reasons\r\n"); err != nil {
		return 0, err
	}
	line := make([]byte, 0, 128)
	for i := range n {
		line = line[:0]
		v := uint64(35_000_000_000_000 + i)
		if i%100_000 == 99_999 {
			line = append(line, "21AA0000000000"...)
			bad++
		} else {
			line = strconv.AppendUint(line, v, 10)
			if i%3 == 0 {
				line = append(line, '0'+byte(i%10)) // 15 digits
			}
		}
		line = append(line, ",2016"...)
		line = append(line, '0'+byte(i%2), '1'+byte(i%9), '1', '0')
		line = append(line, ',')
		line = append(line, genReasons[i%len(genReasons)]...)
		line = append(line, '\r', '\n')
		if _, err := bw.Write(line); err != nil {
			return bad, err
		}
	}
	return bad, bw.Flush()
}

// TestParseStreaming parses a generated 2-million-row blacklist through a
// pipe and checks that the heap stays small while it does.
func TestParseStreaming(t *testing.T) {
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	pr, pw := io.Pipe()
	badc := make(chan int, 1)
	go func() {
		bad, err := genBlacklist(pw, n)
		pw.CloseWithError(err)
		badc <- bad
	}()

	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	sample()
	base := peak
	count, blocked := 0, 0
	start := time.Now()
	fi, err := Identify("20180217_000302_blacklist.csv", "dirbs")
	if err != nil {
		t.Fatal(err)
	}
	st, err := Parse(pr, fi, Options{}, func(r Record) error {
		count++
		if r.Blocking {
			blocked++
		}
		if count%250_000 == 0 {
			sample()
		}
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	sample()
	bad := <-badc
	if st.Rows != n || st.Good != n-bad || st.Bad != bad || count != st.Good || blocked != count {
		t.Fatalf("stats %d/%d/%d, %d emitted; want %d rows, %d bad", st.Rows, st.Good, st.Bad, count, n, bad)
	}
	const limit = 50 << 20
	if peak > limit {
		t.Errorf("peak HeapInuse %d MiB, want < %d MiB", peak>>20, limit>>20)
	}
	t.Logf("%d rows in %v: %.0f rows/s; HeapInuse %.1f MiB before, peak %.1f MiB (race detector: %v)",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		float64(base)/(1<<20), float64(peak)/(1<<20), raceEnabled)
}

func BenchmarkParseBlacklist(b *testing.B) {
	var buf bytes.Buffer
	if _, err := genBlacklist(&buf, 100_000); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	fi := FileInfo{List: Blacklist}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	rows := 0
	for b.Loop() {
		st, err := Parse(bytes.NewReader(data), fi, Options{}, func(Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rows += st.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
