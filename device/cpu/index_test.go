package cpu

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

var cpuGatherShapes = []backend.GatherShape{
	{Outer: 3, N: 10, M: 7, Inner: 5},
	{Outer: 1, N: 4, M: 9, Inner: 1},
	{Outer: 17, N: 1, M: 3, Inner: 2},
	{Outer: 2, N: 300, M: 500, Inner: 64}, // large enough to run in parallel
	{Outer: 1, N: 5, M: 0, Inner: 3},
	{Outer: 0, N: 5, M: 2, Inner: 3},
	{Outer: 2, N: 5, M: 2, Inner: 0},
}

// randIdx returns n indices in [0, hi).
func (h *cpuHarness) randIdx(n, hi int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(h.rng.IntN(hi))
	}
	return s
}

func TestCPUIndexSelectAndAdd(t *testing.T) {
	h := newCPUHarness(t)
	for _, g := range cpuGatherShapes {
		name := fmt.Sprintf("%+v", g)
		idx := h.randIdx(g.M, g.N)
		big, small := g.Outer*g.N*g.Inner, g.Outer*g.M*g.Inner
		x, src, base := h.randI(big), h.randI(small), h.randI(big)

		sel := make([]int32, small)
		add := slices.Clone(base)
		for o := range g.Outer {
			for j := range g.M {
				for i := range g.Inner {
					k := int(idx[j])
					sel[(o*g.M+j)*g.Inner+i] = x[(o*g.N+k)*g.Inner+i]
					add[(o*g.N+k)*g.Inner+i] += src[(o*g.M+j)*g.Inner+i]
				}
			}
		}

		dst := h.dirty(backend.Int32, small)
		h.d.IndexSelect(dst, h.i32(x), h.i32(idx), g)
		assert.Equal(t, sel, h.readI(dst), "IndexSelect int %s", name)
		fdst := h.dirty(backend.Float32, small)
		h.d.IndexSelect(fdst, h.f32(cpuFloat32s(x)), h.i32(idx), g)
		assert.Equal(t, cpuFloat32s(sel), h.readF(fdst), "IndexSelect float %s", name)

		acc := h.i32(base)
		h.d.IndexAdd(acc, h.i32(idx), h.i32(src), g)
		assert.Equal(t, add, h.readI(acc), "IndexAdd int %s", name)
		facc := h.f32(cpuFloat32s(base))
		h.d.IndexAdd(facc, h.i32(idx), h.f32(cpuFloat32s(src)), g)
		assert.Equal(t, cpuFloat32s(add), h.readF(facc), "IndexAdd float %s", name)
	}
	require.NoError(t, h.d.Sync())
}

func TestCPUGatherAndScatterAdd(t *testing.T) {
	h := newCPUHarness(t)
	for _, g := range cpuGatherShapes {
		name := fmt.Sprintf("%+v", g)
		big, small := g.Outer*g.N*g.Inner, g.Outer*g.M*g.Inner
		idx := h.randIdx(small, g.N)
		x, src, base := h.randI(big), h.randI(small), h.randI(big)

		gat := make([]int32, small)
		sca := slices.Clone(base)
		for o := range g.Outer {
			for j := range g.M {
				for i := range g.Inner {
					r := (o*g.M+j)*g.Inner + i
					k := int(idx[r])
					gat[r] = x[(o*g.N+k)*g.Inner+i]
					sca[(o*g.N+k)*g.Inner+i] += src[r]
				}
			}
		}

		dst := h.dirty(backend.Int32, small)
		h.d.Gather(dst, h.i32(x), h.i32(idx), g)
		assert.Equal(t, gat, h.readI(dst), "Gather int %s", name)
		fdst := h.dirty(backend.Float32, small)
		h.d.Gather(fdst, h.f32(cpuFloat32s(x)), h.i32(idx), g)
		assert.Equal(t, cpuFloat32s(gat), h.readF(fdst), "Gather float %s", name)

		acc := h.i32(base)
		h.d.ScatterAdd(acc, h.i32(idx), h.i32(src), g)
		assert.Equal(t, sca, h.readI(acc), "ScatterAdd int %s", name)
		facc := h.f32(cpuFloat32s(base))
		h.d.ScatterAdd(facc, h.i32(idx), h.f32(cpuFloat32s(src)), g)
		assert.Equal(t, cpuFloat32s(sca), h.readF(facc), "ScatterAdd float %s", name)
	}
	require.NoError(t, h.d.Sync())
}

// cpuFloat32s converts small integers to float32 exactly.
func cpuFloat32s(s []int32) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

func TestCPUIndexOutOfRange(t *testing.T) {
	h := newCPUHarness(t)
	require.NoError(t, h.d.Sync())
	g := backend.GatherShape{Outer: 2, N: 10, M: 3, Inner: 2}
	x := h.f32(cpuFloat32s(h.randI(g.Outer * g.N * g.Inner)))
	idx := h.i32([]int32{1, 12, -1})

	dst := h.dirty(backend.Float32, g.Outer*g.M*g.Inner)
	h.d.IndexSelect(dst, x, idx, g)
	require.EqualError(t, h.d.Sync(), "device: IndexSelect: index 12 out of range [0, 10)")
	require.NoError(t, h.d.Sync(), "the error is cleared")
	got := h.readF(dst)
	assert.Equal(t, []float32{0, 0, 0, 0}, got[2:6], "out-of-range rows are zero")
	assert.Equal(t, []float32{0, 0, 0, 0}, got[8:12])

	acc := h.f32(make([]float32, g.Outer*g.N*g.Inner))
	h.d.IndexAdd(acc, idx, h.f32([]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}), g)
	out := make([]float32, acc.Len())
	err := h.d.Read(acc, out)
	require.EqualError(t, err, "device: IndexAdd: index 12 out of range [0, 10)", "Read reports it")
	assert.Equal(t, float32(4), cpuSumF32(out), "only the valid index added")
	require.NoError(t, h.d.Sync())

	gidx := h.i32([]int32{0, 9, 10, 3, 2, 1, -5, 0, 0, 0, 0, 0})
	h.d.Gather(dst, x, gidx, g)
	require.EqualError(t, h.d.Sync(), "device: Gather: index 10 out of range [0, 10)")
	assert.Equal(t, float32(0), h.readF(dst)[2])

	h.d.ScatterAdd(acc, gidx, h.f32([]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}), g)
	h.d.IndexSelect(dst, x, idx, g) // a second error does not replace the first
	require.EqualError(t, h.d.Sync(), "device: ScatterAdd: index 10 out of range [0, 10)")
	require.NoError(t, h.d.Sync())
}

// cpuSumF32 adds up s.
func cpuSumF32(s []float32) float32 {
	var t float32
	for _, v := range s {
		t += v
	}
	return t
}
