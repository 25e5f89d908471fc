//go:build !unix

package redistest

import "os"

// sigStop and sigCont are nil where there are no job-control signals;
// Server.Pause then fails the test.
var sigStop, sigCont os.Signal

func processStopped(int) (bool, error) { return true, nil }
