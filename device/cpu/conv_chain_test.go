package cpu

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// TestCPUConv2DChain checks Conv2DChain against its convolutions made one
// after the other, with bands of a few rows (so that every band but the
// first and last reads rows of the expansion that its neighbours read
// too), with and without expansion and projection, a residual on the
// projection, frozen weights, and chains it refuses.
func TestCPUConv2DChain(t *testing.T) {
	defer func(min, band int) { cpuChainMin, cpuChainBand = min, band }(cpuChainMin, cpuChainBand)
	cpuChainMin = 1
	pointwise := func(n, c, h, w, o int) backend.Conv2DParams {
		return cpuConvCase(n, c, h, w, o, 1, 1, 1, 1, 0, 0, 1, 1, 1)
	}
	depthwise := func(n, c, h, w, k, s, pad, dil int) backend.Conv2DParams {
		return cpuConvCase(n, c, h, w, c, k, k, s, s, pad, pad, dil, dil, c)
	}
	clamp, hardSwish := backend.Epilogue{Clamp: true, Lo: 0, Hi: 0.5}, backend.Epilogue{HardSwish: true}
	for _, c := range []struct {
		name             string
		n, in, h, w, mid int // images, input channels, size, the depthwise's channels
		k, s, pad, dil   int // the depthwise convolution
		expand           bool
		out              int // the projection's channels, 0 for none
		residual         bool
		epilogue         backend.Epilogue // of the expansion
		band             int              // cpuChainBand, bytes
		takes            bool
	}{
		{"expand-stride1", 1, 5, 13, 19, 12, 3, 1, 1, 1, true, 0, false, clamp, 4 * 12 * 19 * 5, true},
		{"expand-stride2-odd", 2, 7, 15, 21, 9, 3, 2, 1, 1, true, 0, false, clamp, 4 * 9 * 21 * 4, true},
		{"expand-stride2-nopad", 1, 4, 16, 34, 8, 3, 2, 0, 1, true, 0, false, backend.Epilogue{}, 4 * 8 * 34 * 3, true},
		{"expand-5x5", 1, 3, 12, 18, 16, 5, 1, 2, 1, true, 0, false, clamp, 4 * 16 * 18 * 6, true},
		{"expand-one-band", 1, 6, 9, 9, 10, 3, 1, 1, 1, true, 0, false, clamp, 1 << 20, true},
		{"expand-row-bands", 1, 6, 9, 17, 10, 3, 1, 1, 1, true, 0, false, clamp, 1, true},
		{"project", 1, 0, 14, 23, 12, 3, 1, 1, 1, false, 7, false, clamp, 4 * 12 * 23 * 3, true},
		{"project-stride2", 2, 0, 15, 17, 12, 3, 2, 1, 1, false, 20, false, clamp, 4 * 12 * 9 * 2, true},
		{"all-three-residual", 1, 6, 13, 19, 24, 3, 1, 1, 1, true, 6, true, clamp, 4 * 24 * 19 * 6, true},
		{"all-three-stride2", 2, 5, 14, 15, 16, 3, 2, 1, 1, true, 9, false, clamp, 4 * 16 * 15 * 5, true},
		{"dilated", 1, 4, 11, 11, 8, 3, 1, 2, 2, true, 0, false, clamp, 1 << 20, false},
		{"hard-swish", 1, 4, 11, 11, 8, 3, 1, 1, 1, true, 0, false, hardSwish, 1 << 20, false},
		{"depthwise-alone", 1, 0, 11, 11, 8, 3, 1, 1, 1, false, 0, false, clamp, 1 << 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuChainBand = c.band
			h := newCPUHarness(t)
			d := h.d.(*cpuDevice)
			var chain backend.ConvChain
			channels := c.mid
			if c.expand {
				channels = c.in
				chain.Expand = backend.ConvLink{W: h.f32(h.randF(c.mid * c.in)), P: pointwise(c.n, c.in, c.h, c.w, c.mid), E: c.epilogue}
				chain.Expand.E.Bias = h.f32(h.randF(c.mid))
			}
			q := depthwise(c.n, c.mid, c.h, c.w, c.k, c.s, c.pad, c.dil)
			chain.Depthwise = backend.ConvLink{W: h.f32(h.randF(c.mid * c.k * c.k)), P: q, E: clamp}
			chain.Depthwise.E.Bias = h.f32(h.randF(c.mid))
			last := q
			if c.out > 0 {
				last = pointwise(c.n, c.mid, q.OH, q.OW, c.out)
				chain.Project = backend.ConvLink{W: h.f32(h.randF(c.out * c.mid)), P: last, E: backend.Epilogue{Bias: h.f32(h.randF(c.out))}}
				if c.residual {
					chain.Project.E.Residual = h.f32(h.randF(c.n * c.out * q.OH * q.OW))
				}
			}
			x := h.f32(h.randF(c.n * channels * c.h * c.w))
			size := last.N * last.O * last.OH * last.OW
			require.Equal(t, c.takes && kernel.HasAVX512, d.Conv2DChains(chain))
			if !d.Conv2DChains(chain) {
				require.Panics(t, func() { d.Conv2DChain(h.dirty(backend.Float32, size), x, chain) })
				return
			}
			// The links one after the other.
			in := x
			for _, l := range []backend.ConvLink{chain.Expand, chain.Depthwise, chain.Project} {
				if l.W == nil {
					continue
				}
				out := h.dirty(backend.Float32, l.P.N*l.P.O*l.P.OH*l.P.OW)
				d.Conv2D(out, in, l.W, l.P, l.E)
				in = out
			}
			want := h.readF(in)
			for _, frozen := range []bool{false, true, true} {
				if frozen {
					for _, l := range []backend.ConvLink{chain.Expand, chain.Project} {
						if l.W != nil {
							d.Freeze(l.W)
						}
					}
				}
				got := h.dirty(backend.Float32, size)
				d.Conv2DChain(got, x, chain)
				require.InDeltaSlice(t, want, h.readF(got), 1e-5, "frozen %v", frozen)
			}
		})
	}
}
