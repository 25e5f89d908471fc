// Package fdtest starts and stops freeDiameterd, an independent Diameter
// stack, for interoperability tests of the S13 EIR (application 16777252,
// vendor 10415, ME-Identity-Check command 324): freeDiameterd either relays
// between a test client and the server under test, or is simply a peer of
// that server (CER/CEA, DWR/DWA, DPR/DPA on shutdown).
//
//	srv := ...                                   // server under test on port P
//	fd := fdtest.Start(t, fdtest.Options{
//		Identity: "relay.test", Realm: "test", Relay: true, TwSeconds: 6,
//		Peers:         []fdtest.PeerOpt{{Identity: "eir.test", Realm: "eir.test", Port: P, Connect: true}},
//		AllowIncoming: []string{"client.test"},  // the test client connecting to fd.Addr()
//	})
//	fd.WaitPeerOpen(t, "eir.test", 10*time.Second)
//
// The binary is looked up in $FDTEST_FREEDIAMETERD, then $PATH, then
// /usr/bin, /usr/sbin and /usr/local/bin; a missing binary fails the test
// (it is never skipped). Every test gets its own configuration, log file and
// self-signed certificate under t.TempDir() and its own free port.
//
// Everything below was observed with the Debian package installed here,
// freeDiameter 1.2.1 (freediameterd 1.2.1-8+b1, GnuTLS 3.7.9), by the tests
// of this package; the fake server logs the raw bytes it receives.
//
// # Configuration
//
// The generated freeDiameter.conf looks like this:
//
//	Identity = "relay.test";
//	Realm = "test";
//	Port = 39971;                  # free port picked by the harness
//	SecPort = 0;                   # no separate TLS listener
//	No_SCTP;
//	No_IPv6;
//	Prefer_TCP;
//	ListenOn = "127.0.0.1";        # ignored by 1.2.1, see below
//	TcTimer = 2;
//	TwTimer = 6;                   # only when TwSeconds is set
//	NoRelay;                       # only when Relay is false
//	TLS_Cred = "<dir>/cert.pem", "<dir>/key.pem";
//	TLS_CA = "<dir>/cert.pem";
//	LoadExtension = "/usr/lib/freeDiameter/acl_wl.fdx" : "<dir>/acl_wl.conf";
//	LoadExtension = "/usr/lib/freeDiameter/dict_nasreq.fdx";     # Extensions, with
//	LoadExtension = "/usr/lib/freeDiameter/dict_dcca.fdx";       # dependencies
//	LoadExtension = "/usr/lib/freeDiameter/dict_dcca_3gpp.fdx";  # added first
//	ConnectPeer = "eir.server" { ConnectTo = "127.0.0.1"; Port = 45645; No_TLS; No_SCTP; Prefer_TCP; Realm = "eir.test"; TcTimer = 2; TwTimer = 6; };
//
// with acl_wl.conf containing one line "ALLOW_IPSEC client.test ...".
//
//   - TLS: 1.2.1 only demands TLS_Cred when TLS can be used: with the default
//     SecPort (3869) it stops with "Missing private key configuration for
//     TLS"; with SecPort = 0 it starts without credentials and logs "TLS is
//     disabled". The harness nevertheless writes a self-signed ECDSA P-256
//     certificate (CN and DNS SAN = Identity, CA:TRUE, because 1.2.1 verifies
//     its own certificate against TLS_CA and the Identity) so that versions
//     that always require credentials work too. No DH parameter file is
//     needed: 1.2.1 generates 1024-bit parameters at start-up in well under a
//     second (TLS_DH_File is optional). TLS is negotiated only with a
//     Connect peer marked PeerOpt.TLS.
//   - TLS Connect peers (PeerOpt.TLS, with Options.TLS giving TLS_Cred and
//     one TLS_CA line per CA file): the ConnectPeer block has neither No_TLS
//     nor TLS_old_method, so freeDiameter connects to Port with TLS from the
//     first byte (its "separate port" method, RFC 6733 §13.1) and sends its
//     CER inside TLS, with no Inband-Security-Id. GnuTLS 3.7.9 negotiates
//     TLS 1.3 with a Go server. freeDiameter checks the server's certificate
//     against TLS_CA and the peer's Identity (a dNSName or the CN). A file
//     of several unrelated CAs is refused at start-up ("not sorted"):
//     several TLS_CA lines add up instead. TLSCred.KeyLogFile sets
//     SSLKEYLOGFILE, which GnuTLS honours, for tshark to decrypt a capture.
//     Observed failures: a server that refuses its certificate makes it log
//     "A TLS fatal alert has been received"; a CEA 3010 is logged in full
//     ("Capabilities-Exchange-Answer(257)[--E-] ... 'DIAMETER_UNKNOWN_PEER'
//     ... Failed-AVP ..."); on close it sends a second close_notify after
//     the server's, which the server's kernel answers with a reset when the
//     server has already closed.
//   - ListenOn = "127.0.0.1" is silently dropped by 1.2.1 (loopback
//     addresses are filtered out of the local endpoint list; the log shows
//     "Local endpoints ........ : Default (use all available)"), so the
//     daemon listens on 0.0.0.0:Port. That is why the harness picks a port
//     free on all IPv4 addresses (and retries with another one if the bind
//     fails). For the same reason the Host-IP-Address freeDiameter sends in
//     CER/CEA is the machine's first non-loopback address (e.g. 192.0.2.2),
//     not 127.0.0.1: a server must not require Host-IP-Address to match the
//     source address of the connection.
//   - ConnectTo = "127.0.0.1" in a ConnectPeer block is honoured.
//   - TwTimer below 6 is rejected by the parser. The first DWR is sent Tw
//     seconds (±2 s of jitter) after the connection opens.
//   - dict_dcca_3gpp.fdx depends on dict_dcca.fdx, which depends on
//     dict_nasreq.fdx; freeDiameter refuses to start if they are not loaded
//     in that order, so Options.Extensions gets missing dependencies inserted
//     automatically. Loading it makes freeDiameter advertise
//     Supported-Vendor-Id 5535 and 10415 in CER/CEA.
//
// # Incoming peers
//
// freeDiameter rejects a CER from an identity that is not configured with
// Result-Code 3010 DIAMETER_UNKNOWN_PEER (E bit set) and logs "Rejected CER
// from peer 'x', validation failed". There are two ways to accept one:
// declare it with ConnectPeer (then freeDiameter also tries to connect to it
// itself, resolving the identity through DNS when there is no ConnectTo), or
// whitelist it with acl_wl.fdx. The harness uses acl_wl with the flag
// ALLOW_IPSEC, which makes freeDiameter accept the peer without TLS (it logs
// "No TLS protection negotiated with peer"); without a flag acl_wl only
// accepts TLS-protected peers. Patterns may start with "*." ("*.test").
// PeerOpt entries with Connect=false and Options.AllowIncoming are written
// there. The test client's CER needs no Inband-Security-Id.
//
// # Capabilities advertised by freeDiameter
//
// The CER freeDiameter sends to a ConnectPeer carries Origin-Host,
// Origin-Realm, Origin-State-Id, Host-IP-Address, Vendor-Id 0, Product-Name
// "freeDiameter", Firmware-Revision 10201, Inband-Security-Id 0
// (NO_INBAND_SECURITY, because of No_TLS) and, when relaying is on,
// Auth-Application-Id 0xffffffff (Relay) — no Vendor-Specific-Application-Id
// and, without dictionary extensions, no Supported-Vendor-Id. Its CEA is the
// same without Inband-Security-Id.
//
// With NoRelay (Relay false) and no application extension loaded, the daemon
// advertises no application at all: a peer whose CER lists only S13 gets
// CEA 5010 DIAMETER_NO_COMMON_APPLICATION, while a peer advertising Relay is
// accepted. To have freeDiameterd simply connect to the EIR, keep Relay true
// (the EIR then sees a Relay peer) or make the EIR accept a CER without a
// common application.
//
// # Relaying
//
// With Relay true and the EIR connected as a ConnectPeer that advertised
// Vendor-Specific-Application-Id{10415, 16777252}, an
// ME-Identity-Check-Request sent by the test client is forwarded:
//
//   - Routing needs no rt_default.fdx: freeDiameter's built-in scoring sends
//     a request to the open peer whose realm equals Destination-Realm and
//     which advertised the request's application (or Relay). A request for a
//     realm no peer serves is answered by freeDiameter itself with Result-Code
//     3002 DIAMETER_UNABLE_TO_DELIVER, E bit set, Origin-Host = the relay,
//     Error-Message "No suitable candidate to route the message to".
//   - Unknown command: no dictionary of 1.2.1 defines command 324, not even
//     dict_dcca_3gpp.fdx (which defines the Terminal-Information, IMEI and
//     Equipment-Status AVPs). freeDiameter still relays both the request and
//     the answer; it only logs, for each direction, "ERROR: in '(ret =
//     fd_dict_search ( dict, DICT_COMMAND, ...))' : Operation not supported"
//     and dumps the message as "(no model) unknown(16777252/324)".
//   - The forwarded request keeps the flags (R|P), the application id, the
//     End-to-End id and every AVP in its original order, bytes and flags
//     (Session-Id, Auth-Session-State, the client's Origin-Host and
//     Origin-Realm, Destination-Realm, Destination-Host when present,
//     Terminal-Information{IMEI}). freeDiameter gives it a new Hop-by-Hop id
//     and appends one Route-Record AVP holding the identity of the peer it
//     received the request from (the client). It adds no Proxy-Info and does
//     not remove or rewrite Destination-Host.
//   - The answer reaches the client with the client's original Hop-by-Hop
//     id, the same End-to-End id and all the server's AVPs, plus one
//     Route-Record AVP appended by freeDiameter holding the server's identity
//     (1.2.1 adds Route-Record to relayed answers too, although RFC 6733 only
//     defines it for requests).
//
// # Shutdown
//
// Stop (and the cleanup registered by Start) sends SIGTERM: freeDiameter
// logs "Initiating freeDiameter shutdown sequence", moves every open peer to
// STATE_CLOSING_GRACE, sends it a DPR with Disconnect-Cause 0 (REBOOTING) and
// waits for the DPAs ("Waiting for connections shutdown... (16 sec max)").
// A peer that never answers the DPR therefore delays the exit by up to 16 s;
// test clients should send their own DPR, answer freeDiameter's, or close
// their connection before the daemon stops. If the process is still alive
// after 20 s it is killed with SIGKILL and the test is marked failed. The
// child also gets SIGKILL if the test binary dies (Pdeathsig).
//
// # Log
//
// freeDiameterd's stdout and stderr go to a file in the temporary directory
// (Daemon.LogPath). Peer state changes are logged at NOTI level as
//
//	'STATE_WAITCEA'	-> 'STATE_OPEN'	'eir.server'
//	'STATE_CLOSED'	-> 'STATE_OPEN'	'client.test'
//	'STATE_OPEN'	-> 'STATE_CLOSING'	'client.test'
//
// (tab separated), which WaitPeerOpen and WaitPeerClosed poll for. Loading
// "dbg_msg_dumps.fdx:0x4444" logs every message sent and received on one
// line ("SND to 'eir.server': Device-Watchdog-Request(280)[R---], ..."),
// plus routing decisions ("FORWARDING: ...") and errors; its default tree
// mode (0x0080) prints only the headers with this version. Messages of an
// unknown command are dumped without AVP values.
package fdtest
