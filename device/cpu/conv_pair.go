package cpu

import (
	"fmt"
	"slices"
	"sync"

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
	s1 := cpuGetScratch(1, ic1.size)
	defer cpuScratchFree.put(s1)
	pad1 := s1.per(0)
	pad2 := cpuPaddedPlanes.get(ic2)
	defer cpuPaddedPlanes.put(ic2, pad2)
	xd, od := cpuFloats(x), cpuFloats(dst)
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

// cpuPaddedPlanes keeps the padded planes that Conv2DPair's first
// convolutions store into, per layout. Only their interior is ever
// written, so that their padding stays zero from one use to the next:
// zeroing it at each call (a row of each channel's padding at a time)
// took 1% of ResNet-18's time.
var cpuPaddedPlanes = cpuPaddedPool{m: map[cpuPaddedKey][]*[]float32{}}

// cpuPaddedPool is a pool of zero-padded planes per layout.
type cpuPaddedPool struct {
	mu    sync.Mutex
	m     map[cpuPaddedKey][]*[]float32
	bytes int // of the planes kept
}

// cpuPaddedKey is the layout of a convolution's padded planes of stride 1
// (see cpuIndirectConv): all that sets where the padding lies.
type cpuPaddedKey struct{ c, h, w, padH, padW, wp, size int }

// cpuPaddedKeep bounds the planes kept per layout, cpuPaddedLayouts the
// layouts, and cpuPaddedBytes the bytes of all the planes kept (ResNet-18
// keeps 1.7 MB; a pair over large images allocates its planes each call).
const (
	cpuPaddedKeep    = 2
	cpuPaddedLayouts = 32
	cpuPaddedBytes   = 64 << 20
)

// paddedKey returns the layout of ic's padded planes.
func paddedKey(ic *cpuIndirectConv) cpuPaddedKey {
	p := ic.p
	return cpuPaddedKey{p.C, p.H, p.W, p.PadH, p.PadW, ic.wp, ic.size}
}

// get returns padded planes for ic's input, zero but for the interior.
func (pp *cpuPaddedPool) get(ic *cpuIndirectConv) []float32 {
	k := paddedKey(ic)
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if l := pp.m[k]; len(l) > 0 {
		pp.m[k] = l[:len(l)-1]
		planes := *l[len(l)-1]
		pp.bytes -= 4 * len(planes)
		return planes
	}
	return make([]float32, ic.size)
}

// put gives planes from get back, their padding untouched.
func (pp *cpuPaddedPool) put(ic *cpuIndirectConv, planes []float32) {
	k := paddedKey(ic)
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if _, ok := pp.m[k]; !ok && len(pp.m) >= cpuPaddedLayouts {
		clear(pp.m)
		pp.bytes = 0
	}
	if len(pp.m[k]) < cpuPaddedKeep && pp.bytes+4*len(planes) <= cpuPaddedBytes {
		pp.m[k] = append(pp.m[k], &planes)
		pp.bytes += 4 * len(planes)
	}
}
