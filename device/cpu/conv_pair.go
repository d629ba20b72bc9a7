package cpu

import (
	"fmt"
	"slices"

	"github.com/wgtensor/wgtensor/device/backend"
)

// Conv2DPairs reports whether Conv2DPair computes first and then second:
// both on the indirect kernels (AVX-512) without groups, second of
// stride 1 over first's whole output and padded (without padding there is
// no copy to spare), and first's epilogue one the kernel applies as it
// stores (a bias and a clamp at most).
func (d *cpuDevice) Conv2DPairs(first, second backend.ConvLink) bool {
	p, q := first.P, second.P
	if p.N != q.N || p.O != q.C || p.OH != q.H || p.OW != q.W || p.Groups != 1 || q.Groups != 1 ||
		q.StrideH != 1 || q.StrideW != 1 || q.PadH == 0 && q.PadW == 0 || first.E.Residual != nil || first.E.HardSwish || first.E.Affine {
		return false
	}
	ic1, ic2 := newCPUConv(p).indirectPlan(), newCPUConv(q).indirectPlan()
	return ic1 != nil && ic2 != nil
}

// Conv2DPair writes into dst the convolution second of the convolution
// first of x, when Conv2DPairs takes them: the first one's kernel stores
// its output, epilogue applied, straight into the zero-padded planes that
// the second one's kernel reads, where Conv2D wrote it out whole into a
// fresh buffer and the second Conv2D copied it again with its padding
// (ResNet's basic blocks: 64 channels of 56×56, 0.8 MB, twice). It panics
// for convolutions Conv2DPairs refuses.
func (d *cpuDevice) Conv2DPair(dst, x backend.Buffer, first, second backend.ConvLink) {
	if !d.Conv2DPairs(first, second) {
		panic(fmt.Sprintf("device: Conv2DPair: convolutions Conv2DPairs refuses: %+v, %+v", first.P, second.P))
	}
	d.dispatch()
	p, q := first.P, second.P
	ic1, ic2 := newCPUConv(p).indirectPlan(), newCPUConv(q).indirectPlan()
	into := cpuConvPairPlanOf(ic1, ic2)
	packed1, scratch1 := ic1.packedWeights(cpuFloats(first.W), cpuFrozen(first.W))
	if scratch1 != nil {
		defer cpuScratchFree.put(scratch1)
	}
	packed2, scratch2 := ic2.packedWeights(cpuFloats(second.W), cpuFrozen(second.W))
	if scratch2 != nil {
		defer cpuScratchFree.put(scratch2)
	}
	te1 := newCPUTileEpilogue(newCPUEpilogue(first.E, p), p.O)
	ep2 := newCPUEpilogue(second.E, q)
	te2 := newCPUTileEpilogue(ep2, q.O)
	if te2 != nil {
		ep2 = nil
	}
	// Two pieces of scratch space, each of the size a Conv2D of either
	// would take, so that they come from the same pool.
	s1, s2 := cpuGetScratch(1, ic1.size), cpuGetScratch(1, ic2.size)
	defer cpuScratchFree.put(s1)
	defer cpuScratchFree.put(s2)
	pad1, pad2 := s1.per(0), s2.per(0)
	xd, od := cpuFloats(x), cpuFloats(dst)
	ic2.clearBorder(pad2) // the first convolution writes the rest
	for n := range p.N {
		ic1.padImage(pad1, xd, n)
		into.image(pad2, pad1, packed1, 0, te1, nil)
		ic2.image(od, pad2, packed2, n, te2, ep2)
	}
}

// cpuConvPairPlans keeps, for each pair of convolutions (their batch size
// 0), the first one's layout with its stores moved into the second one's
// padded planes.
var cpuConvPairPlans cpuShapeCache[[2]backend.Conv2DParams, *cpuIndirectConv]

// cpuConvPairPlanOf returns ic1 storing its output into the padded planes
// of ic2's input (at stride 1: output (oh, ow) of channel o at
// o·planeP + (oh+PadH)·wp + PadW + ow), its tiles' stores or its runs
// moved there, bound to a copy of ic1's convolution whose output planes
// are ic2's padded ones.
func cpuConvPairPlanOf(ic1, ic2 *cpuIndirectConv) *cpuIndirectConv {
	key := [2]backend.Conv2DParams{ic1.p, ic2.p}
	key[0].N, key[1].N = 0, 0
	cached := cpuConvPairPlans.get(key, func() *cpuIndirectConv {
		into := *ic1
		q := ic2.p
		at := func(oh, ow int) int { return (oh+q.PadH)*ic2.wp + q.PadW + ow }
		into.segs, into.starts = ic1.segments(at)
		if ic1.runs != nil {
			into.runs = slices.Clone(ic1.runs)
			for i, r := range into.runs {
				if r.n > 0 {
					into.runs[i].out = at(r.out/ic1.p.OW, r.out%ic1.p.OW)
				}
			}
			for j := range into.idx {
				into.idx[j] = int32(j * ic2.planeP)
			}
		}
		return &into
	})
	into := *cached
	cv := *ic1.cpuConv
	cv.l = ic2.planeP
	into.cpuConv = &cv
	return &into
}

// clearBorder zeroes what the padded planes pad of a convolution of stride
// 1 hold besides the image: the padding rows and columns of each channel,
// and the slack after the last.
func (ic *cpuIndirectConv) clearBorder(pad []float32) {
	p := ic.p
	top, rows := p.PadH*ic.wp, (p.PadH+p.H)*ic.wp
	for c := range p.C {
		plane := pad[c*ic.planeP : (c+1)*ic.planeP]
		clear(plane[:top+p.PadW])
		for r := top + p.PadW + p.W; r < rows; r += ic.wp {
			for i := r; i < min(r+ic.wp-p.W, rows); i++ {
				plane[i] = 0
			}
		}
		clear(plane[rows:])
	}
	clear(pad[p.C*ic.planeP : ic.size])
}
