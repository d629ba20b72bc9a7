//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/oliverbestmann/webgpu/wgpu"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// TestGPUStepReusesBindGroups: a step repeated over the same buffers (a
// product with an epilogue, a fused chain) finds every bind group it needs
// cached, and the groups that bind a buffer go when the buffer is
// released.
func TestGPUStepReusesBindGroups(t *testing.T) {
	g := testGPU(t)
	a, b, c := allocFloats(t, g, 64*32), allocFloats(t, g, 32*16), allocFloats(t, g, 64*16)
	d := allocFloats(t, g, 64*16)
	step := func() {
		g.MatMul(c, backend.Dense(a, 1, 64, 32), backend.Dense(b, 1, 32, 16))
		g.Unary(backend.ReLU, c, backend.Dense(c, 64, 16))
		g.Binary(backend.Mul, d, backend.Dense(c, 64, 16), backend.Dense(c, 64, 16))
		g.Unary(backend.Exp, d, backend.Dense(d, 64, 16))
		require.NoError(t, g.Sync())
	}
	counts := func() (hits, dispatches int64) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.binds.hits, g.stats.Dispatches
	}
	step()
	h0, d0 := counts()
	step()
	h1, d1 := counts()
	require.Positive(t, d1-d0)
	assert.Equal(t, d1-d0, h1-h0, "every dispatch of the repeated step finds its bind group")

	buf := d.(*gpuBuffer).buf
	g.mu.Lock()
	assert.NotEmpty(t, g.binds.byBuf[buf])
	g.mu.Unlock()
	g.Free(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trimPoolLocked(0)
	require.NoError(t, g.flushLocked())
	assert.Empty(t, g.binds.byBuf[buf], "a released buffer's groups are gone")
	for key := range g.binds.entries {
		assert.NotContains(t, key, string(binary.LittleEndian.AppendUint64(nil, uint64(bufferID(buf)))))
	}
}

// TestGPUCapturedGroupTakesNewParameters: a captured group reused with
// other parameters computes with them, in later batches and, through a
// group of its own, twice in one batch.
func TestGPUCapturedGroupTakesNewParameters(t *testing.T) {
	g := testGPU(t)
	defer setFusion(g, false)() // a dispatch per op: the same kernel, buffers and parameter size
	x := allocFloats(t, g, 4)
	require.NoError(t, g.Write(x, []float32{1, 2, 3, 4}))
	y, z := allocFloats(t, g, 4), allocFloats(t, g, 4)
	read := func(b backend.Buffer) []float32 {
		out := make([]float32, 4)
		require.NoError(t, g.Read(b, out))
		return out
	}
	for _, s := range []float64{2, 3} { // one batch each
		g.BinaryScalar(backend.Mul, y, backend.Dense(x, 4), s, false)
		assert.Equal(t, []float32{float32(s), float32(2 * s), float32(3 * s), float32(4 * s)}, read(y))
	}
	// One batch: the same kernel over the same buffers with 5 then 7.
	g.BinaryScalar(backend.Mul, y, backend.Dense(x, 4), 5, false)
	g.Copy(backend.Dense(z, 4), backend.Dense(y, 4))
	g.BinaryScalar(backend.Mul, y, backend.Dense(x, 4), 7, false)
	assert.Equal(t, []float32{5, 10, 15, 20}, read(z))
	assert.Equal(t, []float32{7, 14, 21, 28}, read(y))
}

// TestGPUFullSlotsSubmitNothing: when the parameter slots are full, a new
// group is not captured (its parameters go among the batch's), no batch is
// submitted for it, and the cache starts again after the batch.
func TestGPUFullSlotsSubmitNothing(t *testing.T) {
	g := testGPU(t)
	defer setFusion(g, false)()
	require.NoError(t, g.Sync())
	g.mu.Lock()
	saved := slotCapacity
	slotCapacity = len(g.binds.mirror) // no room for another slot
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		slotCapacity = saved
		g.mu.Unlock()
	}()
	x := allocFloats(t, g, 4)
	require.NoError(t, g.Write(x, []float32{1, 2, 3, 4}))
	ys := []backend.Buffer{allocFloats(t, g, 4), allocFloats(t, g, 4), allocFloats(t, g, 4)}
	submits := g.Stats().Submits
	for i, y := range ys {
		g.BinaryScalar(backend.Add, y, backend.Dense(x, 4), float64(10*i), false)
	}
	assert.Equal(t, submits, g.Stats().Submits, "no submit for a full cache")
	g.mu.Lock()
	assert.True(t, g.binds.full)
	g.mu.Unlock()
	require.NoError(t, g.Sync())
	g.mu.Lock()
	assert.False(t, g.binds.full)
	assert.Empty(t, g.binds.entries, "the cache starts again after the batch")
	g.mu.Unlock()
	for i, y := range ys {
		out := make([]float32, 4)
		require.NoError(t, g.Read(y, out))
		v := float32(10 * i)
		assert.Equal(t, []float32{1 + v, 2 + v, 3 + v, 4 + v}, out)
	}
}

// TestGPUPoolOrder: whatever order buffers come back to the pool in (the
// garbage collector's is arbitrary), the pool hands them out highest
// address first, so that a repeated step gets the same buffers and finds
// its bind groups; sizes are kept apart and the pooled bytes counted.
func TestGPUPoolOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bufs := make([]*wgpu.Buffer, 200)
	for i := range bufs {
		bufs[i] = new(wgpu.Buffer)
	}
	g := &gpuDevice{pool: map[uint64][]*wgpu.Buffer{}}
	for _, i := range rng.Perm(len(bufs)) {
		g.pushPoolLocked(256+uint64(i%2)*256, bufs[i])
	}
	assert.Equal(t, int64(100*256+100*512), g.poolBytes)
	for _, size := range []uint64{256, 512} {
		var got []uintptr
		for {
			b, ok := g.popPoolLocked(size)
			if !ok {
				break
			}
			got = append(got, bufferID(b))
		}
		require.Len(t, got, 100)
		assert.True(t, slices.IsSortedFunc(got, func(a, b uintptr) int { return cmp.Compare(b, a) }), "size %d: popped %v", size, got)
	}
	assert.Zero(t, g.poolBytes)
}
