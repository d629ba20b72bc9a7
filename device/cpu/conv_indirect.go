package cpu

import (
	"sync"
	"unsafe"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/cpuinfo"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuIndirectMR and cpuIndirectNR are the tile of
// kernel.ConvTile8x32AVX512: 8 output channels by 32 positions. It reads
// two vectors of input and broadcasts eight weights per sixteen fused
// multiply-adds, where the 16×16 tile (16 channels by 16 positions) read one
// and broadcast sixteen: 10–20% faster on ResNet's 3×3 layers (Zen 5).
const (
	cpuIndirectMR = 8
	cpuIndirectNR = 32
)

// cpuIndirectTile is the tile of the 16×16 kernels of convolutions over
// taps (see conv_taps.go).
const cpuIndirectTile = 16

// cpuIndirectStridedRows is the longest column (C/G·KH·KW) of a strided
// convolution that takes the indirect kernel (see indirectPlan): 3×3 over
// 128 channels.
const cpuIndirectStridedRows = 1152

// cpuIndirectConv computes a convolution without a column matrix (an
// "indirect" convolution). Each image is copied into zero-padded planes;
// with strides the padded plane is split into its stride phases, the
// planes of the pixels (i·SH + ry, j·SW + rx), each Wp = ⌈(W+2·PadW)/SW⌉
// wide (at stride 1 the one phase is the padded plane, whose rows share
// their padding columns where they can: Wp = W+PadW). Output (oh, ow) is
// then computed at "wide" position j = oh·Wp + ow, and the input that row
// k = (c, kh, kw) of the column matrix holds for it lies at j + offs[k]:
// in channel c's phase of the tap's offsets modulo the strides, shifted by
// their quotients. The micro-kernel reads those rows through the offset
// table, 16 wide positions at a time, and its masked stores drop the
// positions past the output's width (ow ≥ OW) while placing the others in
// the dense output. Nothing is packed per image but the padded copy; the
// weights are packed once per call, or once for frozen weights.
type cpuIndirectConv struct {
	*cpuConv
	wp      int   // width of a phase plane (the padded width at stride 1)
	hp      int   // rows of a phase plane
	planeP  int   // floats of a channel's phase planes, SH·SW·Wp·hp
	size    int   // floats of a padded image, with slack for the last tile
	tiles   int   // tiles of 16 wide positions covering the OH·Wp of them
	slivers int   // tiles of 16 output channels per group
	offs    []int // offset of row k of a group's column matrix
	segs    []int // (offset, mask) pairs of every tile's stores
	starts  []int // tile t's pairs are segs[2·starts[t] : 2·starts[t+1]]
	// runs, when set, are the runs of the rows kernel, which computes
	// the convolution in place of the 8×32 one (see conv_rows.go), two
	// per tile; idx holds the offsets of 16 output planes.
	runs  []cpuRowsRun
	idx   [16]int32
	reach int // one past the last element of a padded image the runs read
}

// cpuIndirectPlans keeps the layout of each convolution shape (the batch
// size aside), so that steady-state calls allocate nothing.
var cpuIndirectPlans = struct {
	sync.Mutex
	m map[backend.Conv2DParams]*cpuIndirectConv
}{m: map[backend.Conv2DParams]*cpuIndirectConv{}}

// indirectPlan returns the indirect layout of cv, or nil when the
// convolution does not suit it: a plain product (1×1 of stride 1) that the
// rows kernel does not take, a strided one that the GEMM path computes
// faster, empty, or no AVX-512. Layouts are shared by batch sizes, so the
// one returned is a copy bound to cv.
func (cv *cpuConv) indirectPlan() *cpuIndirectConv {
	p := cv.p
	if !kernel.HasAVX512 || p.N == 0 || p.O == 0 || cv.rows == 0 || cv.l == 0 {
		return nil
	}
	// Strided, the column matrix is smaller than the padded phases times
	// the kernel's taps, and the GEMM path measures faster for deep
	// columns and for 1×1 kernels (ResNet's 3×3 of stride 2 over 256
	// channels 5–10% faster, a 1×1 of stride 2 40% faster), the indirect
	// kernel for the others (the 7×7 stem over 3 channels 1.6 times as
	// fast, 3×3 over 64 channels 10% faster, over 128 2%; on a Zen 5 with
	// the 8×32 tile).
	strided := p.StrideH != 1 || p.StrideW != 1
	if strided && cv.kk == 1 {
		return nil
	}
	key := p
	key.N = 0
	cpuIndirectPlans.Lock()
	defer cpuIndirectPlans.Unlock()
	ic, ok := cpuIndirectPlans.m[key]
	if !ok {
		if len(cpuIndirectPlans.m) >= 64 {
			clear(cpuIndirectPlans.m)
		}
		ic = newCPUIndirectConv(cv)
		cpuIndirectPlans.m[key] = ic
	}
	// Deep strided columns, and 1×1 kernels, only on the rows kernel:
	// their outputs are few and their weights many, and the GEMM path's
	// products too have few columns and waste as many lanes (ResNet's
	// 3×3/2 over 256 channels to a 7×7 plane, MobileNetV2's 1×1 layers at
	// 7×7).
	if strided && cv.rows > cpuIndirectStridedRows && ic.runs == nil || cv.direct && ic.runs == nil {
		return nil
	}
	bound := *ic
	bound.cpuConv = cv
	return &bound
}

// newCPUIndirectConv lays out the indirect convolution cv.
func newCPUIndirectConv(cv *cpuConv) *cpuIndirectConv {
	p := cv.p
	sh, sw := p.StrideH, p.StrideW
	ic := &cpuIndirectConv{cpuConv: cv, wp: cpuCeilDiv(p.W+2*p.PadW, sw), hp: cpuCeilDiv(p.H+2*p.PadH, sh)}
	if sh == 1 && sw == 1 && p.PadW <= (p.KW-1)*p.DilW {
		// Rows share their padding columns: a row's right padding is the
		// next row's left padding (or the zero rows below the last), so a
		// row of the plane is W+PadW wide and fewer lanes fall into the
		// padding (1 in 15 rather than 2 in 16 for a 14-wide image). An
		// output row, OW = W+2·PadW−(KW−1)·DilW wide, still fits in one.
		ic.wp = p.W + p.PadW
	}
	ic.planeP = sh * sw * ic.wp * ic.hp
	wide := p.OH * ic.wp
	ic.tiles = cpuCeilDiv(wide, cpuIndirectNR)
	ic.slivers = cpuCeilDiv(cv.og, cpuIndirectMR)
	// The last tile reads up to 31 positions past the last wide position,
	// and the last kernel tap up to Wp past the last padded row.
	ic.size = p.C*ic.planeP + ic.wp + 2*cpuIndirectNR
	ic.offs = make([]int, cv.rows)
	for k := range ic.offs {
		c, dy, dx := k/cv.kk, k%cv.kk/p.KW*p.DilH, k%p.KW*p.DilW
		phase := (dy%sh*sw + dx%sw) * ic.wp * ic.hp
		ic.offs[k] = c*ic.planeP + phase + dy/sh*ic.wp + dx/sw
	}
	ic.segs, ic.starts = ic.segments(func(oh, ow int) int { return oh*p.OW + ow })
	ic.layoutRows()
	return ic
}

// segments returns the (offset, mask) pairs of every tile's stores and
// where each tile's pairs begin (see cpuIndirectConv.segs), for output
// (oh, ow) stored at at(oh, ow) of its channel's plane, where
// at(oh, ow+i) = at(oh, ow)+i.
func (ic *cpuIndirectConv) segments(at func(oh, ow int) int) (segs, starts []int) {
	p := ic.p
	wide := p.OH * ic.wp
	starts = make([]int, ic.tiles+1)
	for t := range ic.tiles {
		// Lanes of one output row form a run: its valid lanes are stored
		// at the row's output offset, shifted back by the run's first lane.
		for l := 0; l < cpuIndirectNR; {
			j := t*cpuIndirectNR + l
			if j >= wide {
				break
			}
			oh, ow := j/ic.wp, j%ic.wp
			run := min(cpuIndirectNR-l, ic.wp-ow)
			if valid := min(run, p.OW-ow); valid > 0 {
				mask := (1<<valid - 1) << l
				segs = append(segs, at(oh, ow)-l, mask)
			}
			l += run
		}
		starts[t+1] = len(segs) / 2
	}
	return segs, starts
}

// packWeights packs each group's weights [O/G, rows] into slivers of 8
// output channels, each sliver step k holding the 8 channels' weights of
// row k (zero past the last channel).
func (ic *cpuIndirectConv) packWeights(dst, w []float32) {
	per := ic.slivers * ic.rows * cpuIndirectMR
	for g := range ic.p.Groups {
		for s := range ic.slivers {
			o0 := s * cpuIndirectMR
			lines := min(cpuIndirectMR, ic.og-o0)
			sl := dst[g*per+s*ic.rows*cpuIndirectMR : g*per+(s+1)*ic.rows*cpuIndirectMR]
			if lines < cpuIndirectMR {
				clear(sl)
			}
			src := w[(g*ic.og+o0)*ic.rows:]
			if kernel.Transpose(sl, cpuIndirectMR, src, ic.rows, lines, ic.rows) {
				continue
			}
			for i := range lines {
				for k, v := range src[i*ic.rows : (i+1)*ic.rows] {
					sl[k*cpuIndirectMR+i] = v
				}
			}
		}
	}
}

// pad copies channels [c0, c1) of image n of x into the interior of the
// padded planes pad, or of their stride phases. With zero, it first clears
// those channels' planes (and, with the last channel, the slack after
// them); without, their border must already be zero.
func (ic *cpuIndirectConv) pad(pad, x []float32, n, c0, c1 int, zero bool) {
	p := ic.p
	img := x[n*p.C*ic.plane : (n+1)*p.C*ic.plane]
	sh, sw, phase := p.StrideH, p.StrideW, ic.wp*ic.hp
	if zero {
		end := c1 * ic.planeP
		if c1 == p.C {
			end = ic.size
		}
		clear(pad[c0*ic.planeP : end])
	}
	for c := c0; c < c1; c++ {
		src, dst := img[c*ic.plane:(c+1)*ic.plane], pad[c*ic.planeP:]
		if sh == 1 && sw == 1 {
			if !kernel.CopyRows(dst[p.PadH*ic.wp+p.PadW:], src, p.W, p.H, ic.wp, p.W) {
				for iy := range p.H {
					copy(dst[(iy+p.PadH)*ic.wp+p.PadW:], src[iy*p.W:(iy+1)*p.W])
				}
			}
			continue
		}
		for iy := range p.H {
			py := iy + p.PadH
			row := dst[(py%sh*sw)*phase+py/sh*ic.wp:]
			cpuSplitRow(row, src[iy*p.W:(iy+1)*p.W], p.PadW, sw, phase)
		}
	}
}

// padImage makes the padded copy of image n of x in pad (zeroing it first
// when n is 0, as pad does) on all cores: by channels when there are
// enough to share out evenly, else by rows of every channel (an image's
// first layer, over three channels, left a third of the copy's time idle
// on one of two cores).
func (ic *cpuIndirectConv) padImage(pad, x []float32, n int) {
	p := ic.p
	if procs := cpuMaxProcs(); p.C%procs == 0 || p.C >= 8*procs {
		cpuParallel(p.C, 2*ic.planeP, func(lo, hi int) { ic.pad(pad, x, n, lo, hi, n == 0) })
		return
	}
	if n == 0 {
		cpuParallel(ic.size, 1, func(lo, hi int) { clear(pad[lo:hi]) })
	}
	img := x[n*p.C*ic.plane : (n+1)*p.C*ic.plane]
	sh, sw, phase := p.StrideH, p.StrideW, ic.wp*ic.hp
	cpuParallel(p.C*p.H, 2*p.W, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, iy := r/p.H, r%p.H
			src, py := img[c*ic.plane+iy*p.W:c*ic.plane+(iy+1)*p.W], iy+p.PadH
			row := pad[c*ic.planeP+(py%sh*sw)*phase+py/sh*ic.wp:]
			cpuSplitRow(row, src, p.PadW, sw, phase)
		}
	})
}

// tilesOf computes tiles [t0, t1) of output-channel slivers [s0, s1) of
// every group of image n from its padded copy pad into out: tile by tile,
// each sliver, or with slivers outside, sliver by sliver, each tile.
func (ic *cpuIndirectConv) tilesOf(out, pad, packed []float32, n, t0, t1, s0, s1 int, sliversOutside bool, te *cpuTileEpilogue) {
	p := ic.p
	per := ic.slivers * ic.rows * cpuIndirectMR
	// The kernel's reads and stores stay within these bounds (see size and
	// the segments); check them once here, by length for out, which other
	// goroutines write meanwhile.
	_ = pad[ic.size-1]
	_ = packed[p.Groups*per-1]
	if len(out) < (n+1)*p.O*ic.l || te != nil && (len(te.bias) < p.O || te.res != nil && len(te.res) < len(out)) {
		panic("device: indirect convolution output out of range")
	}
	run := func(g, t, s int) {
		segs := ic.segs[2*ic.starts[t] : 2*ic.starts[t+1]]
		if len(segs) == 0 {
			return
		}
		b := &pad[g*ic.cg*ic.planeP+t*cpuIndirectNR]
		rows := min(cpuIndirectMR, ic.og-s*cpuIndirectMR)
		o0 := g*ic.og + s*cpuIndirectMR
		c := &out[(n*p.O+o0)*ic.l]
		a := &packed[g*per+s*ic.rows*cpuIndirectMR]
		var bias, res *float32
		var args *kernel.EpilogueArgs
		if te != nil {
			bias, args = &te.bias[o0], &te.args
			if te.res != nil {
				res = &te.res[(n*p.O+o0)*ic.l]
			}
		}
		kernel.ConvTile8x32AVX512(ic.rows, a, b, unsafe.SliceData(ic.offs), c, ic.l, unsafe.SliceData(segs), len(segs)/2, rows, bias, res, args)
	}
	for g := range p.Groups {
		if sliversOutside {
			for s := s0; s < s1; s++ {
				for t := t0; t < t1; t++ {
					run(g, t, s)
				}
			}
			continue
		}
		// Tiles outside: the inputs a tile reads stay in L1 while the
		// slivers' weights stream through it (with slivers outside,
		// each tile's inputs came from L2 for every sliver: ResNet's
		// 64-channel layers ran 20% slower).
		for t := t0; t < t1; t++ {
			for s := s0; s < s1; s++ {
				run(g, t, s)
			}
		}
	}
}

// sliversOutside reports whether the tiles of one image are better split
// by slivers, each sliver's weights staying in L2 while every tile reads
// them, than by tiles, each reading all the weights: when the weights
// outgrow L2, so that each tile would fetch them again from L3 or, frozen
// and cold, from memory. ResNet-18 through the importer runs 4–5% faster
// so, its 3×3 layers over 256 and 512 channels (2.4 and 9.4 MB of weights
// over 7 and 2 tiles) taking it (Zen 5, 1 MiB of L2).
func (ic *cpuIndirectConv) sliversOutside() bool {
	limit := cpuSliversOutsideBytes
	if limit == 0 {
		limit = cpuinfo.Get().L2
	}
	return ic.p.Groups == 1 && ic.slivers >= 4 && 4*ic.og*ic.rows > limit
}

// cpuSliversOutsideBytes, when not 0, replaces the L2 size in
// sliversOutside (for tests).
var cpuSliversOutsideBytes = 0

// forward writes the convolution of x with w into out, taking the packed
// weights from packs when w is frozen (packs not nil), and applying the
// epilogue ep, when not nil, to each range of tiles as soon as all its
// channels are computed.
func (ic *cpuIndirectConv) forward(out, x, w []float32, packs *cpuPacks, ep *cpuEpilogue) {
	p := ic.p
	packed, scratch := ic.packedWeights(w, packs)
	if scratch != nil {
		defer cpuScratchFree.put(scratch)
	}
	// An epilogue without hard swish or affine step is applied by the
	// kernel as it stores (cpuTileEpilogue); the others afterwards, to
	// each range of the output as soon as it is computed.
	te := newCPUTileEpilogue(ep, p.O)
	if te != nil {
		ep = nil
	}
	workers := ic.workers()
	pads := cpuGetScratch(workers, ic.size)
	defer cpuScratchFree.put(pads)
	if workers == 1 {
		// Few images: each one's channels are copied, and then its tiles
		// computed, split over the cores.
		pad := pads.per(0)
		for n := range p.N {
			if ic.rowsInPlace() {
				pad = x[n*p.C*ic.plane:]
			} else {
				ic.padImage(pad, x, n)
			}
			ic.image(out, pad, packed, n, te, ep)
		}
		return
	}
	if !ic.rowsInPlace() {
		clear(pads.buf[:workers*ic.size])
	}
	cpuTasks(p.N, workers, func(wk, n int) {
		pad := pads.per(wk)
		if ic.rowsInPlace() {
			pad = x[n*p.C*ic.plane:]
		} else {
			ic.pad(pad, x, n, 0, p.C, false)
		}
		if ic.runs != nil {
			ic.rowsOf(out, pad, packed, n, 0, ic.rowTiles(), te)
		} else {
			ic.tilesOf(out, pad, packed, n, 0, ic.tiles, 0, ic.slivers, false, te)
		}
		if ep != nil {
			ep.image(out, n, 0, ic.l)
		}
	})
}

// image computes image n of out from its padded copy pad on all cores.
func (ic *cpuIndirectConv) image(out, pad, packed []float32, n int, te *cpuTileEpilogue, ep *cpuEpilogue) {
	p := ic.p
	if ic.runs != nil {
		// Blocks of output channels outside, so that each core keeps its
		// blocks' weights.
		cpuParallel(ic.rowTiles(), cpuRowsNR*2*cpuRowsRunMax*ic.rows, func(lo, hi int) {
			ic.rowsOf(out, pad, packed, n, lo, hi, te)
		})
		if ep != nil {
			ep.image(out, n, 0, ic.l)
		}
		return
	}
	if ic.sliversOutside() {
		cpuParallel(ic.slivers, ic.tiles*ic.rows*cpuIndirectMR*cpuIndirectNR, func(lo, hi int) {
			ic.tilesOf(out, pad, packed, n, 0, ic.tiles, lo, hi, true, te)
			if ep != nil {
				for c := lo * cpuIndirectMR; c < min(hi*cpuIndirectMR, p.O); c++ {
					ep.plane(out, n, c, 0, ic.l)
				}
			}
		})
		return
	}
	cpuParallel(ic.tiles, p.O*ic.rows*cpuIndirectNR, func(lo, hi int) {
		ic.tilesOf(out, pad, packed, n, lo, hi, 0, ic.slivers, false, te)
		if ep != nil {
			ep.image(out, n, ic.outputAt(lo), ic.outputAt(hi))
		}
	})
}

// packedWeights returns w packed for the kernel that computes ic: from
// packs when w is frozen (packs not nil), or else packed into scratch
// space, which the caller puts back when done.
func (ic *cpuIndirectConv) packedWeights(w []float32, packs *cpuPacks) (packed []float32, scratch *cpuScratch) {
	p := ic.p
	size, kind, pack := p.Groups*ic.slivers*ic.rows*cpuIndirectMR, byte('i'), ic.packWeights
	if ic.runs != nil {
		size, kind, pack = p.O*ic.rows, 'r', ic.packRows
	}
	if packs != nil {
		key := cpuPackKey{kind: kind, rs: ic.og, cs: ic.rows, r0: p.Groups}
		return packs.get(key, size, func(dst []float32) []float32 { pack(dst, w); return dst }), nil
	}
	scratch = cpuGetScratch(1, size)
	pack(scratch.buf[:size], w)
	return scratch.buf[:size], scratch
}

// cpuTileEpilogue is an epilogue as kernel.ConvTile8x32AVX512 applies it:
// a bias per output channel (zero when there is none), the residual over
// the whole output or nil, and the clamp.
type cpuTileEpilogue struct {
	bias, res []float32
	args      kernel.EpilogueArgs
}

// newCPUTileEpilogue returns ep for the kernel, or nil when there is none
// or it has a hard swish or an affine step, which the kernel leaves to
// cpuEpilogue.
func newCPUTileEpilogue(ep *cpuEpilogue, o int) *cpuTileEpilogue {
	if ep == nil || ep.args.Flags != 0 {
		return nil
	}
	te := &cpuTileEpilogue{bias: ep.bias, res: ep.res, args: ep.args}
	if te.bias == nil {
		te.bias = make([]float32, o)
	}
	return te
}

// outputAt returns the index in an output plane of the first output
// element at or after the start of tile t: the outputs of tiles [lo, hi)
// are the plane's elements [outputAt(lo), outputAt(hi)).
func (ic *cpuIndirectConv) outputAt(t int) int {
	j := min(t*cpuIndirectNR, ic.p.OH*ic.wp)
	return j/ic.wp*ic.p.OW + min(j%ic.wp, ic.p.OW)
}

// indirectInputGrad returns the convolution whose forward pass is the input
// gradient of cv, and whether there is one on the indirect kernel: for
// stride 1 the gradient is the convolution of dY, padded by the kernel's
// reach less the padding, with the weights flipped in both directions and
// their channels swapped.
func (cv *cpuConv) indirectInputGrad() (*cpuIndirectConv, bool) {
	p := cv.p
	if cv.direct || p.StrideH != 1 || p.StrideW != 1 {
		return nil, false
	}
	q := backend.Conv2DParams{N: p.N, C: p.O, H: p.OH, W: p.OW, O: p.C, KH: p.KH, KW: p.KW, OH: p.H, OW: p.W,
		StrideH: 1, StrideW: 1, PadH: (p.KH-1)*p.DilH - p.PadH, PadW: (p.KW-1)*p.DilW - p.PadW,
		DilH: p.DilH, DilW: p.DilW, Groups: p.Groups}
	if q.PadH < 0 || q.PadW < 0 {
		return nil, false
	}
	ic := newCPUConv(q).indirectPlan()
	return ic, ic != nil
}

// flipWeights writes into dst the weights [C, O/G, KH, KW] of the input
// gradient's convolution (see indirectInputGrad) from w [O, C/G, KH, KW].
func (cv *cpuConv) flipWeights(dst, w []float32) {
	p := cv.p
	last := cv.kk - 1
	for g := range p.Groups {
		for o := range cv.og {
			for c := range cv.cg {
				src := w[((g*cv.og+o)*cv.cg+c)*cv.kk:][:cv.kk]
				to := dst[((g*cv.cg+c)*cv.og+o)*cv.kk:][:cv.kk]
				for k, v := range src {
					to[last-k] = v
				}
			}
		}
	}
}
