package cpu

import (
	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuIsDepthwise reports whether p is a depthwise convolution, one input
// and one output channel per group (MobileNet's 3×3 layers), which
// cpuDepthwise computes directly: as a GEMM each group would be a 1×K·K
// product, a sixteenth of a tile.
func cpuIsDepthwise(p backend.Conv2DParams) bool { return p.C > 1 && p.Groups == p.C && p.O == p.C }

// cpuDepthwise writes the depthwise convolution of x with w into out. Each
// channel's zero-padded plane is split into its stride phases, the planes
// of the elements (i·sh + ry, j·sw + rx); output (oy, ox) then reads tap
// (ky, kx) from phase ((ky·dh) mod sh, (kx·dw) mod sw) at (oy + ky·dh/sh,
// ox + kx·dw/sw), so that the whole output plane, taken with rows as wide
// as a phase's, is one axpy per tap over contiguous memory. The columns
// past the output's width are computed and dropped.
func cpuDepthwise(out, x, w []float32, p backend.Conv2DParams, ep *cpuEpilogue) {
	sh, sw := p.StrideH, p.StrideW
	hq, wq := (p.H+2*p.PadH+sh-1)/sh, (p.W+2*p.PadW+sw-1)/sw // a phase's rows and columns
	phaseLen := (hq + 1) * wq                                // one more row: the wide reads run past the last
	wide := p.OH * wq
	plane, oplane, taps := p.H*p.W, p.OH*p.OW, p.KH*p.KW
	// Tap (ky, kx) reads the phase plane at starts[ky·KW + kx].
	starts := make([]int, 0, taps)
	for ky := range p.KH {
		ry, qy := ky*p.DilH%sh, ky*p.DilH/sh
		for kx := range p.KW {
			rx, qx := kx*p.DilW%sw, kx*p.DilW/sw
			starts = append(starts, (ry*sw+rx)*phaseLen+qy*wq+qx)
		}
	}
	cpuParallel(p.N*p.C, oplane*taps, func(lo, hi int) {
		scratch := cpuGetScratch(1, sh*sw*phaseLen+wide)
		defer cpuScratchFree.put(scratch)
		phases, acc := scratch.buf[:sh*sw*phaseLen], scratch.buf[sh*sw*phaseLen:][:wide]
		for nc := lo; nc < hi; nc++ {
			clear(phases)
			src := x[nc*plane : (nc+1)*plane]
			for iy := range p.H {
				py := iy + p.PadH
				base := (py%sh)*sw*phaseLen + (py/sh)*wq
				row := src[iy*p.W : (iy+1)*p.W]
				cpuSplitRow(phases[base:], row, p.PadW, sw, phaseLen)
			}
			wc := w[(nc%p.C)*taps : (nc%p.C+1)*taps]
			cpuDepthwiseTaps(acc, phases, starts, wc)
			dst := out[nc*oplane : (nc+1)*oplane]
			for oy := range p.OH {
				copy(dst[oy*p.OW:(oy+1)*p.OW], acc[oy*wq:])
			}
			if ep != nil {
				ep.plane(out, nc/p.C, nc%p.C, 0, oplane)
			}
		}
	})
}

// cpuDepthwiseTaps writes acc[j] = Σ over taps t of w[t]·phases[starts[t] +
// j]: in registers over all taps with AVX-512, else one axpy per tap.
func cpuDepthwiseTaps(acc, phases []float32, starts []int, w []float32) {
	done := kernel.Depthwise(acc, phases, starts, w)
	rest := acc[done:]
	clear(rest)
	for t, start := range starts {
		seg, a := phases[start+done:start+len(acc)], w[t]
		for i := kernel.Axpy(rest, seg, a); i < len(rest); i++ {
			rest[i] += a * seg[i]
		}
	}
}

// cpuSplitRow writes a row of pixels, padded by pad on the left, into its
// stride column phases: pixel ix goes to column (ix+pad)/stride of phase
// (ix+pad) mod stride, the phases phase floats apart in dst. Stride 2, the
// common one, splits in vector steps.
func cpuSplitRow(dst, row []float32, pad, stride, phase int) {
	switch stride {
	case 1:
		copy(dst[pad:], row)
	case 2:
		even, odd := dst[pad%2*phase+pad/2:], dst[(pad+1)%2*phase+(pad+1)/2:]
		kernel.Deinterleave(even, odd, row)
		if len(row)%2 == 1 {
			even[len(row)/2] = row[len(row)-1]
		}
	default:
		for rx := range stride {
			// The pixels of phase rx: ix + pad ≡ rx.
			first := (rx - pad%stride + stride) % stride
			out := dst[rx*phase+(first+pad)/stride:]
			for i, ix := 0, first; ix < len(row); i, ix = i+1, ix+stride {
				out[i] = row[ix]
			}
		}
	}
}
