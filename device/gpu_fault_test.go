//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package device

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGPUFaultIsAnError provokes a fault that the driver reports (work
// that uses a buffer whose memory was destroyed) and checks that it
// becomes Go errors from Sync, Read and Alloc, and that later work fails
// the same way instead of aborting the process. A fault is sticky, as a
// lost device is, so the test runs in a child process to keep the shared
// device of this one healthy. (wgpu-native 0.17's wgpuDeviceDestroy does
// nothing, so a lost device itself cannot be provoked here; its reports
// take the same path.)
func TestGPUFaultIsAnError(t *testing.T) {
	if os.Getenv("WGTENSOR_CHILD") == "fault" {
		gpuFaultChild(t)
		return
	}
	if _, err := GPU(); err != nil {
		if os.Getenv("WGTENSOR_REQUIRE_GPU") != "" {
			t.Fatalf("WGTENSOR_REQUIRE_GPU is set but no GPU opened: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGPUFaultIsAnError$", "-test.v")
	cmd.Env = append(os.Environ(), "WGTENSOR_CHILD=fault")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the child crashed or failed:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestGPUFaultIsAnError")
}

func gpuFaultChild(t *testing.T) {
	d, err := GPU()
	require.NoError(t, err)
	g := d.(*gpuDevice)
	vec := func(b Buffer) View { return View{Buf: b, Shape: []int{4}, Strides: []int{1}} }
	x, err := g.Alloc(Float32, 4)
	require.NoError(t, err)
	y, err := g.Alloc(Float32, 4)
	require.NoError(t, err)
	require.True(t, destroyBuffer(x.(*gpuBuffer).buf), "the driver library lacks wgpuBufferDestroy")

	g.Unary(Exp, y, vec(x))
	err = g.Sync()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "destroyed")
	t.Logf("Sync: %v", err)

	out := make([]float32, 4)
	assert.Error(t, g.Read(y, out), "Read after the fault")
	_, err = g.Alloc(Float32, 4)
	assert.Error(t, err, "Alloc after the fault")
	g.Unary(Exp, y, vec(y)) // recorded work on a faulted device is dropped
	assert.Error(t, g.Sync(), "Sync after more work")
}
