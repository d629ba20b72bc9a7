//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/cpu"
)

// testGPU returns the process's GPU device, or skips the test without one
// (fails it when WGTENSOR_REQUIRE_GPU is set).
func testGPU(t *testing.T) *gpuDevice {
	t.Helper()
	d, err := Open()
	if err != nil {
		if os.Getenv("WGTENSOR_REQUIRE_GPU") != "" {
			t.Fatalf("WGTENSOR_REQUIRE_GPU is set but no GPU opened: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	return d.(*gpuDevice)
}

// startProfile and stopProfile do what device.StartProfile and
// device.StopProfile do for the GPU, which is a backend.Profiler (this
// package's tests cannot import package device, which imports this one).
func startProfile(d backend.Device) error { return d.(backend.Profiler).StartProfile() }

func stopProfile(d backend.Device) (*backend.Profile, error) {
	return d.(backend.Profiler).StopProfile()
}

// TestGPUProfile times a few ops with the adapter's timestamps: every
// dispatch since StartProfile is counted under its op and kernel, the GPU
// times are positive, and the table names them (TestProfileCPU in package
// device: the CPU cannot profile).
func TestGPUProfile(t *testing.T) {
	g := testGPU(t)
	d := backend.Device(g)
	if !g.timestamps {
		t.Skip("the adapter has no timestamp-query feature")
	}
	a, err := d.Alloc(backend.Float32, 64*64)
	require.NoError(t, err)
	defer d.Free(a)
	c, err := d.Alloc(backend.Float32, 64*64)
	require.NoError(t, err)
	defer d.Free(c)
	d.Fill(a, 0.5)
	require.NoError(t, startProfile(d))
	before := d.Stats().Dispatches
	for range 3 {
		d.MatMul(c, backend.Dense(a, 1, 64, 64), backend.Dense(a, 1, 64, 64))
		d.Unary(backend.Exp, c, backend.Dense(c, 64*64))
	}
	p, err := stopProfile(d)
	require.NoError(t, err)
	dispatches := d.Stats().Dispatches - before
	t.Logf("%s", p)
	require.NotEmpty(t, p.Kernels)
	count := 0
	var names []string
	for _, k := range p.Kernels {
		count += k.Count
		names = append(names, k.Kernel)
		assert.Positive(t, k.Total, k.Kernel)
	}
	assert.Equal(t, int(dispatches), count, "every dispatch timed once")
	// Each product is overwritten by the next before anything reads it:
	// only the last is computed, with the Exp as its epilogue.
	assert.Contains(t, strings.Join(names, "\n"), "MatMul+Exp: matmul.main", "the Exp applied as the product is stored")
	assert.Contains(t, strings.Join(names, "\n"), "fused Fill: fused.main", "the Fill computed in a generated kernel")
	assert.Contains(t, p.String(), "mean µs")
	_, err = stopProfile(d)
	assert.Error(t, err, "no profile running")
}

// TestGPUSubgroupsChosen: where the adapter has subgroup operations (lavapipe
// does) the reductions use them unless WGTENSOR_GPU_SUBGROUPS=0, which `make
// test` sets for a second run of the GPU tests on the kernels without them.
func TestGPUSubgroupsChosen(t *testing.T) {
	g := testGPU(t)
	want := useSubgroups(g.adapter)
	assert.Equal(t, want, g.subgroups)
	if os.Getenv("WGTENSOR_GPU_SUBGROUPS") == "0" {
		assert.False(t, g.subgroups, "WGTENSOR_GPU_SUBGROUPS=0")
	}
	t.Logf("subgroups: %v", g.subgroups)
}

// TestGPUCapabilities: the engine is wgpu-native 29 and the subgroup size
// is measured (a power of two) where the kernels use subgroups.
func TestGPUCapabilities(t *testing.T) {
	d := backend.Device(testGPU(t))
	c := d.(backend.Describer).Capabilities()
	t.Logf("%+v", c)
	assert.True(t, strings.HasPrefix(c.Engine, "wgpu-native 29."), c.Engine)
	assert.Contains(t, d.Name(), c.Adapter)
	assert.Positive(t, c.MaxStorageBufferBinding)
	if d.(*gpuDevice).subgroups {
		require.Positive(t, c.SubgroupSize)
		assert.Zero(t, c.SubgroupSize&(c.SubgroupSize-1), "a power of two")
	} else {
		assert.Zero(t, c.SubgroupSize)
	}
}

// TestGPULongKernel runs a product whose single dispatch takes more than
// five seconds on lavapipe, the time after which wgpu 0.17's blocking poll
// gave up and freed what the kernel still used: the result must match the
// CPU's. A is a transposed view, which llvmpipe's tiles read element by
// element (15–21 GFLOP/s on 2 cores, where vector reads reach 35 and took
// a square product of 4096 under five seconds): 5120×4096 outputs over
// K = maxLoop in one dispatch, 172 GFLOP. The profiler confirms the
// dispatch's length. Skipped with -short.
func TestGPULongKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a kernel of several seconds")
	}
	d := backend.Device(testGPU(t))
	const m, k, n = 5120, maxLoop, 4096
	a := make([]float32, k*m) // A's transpose, [k, m]
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	b := a[:k*n]
	aView := func(buf backend.Buffer) backend.View {
		return backend.View{Buf: buf, Shape: []int{1, m, k}, Strides: []int{0, 1, m}}
	}
	c := cpu.Default()
	want := make([]float32, m*n)
	ca, _ := c.Alloc(backend.Float32, k*m)
	cb, _ := c.Alloc(backend.Float32, k*n)
	cy, _ := c.Alloc(backend.Float32, m*n)
	require.NoError(t, c.Write(ca, a))
	require.NoError(t, c.Write(cb, b))
	c.MatMul(cy, aView(ca), backend.Dense(cb, 1, k, n))
	require.NoError(t, c.Read(cy, want))

	ga, err := d.Alloc(backend.Float32, k*m)
	require.NoError(t, err)
	defer d.Free(ga)
	gb, err := d.Alloc(backend.Float32, k*n)
	require.NoError(t, err)
	defer d.Free(gb)
	gy, err := d.Alloc(backend.Float32, m*n)
	require.NoError(t, err)
	defer d.Free(gy)
	require.NoError(t, d.Write(ga, a))
	require.NoError(t, d.Write(gb, b))
	profile := d.(*gpuDevice).timestamps
	if profile {
		require.NoError(t, startProfile(d))
	}
	d.MatMul(gy, aView(ga), backend.Dense(gb, 1, k, n))
	got := make([]float32, m*n)
	require.NoError(t, d.Read(gy, got))
	assert.Equal(t, want, got, "integer-valued products are exact")
	if profile {
		p, err := stopProfile(d)
		require.NoError(t, err)
		t.Logf("%s", p)
		var longest time.Duration
		for _, k := range p.Kernels {
			longest = max(longest, k.Total/time.Duration(k.Count))
		}
		if d.(*gpuDevice).software {
			assert.Greater(t, longest, 5*time.Second, "the longest dispatch")
		}
	}
}
