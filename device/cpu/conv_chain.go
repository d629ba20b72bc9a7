package cpu

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuChainMin is the smallest intermediate output (floats of one image)
// of a chain that Conv2DChain computes band by band: smaller ones stay in
// L2 between Conv2D calls anyway (MobileNetV2's blocks at 28×28 and below
// measured no faster as chains).
var cpuChainMin = 256 << 10

// cpuChainBand bounds the bytes of the intermediate rows of one band,
// which stay in L2 from the convolution that writes them to the one that
// reads them.
var cpuChainBand = 384 << 10

// cpuPointwise reports whether p is a 1×1 convolution of stride 1 without
// padding, dilation or groups.
func cpuPointwise(p backend.Conv2DParams) bool {
	return p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 &&
		p.DilH == 1 && p.DilW == 1 && p.Groups == 1 && p.OH == p.H && p.OW == p.W && p.C > 0 && p.O > 0
}

// Conv2DChains reports whether Conv2DChain computes c band by band: with
// AVX-512, a depthwise convolution of stride 1, or 3×3 of stride 2,
// without dilation and padded by less than its kernel, 1×1 links of
// stride 1 without padding, groups or dilation (or an expansion on the
// 8×32 indirect kernel, see cpuBandedExpansion), epilogues of a bias and
// a clamp at most (and a residual for the projection), and an
// intermediate output of at least cpuChainMin floats an image.
func (d *cpuDevice) Conv2DChains(c backend.ConvChain) bool {
	q := c.Depthwise.P
	plain := func(e backend.Epilogue) bool { return e.Residual == nil && !e.HardSwish && !e.Affine }
	s1 := q.StrideH == 1 && q.StrideW == 1
	s2 := q.StrideH == 2 && q.StrideW == 2 && q.KH == 3 && q.KW == 3
	ok := kernel.HasAVX512 && c.Depthwise.W != nil && cpuIsDepthwise(q) && q.N > 0 && q.DilH == 1 && q.DilW == 1 &&
		(s1 || s2) && q.PadH < q.KH && q.PadW < q.KW && q.OH > 0 && q.OW > 0 && plain(c.Depthwise.E)
	mid := 0 // the largest intermediate output
	if e := c.Expand; e.W != nil {
		p := e.P
		ok = ok && (cpuPointwise(p) || cpuBandedExpansion(p)) && p.N == q.N && p.O == q.C && p.OH == q.H && p.OW == q.W && plain(e.E)
		mid = p.O * p.OH * p.OW
	}
	if r := c.Project; r.W != nil {
		p := r.P
		ok = ok && cpuPointwise(p) && p.N == q.N && p.C == q.O && p.H == q.OH && p.W == q.OW && !r.E.HardSwish && !r.E.Affine
		mid = max(mid, q.O*q.OH*q.OW)
	}
	return ok && mid >= cpuChainMin
}

// cpuBandedExpansion reports whether p, a chain's first convolution, may
// be other than 1×1: one the 8×32 indirect kernel computes, band by band
// (MobileNetV2's first layer, 3×3 of stride 2 from 3 channels to 32).
func cpuBandedExpansion(p backend.Conv2DParams) bool {
	if p.Groups != 1 {
		return false
	}
	ic := newCPUConv(p).indirectPlan()
	return ic != nil && ic.runs == nil
}

// Conv2DChain computes the chain c band by band of the depthwise
// convolution's output rows, when Conv2DChains takes it: each core
// computes the rows of the expansion's output that a band reads (the few
// shared with the next band again) into a buffer of its own, the
// depthwise convolution of those rows into another, and the projection of
// that into dst, each read back from L2 where Conv2D calls wrote whole
// outputs (MobileNetV2's expansion to 96 channels of 112×112, 4.8 MB) and
// read them back from L3 or memory. It panics for a chain Conv2DChains
// refuses.
func (d *cpuDevice) Conv2DChain(dst, x backend.Buffer, c backend.ConvChain) {
	if !d.Conv2DChains(c) {
		panic(fmt.Sprintf("device: Conv2DChain: a chain Conv2DChains refuses: %+v", c))
	}
	d.dispatch()
	q := c.Depthwise.P
	expand, project := c.Expand.W != nil, c.Project.W != nil
	bp := newCPUChainBands(c)
	lo, hi, bias := cpuDepthwiseBounds(c.Depthwise.E, q.C)
	var masks []int
	if q.StrideH == 2 {
		masks = kernel.DepthwiseS2Masks(q.W, q.OW, q.PadW)
	} else {
		masks = kernel.DepthwiseMasks(q.W, q.OW, q.KW, q.PadW)
	}
	xd, od, wd := cpuFloats(x), cpuFloats(dst), cpuFloats(c.Depthwise.W)
	plane, oplane, taps := q.H*q.W, q.OH*q.OW, q.KH*q.KW
	midSize, outSize := 0, 0 // a band's expanded rows, and depthwise outputs
	var expansion, projection *cpuChainLink
	var banded *cpuChainBanded // an expansion on the indirect kernel
	if expand {
		midSize = q.C * bp.rows * q.W
		if cpuPointwise(c.Expand.P) {
			expansion = newCPUChainLink(c.Expand)
		} else {
			banded = newCPUChainBanded(c.Expand, bp)
			defer banded.free()
		}
	}
	if project {
		outSize = q.C * bp.height * q.OW
		projection = newCPUChainLink(c.Project)
	}
	// band computes the output rows [r0, r1) of image n, in space, a
	// worker's scratch.
	band := func(space []float32, n, r0, r1 int) {
		top := r0*q.StrideH - q.PadH // the first input row the band reads
		var src []float32
		stride := plane
		first := max(top, 0) // the first row of src's planes
		rows := q.H - first  // and how many the kernel may read
		if !expand {
			src = xd[n*q.C*plane:]
		} else {
			var last int
			first, last, _ = bp.reads(r0, r1)
			rows = last - first
			stride = rows * q.W
			src = space[:q.C*stride]
			if banded != nil {
				banded.conv.convolve(src, stride, banded.pad, banded.packed, r0/bp.height, banded.te)
			} else {
				expansion.expandRows(src, xd, n, first, rows)
			}
			first = 0
		}
		padH := max(-top, 0)
		l := (r1 - r0) * q.OW
		for ch := range q.C {
			var out []float32
			if project {
				out = space[midSize+ch*l : midSize+(ch+1)*l]
			} else {
				out = od[(n*q.C+ch)*oplane+r0*q.OW : (n*q.C+ch)*oplane+r1*q.OW]
			}
			in, wc := src[ch*stride+first*q.W:ch*stride+first*q.W+rows*q.W], wd[ch*taps:(ch+1)*taps]
			if q.StrideH == 2 {
				kernel.Depthwise3x3S2(out, in, wc, bias[ch:ch+1], masks, 1, rows, q.W, r1-r0, q.OW, padH, q.PadW, lo, hi)
			} else {
				kernel.DepthwiseS1(out, in, wc, bias[ch:ch+1], masks, 1, rows, q.W, r1-r0, q.OW, q.KH, q.KW, padH, q.PadW, lo, hi)
			}
		}
		if project {
			projection.projectRows(od, space[midSize:midSize+q.C*l], n, r0*q.OW, l)
		}
	}
	work := q.C * bp.rows * q.W * (c.Expand.P.C*c.Expand.P.KH*c.Expand.P.KW + taps + c.Project.P.O)
	if banded != nil {
		// Image by image: its padded copy, then its bands.
		chunks := cpuChunks(bp.bands, work)
		scratch := cpuGetScratch(chunks, midSize+outSize)
		defer cpuScratchFree.put(scratch)
		for n := range q.N {
			banded.padImage(xd, n)
			cpuParallelChunks(bp.bands, chunks, func(w, b0, b1 int) {
				for b := b0; b < b1; b++ {
					band(scratch.per(w), n, b*bp.height, min((b+1)*bp.height, q.OH))
				}
			})
		}
		return
	}
	tasks := q.N * bp.bands
	chunks := cpuChunks(tasks, work)
	scratch := cpuGetScratch(chunks, midSize+outSize)
	defer cpuScratchFree.put(scratch)
	cpuParallelChunks(tasks, chunks, func(w, t0, t1 int) {
		for t := t0; t < t1; t++ {
			n, r0 := t/bp.bands, t%bp.bands*bp.height
			band(scratch.per(w), n, r0, min(r0+bp.height, q.OH))
		}
	})
}

// cpuChainBanded is a chain's expansion on the indirect kernel, bound to
// the CPU once a call: its bands (one per band of the chain), packed
// weights, epilogue and the padded copy of the image being computed.
type cpuChainBanded struct {
	conv        *cpuIndirectBands
	packed, pad []float32
	te          *cpuTileEpilogue
	space       []*cpuScratch // to put back
}

// cpuChainBandsOf keeps the bands of each chain's expansion, by the
// expansion's and the depthwise convolution's shapes (the batch size
// aside).
var cpuChainBandsOf cpuShapeCache[[2]backend.Conv2DParams, *cpuIndirectBands]

// newCPUChainBanded binds the expansion l of a chain split as bp.
func newCPUChainBanded(l backend.ConvLink, bp cpuChainBands) *cpuChainBanded {
	ic := newCPUConv(l.P).indirectPlan()
	key := [2]backend.Conv2DParams{l.P, bp.q}
	key[0].N, key[1].N = 0, 0
	conv := cpuChainBandsOf.get(key, func() *cpuIndirectBands {
		var rows [][2]int
		for b := range bp.bands {
			first, last, _ := bp.reads(b*bp.height, min((b+1)*bp.height, bp.q.OH))
			rows = append(rows, [2]int{first, last})
		}
		return newCPUIndirectBands(ic, rows)
	})
	cb := &cpuChainBanded{conv: conv, te: newCPUBandEpilogue(l.E, l.P.O)}
	packed, scratch := ic.packedWeights(cpuFloats(l.W), cpuFrozen(l.W))
	if scratch != nil {
		cb.space = append(cb.space, scratch)
	}
	pads := cpuGetScratch(1, ic.size)
	cb.space = append(cb.space, pads)
	cb.packed, cb.pad = packed, pads.buf[:ic.size]
	return cb
}

// padImage makes the padded copy of image n of x that the bands read.
func (cb *cpuChainBanded) padImage(x []float32, n int) {
	cb.conv.ic.padImage(cb.pad, x, n)
}

// free gives back the call's scratch space.
func (cb *cpuChainBanded) free() {
	for _, s := range cb.space {
		cpuScratchFree.put(s)
	}
}

// cpuChainLink is a 1×1 link of a chain bound to the CPU once a call: its
// weights and their packed forms, and its epilogue as the kernels and the
// post-passes apply it, rather than again for every band.
type cpuChainLink struct {
	p     backend.Conv2DParams
	w     []float32
	packs *cpuPacks
	ep    *cpuEpilogue     // nil for none
	tiles *cpuGemmEpilogue // the kernels' part of ep: nil with a residual
}

// newCPUChainLink binds the 1×1 link l.
func newCPUChainLink(l backend.ConvLink) *cpuChainLink {
	ep := newCPUEpilogue(l.E, l.P)
	return &cpuChainLink{p: l.P, w: cpuFloats(l.W), packs: cpuFrozen(l.W), ep: ep, tiles: ep.tiles(l.P.O)}
}

// run computes the link's product of b, cols columns, into out from offset
// at, rows ldc apart, with its epilogue, which post applies to each block
// for kernels that do not.
func (cl *cpuChainLink) run(b cpuMatrix, cols int, out []float32, at, ldc int, post func(r0, r1, j0, j1 int)) {
	p := cl.p
	g := &cpuGemm{batch: 1, m: p.O, n: cols, k: p.C,
		a: cpuMatrix{cl.w, 0, p.C, 1}, aPacks: cl.packs, b: b, c: out, cOff: at, ldc: ldc}
	if cl.ep != nil {
		g.epi = cl.tiles
		g.post = func(_, r0, r1, j0, j1 int) { post(r0, r1, j0, j1) }
	}
	g.run(false)
}

// expandRows writes into dst the rows [first, first+rows) of every output
// channel of the expansion of image n of x, planes of rows rows one after
// the other.
func (cl *cpuChainLink) expandRows(dst, x []float32, n, first, rows int) {
	p := cl.p
	l := rows * p.W
	cl.run(cpuMatrix{x, n*p.C*p.H*p.W + first*p.W, p.H * p.W, 1}, l, dst, 0, l, func(r0, r1, j0, j1 int) {
		for r := r0; r < r1; r++ {
			cl.ep.row(dst[r*l+j0:r*l+j1], r)
		}
	})
}

// projectRows writes into out the outputs [at, at+l) of every channel of
// the projection of image n, whose input holds those positions of every
// channel, l of them one after the other.
func (cl *cpuChainLink) projectRows(out, in []float32, n, at, l int) {
	p := cl.p
	oplane := p.OH * p.OW
	cl.run(cpuMatrix{in, 0, l, 1}, l, out, n*p.O*oplane+at, oplane, func(r0, r1, j0, j1 int) {
		for r := r0; r < r1; r++ {
			cl.ep.plane(out, n, r, at+j0, at+j1)
		}
	})
}

// cpuChainBands is how Conv2DChain splits the depthwise output's rows:
// bands of height rows, bands of them an image, each reading at most rows
// rows of its input.
type cpuChainBands struct {
	q                   backend.Conv2DParams
	height, bands, rows int
}

// newCPUChainBands makes the bands as tall as cpuChainBand allows for the
// expansion's rows and the depthwise outputs a band holds, and as many as
// a multiple of the cores, so that each has as many rows to do.
func newCPUChainBands(c backend.ConvChain) cpuChainBands {
	q := c.Depthwise.P
	reads := func(height int) int { return (height-1)*q.StrideH + q.KH }
	bytes := func(height int) int {
		b := 0
		if c.Expand.W != nil {
			b += 4 * q.C * q.W * reads(height)
		}
		if c.Project.W != nil {
			b += 4 * q.C * q.OW * height
		}
		return b
	}
	height := q.OH
	for height > 1 && bytes(height) > cpuChainBand {
		height--
	}
	if procs := cpuMaxProcs(); q.N == 1 && q.OH >= procs {
		height = cpuCeilDiv(q.OH, cpuRoundUp(cpuCeilDiv(q.OH, height), procs))
	}
	return cpuChainBands{q: q, height: height, bands: cpuCeilDiv(q.OH, height), rows: reads(height)}
}

// reads returns the rows [first, last) of its input that the depthwise
// output rows [r0, r1) read, and the rows of padding above first they read
// (the first band's).
func (b cpuChainBands) reads(r0, r1 int) (first, last, padH int) {
	q := b.q
	top := r0*q.StrideH - q.PadH
	first = max(top, 0)
	last = min((r1-1)*q.StrideH-q.PadH+q.KH, q.H)
	return first, last, first - top
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
