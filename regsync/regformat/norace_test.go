//go:build !race

package regformat

const raceEnabled = false
