//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"os"
	"os/exec"
	"testing"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// TestGPUFaultIsAnError provokes a fault that the driver reports (work
// that uses a buffer whose memory was destroyed) and checks that it
// becomes Go errors from Sync, Read and Alloc, and that later work fails
// the same way instead of aborting the process. A fault is sticky, as a
// lost device is, so the test runs in a child process to keep the shared
// device of this one healthy.
func TestGPUFaultIsAnError(t *testing.T) {
	gpuInChild(t, "TestGPUFaultIsAnError", gpuFaultChild)
}

// TestGPUUncapturedErrorIsAnError makes wgpu report an error outside any
// error scope, which wgpu-native aborts the process for unless an
// uncaptured-error callback is installed in the device's descriptor (see
// requestDevice): it becomes the device's sticky error instead; in a child
// process.
func TestGPUUncapturedErrorIsAnError(t *testing.T) {
	gpuInChild(t, "TestGPUUncapturedErrorIsAnError", func(t *testing.T) {
		d, err := Open()
		require.NoError(t, err)
		g := d.(*gpuDevice)
		x, err := g.Alloc(backend.Float32, 4)
		require.NoError(t, err)
		require.NoError(t, g.Write(x, make([]float32, 4))) // gives x its memory
		require.NoError(t, g.Sync())
		require.True(t, provokeUncapturedError(x.(*gpuBuffer).buf))
		err = g.Sync()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "WebGPU validation error")
		t.Logf("Sync: %v", err)
	})
}

// TestGPUSubmitErrorIsAnError destroys a buffer after work that uses it
// was recorded, work that wgpu would reject at submission, where
// wgpu-native aborts the process whatever callbacks are installed: the
// device refuses to submit it and faults instead; in a child process.
func TestGPUSubmitErrorIsAnError(t *testing.T) {
	gpuInChild(t, "TestGPUSubmitErrorIsAnError", func(t *testing.T) {
		g, x, y := faultVectors(t)
		g.Copy(backend.Dense(y, 3), backend.Dense(x, 3)) // into part of y: recorded, not deferred or submitted
		require.NoError(t, g.faulted())
		require.True(t, g.destroyBuffer(x.(*gpuBuffer).buf))
		err := g.Sync()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "destroyed; it was not submitted")
		t.Logf("Sync: %v", err)
		assert.Error(t, g.Read(y, make([]float32, 4)), "Read after the fault")
	})
}

// TestGPUGridLimitIsAnError checks that a product whose grid would exceed
// the adapter's workgroups per dimension (lowered here) is refused with an
// error naming the limit, rather than dispatched, and that the refusal
// fails that product and what is computed from it but not the device; in a
// child process, because of the lowered limit.
func TestGPUGridLimitIsAnError(t *testing.T) {
	gpuInChild(t, "TestGPUGridLimitIsAnError", func(t *testing.T) {
		d, err := Open()
		require.NoError(t, err)
		g := d.(*gpuDevice)
		g.mu.Lock()
		g.limits.MaxComputeWorkgroupsPerDimension = 2
		g.mu.Unlock()
		a, err := g.Alloc(backend.Float32, 1000*4)
		require.NoError(t, err)
		b, err := g.Alloc(backend.Float32, 4*4)
		require.NoError(t, err)
		c, err := g.Alloc(backend.Float32, 1000*4)
		require.NoError(t, err)
		g.MatMul(c, backend.View{Buf: a, Shape: []int{1, 1000, 4}, Strides: []int{4000, 4, 1}},
			backend.View{Buf: b, Shape: []int{1, 4, 4}, Strides: []int{16, 4, 1}})
		require.NoError(t, g.Sync(), "a refused op is no device fault")
		err = g.Read(c, make([]float32, 4000))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "MatMul")
		assert.Contains(t, err.Error(), "maxComputeWorkgroupsPerDimension (2)")
		assert.Equal(t, err, backend.BufferErr(c))
		t.Logf("Read: %v", err)

		// A result computed from the refused one carries its refusal.
		e, err := g.Alloc(backend.Float32, 4)
		require.NoError(t, err)
		g.Unary(backend.Exp, e, backend.Dense(c, 4))
		assert.Equal(t, backend.BufferErr(c), backend.BufferErr(e))

		// Other work goes on.
		x, err := g.Alloc(backend.Float32, 4)
		require.NoError(t, err)
		require.NoError(t, g.Write(x, []float32{1, 2, 3, 4}))
		g.Unary(backend.Neg, e, backend.Dense(x, 4))
		out := make([]float32, 4)
		require.NoError(t, g.Read(e, out), "Write and later ops clear nothing they should not")
		assert.Equal(t, []float32{-1, -2, -3, -4}, out)
		require.NoError(t, g.Sync())
	})
}

// gpuInChild runs child in a child process of the test binary (run by the
// test called name), since what it does to the shared device sticks, and
// checks that the child passed without crashing.
func gpuInChild(t *testing.T, name string, child func(t *testing.T)) {
	if os.Getenv("WGTENSOR_CHILD") == name {
		child(t)
		return
	}
	if _, err := Open(); err != nil {
		if os.Getenv("WGTENSOR_REQUIRE_GPU") != "" {
			t.Fatalf("WGTENSOR_REQUIRE_GPU is set but no GPU opened: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "WGTENSOR_CHILD="+name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the child crashed or failed:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: "+name)
}

func gpuFaultChild(t *testing.T) {
	g, x, y := faultVectors(t)
	require.True(t, g.destroyBuffer(x.(*gpuBuffer).buf), "the driver library lacks wgpuBufferDestroy")

	g.Unary(backend.Exp, y, vec4(x))
	err := g.Sync()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "destroyed")
	t.Logf("Sync: %v", err)

	out := make([]float32, 4)
	assert.Error(t, g.Read(y, out), "Read after the fault")
	_, err = g.Alloc(backend.Float32, 4)
	assert.Error(t, err, "Alloc after the fault")
	g.Unary(backend.Exp, y, vec4(y)) // recorded work on a faulted device is dropped
	assert.Error(t, g.Sync(), "Sync after more work")
}

// destroyBuffer destroys buf's memory while handles to it remain, so that
// work using it fails validation: how tests provoke a device fault. The
// device notes it, to submit no work that uses it.
func (g *gpuDevice) destroyBuffer(buf *wgpu.Buffer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.destroyed == nil {
		g.destroyed = map[*wgpu.Buffer]bool{}
	}
	g.destroyed[buf] = true
	buf.Destroy()
	return true
}

// faultVectors returns the GPU device of a child test and two buffers of
// four floats on it.
func faultVectors(t *testing.T) (g *gpuDevice, x, y backend.Buffer) {
	t.Helper()
	d, err := Open()
	require.NoError(t, err)
	g = d.(*gpuDevice)
	x, err = g.Alloc(backend.Float32, 4)
	require.NoError(t, err)
	y, err = g.Alloc(backend.Float32, 4)
	require.NoError(t, err)
	// Writing gives the buffers their memory (see realizeLocked).
	require.NoError(t, g.Write(x, make([]float32, 4)))
	require.NoError(t, g.Write(y, make([]float32, 4)))
	return g, x, y
}

// vec4 is the view of a buffer of four floats.
func vec4(b backend.Buffer) backend.View {
	return backend.View{Buf: b, Shape: []int{4}, Strides: []int{1}}
}
