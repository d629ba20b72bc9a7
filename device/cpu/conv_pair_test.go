package cpu

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// TestCPUConv2DPair checks Conv2DPair against its two convolutions made
// one after the other, with bands of a few rows (so that every band but
// the first and last reads rows of the intermediate that its neighbours
// read too), on shapes it takes and on ones it refuses.
func TestCPUConv2DPair(t *testing.T) {
	defer func(min, band int) { cpuPairMin, cpuPairBand = min, band }(cpuPairMin, cpuPairBand)
	cpuPairMin = 1
	pointwise := func(n, c, h, w, o int) backend.Conv2DParams {
		return cpuConvCase(n, c, h, w, o, 1, 1, 1, 1, 0, 0, 1, 1, 1)
	}
	depthwise := func(p backend.Conv2DParams, k, s, pad, dil int) backend.Conv2DParams {
		return cpuConvCase(p.N, p.O, p.OH, p.OW, p.O, k, k, s, s, pad, pad, dil, dil, p.O)
	}
	bias, clamp := backend.Epilogue{}, backend.Epilogue{Clamp: true, Lo: 0, Hi: 0.5}
	for _, c := range []struct {
		name   string
		p, q   backend.Conv2DParams
		ep, eq backend.Epilogue
		band   int // cpuPairBand
		takes  bool
	}{
		{"stride1", pointwise(1, 5, 13, 19, 12), depthwise(pointwise(1, 5, 13, 19, 12), 3, 1, 1, 1), clamp, clamp, 4 * 12 * 19 * 5, true},
		{"stride2-odd", pointwise(2, 7, 15, 21, 9), depthwise(pointwise(2, 7, 15, 21, 9), 3, 2, 1, 1), clamp, bias, 4 * 9 * 21 * 4, true},
		{"stride2-even-nopad", pointwise(1, 4, 16, 34, 8), depthwise(pointwise(1, 4, 16, 34, 8), 3, 2, 0, 1), bias, clamp, 4 * 8 * 34 * 3, true},
		{"5x5", pointwise(1, 3, 12, 18, 16), depthwise(pointwise(1, 3, 12, 18, 16), 5, 1, 2, 1), clamp, clamp, 4 * 16 * 18 * 6, true},
		{"one-band", pointwise(1, 6, 9, 9, 10), depthwise(pointwise(1, 6, 9, 9, 10), 3, 1, 1, 1), clamp, clamp, 1 << 20, true},
		{"row-bands", pointwise(1, 6, 9, 17, 10), depthwise(pointwise(1, 6, 9, 17, 10), 3, 1, 1, 1), bias, bias, 1, true},
		{"dilated", pointwise(1, 4, 11, 11, 8), depthwise(pointwise(1, 4, 11, 11, 8), 3, 1, 2, 2), clamp, clamp, 1 << 20, false},
		{"hard-swish", pointwise(1, 4, 11, 11, 8), depthwise(pointwise(1, 4, 11, 11, 8), 3, 1, 1, 1), backend.Epilogue{HardSwish: true}, clamp, 1 << 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuPairBand = c.band
			h := newCPUHarness(t)
			d := h.d.(*cpuDevice)
			p, q := c.p, c.q
			x := h.f32(h.randF(p.N * p.C * p.H * p.W))
			w1, w2 := h.f32(h.randF(p.O*p.C)), h.f32(h.randF(q.O*q.KH*q.KW))
			ep, eq := c.ep, c.eq
			ep.Bias, eq.Bias = h.f32(h.randF(p.O)), h.f32(h.randF(q.O))
			require.Equal(t, c.takes && kernel.HasAVX512, d.Conv2DPairs(p, q, ep, eq))
			mid, want := h.dirty(backend.Float32, p.N*p.O*p.OH*p.OW), h.dirty(backend.Float32, q.N*q.O*q.OH*q.OW)
			h.d.Conv2D(mid, x, w1, p, ep)
			h.d.Conv2D(want, mid, w2, q, eq)
			if !d.Conv2DPairs(p, q, ep, eq) {
				require.Panics(t, func() { d.Conv2DPair(h.dirty(backend.Float32, 1), x, w1, w2, p, q, ep, eq) })
				return
			}
			for _, frozen := range []bool{false, true, true} {
				if frozen {
					d.Freeze(w1)
				}
				got := h.dirty(backend.Float32, q.N*q.O*q.OH*q.OW)
				d.Conv2DPair(got, x, w1, w2, p, q, ep, eq)
				require.InDeltaSlice(t, h.readF(want), h.readF(got), 1e-5, "frozen %v", frozen)
			}
		})
	}
}
