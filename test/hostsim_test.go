package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
)

// mmeSim is an MME that checks blacklisted IMEIs over S13 without pause,
// connected to the first of its peers that accepts it; when the connection
// fails it connects to the next peer and sends the check again, as an MME
// with several EIR peers does. Every answer that is not BLACKLISTED is a
// flip.
type mmeSim struct {
	t          *testing.T
	name       string
	peers      []string // Diameter addresses, preferred first
	imeis      []string
	answers    atomic.Int64
	flips      atomic.Int64
	errs       atomic.Int64 // checks that got no answer (sent again)
	reconnects atomic.Int64
	peer       atomic.Int64 // index of the peer connected to
	mu         sync.Mutex
	samples    []string
	stop       chan struct{}
	done       chan struct{}
}

func startMME(t *testing.T, name string, peers, imeis []string) *mmeSim {
	m := &mmeSim{t: t, name: name, peers: peers, imeis: imeis, stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	t.Cleanup(m.close)
	return m
}

func (m *mmeSim) run() {
	defer close(m.done)
	var c *s13client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	cur := 0
	for n := 0; ; {
		select {
		case <-m.stop:
			return
		default:
		}
		if c == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			var err error
			c, err = s13client.Dial(ctx, m.peers[cur], s13client.Options{OriginHost: m.name, OriginRealm: "e2e.test"})
			cancel()
			if err != nil {
				c = nil
				m.note(fmt.Sprintf("connecting to %s: %v", m.peers[cur], err))
				cur = (cur + 1) % len(m.peers)
				select { // a peer refused: try the next one, not in a hot loop
				case <-m.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			m.peer.Store(int64(cur))
		}
		imei := m.imeis[n%len(m.imeis)]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a, err := c.Check(ctx, imei, "")
		cancel()
		if err != nil {
			m.errs.Add(1)
			m.note(fmt.Sprintf("%s via %s: %v (connecting to the next peer)", imei, m.peers[cur], err))
			c.Close()
			c = nil
			cur = (cur + 1) % len(m.peers)
			m.reconnects.Add(1)
			continue // the same IMEI again, through the next peer
		}
		m.answers.Add(1)
		if s13client.ResultCode(a.Msg) != 2001 || s13client.EquipmentStatus(a.Msg) != 1 {
			m.flips.Add(1)
			m.note(fmt.Sprintf("FLIP %s via %s: result %d equipment status %d", imei, m.peers[cur], s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg)))
		}
		n++
	}
}

func (m *mmeSim) note(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) < 20 {
		m.samples = append(m.samples, time.Now().Format("15:04:05.000")+" "+s)
	}
}

func (m *mmeSim) notes() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.samples, "\n")
}

// waitAnswers polls until n more checks were answered.
func (m *mmeSim) waitAnswers(n int64, timeout time.Duration) {
	m.t.Helper()
	want := m.answers.Load() + n
	testenv.Eventually(m.t, fmt.Sprintf("%s: %d more answers", m.name, n), timeout, func() bool { return m.answers.Load() >= want })
}

func (m *mmeSim) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// adminClient calls an eird's admin API with a write token.
type adminClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAdmin(addr, token string) *adminClient {
	return &adminClient{base: "http://" + addr, token: token, hc: &http.Client{Timeout: 10 * time.Second}}
}

// do sends a request and returns the status and body; err is a transport
// error (no answer).
func (a *adminClient) do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// addBlack lists imei on the manual blacklist; it returns nil only when
// eird acknowledged the add.
func (a *adminClient) addBlack(imei, reason string) error {
	code, body, err := a.do("POST", "/v1/entries", map[string]string{"imei": imei, "list": "black", "reason": reason})
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	if code != http.StatusOK && code != http.StatusCreated {
		return fmt.Errorf("HTTP %d: %s", code, bytes.TrimSpace(body))
	}
	var res struct{ Action string }
	if err := json.Unmarshal(body, &res); err != nil || (res.Action != "added" && res.Action != "unchanged") {
		return fmt.Errorf("HTTP %d with an unexpected body: %s", code, body)
	}
	return nil
}

// get decodes the JSON body of a GET into v.
func (a *adminClient) get(t *testing.T, path string, v any) {
	t.Helper()
	code, body, err := a.do("GET", path, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// writer adds IMEIs to the manual blacklist one after the other through an
// eird's admin API and keeps what was acknowledged and what failed.
type writer struct {
	a      *adminClient
	next   int
	mu     sync.Mutex
	acked  []string
	failed []string // "IMEI: error"
	slow   time.Duration
	gate   sync.Mutex // held by each write; the test holds it to pause the writer
	stop   chan struct{}
	done   chan struct{}
}

func startWriter(a *adminClient, first int) *writer {
	w := &writer{a: a, next: first, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond): // a write every 10 ms or so
			}
			imei := writeIMEI(w.next)
			w.next++
			w.gate.Lock()
			start := time.Now()
			err := w.a.addBlack(imei, "stolen, reported during the failover test")
			took := time.Since(start)
			w.gate.Unlock()
			w.mu.Lock()
			w.slow = max(w.slow, took)
			if err == nil {
				w.acked = append(w.acked, imei)
			} else {
				w.failed = append(w.failed, imei+": "+err.Error())
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) counts() (acked, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), len(w.failed)
}

// waitAcked polls until n more adds were acknowledged.
func (w *writer) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	a0, _ := w.counts()
	testenv.Eventually(t, fmt.Sprintf("%d more acknowledged adds", n), timeout, func() bool {
		a, _ := w.counts()
		return a >= a0+n
	})
}

func (w *writer) slowest() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.slow
}

func (w *writer) close() (acked, failed []string) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...), append([]string(nil), w.failed...)
}
