package cpu

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuPairMin is the smallest intermediate output (floats of one image)
// of a pair that Conv2DPair computes band by band: smaller ones stay in
// L2 between two Conv2D calls anyway.
var cpuPairMin = 256 << 10

// cpuPairBand bounds the bytes of the intermediate rows of one band, which
// the 1×1 convolution writes and the depthwise one reads back from L2.
var cpuPairBand = 384 << 10

// Conv2DPairs reports whether Conv2DPair computes p and q band by band:
// with AVX-512, for a 1×1 convolution of stride 1 without padding, groups
// or dilation followed by a depthwise one of stride 1, or 3×3 of stride
// 2, without dilation and padded by less than its kernel, epilogues of a
// bias and a clamp at most, and an intermediate output of at least
// cpuPairMin floats an image.
func (d *cpuDevice) Conv2DPairs(p, q backend.Conv2DParams, ep, eq backend.Epilogue) bool {
	pointwise := p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 &&
		p.DilH == 1 && p.DilW == 1 && p.Groups == 1 && p.OH == p.H && p.OW == p.W
	s1 := q.StrideH == 1 && q.StrideW == 1
	s2 := q.StrideH == 2 && q.StrideW == 2 && q.KH == 3 && q.KW == 3
	depthwise := cpuIsDepthwise(q) && q.N == p.N && q.C == p.O && q.H == p.OH && q.W == p.OW &&
		q.DilH == 1 && q.DilW == 1 && (s1 || s2) && q.PadH < q.KH && q.PadW < q.KW && q.OH > 0 && q.OW > 0
	plain := func(e backend.Epilogue) bool { return e.Residual == nil && !e.HardSwish && !e.Affine }
	return kernel.HasAVX512 && pointwise && depthwise && plain(ep) && plain(eq) && p.N > 0 && p.C > 0 &&
		p.O*p.OH*p.OW >= cpuPairMin
}

// Conv2DPair computes the pair (p, q) band by band of q's output rows,
// when Conv2DPairs takes it: each core computes the rows of p's output
// that a band of q's reads (the few shared with the next band again)
// into a buffer of its own, which q's depthwise kernel reads while it is
// in L2, where two Conv2D calls wrote p's whole output (MobileNetV2's
// expansion to 96 channels of 112×112, 4.8 MB) and read it back from L3
// or memory. It panics for a pair Conv2DPairs refuses.
func (d *cpuDevice) Conv2DPair(dst, x, w1, w2 backend.Buffer, p, q backend.Conv2DParams, ep, eq backend.Epilogue) {
	if !d.Conv2DPairs(p, q, ep, eq) {
		panic(fmt.Sprintf("device: Conv2DPair: a pair Conv2DPairs refuses: %+v then %+v", p, q))
	}
	d.dispatch()
	bp := newCPUPairBands(p, q)
	first := newCPUEpilogue(ep, p)
	lo, hi, bias := cpuDepthwiseBounds(eq, q.C)
	var masks []int
	if q.StrideH == 2 {
		masks = kernel.DepthwiseS2Masks(q.W, q.OW, q.PadW)
	} else {
		masks = kernel.DepthwiseMasks(q.W, q.OW, q.KW, q.PadW)
	}
	xd, od, wd1, wd2 := cpuFloats(x), cpuFloats(dst), cpuFloats(w1), cpuFloats(w2)
	packs := cpuFrozen(w1)
	tasks := p.N * bp.bands
	chunks := cpuChunks(tasks, p.O*bp.rows*q.W*(p.C+q.KH*q.KW))
	scratch := cpuGetScratch(chunks, p.O*bp.rows*q.W)
	defer cpuScratchFree.put(scratch)
	cpuParallelChunks(tasks, chunks, func(c, t0, t1 int) {
		mid := scratch.per(c)
		for t := t0; t < t1; t++ {
			n, r0 := t/bp.bands, t%bp.bands*bp.height
			r1 := min(r0+bp.height, q.OH)
			e0, e1, padH := bp.reads(r0, r1)
			l := (e1 - e0) * q.W
			band := mid[:p.O*l]
			g := &cpuGemm{batch: 1, m: p.O, n: l, k: p.C,
				a: cpuMatrix{wd1, 0, p.C, 1}, aPacks: packs,
				b: cpuMatrix{xd, n*p.C*p.H*p.W + e0*p.W, p.H * p.W, 1},
				c: band, ldc: l}
			if first != nil {
				g.epi = first.tiles(p.O)
				g.post = func(_, r0, r1, j0, j1 int) {
					for r := r0; r < r1; r++ {
						first.row(band[r*l+j0:r*l+j1], r)
					}
				}
			}
			g.run(false)
			oplane, taps := q.OH*q.OW, q.KH*q.KW
			for ch := range q.C {
				out := od[(n*q.C+ch)*oplane+r0*q.OW : (n*q.C+ch)*oplane+r1*q.OW]
				src, wc := band[ch*l:(ch+1)*l], wd2[ch*taps:(ch+1)*taps]
				if q.StrideH == 2 {
					kernel.Depthwise3x3S2(out, src, wc, bias[ch:ch+1], masks, 1, e1-e0, q.W, r1-r0, q.OW, padH, q.PadW, lo, hi)
				} else {
					kernel.DepthwiseS1(out, src, wc, bias[ch:ch+1], masks, 1, e1-e0, q.W, r1-r0, q.OW, q.KH, q.KW, padH, q.PadW, lo, hi)
				}
			}
		}
	})
}

// cpuPairBands is how Conv2DPair splits q's output rows: bands of height
// rows, bands of them an image, each reading at most rows rows of p's
// output.
type cpuPairBands struct {
	q                   backend.Conv2DParams
	height, bands, rows int
}

// newCPUPairBands makes the bands as tall as cpuPairBand allows, and as
// many as a multiple of the cores, so that each has as many rows to do.
func newCPUPairBands(p, q backend.Conv2DParams) cpuPairBands {
	row := 4 * p.O * q.W // bytes of a row of p's output, all channels
	height := min(max(1, (cpuPairBand/row-q.KH)/q.StrideH+1), q.OH)
	if procs := cpuMaxProcs(); p.N == 1 && q.OH >= procs {
		height = cpuCeilDiv(q.OH, cpuRoundUp(cpuCeilDiv(q.OH, height), procs))
	}
	return cpuPairBands{q: q, height: height, bands: cpuCeilDiv(q.OH, height), rows: (height-1)*q.StrideH + q.KH}
}

// reads returns the rows [e0, e1) of p's output that q's output rows [r0,
// r1) read, and the rows of padding above e0 they read (the first band's).
func (b cpuPairBands) reads(r0, r1 int) (e0, e1, padH int) {
	q := b.q
	top := r0*q.StrideH - q.PadH
	e0 = max(top, 0)
	e1 = min((r1-1)*q.StrideH-q.PadH+q.KH, q.H)
	return e0, e1, e0 - top
}

// cpuDepthwiseBounds returns the clamp and the bias (zeros when there is
// none) of an epilogue of a bias and a clamp at most, as the depthwise
// kernels apply them.
func cpuDepthwiseBounds(e backend.Epilogue, channels int) (lo, hi float32, bias []float32) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if e.Clamp {
		lo, hi = e.Lo, e.Hi
	}
	if e.Bias != nil {
		return lo, hi, cpuFloats(e.Bias)
	}
	return lo, hi, make([]float32, channels)
}
