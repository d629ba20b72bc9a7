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
		ek, es           int // the expansion's kernel and stride, when not 1×1 (padded by ek/2)
	}{
		{"expand-stride1", 1, 5, 13, 19, 12, 3, 1, 1, 1, true, 0, false, clamp, 4 * 12 * 19 * 5, true, 0, 0},
		{"expand-stride2-odd", 2, 7, 15, 21, 9, 3, 2, 1, 1, true, 0, false, clamp, 4 * 9 * 21 * 4, true, 0, 0},
		{"expand-stride2-nopad", 1, 4, 16, 34, 8, 3, 2, 0, 1, true, 0, false, backend.Epilogue{}, 4 * 8 * 34 * 3, true, 0, 0},
		{"expand-5x5", 1, 3, 12, 18, 16, 5, 1, 2, 1, true, 0, false, clamp, 4 * 16 * 18 * 6, true, 0, 0},
		{"expand-one-band", 1, 6, 9, 9, 10, 3, 1, 1, 1, true, 0, false, clamp, 1 << 20, true, 0, 0},
		{"expand-row-bands", 1, 6, 9, 17, 10, 3, 1, 1, 1, true, 0, false, clamp, 1, true, 0, 0},
		{"project", 1, 0, 14, 23, 12, 3, 1, 1, 1, false, 7, false, clamp, 4 * 12 * 23 * 3, true, 0, 0},
		{"project-stride2", 2, 0, 15, 17, 12, 3, 2, 1, 1, false, 20, false, clamp, 4 * 12 * 9 * 2, true, 0, 0},
		{"all-three-residual", 1, 6, 13, 19, 24, 3, 1, 1, 1, true, 6, true, clamp, 4 * 24 * 19 * 6, true, 0, 0},
		{"all-three-stride2", 2, 5, 14, 15, 16, 3, 2, 1, 1, true, 9, false, clamp, 4 * 16 * 15 * 5, true, 0, 0},
		{"dilated", 1, 4, 11, 11, 8, 3, 1, 2, 2, true, 0, false, clamp, 1 << 20, false, 0, 0},
		{"hard-swish", 1, 4, 11, 11, 8, 3, 1, 1, 1, true, 0, false, hardSwish, 1 << 20, false, 0, 0},
		{"depthwise-alone", 1, 0, 11, 11, 8, 3, 1, 1, 1, false, 0, false, clamp, 1 << 20, false, 0, 0},
		{"expand-3x3-stride2", 1, 3, 37, 38, 16, 3, 1, 1, 1, true, 0, false, clamp, 4 * 16 * 19 * 4, true, 3, 2},
		{"expand-3x3-project-two-images", 2, 5, 16, 19, 16, 3, 1, 1, 1, true, 8, false, clamp, 4 * 16 * 19 * 5, true, 3, 1},
		{"expand-5x5-stride2-dw-stride2", 1, 4, 30, 29, 8, 3, 2, 1, 1, true, 0, false, clamp, 4 * 8 * 15 * 5, true, 5, 2},
		{"expand-3x3-row-bands", 1, 3, 20, 21, 16, 3, 1, 1, 1, true, 0, false, clamp, 1, true, 3, 1},
		{"expand-3x3-groups", 1, 4, 12, 12, 8, 3, 1, 1, 1, true, 0, false, clamp, 1 << 20, false, 3, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuChainBand = c.band
			h := newCPUHarness(t)
			d := h.d.(*cpuDevice)
			var chain backend.ConvChain
			channels, h0, w0 := c.mid, c.h, c.w // the chain's input
			if c.expand {
				channels = c.in
				e := pointwise(c.n, c.in, c.h, c.w, c.mid)
				if c.ek > 0 {
					groups := 1
					if c.name == "expand-3x3-groups" {
						groups = 2
					}
					// An input that the expansion maps to c.h × c.w.
					h0, w0 = (c.h-1)*c.es+1, (c.w-1)*c.es+1
					e = cpuConvCase(c.n, c.in, h0, w0, c.mid, c.ek, c.ek, c.es, c.es, c.ek/2, c.ek/2, 1, 1, groups)
				}
				require.Equal(t, []int{c.h, c.w}, []int{e.OH, e.OW})
				chain.Expand = backend.ConvLink{W: h.f32(h.randF(c.mid * e.C / e.Groups * e.KH * e.KW)), P: e, E: c.epilogue}
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
			x := h.f32(h.randF(c.n * channels * h0 * w0))
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
