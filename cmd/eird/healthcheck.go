package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/eir-sidecar/eir/config"
)

// healthcheckTimeout bounds one probe: the container's HEALTHCHECK
// --timeout is longer, so a hung eird is reported by this message.
const healthcheckTimeout = 3 * time.Second

// healthcheck asks the eird running with cfg whether it is ready: GET
// /readyz on admin.listen (a wildcard host is probed on loopback; https
// when admin.tls is set). It exits 0 when the answer is 200 and 1 otherwise,
// the two codes a container health check knows (Docker reserves 2).
//
// Over https the probe accepts only the certificate of admin.tls.cert_file:
// the name it connects to (127.0.0.1) need not be in the certificate, and
// nothing secret is sent (/readyz needs no token).
func healthcheck(cfg config.Config, stdout, stderr io.Writer) int {
	a := cfg.Admin
	if a.Listen == "" {
		fmt.Fprintln(stderr, "eird: healthcheck: admin.listen is empty: no /readyz to probe")
		return 1
	}
	client := &http.Client{Timeout: healthcheckTimeout}
	scheme := "http"
	if a.TLS.CertFile != "" {
		pin, err := leafOf(a.TLS.CertFile)
		if err != nil {
			fmt.Fprintf(stderr, "eird: healthcheck: admin.tls.cert_file: %v\n", err)
			return 1
		}
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], pin) {
					return errors.New("the server's certificate is not admin.tls.cert_file")
				}
				return nil
			},
		}}
	}
	url := scheme + "://" + dialable(a.Listen) + "/readyz"
	ctx, cancel := context.WithTimeout(context.Background(), healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "eird: healthcheck: %v\n", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "eird: healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		// One line: the container's health log keeps the output.
		var line bytes.Buffer
		if json.Compact(&line, body) != nil {
			line.Reset()
			line.WriteString(strings.Join(strings.Fields(string(body)), " "))
		}
		fmt.Fprintf(stderr, "eird: not ready: GET %s: %s %s\n", url, resp.Status, line.String())
		return 1
	}
	fmt.Fprintf(stdout, "eird is ready (GET %s: %s)\n", url, resp.Status)
	return 0
}

// leafOf is the DER bytes of the first certificate in the PEM file path.
func leafOf(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("%s: no PEM certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, nil
		}
	}
}
