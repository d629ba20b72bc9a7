package cpu

import (
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuWindow is the part of a pooling window that lies inside the input, and
// the divisor of the average over it.
type cpuWindow struct {
	h0, h1, w0, w1 int
	divisor        int
}

// cpuPoolWindow returns the window of output (oh, ow), as PyTorch's
// avg_pool2d and max_pool2d compute it.
func cpuPoolWindow(p backend.Pool2DParams, oh, ow int) cpuWindow {
	h0, w0 := oh*p.StrideH-p.PadH, ow*p.StrideW-p.PadW
	h1, w1 := min(h0+p.KH, p.H+p.PadH), min(w0+p.KW, p.W+p.PadW)
	padded := (h1 - h0) * (w1 - w0)
	win := cpuWindow{h0: max(h0, 0), h1: min(h1, p.H), w0: max(w0, 0), w1: min(w1, p.W)}
	win.divisor = (win.h1 - win.h0) * (win.w1 - win.w0)
	if p.CountIncludePad {
		win.divisor = padded
	}
	return win
}

// empty reports whether the window holds no input element.
func (w cpuWindow) empty() bool { return w.h0 >= w.h1 || w.w0 >= w.w1 }

// cpuPlanes calls fn on ranges [lo, hi) of the N·C planes of a pooling, in
// parallel when the work is large; every plane has its own input and
// output, so the calls never share memory.
func cpuPlanes(p backend.Pool2DParams, fn func(lo, hi int)) {
	cpuParallel(p.N*p.C, p.OH*p.OW*p.KH*p.KW, fn)
}

// MaxPool2D writes the window maxima of x into dst and their positions
// within the plane into idx. Padding never wins; on ties the first element
// in row-major order wins, and NaN wins over numbers as in PyTorch.
func (d *cpuDevice) MaxPool2D(dst, idx, x backend.Buffer, p backend.Pool2DParams) {
	d.dispatch()
	xd, od := cpuFloats(x), cpuFloats(dst)
	in, out := p.H*p.W, p.OH*p.OW
	if idx == nil && p.KH == 3 && p.KW == 3 && p.StrideH == 2 && p.StrideW == 2 && kernel.HasAVX512 {
		// ResNet's pool after its stem: 213 → 79 µs over 64×112×112
		// alone (Zen 5), 220 → 130 µs in the model.
		masks := kernel.DepthwiseS2Masks(p.W, p.OW, p.PadW)
		planes := p.N * p.C
		// Each core takes a band of rows of every plane rather than
		// whole planes: the rows a convolution before it wrote on that
		// core (it splits its positions so), still in its caches
		// (ResNet-18's pool 178 → 131 µs).
		cpuParallel(p.OH, planes*p.OW*9, func(lo, hi int) {
			if lo == 0 && hi == p.OH {
				kernel.MaxPool3x3S2(od, xd, masks, planes, p.H, p.W, p.OH, p.OW, p.PadH, p.PadW)
				return
			}
			// Rows [lo, hi) read input rows from 2·lo−PadH on, a band
			// without padding above unless it is the first.
			top := max(2*lo-p.PadH, 0)
			padH := p.PadH - 2*lo + top
			for pl := range planes {
				kernel.MaxPool3x3S2(od[pl*out+lo*p.OW:pl*out+hi*p.OW], xd[pl*in+top*p.W:(pl+1)*in], masks, 1, p.H-top, p.W, hi-lo, p.OW, padH, p.PadW)
			}
		})
		return
	}
	if idx == nil {
		cpuPlanes(p, func(lo, hi int) {
			size := cpuMaxPoolScratch(p)
			scratch := cpuGetScratch(1, size)
			defer cpuScratchFree.put(scratch)
			for pl := lo; pl < hi; pl++ {
				cpuMaxPoolValues(od[pl*out:(pl+1)*out], xd[pl*in:(pl+1)*in], scratch.buf[:size], p)
			}
		})
		return
	}
	id := cpuInts(idx)
	if p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 && p.PadH == 0 && p.PadW == 0 {
		cpuPlanes(p, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				cpuMaxPool2x2(od[pl*out:(pl+1)*out], id[pl*out:(pl+1)*out], xd[pl*in:(pl+1)*in], p)
			}
		})
		return
	}
	// Outputs whose windows lie inside the input's width are computed a
	// row at a time, tap by tap over all of them, with no window
	// arithmetic per output; the others one by one.
	owLo := min((p.PadW+p.StrideW-1)/p.StrideW, p.OW) // first output whose window starts inside
	owHi := owLo
	if last := p.W - p.KW + p.PadW; last >= 0 {
		owHi = max(owLo, min(p.OW, last/p.StrideW+1)) // past the last whose window ends inside
	}
	cpuPlanes(p, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := xd[pl*in : (pl+1)*in]
			for oh := range p.OH {
				row := pl*out + oh*p.OW
				for ow := 0; ow < p.OW; ow++ {
					if ow == owLo && owHi > owLo {
						win := cpuPoolWindow(p, oh, ow)
						cpuRowMax(od[row+owLo:row+owHi], id[row+owLo:row+owHi], src, p, win.h0, win.h1, owLo)
						ow = owHi - 1
						continue
					}
					od[row+ow], id[row+ow] = cpuWindowMax(src, p.W, cpuPoolWindow(p, oh, ow))
				}
			}
		}
	})
}

// cpuMaxPoolValues writes the window maxima of the plane src into dst,
// without their positions: each output row first takes the maximum of its
// window's input rows, element by element in vector steps into rows, then
// the maximum of every KW neighbours of that, in vector steps into near
// (scratch holds cpuMaxPoolScratch(p) floats for both), and picks every
// StrideW-th: KH+KW vector steps an output row instead of KH·KW steps an
// output. NaN wins, as in MaxPool2D.
func cpuMaxPoolValues(dst, src, scratch []float32, p backend.Pool2DParams) {
	rows, near := scratch[:p.W], scratch[p.W+16:]
	// Outputs [lo, hi) have windows inside the row; their neighbourhoods
	// start at near's positions j0, j0+StrideW, ...
	lo := min((p.PadW+p.StrideW-1)/p.StrideW, p.OW)
	hi := lo
	if last := p.W - p.KW + p.PadW; last >= 0 {
		hi = max(lo, min(p.OW, last/p.StrideW+1))
	}
	j0 := lo*p.StrideW - p.PadW
	n := max(hi-lo-1, 0)*p.StrideW + 1
	nv := (n + 15) &^ 15
	for oh := range p.OH {
		h0 := max(oh*p.StrideH-p.PadH, 0)
		h1 := min(oh*p.StrideH-p.PadH+p.KH, p.H)
		out := dst[oh*p.OW : (oh+1)*p.OW]
		if h0 >= h1 {
			for i := range out {
				out[i] = float32(math.Inf(-1))
			}
			continue
		}
		copy(rows, src[h0*p.W:(h0+1)*p.W])
		for h := h0 + 1; h < h1; h++ {
			cpuMaxInto(rows, rows, src[h*p.W:(h+1)*p.W])
		}
		if hi > lo {
			// Whole vector steps: past rows' end lies the slack of scratch,
			// whose values land past the n that matter.
			m := near[:n]
			copy(m, rows[j0:j0+n])
			for k := 1; k < p.KW; k++ {
				cpuMaxInto(near[:nv], near[:nv], scratch[j0+k:j0+k+nv])
			}
			for ow := lo; ow < hi; ow++ {
				out[ow] = m[(ow-lo)*p.StrideW]
			}
		}
		for ow := 0; ow < p.OW; ow++ {
			if ow == lo && hi > lo {
				ow = hi - 1
				continue
			}
			w0 := ow*p.StrideW - p.PadW
			best := float32(math.Inf(-1))
			for _, v := range rows[max(w0, 0):min(w0+p.KW, p.W)] {
				best = cpuMax(best, v)
			}
			out[ow] = best
		}
	}
}

// cpuMaxPoolScratch is the scratch space of cpuMaxPoolValues: a row, a
// vector's slack, and the row's neighbourhood maxima in whole vectors.
func cpuMaxPoolScratch(p backend.Pool2DParams) int { return 2*p.W + 32 }

// cpuMaxInto writes dst[i] = cpuMax(x[i], y[i]), in vector steps where it
// can.
func cpuMaxInto(dst, x, y []float32) {
	for i := kernel.Arith(kernel.MaxOp, dst, x, y); i < len(dst); i++ {
		dst[i] = cpuMax(x[i], y[i])
	}
}

// cpuMax returns b when it is larger than a or NaN, and a otherwise: the
// maximum of max pooling, where the first of equal values and any NaN win.
func cpuMax(a, b float32) float32 {
	if b > a || b != b {
		return b
	}
	return a
}

// cpuRowMax is cpuWindowMax for the outputs ow0, ow0+1, ... of one output
// row whose windows lie inside the input's width, over input rows [h0, h1):
// tap by tap, in each window's row-major order, so that ties and NaNs
// resolve as in cpuWindowMax.
func cpuRowMax(best []float32, at []int32, src []float32, p backend.Pool2DParams, h0, h1, ow0 int) {
	first := int32(h0*p.W + ow0*p.StrideW - p.PadW)
	for i := range best {
		best[i], at[i] = float32(math.Inf(-1)), first+int32(i*p.StrideW)
	}
	for h := h0; h < h1; h++ {
		for kx := range p.KW {
			base := h*p.W + ow0*p.StrideW - p.PadW + kx
			for i := range best {
				k := base + i*p.StrideW
				v := src[k]
				// One condition over single assignments: conditional
				// moves, not branches that random data mispredicts.
				take := v > best[i] || v != v
				if take {
					best[i] = v
				}
				if take {
					at[i] = int32(k)
				}
			}
		}
	}
}

// cpuWindowMax returns the maximum of the window of the plane src (rows of
// width w) and its index. Like PyTorch it keeps a later element when that
// is larger or NaN, and starts from -Inf at the window's first element.
func cpuWindowMax(src []float32, w int, win cpuWindow) (float32, int32) {
	best, at := float32(math.Inf(-1)), win.h0*w+win.w0
	for h := win.h0; h < win.h1; h++ {
		for i := h*w + win.w0; i < h*w+win.w1; i++ {
			if v := src[i]; v > best || v != v {
				best, at = v, i
			}
		}
	}
	return best, int32(at)
}

// cpuMaxPool2x2 is MaxPool2D of one plane for 2×2 windows of stride 2
// without padding, the common case: vectorised with AVX-512, else written
// without the window arithmetic and with the comparisons in a form the
// compiler turns into conditional moves (random data would mispredict half
// the branches).
func cpuMaxPool2x2(dst []float32, idx []int32, src []float32, p backend.Pool2DParams) {
	if kernel.MaxPool2x2(dst, idx, src, p.OH, p.OW, p.W) {
		return
	}
	for oh := range p.OH {
		top := src[2*oh*p.W : (2*oh+1)*p.W]
		bottom := src[(2*oh+1)*p.W : (2*oh+2)*p.W]
		out, at := dst[oh*p.OW:(oh+1)*p.OW], idx[oh*p.OW:(oh+1)*p.OW]
		i0 := int32(2 * oh * p.W)
		for ow := range out {
			i := i0 + int32(2*ow)
			best, bi := top[2*ow], i
			best, bi = cpuLater(best, bi, top[2*ow+1], i+1)
			best, bi = cpuLater(best, bi, bottom[2*ow], i+int32(p.W))
			out[ow], at[ow] = cpuLater(best, bi, bottom[2*ow+1], i+int32(p.W)+1)
		}
	}
}

// cpuLater returns (v, i) when v is larger than best or NaN, as
// cpuWindowMax does, and (best, at) otherwise.
func cpuLater(best float32, at int32, v float32, i int32) (float32, int32) {
	// v > best and v != v exclude each other, so their exclusive or is
	// their or, without the branch that || makes; the choice is then made
	// with a mask rather than a branch.
	take := (v > best) != (v != v)
	var mask uint32
	if take {
		mask = 1
	}
	mask = -mask // all ones when take
	bits := math.Float32bits(v)&mask | math.Float32bits(best)&^mask
	return math.Float32frombits(bits), int32(uint32(i)&mask | uint32(at)&^mask)
}

// MaxPool2DGrad adds each gradient of dy onto the element of dx that idx
// recorded.
func (d *cpuDevice) MaxPool2DGrad(dx, dy, idx backend.Buffer, p backend.Pool2DParams) {
	d.dispatch()
	dxd, dyd, id := cpuFloats(dx), cpuFloats(dy), cpuInts(idx)
	in, out := p.H*p.W, p.OH*p.OW
	cpuPlanes(p, func(lo, hi int) {
		clear(dxd[lo*in : hi*in])
		for pl := lo; pl < hi; pl++ {
			plane := dxd[pl*in : (pl+1)*in]
			for o := pl * out; o < (pl+1)*out; o++ {
				plane[id[o]] += dyd[o]
			}
		}
	})
}

// AvgPool2D writes the window means of x into dst.
func (d *cpuDevice) AvgPool2D(dst, x backend.Buffer, p backend.Pool2DParams) {
	d.dispatch()
	xd, od := cpuFloats(x), cpuFloats(dst)
	in, out := p.H*p.W, p.OH*p.OW
	cpuPlanes(p, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := xd[pl*in : (pl+1)*in]
			for oh := range p.OH {
				for ow := range p.OW {
					od[pl*out+oh*p.OW+ow] = cpuWindowMean(src, p.W, cpuPoolWindow(p, oh, ow))
				}
			}
		}
	})
}

// cpuWindowMean returns the sum of the window of src divided by the
// window's divisor, or 0 for a window that misses the input.
func cpuWindowMean(src []float32, w int, win cpuWindow) float32 {
	if win.empty() {
		return 0
	}
	var sum float64
	for h := win.h0; h < win.h1; h++ {
		for _, v := range src[h*w+win.w0 : h*w+win.w1] {
			sum += float64(v)
		}
	}
	return float32(sum / float64(win.divisor))
}

// AvgPool2DGrad spreads each gradient of dy evenly over its window in dx.
func (d *cpuDevice) AvgPool2DGrad(dx, dy backend.Buffer, p backend.Pool2DParams) {
	d.dispatch()
	dxd, dyd := cpuFloats(dx), cpuFloats(dy)
	in, out := p.H*p.W, p.OH*p.OW
	cpuPlanes(p, func(lo, hi int) {
		clear(dxd[lo*in : hi*in])
		for pl := lo; pl < hi; pl++ {
			plane := dxd[pl*in : (pl+1)*in]
			for oh := range p.OH {
				for ow := range p.OW {
					win := cpuPoolWindow(p, oh, ow)
					if win.empty() {
						continue
					}
					g := dyd[pl*out+oh*p.OW+ow] / float32(win.divisor)
					for h := win.h0; h < win.h1; h++ {
						row := plane[h*p.W+win.w0 : h*p.W+win.w1]
						for i := range row {
							row[i] += g
						}
					}
				}
			}
		}
	})
}
