package tlsconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"os"
	"sync"
	"sync/atomic"
)

// Reloader is the configuration of a TLS listener whose certificate, key
// and client CAs are re-read by Reload while the listener runs: the
// configuration Config returns picks, at each handshake, the files as last
// loaded. Connections already established keep the certificates they were
// made with. A failed Reload changes nothing.
type Reloader struct {
	files      Files
	clientAuth tls.ClientAuthType
	minVersion uint16

	mu  sync.Mutex // one Reload at a time
	sum [sha256.Size]byte
	cur atomic.Pointer[tls.Config]
}

// NewReloader loads the files as Server does, with clientAuth and, when
// minVersion is above TLS 1.2, that minimum version.
func NewReloader(f Files, clientAuth tls.ClientAuthType, minVersion uint16) (*Reloader, error) {
	r := &Reloader{files: f, clientAuth: clientAuth, minVersion: max(minVersion, tls.VersionTLS12)}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload re-reads the files. It reports whether their content changed
// since the last successful load (then the next handshakes use them); on
// error the configuration in use stays.
func (r *Reloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := r.filesSum()
	c, err := Server(r.files, r.clientAuth)
	if err != nil {
		return false, err
	}
	c.MinVersion = r.minVersion
	if r.cur.Load() != nil && bytes.Equal(sum[:], r.sum[:]) {
		return false, nil
	}
	r.sum = sum
	r.cur.Store(c)
	return true, nil
}

// filesSum is a digest of the content of the files (a missing file counts
// as empty: Server reports it).
func (r *Reloader) filesSum() [sha256.Size]byte {
	h := sha256.New()
	for _, name := range []string{r.files.Cert, r.files.Key, r.files.CA} {
		b, _ := os.ReadFile(name)
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

// Config returns the listener's configuration: each handshake uses the
// files as last loaded.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: r.minVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load(), nil
		},
	}
}

// Current returns the configuration the next handshake uses.
func (r *Reloader) Current() *tls.Config { return r.cur.Load() }
