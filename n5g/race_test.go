//go:build race

package n5g

// raceEnabled: the race detector makes sync.Pool drop items at random.
const raceEnabled = true
