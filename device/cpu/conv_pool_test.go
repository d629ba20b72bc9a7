package cpu

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// TestCPUConv2DMaxPool checks Conv2DMaxPool against Conv2D and MaxPool2D
// one after the other, with bands from one pooled row to one band (so that
// bands read convolution rows their neighbours read too, and tiles of the
// indirect kernel straddle bands), strides, padding, windows past the
// output (ceil mode), groups, several images, frozen weights, NaN in the
// input, and shapes it refuses.
func TestCPUConv2DMaxPool(t *testing.T) {
	defer func(min, band int) { cpuConvPoolMin, cpuConvPoolBand = min, band }(cpuConvPoolMin, cpuConvPoolBand)
	cpuConvPoolMin = 1
	relu := backend.Epilogue{Clamp: true, Lo: 0, Hi: float32(math.Inf(1))}
	pool := func(p backend.Conv2DParams, k, s, pad int, ceil bool) backend.Pool2DParams {
		size := func(n int) int {
			if ceil {
				return (n+2*pad-k+s-1)/s + 1
			}
			return (n+2*pad-k)/s + 1
		}
		return backend.Pool2DParams{N: p.N, C: p.O, H: p.OH, W: p.OW, KH: k, KW: k, OH: size(p.OH), OW: size(p.OW),
			StrideH: s, StrideW: s, PadH: pad, PadW: pad}
	}
	for _, c := range []struct {
		name     string
		conv     backend.Conv2DParams
		k, s     int // the pooling's window and stride
		pad      int
		ceil     bool
		epilogue backend.Epilogue
		bias     bool
		band     int // cpuConvPoolBand, bytes
		takes    bool
	}{
		{"stem-like", cpuConvCase(1, 3, 40, 38, 16, 7, 7, 2, 2, 3, 3, 1, 1, 1), 3, 2, 1, false, relu, true, 4 * 16 * 19 * 5, true},
		{"3x3-pool2", cpuConvCase(2, 5, 17, 21, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1), 2, 2, 0, false, relu, true, 4 * 12 * 21 * 4, true},
		{"3x3-pool2-ceil", cpuConvCase(1, 4, 15, 15, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1), 2, 2, 0, true, backend.Epilogue{}, true, 4 * 9 * 15 * 3, true},
		{"pool3-stride1", cpuConvCase(1, 6, 13, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), 3, 1, 1, false, relu, false, 4 * 8 * 20 * 4, true},
		{"row-bands", cpuConvCase(1, 3, 22, 23, 16, 5, 5, 2, 2, 2, 2, 1, 1, 1), 3, 2, 1, false, relu, true, 1, true},
		{"one-band", cpuConvCase(1, 3, 22, 23, 16, 5, 5, 2, 2, 2, 2, 1, 1, 1), 3, 2, 1, true, relu, true, 1 << 20, true},
		{"groups", cpuConvCase(2, 8, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2), 3, 2, 1, false, relu, true, 4 * 16 * 14 * 3, true},
		{"pointwise", cpuConvCase(1, 8, 12, 12, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1), 2, 2, 0, false, relu, true, 1 << 20, false},
		{"hard-swish", cpuConvCase(1, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), 2, 2, 0, false, backend.Epilogue{HardSwish: true}, true, 1 << 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuConvPoolBand = c.band
			h := newCPUHarness(t)
			d := h.d.(*cpuDevice)
			p := c.conv
			q := pool(p, c.k, c.s, c.pad, c.ceil)
			e := c.epilogue
			if c.bias {
				e.Bias = h.f32(h.randF(p.O))
			}
			xs := h.randF(p.N * p.C * p.H * p.W)
			xs[5], xs[len(xs)/2] = float32(math.NaN()), float32(math.Inf(1))
			x, w := h.f32(xs), h.f32(h.randF(p.O*p.C/p.Groups*p.KH*p.KW))
			size := q.N * q.C * q.OH * q.OW
			require.Equal(t, c.takes && kernel.HasAVX512, d.Conv2DMaxPools(p, e, q))
			if !d.Conv2DMaxPools(p, e, q) {
				require.Panics(t, func() { d.Conv2DMaxPool(h.dirty(backend.Float32, size), x, w, p, e, q) })
				return
			}
			y := h.dirty(backend.Float32, p.N*p.O*p.OH*p.OW)
			d.Conv2D(y, x, w, p, e)
			want := h.dirty(backend.Float32, size)
			d.MaxPool2D(want, nil, y, q)
			for _, frozen := range []bool{false, true, true} {
				if frozen {
					d.Freeze(w)
				}
				got := h.dirty(backend.Float32, size)
				d.Conv2DMaxPool(got, x, w, p, e, q)
				require.InDeltaSlice(t, h.readF(want), h.readF(got), 1e-5, "frozen %v", frozen)
			}
		})
	}
}
