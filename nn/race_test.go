//go:build race

package nn_test

// raceEnabled is set when the tests run under the race detector, which
// slows the collector's cleanups enough to upset timing-dependent checks.
const raceEnabled = true
