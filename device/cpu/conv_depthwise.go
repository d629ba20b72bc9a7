package cpu

import (
	"math"

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
// past the output's width are computed and dropped. Stride 1 without
// dilation, or 3×3 of stride 2, takes cpuDepthwiseDirect instead where it
// can.
func cpuDepthwise(out, x, w []float32, p backend.Conv2DParams, ep *cpuEpilogue) {
	if cpuDepthwiseDirect(out, x, w, p, ep) {
		return
	}
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

// cpuDepthwiseDirect computes a depthwise convolution of stride 1, or a
// 3×3 one of stride 2, without dilation straight from each channel's
// plane, with no padded copy (see kernel.DepthwiseS1 and
// kernel.Depthwise3x3S2: masked loads stand in for the padding), and
// reports whether it could: only with AVX-512. A 7×7 plane costs 9 loads
// and 9 multiply-adds a row rather than five passes of copies around the
// taps, which dominated small planes (MobileNetV2's 960 channels of 7×7
// took 175 µs); MobileNetV2's four 3×3 layers of stride 2 took 940 µs
// with their planes split into stride phases first.
func cpuDepthwiseDirect(out, x, w []float32, p backend.Conv2DParams, ep *cpuEpilogue) bool {
	s2 := p.StrideH == 2 && p.StrideW == 2 && p.KH == 3 && p.KW == 3
	if !kernel.HasAVX512 || p.DilH != 1 || p.DilW != 1 || !s2 && (p.StrideH != 1 || p.StrideW != 1) {
		return false
	}
	var masks []int
	if s2 {
		masks = kernel.DepthwiseS2Masks(p.W, p.OW, p.PadW)
	} else {
		masks = kernel.DepthwiseMasks(p.W, p.OW, p.KW, p.PadW)
	}
	plane, oplane, taps := p.H*p.W, p.OH*p.OW, p.KH*p.KW
	// The 3×3 kernels apply a bias and a clamp as they store; other
	// epilogues, and all of them for other kernels, run afterwards, plane by
	// plane.
	inKernel := ep == nil || p.KH == 3 && p.KW == 3 && ep.res == nil && ep.args.Flags == 0
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	bias := make([]float32, p.C) // zero unless the kernel applies the epilogue's
	if ep != nil && inKernel {
		lo, hi = ep.args.Lo, ep.args.Hi
		if ep.bias != nil {
			bias = ep.bias
		}
	}
	if s2 && p.N == 1 && oplane >= cpuDepthwiseBandPlane {
		// One image of large planes, strided: each core computes a band
		// of output rows of every channel, reading the rows the layer
		// before wrote on that core (see cpuTasks), rather than half of
		// the channels (MobileNetV2's 3×3/2 over 96 channels of 112×112
		// after its expansion: 236 → 154 µs). At stride 1 the bands
		// measured slower in the model (128 → 171 µs over 144 channels
		// of 56×56) though not alone.
		stride := p.StrideH
		cpuParallel(p.OH, p.C*p.OW*taps, func(r0, r1 int) {
			first := r0*stride - p.PadH // the band's first input row
			padH, skip := -first, 0
			if first > 0 {
				padH, skip = 0, first
			}
			h := p.H - skip
			for c := range p.C {
				dst := out[c*oplane+r0*p.OW : c*oplane+r1*p.OW]
				src, wc := x[c*plane+skip*p.W:(c+1)*plane], w[c*taps:(c+1)*taps]
				kernel.Depthwise3x3S2(dst, src, wc, bias[c:c+1], masks, 1, h, p.W, r1-r0, p.OW, padH, p.PadW, lo, hi)
				if !inKernel {
					ep.plane(out, 0, c, r0*p.OW, r1*p.OW)
				}
			}
		})
		return true
	}
	cpuParallel(p.N*p.C, oplane*taps, func(start, end int) {
		// Runs of channels of one image at a time.
		for nc := start; nc < end; {
			n, c := nc/p.C, nc%p.C
			run := min(end-nc, p.C-c)
			dst, src, wc := out[nc*oplane:(nc+run)*oplane], x[nc*plane:(nc+run)*plane], w[c*taps:(c+run)*taps]
			if s2 {
				kernel.Depthwise3x3S2(dst, src, wc, bias[c:c+run], masks, run, p.H, p.W, p.OH, p.OW, p.PadH, p.PadW, lo, hi)
			} else {
				kernel.DepthwiseS1(dst, src, wc, bias[c:c+run], masks, run, p.H, p.W, p.OH, p.OW, p.KH, p.KW, p.PadH, p.PadW, lo, hi)
			}
			if !inKernel {
				for k := c; k < c+run; k++ {
					ep.plane(out, n, k, 0, oplane)
				}
			}
			nc += run
		}
	})
	return true
}

// cpuDepthwiseBandPlane is the smallest output plane whose rows
// cpuDepthwiseDirect splits over the cores (a 28×28 one).
const cpuDepthwiseBandPlane = 28 * 28

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
