package cpu

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuConvPoolMin is the smallest convolution output (floats of one image)
// that Conv2DMaxPool computes band by band: smaller ones stay in L2
// between the two ops anyway.
var cpuConvPoolMin = 256 << 10

// cpuConvPoolBand bounds the bytes of the convolution's rows of one band,
// which stay in L2 from the kernel that writes them to the pooling that
// reads them. ResNet-18's stem and pool alone, from flushed caches, took
// 0.84–0.98 of the separate ops' time with 192 to 768 KB, 0.87–0.91 with
// 512 (Zen 5, 1 MiB of L2).
var cpuConvPoolBand = 512 << 10

// Conv2DMaxPools reports whether Conv2DMaxPool computes the convolution p
// with epilogue e followed by the max pooling q band by band: on the 8×32
// indirect kernel (AVX-512), with an epilogue of a bias and a clamp at
// most, a pooling of the convolution's whole output without dilation, and
// an output of at least cpuConvPoolMin floats an image.
func (d *cpuDevice) Conv2DMaxPools(p backend.Conv2DParams, e backend.Epilogue, q backend.Pool2DParams) bool {
	if e.Residual != nil || e.HardSwish || e.Affine || q.N != p.N || q.C != p.O || q.H != p.OH || q.W != p.OW ||
		q.OH <= 0 || q.OW <= 0 || q.KH <= 0 || q.KW <= 0 || q.StrideH <= 0 || q.StrideW <= 0 ||
		q.PadH < 0 || q.PadW < 0 || q.PadH >= q.KH || q.PadW >= q.KW || p.O*p.OH*p.OW < cpuConvPoolMin {
		return false
	}
	ic := newCPUConv(p).indirectPlan()
	return ic != nil && ic.runs == nil
}

// Conv2DMaxPool writes into dst the max pooling q of the convolution p of
// x by w with epilogue e, when Conv2DMaxPools takes them: each core
// computes the convolution's rows that a band of pooled rows reads (the
// one or two shared with the next band again) into a buffer of its own,
// from which it pools them while they are in L2, where Conv2D wrote the
// whole output (ResNet's stem, 64 channels of 112×112, 3.2 MB) and
// MaxPool2D read it back from L3 or memory: ResNet-18 through the ONNX
// importer 0.96–0.98 of the time (Zen 5). It panics for shapes
// Conv2DMaxPools refuses.
func (d *cpuDevice) Conv2DMaxPool(dst, x, w backend.Buffer, p backend.Conv2DParams, e backend.Epilogue, q backend.Pool2DParams) {
	if !d.Conv2DMaxPools(p, e, q) {
		panic(fmt.Sprintf("device: Conv2DMaxPool: shapes Conv2DMaxPools refuses: %+v, %+v", p, q))
	}
	d.dispatch()
	ic := newCPUConv(p).indirectPlan()
	cp := cpuConvPoolPlanOf(ic, q)
	xd, od := cpuFloats(x), cpuFloats(dst)
	packed, scratch := ic.packedWeights(cpuFloats(w), cpuFrozen(w))
	if scratch != nil {
		defer cpuScratchFree.put(scratch)
	}
	te := newCPUBandEpilogue(e, p.O)
	var masks []int
	s2 := q.KH == 3 && q.KW == 3 && q.StrideH == 2 && q.StrideW == 2 && kernel.HasAVX512
	if s2 {
		masks = kernel.DepthwiseS2Masks(q.W, q.OW, q.PadW)
	}
	bandL := cp.convRows * p.OW
	pads := cpuGetScratch(1, ic.size)
	defer cpuScratchFree.put(pads)
	pad := pads.buf[:ic.size]
	chunks := cpuChunks(cp.bands, p.O*ic.rows*bandL)
	space := cpuGetScratch(chunks, p.O*bandL+cpuMaxPoolScratch(q))
	defer cpuScratchFree.put(space)
	out := q.OH * q.OW
	for n := range p.N {
		ic.padImage(pad, xd, n)
		cpuParallelChunks(cp.bands, chunks, func(wk, b0, b1 int) {
			s := space.per(wk)
			band, scratch := s[:p.O*bandL], s[p.O*bandL:]
			for b := b0; b < b1; b++ {
				r0, r1 := b*cp.height, min((b+1)*cp.height, q.OH)
				c0, c1, padH := cp.reads(r0, r1)
				cp.conv.convolve(band, bandL, pad, packed, b, te)
				for o := range p.O {
					src, to := band[o*bandL:o*bandL+(c1-c0)*p.OW], od[(n*p.O+o)*out+r0*q.OW:(n*p.O+o)*out+r1*q.OW]
					if s2 && kernel.MaxPool3x3S2(to, src, masks, 1, c1-c0, q.W, r1-r0, q.OW, padH, q.PadW) {
						continue
					}
					qb := q
					qb.H, qb.OH, qb.PadH = c1-c0, r1-r0, padH
					cpuMaxPoolValues(to, src, scratch, qb)
				}
			}
		})
	}
}

// cpuConvPoolPlan is how Conv2DMaxPool splits a convolution and its
// pooling: bands of height pooled rows, each reading at most convRows
// rows of the convolution's output, which bands computes.
type cpuConvPoolPlan struct {
	q                       backend.Pool2DParams
	height, bands, convRows int
	conv                    *cpuIndirectBands
}

// cpuConvPoolPlans keeps the plan of each pair of shapes (the batch size
// aside).
var cpuConvPoolPlans cpuShapeCache[cpuConvPoolKey, *cpuConvPoolPlan]

// cpuConvPoolKey is a convolution and the pooling of its output, their
// batch size 0.
type cpuConvPoolKey struct {
	p backend.Conv2DParams
	q backend.Pool2DParams
}

// cpuConvPoolPlanOf returns the plan of ic followed by q, made once.
func cpuConvPoolPlanOf(ic *cpuIndirectConv, q backend.Pool2DParams) *cpuConvPoolPlan {
	key := cpuConvPoolKey{ic.p, q}
	key.p.N, key.q.N = 0, 0
	return cpuConvPoolPlans.get(key, func() *cpuConvPoolPlan { return newCPUConvPoolPlan(ic, q) })
}

// newCPUConvPoolPlan makes the bands as tall as cpuConvPoolBand allows
// for the convolution's rows they read, and as many as a multiple of the
// cores.
func newCPUConvPoolPlan(ic *cpuIndirectConv, q backend.Pool2DParams) *cpuConvPoolPlan {
	p := ic.p
	cp := &cpuConvPoolPlan{q: q}
	reads := func(height int) int { return min((height-1)*q.StrideH+q.KH, p.OH) }
	height := q.OH
	for height > 1 && 4*p.O*p.OW*reads(height) > cpuConvPoolBand {
		height--
	}
	if procs := cpuMaxProcs(); q.OH >= procs {
		height = cpuCeilDiv(q.OH, cpuRoundUp(cpuCeilDiv(q.OH, height), procs))
	}
	cp.height, cp.bands = height, cpuCeilDiv(q.OH, height)
	var rows [][2]int
	for b := range cp.bands {
		c0, c1, _ := cp.reads(b*height, min((b+1)*height, q.OH))
		cp.convRows = max(cp.convRows, c1-c0)
		rows = append(rows, [2]int{c0, c1})
	}
	cp.conv = newCPUIndirectBands(ic, rows)
	return cp
}

// reads returns the convolution's rows [c0, c1) that the pooled rows
// [r0, r1) read, and the rows of padding above c0 they read.
func (cp *cpuConvPoolPlan) reads(r0, r1 int) (c0, c1, padH int) {
	q := cp.q
	top := r0*q.StrideH - q.PadH
	c0 = max(top, 0)
	c1 = min((r1-1)*q.StrideH-q.PadH+q.KH, q.H)
	return c0, c1, c0 - top
}
