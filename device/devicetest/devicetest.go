// Package devicetest helps tests run on every device wgtensor can open here
// and compare results across devices.
package devicetest

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/wgtensor/wgtensor/device"
)

// RequireGPUEnv names the environment variable that turns a missing GPU from
// a skip into a failure; CI sets it so that the WebGPU tests cannot silently
// skip.
const RequireGPUEnv = "WGTENSOR_REQUIRE_GPU"

// Devices returns the CPU and, when one can be opened, the GPU. Without a
// GPU it logs the reason, or fails the test when RequireGPUEnv is set.
func Devices(t testing.TB) []device.Device {
	t.Helper()
	devs, err := device.Available()
	if err != nil {
		if os.Getenv(RequireGPUEnv) != "" {
			t.Fatalf("%s is set but no GPU opened: %v", RequireGPUEnv, err)
		}
		t.Logf("no GPU, testing the CPU only: %v", err)
	}
	return devs
}

// GPU returns the GPU device or skips the test (fails it when RequireGPUEnv
// is set).
func GPU(t testing.TB) device.Device {
	t.Helper()
	g, err := device.GPU()
	if err != nil {
		if os.Getenv(RequireGPUEnv) != "" {
			t.Fatalf("%s is set but no GPU opened: %v", RequireGPUEnv, err)
		}
		t.Skipf("no GPU: %v", err)
	}
	return g
}

// Tol is an error tolerance: values a (got) and b (want) are close when
// |a-b| <= Abs + Rel*|b|.
type Tol struct{ Abs, Rel float64 }

// Close reports whether got is within tol of want. NaNs match NaNs and
// infinities match infinities of the same sign.
func (tol Tol) Close(got, want float64) bool {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return math.IsNaN(want) && math.IsNaN(got)
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		return got == want
	}
	return math.Abs(got-want) <= tol.Abs+tol.Rel*math.Abs(want)
}

// Compare returns a description of the worst mismatch between got and want
// under tol, or "" when they match.
func Compare(got, want []float32, tol Tol) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d elements, want %d", len(got), len(want))
	}
	worst, worstErr := -1, 0.0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if tol.Close(g, w) {
			continue
		}
		e := math.Abs(g - w)
		if math.IsNaN(e) || math.IsInf(e, 0) {
			e = math.Inf(1)
		}
		if worst < 0 || e > worstErr {
			worst, worstErr = i, e
		}
	}
	if worst < 0 {
		return ""
	}
	return fmt.Sprintf("element %d: got %v, want %v (tolerance abs %g rel %g)", worst, got[worst], want[worst], tol.Abs, tol.Rel)
}
