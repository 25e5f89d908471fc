// Package redistest starts real Redis processes (standalone, cluster and
// sentinel) for Go tests and benchmarks, and stops them at the test's
// cleanup.
//
// Every process listens on 127.0.0.1 (a replicated group started with
// StartClusterWith or StartSentinelGroup: on GroupOptions.Host, e.g. a test
// bridge's address) on a port picked free at start (never 6379), keeps its
// data and log in a tb.TempDir, and is started with Pdeathsig on Linux so
// that it dies with a killed test binary. Readiness is
// polled with a deadline, never slept for. A test that needs Redis fails
// with a clear message when redis-server or redis-cli is missing: it never
// skips.
//
// A standalone Server (and each cluster node) can also be faulted the way
// operators' failures happen, keeping its port: Pause/Resume (SIGSTOP and
// SIGCONT), Kill (SIGKILL), RestartEmpty (data files removed), SaveRDB and
// RestartFromRDB (back to an older snapshot) and FlushAll; a replica can be
// cut off from its master (CutReplication), and a group waits for a
// failover (Cluster.WaitHealed, SentinelGroup.WaitFailover) and for its
// replicas to be linked again (WaitLinked).
//
//	srv := redistest.Start(t)
//	rdb := srv.Client(t)
//	rdb.Set(ctx, "k", "v", 0)
package redistest
