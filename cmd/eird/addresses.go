package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/eir-sidecar/eir/config"
)

// printAddresses writes, for `eird -print-addresses`, where a client on
// this machine reaches eird and which Redis eird uses, after the file and the
// EIR_* variables, one line each:
//
//	diameter HOST:PORT TRANSPORT  (absent when diameter.listen is empty)
//	diameter-tls HOST:PORT tcp    (absent without diameter.tls.cert_file)
//	admin URL           (absent when admin.listen is empty)
//	n5g URL             (absent when n5g.listen is empty; with n5g.api_prefix)
//	redis MODE ADDRESS...
//
// A listen address on every interface (":3868", "0.0.0.0:3868", "[::]:3868")
// is printed as the loopback address of its family. scripts/run.sh reads
// these lines.
func printAddresses(w io.Writer, cfg config.Config) {
	if cfg.Diameter.Listen != "" {
		fmt.Fprintf(w, "diameter %s %s\n", dialable(cfg.Diameter.Listen), cfg.Diameter.Transport)
	}
	if l := tlsListen(cfg.Diameter.TLS); l != "" {
		fmt.Fprintf(w, "diameter-tls %s tcp\n", dialable(l))
	}
	if a := cfg.Admin; a.Listen != "" {
		fmt.Fprintf(w, "admin %s://%s\n", scheme(a.TLS.CertFile != ""), dialable(a.Listen))
	}
	if n := cfg.N5g; n.Listen != "" {
		fmt.Fprintf(w, "n5g %s://%s%s\n", scheme(n.TLS.CertFile != ""), dialable(n.Listen), strings.TrimSuffix(n.APIPrefix, "/"))
	}
	fmt.Fprintf(w, "redis %s %s\n", cfg.Redis.Mode, strings.Join(cfg.Redis.Addresses, " "))
}

func scheme(tls bool) string {
	if tls {
		return "https"
	}
	return "http"
}

// dialable is the listen address hostport as a client on this machine dials
// it: an unspecified host becomes the loopback address of its family.
func dialable(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport // Validate has accepted it; print it as configured
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
