package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuPoolCase returns pooling parameters, computing OH and OW as PyTorch
// does without ceil_mode.
func cpuPoolCase(n, c, h, w, kh, kw, sh, sw, ph, pw int) backend.Pool2DParams {
	return backend.Pool2DParams{N: n, C: c, H: h, W: w, KH: kh, KW: kw,
		OH: (h+2*ph-kh)/sh + 1, OW: (w+2*pw-kw)/sw + 1, StrideH: sh, StrideW: sw, PadH: ph, PadW: pw}
}

var cpuPoolCases = map[string]backend.Pool2DParams{
	"3x2-s2x1-p1x0":   cpuPoolCase(2, 3, 7, 9, 3, 2, 2, 1, 1, 0),
	"2x2-s2-drop":     cpuPoolCase(1, 1, 5, 5, 2, 2, 2, 2, 0, 0),
	"3x3-s1-p1":       cpuPoolCase(2, 2, 6, 5, 3, 3, 1, 1, 1, 1),
	"3x3-s2-p1":       cpuPoolCase(1, 3, 8, 7, 3, 3, 2, 2, 1, 1),
	"global":          cpuPoolCase(2, 5, 4, 6, 4, 6, 1, 1, 0, 0),
	"3x3-s2-p1-wide":  cpuPoolCase(1, 2, 9, 31, 3, 3, 2, 2, 1, 1),
	"5x4-s3x2-p2x1":   cpuPoolCase(2, 2, 11, 20, 5, 4, 3, 2, 2, 1),
	"wider-kernel":    cpuPoolCase(1, 1, 3, 4, 3, 4, 1, 1, 0, 2),
	"5x5-s1-p2-wide":  cpuPoolCase(1, 2, 6, 40, 5, 5, 1, 1, 2, 2),
	"parallel":        cpuPoolCase(4, 64, 16, 16, 2, 2, 2, 2, 0, 0),
	"3x3-s2-parallel": cpuPoolCase(2, 40, 17, 18, 3, 3, 2, 2, 1, 1),
	"3x3-s2-bands":    cpuPoolCase(1, 64, 41, 40, 3, 3, 2, 2, 1, 1),
	"empty":           cpuPoolCase(0, 3, 4, 4, 2, 2, 2, 2, 0, 0),
}

// cpuMaxPoolRef is max pooling as PyTorch's CPU kernel computes it.
func cpuMaxPoolRef(x []float32, p backend.Pool2DParams) ([]float32, []int32) {
	out := make([]float32, p.N*p.C*p.OH*p.OW)
	idx := make([]int32, len(out))
	for pl := range p.N * p.C {
		for oh := range p.OH {
			for ow := range p.OW {
				best, at := float32(math.Inf(-1)), -1
				for kh := range p.KH {
					for kw := range p.KW {
						ih, iw := oh*p.StrideH-p.PadH+kh, ow*p.StrideW-p.PadW+kw
						if ih < 0 || iw < 0 || ih >= p.H || iw >= p.W {
							continue
						}
						if at < 0 {
							at = ih*p.W + iw
						}
						if v := x[pl*p.H*p.W+ih*p.W+iw]; v > best || math.IsNaN(float64(v)) {
							best, at = v, ih*p.W+iw
						}
					}
				}
				o := (pl*p.OH+oh)*p.OW + ow
				out[o], idx[o] = best, int32(at)
			}
		}
	}
	return out, idx
}

func TestCPUMaxPool2D(t *testing.T) {
	h := newCPUHarness(t)
	for name, p := range cpuPoolCases {
		for _, kind := range []string{"random", "negative", "ties", "nan"} {
			xs, ys := p.N*p.C*p.H*p.W, p.N*p.C*p.OH*p.OW
			xd := h.randF(xs)
			for i := range xd {
				switch kind {
				case "negative":
					xd[i] = -1 - float32(math.Abs(float64(xd[i])))
				case "ties":
					xd[i] = float32(i % 2)
				case "nan":
					if i%7 == 3 {
						xd[i] = float32(math.NaN())
					}
				}
			}
			dst, idx := h.dirty(backend.Float32, ys), h.dirty(backend.Int32, ys)
			h.d.MaxPool2D(dst, idx, h.f32(xd), p)
			want, wantIdx := cpuMaxPoolRef(xd, p)
			msg := fmt.Sprintf("%s/%s", name, kind)
			cpuClose(t, cpuF64(want), h.readF(dst), 0, 0, msg)
			assert.Equal(t, wantIdx, h.readI(idx), msg)
			values := h.dirty(backend.Float32, ys)
			h.d.MaxPool2D(values, nil, h.f32(xd), p)
			cpuClose(t, cpuF64(want), h.readF(values), 0, 0, msg+" without indices")

			dyd := h.randF(ys)
			dx := h.dirty(backend.Float32, xs)
			h.d.MaxPool2DGrad(dx, h.f32(dyd), idx, p)
			// Overlapping windows add up to KH·KW gradients in float32 at
			// one input: the error is bounded by the sum of their
			// magnitudes, not by the result's (which may cancel).
			wantDx, mag := make([]float64, xs), make([]float64, xs)
			for o, k := range wantIdx {
				at := o/(p.OH*p.OW)*p.H*p.W + int(k)
				wantDx[at] += float64(dyd[o])
				mag[at] += math.Abs(float64(dyd[o]))
			}
			cpuCheckMag(t, msg+" grad", wantDx, mag, h.readF(dx))
		}
	}
}

// cpuAvgPoolRef is average pooling as PyTorch's avg_pool2d computes it,
// with the gradient of the sum of dy·output.
func cpuAvgPoolRef(x, dy []float32, p backend.Pool2DParams) (out, dx []float64) {
	out, dx = make([]float64, p.N*p.C*p.OH*p.OW), make([]float64, len(x))
	for pl := range p.N * p.C {
		for oh := range p.OH {
			for ow := range p.OW {
				hs, ws := oh*p.StrideH-p.PadH, ow*p.StrideW-p.PadW
				he, we := min(hs+p.KH, p.H+p.PadH), min(ws+p.KW, p.W+p.PadW)
				size := (he - hs) * (we - ws)
				hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, p.H), min(we, p.W)
				if !p.CountIncludePad {
					size = (he - hs) * (we - ws)
				}
				o := (pl*p.OH+oh)*p.OW + ow
				for ih := hs; ih < he; ih++ {
					for iw := ws; iw < we; iw++ {
						i := pl*p.H*p.W + ih*p.W + iw
						out[o] += float64(x[i]) / float64(size)
						dx[i] += float64(dy[o]) / float64(size)
					}
				}
			}
		}
	}
	return out, dx
}

func TestCPUAvgPool2D(t *testing.T) {
	h := newCPUHarness(t)
	for name, p := range cpuPoolCases {
		for _, include := range []bool{false, true} {
			p.CountIncludePad = include
			xs, ys := p.N*p.C*p.H*p.W, p.N*p.C*p.OH*p.OW
			xd, dyd := h.randF(xs), h.randF(ys)
			dst, dx := h.dirty(backend.Float32, ys), h.dirty(backend.Float32, xs)
			h.d.AvgPool2D(dst, h.f32(xd), p)
			h.d.AvgPool2DGrad(dx, h.f32(dyd), p)
			want, wantDx := cpuAvgPoolRef(xd, dyd, p)
			msg := fmt.Sprintf("%s include=%v", name, include)
			cpuClose(t, want, h.readF(dst), 1e-6, 1e-6, msg)
			cpuClose(t, wantDx, h.readF(dx), 1e-6, 1e-6, msg+" grad")
		}
	}
}

func TestCPUAvgPool2DPadding(t *testing.T) {
	// torch.nn.functional.avg_pool2d(torch.arange(9.).view(1,1,3,3), 2, 2, 1)
	// gives [[0, 0.75], [2.25, 6]], and [[0, 1.5], [4.5, 6]] with
	// count_include_pad=False.
	h := newCPUHarness(t)
	x := h.f32([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8})
	p := cpuPoolCase(1, 1, 3, 3, 2, 2, 2, 2, 1, 1)
	dst := h.dirty(backend.Float32, 4)
	p.CountIncludePad = true
	h.d.AvgPool2D(dst, x, p)
	assert.Equal(t, []float32{0, 0.75, 2.25, 6}, h.readF(dst))
	p.CountIncludePad = false
	h.d.AvgPool2D(dst, x, p)
	assert.Equal(t, []float32{0, 1.5, 4.5, 6}, h.readF(dst))

	// Padding is never the maximum, even of negative inputs.
	idx := h.dirty(backend.Int32, 4)
	h.d.MaxPool2D(dst, idx, h.f32([]float32{-9, -8, -7, -6, -5, -4, -3, -2, -1}), p)
	assert.Equal(t, []float32{-9, -7, -3, -1}, h.readF(dst))
	assert.Equal(t, []int32{0, 2, 6, 8}, h.readI(idx))
}
