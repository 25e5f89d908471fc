//go:build !race

package n5g

const raceEnabled = false
