package cpu

import (
	"runtime"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuConv is a 2-D convolution lowered to matrix products: for each image
// and group, the output [O/G, OH·OW] is the weight [O/G, C/G·KH·KW] times
// the column matrix [C/G·KH·KW, OH·OW] whose column (oh, ow) holds the
// input patch that output element reads.
type cpuConv struct {
	p      backend.Conv2DParams
	cg, og int  // input and output channels per group
	kk     int  // KH·KW
	rows   int  // rows of one group's column matrix, C/G·KH·KW
	l      int  // OH·OW, the columns of the column matrix
	plane  int  // H·W
	direct bool // 1×1 kernel, stride 1, no padding: the input is the column matrix
	// taps, when set, are the positions in an input plane that each tap
	// reads for the outputs (−1: padding), by which im2colRow gathers.
	taps []kernel.GatherIndex
}

// newCPUConv derives the sizes of the convolution p.
func newCPUConv(p backend.Conv2DParams) *cpuConv {
	cv := &cpuConv{p: p, cg: p.C / p.Groups, og: p.O / p.Groups, kk: p.KH * p.KW, l: p.OH * p.OW, plane: p.H * p.W}
	cv.rows = cv.cg * cv.kk
	cv.direct = p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 &&
		p.OH == p.H && p.OW == p.W
	if kernel.HasAVX512 && !cv.direct && !cv.shifts() && cv.kk > 1 && cv.kk*cv.l <= cpuTapIndexLimit {
		cv.taps = cpuTapIndexes(p)
	}
	return cv
}

// shifts reports whether each row of the column matrix is the input plane
// shifted (see im2colShift).
func (cv *cpuConv) shifts() bool {
	p := cv.p
	return p.StrideH == 1 && p.StrideW == 1 && p.OW == p.W
}

// cpuTapIndexLimit bounds the positions of a convolution's tap tables
// (see cpuTapIndexes): 128 KiB of them.
const cpuTapIndexLimit = 1 << 15

// cpuTapTables keeps the tap tables of each convolution shape (the batch
// size aside).
var cpuTapTables cpuShapeCache[backend.Conv2DParams, []kernel.GatherIndex]

// cpuTapIndexes returns the tap tables of p: for each tap (kh, kw), the
// position in an input plane that each output reads, −1 in the padding.
func cpuTapIndexes(p backend.Conv2DParams) []kernel.GatherIndex {
	p.N = 0
	return cpuTapTables.get(p, func() []kernel.GatherIndex {
		t := make([]kernel.GatherIndex, p.KH*p.KW)
		for kh := range p.KH {
			for kw := range p.KW {
				idx := make([]int32, 0, p.OH*p.OW)
				for oh := range p.OH {
					ih := oh*p.StrideH - p.PadH + kh*p.DilH
					for ow := range p.OW {
						iw := ow*p.StrideW - p.PadW + kw*p.DilW
						at := int32(-1)
						if ih >= 0 && ih < p.H && iw >= 0 && iw < p.W {
							at = int32(ih*p.W + iw)
						}
						idx = append(idx, at)
					}
				}
				t[kh*p.KW+kw] = kernel.NewGatherIndex(idx)
			}
		}
		return t
	})
}

// Conv2D writes the cross-correlation of x with w into dst, passing each
// part of the output through the epilogue e right after computing it.
func (d *cpuDevice) Conv2D(dst, x, w backend.Buffer, p backend.Conv2DParams, e backend.Epilogue) {
	d.dispatch()
	xd, od := cpuFloats(x), cpuFloats(dst)
	ep := newCPUEpilogue(e, p)
	if cpuIsDepthwise(p) {
		cpuDepthwise(od, xd, cpuFloats(w), p, ep)
		return
	}
	cv := newCPUConv(p)
	if ic := cv.indirectPlan(); ic != nil {
		ic.forward(od, xd, cpuFloats(w), cpuFrozen(w), ep)
		return
	}
	if cv.splitsK() {
		cv.splitK(od, xd, cpuFloats(w), ep)
		return
	}
	workers := cv.workers()
	cols := cv.scratch(workers)
	defer cpuScratchFree.put(cols)
	packs := cpuFrozen(w)
	var wt []float32
	if packs != nil {
		key := cpuPackKey{kind: 't', rs: cv.og, cs: cv.rows, r0: p.Groups}
		wt = packs.get(key, len(cpuFloats(w)), func(dst []float32) []float32 { return cv.transposedWeights(dst, cpuFloats(w)) })
	} else {
		scratch := cpuGetScratch(1, len(cpuFloats(w)))
		defer cpuScratchFree.put(scratch)
		wt = cv.transposedWeights(scratch.buf, cpuFloats(w))
	}
	tileEpi := ep.tiles(cv.og)
	cpuTasks(p.N, workers, func(wk, n int) {
		g := &cpuGemm{
			batch: p.Groups, m: cv.og, n: cv.l, k: cv.rows,
			a: cpuMatrix{wt, 0, 1, cv.og}, aStep: cv.og * cv.rows, aPacks: packs, aKind: 'A',
			b: cv.columns(cols.per(wk), xd, n, workers == 1), bStep: cv.rows * cv.l,
			c: od, cOff: n * p.O * cv.l, ldc: cv.l, cStep: cv.og * cv.l,
		}
		if ep != nil {
			// Each block of the output as soon as it is complete; the
			// kernel applies an epilogue without a residual to each tile
			// as it stores it, where it can.
			g.post = func(group, r0, r1, j0, j1 int) {
				for r := r0; r < r1; r++ {
					ep.plane(od, n, group*cv.og+r, j0, j1)
				}
			}
			g.epi = tileEpi
		}
		g.run(workers == 1)
	})
}

// Conv2DInputGrad writes the gradient of Conv2D with respect to x into dx:
// per image and group, W^T·dY gives the gradient of the column matrix,
// whose entries col2im adds back onto the input positions they came from.
func (d *cpuDevice) Conv2DInputGrad(dx, dy, w backend.Buffer, p backend.Conv2DParams) {
	d.dispatch()
	cv := newCPUConv(p)
	dxd, dyd, wd := cpuFloats(dx), cpuFloats(dy), cpuFloats(w)
	if ic, ok := cv.indirectInputGrad(); ok {
		flipped := cpuGetScratch(1, len(wd))
		defer cpuScratchFree.put(flipped)
		cv.flipWeights(flipped.buf, wd)
		ic.forward(dxd, dyd, flipped.buf, nil, nil)
		return
	}
	workers := cv.workers()
	cols := cv.scratch(workers)
	defer cpuScratchFree.put(cols)
	image := p.C * cv.plane
	cpuTasks(p.N, workers, func(wk, n int) {
		// In a direct convolution the column matrix is the input itself.
		col, cOff := cols.per(wk), 0
		if cv.direct {
			col, cOff = dxd, n*image
		}
		g := &cpuGemm{
			batch: p.Groups, m: cv.rows, n: cv.l, k: cv.og,
			a: cpuMatrix{wd, 0, 1, cv.rows}, aStep: cv.og * cv.rows,
			b: cpuMatrix{dyd, n * p.O * cv.l, cv.l, 1}, bStep: cv.og * cv.l,
			c: col, cOff: cOff, ldc: cv.l, cStep: cv.rows * cv.l,
		}
		g.run(workers == 1)
		if !cv.direct {
			cv.col2im(dxd[n*image:(n+1)*image], col, workers == 1)
		}
	})
}

// Conv2DWeightGrad writes the gradient of Conv2D with respect to w into dw:
// the sum over the images of dY·col^T, accumulated per goroutine and then
// added up in a fixed order.
func (d *cpuDevice) Conv2DWeightGrad(dw, x, dy backend.Buffer, p backend.Conv2DParams) {
	d.dispatch()
	cv := newCPUConv(p)
	dwd, xd, dyd := cpuFloats(dw), cpuFloats(x), cpuFloats(dy)
	if tg := cv.tapGrad(); tg != nil {
		tg.weightGrad(dwd, xd, dyd)
		return
	}
	workers := cv.workers()
	cols := cv.scratch(workers)
	defer cpuScratchFree.put(cols)
	parts := make([][]float32, workers)
	parts[0] = dwd
	for wk := 1; wk < workers; wk++ {
		parts[wk] = make([]float32, len(dwd))
	}
	clear(dwd)
	cpuEachImage(p.N, workers, func(wk, n int) {
		col := cv.columns(cols.per(wk), xd, n, workers == 1)
		g := &cpuGemm{
			batch: p.Groups, m: cv.og, n: cv.rows, k: cv.l,
			a: cpuMatrix{dyd, n * p.O * cv.l, cv.l, 1}, aStep: cv.og * cv.l,
			b: cpuMatrix{col.data, col.off, 1, cv.l}, bStep: cv.rows * cv.l,
			c: parts[wk], ldc: cv.rows, cStep: cv.og * cv.rows,
			accumulate: true,
		}
		g.run(workers == 1)
	})
	for _, part := range parts[1:] {
		for i, v := range part {
			dwd[i] += v
		}
	}
}

// transposedWeights writes into wt each group's weights [O/G, rows]
// transposed to [rows, O/G] and returns wt[:len(w)]: packing the weights
// for each image's product then copies contiguous runs instead of
// transposing again.
func (cv *cpuConv) transposedWeights(wt, w []float32) []float32 {
	wt = wt[:len(w)]
	for g := range cv.p.Groups {
		src, dst := w[g*cv.og*cv.rows:], wt[g*cv.og*cv.rows:]
		if cv.og > 0 && cv.rows > 0 && kernel.Transpose(dst, cv.og, src, cv.rows, cv.og, cv.rows) {
			continue
		}
		for o := range cv.og {
			for r, v := range src[o*cv.rows : (o+1)*cv.rows] {
				dst[r*cv.og+o] = v
			}
		}
	}
	return wt
}

// workers returns how many goroutines work on separate images: all cores
// when the batch splits evenly enough, else 1, and then each matrix product
// uses all cores instead.
func (cv *cpuConv) workers() int {
	procs := runtime.GOMAXPROCS(0)
	if cv.p.N < 2*procs && cv.p.N%procs != 0 {
		return 1
	}
	return cpuChunks(cv.p.N, cv.p.O*cv.l*cv.rows)
}

// scratch returns space for one column matrix of an image per worker, or
// none when the input serves as its own column matrix.
func (cv *cpuConv) scratch(workers int) *cpuScratch {
	size := 0
	if !cv.direct {
		size = cv.p.Groups * cv.rows * cv.l
	}
	return cpuGetScratch(workers, size)
}

// columns returns the column matrix of image n of x as the operand of the
// product of group 0 (group g follows g·rows·l elements later), building it
// in col unless the convolution is direct.
func (cv *cpuConv) columns(col, x []float32, n int, parallel bool) cpuMatrix {
	image := cv.p.C * cv.plane
	if cv.direct {
		return cpuMatrix{x, n * image, cv.l, 1}
	}
	img := x[n*image : (n+1)*image]
	all := cv.p.Groups * cv.rows
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			cv.im2colRow(col[r*cv.l:(r+1)*cv.l], img, r)
		}
	}
	if parallel {
		// Each element costs a load and a store that likely miss L1:
		// counted twice, ResNet-18's 1×1 of stride 2 from 64 channels
		// at 56×56 splits its rows over the cores (85–100 → 74–84 µs).
		cpuParallel(all, 2*cv.l, body)
	} else {
		body(0, all)
	}
	return cpuMatrix{col, 0, cv.l, 1}
}

// im2colRow writes row r of an image's column matrix: input channel
// r/(KH·KW) shifted by kernel offset (kh, kw), zero where it falls into the
// padding.
func (cv *cpuConv) im2colRow(dst, img []float32, r int) {
	p := cv.p
	c, kh, kw := r/cv.kk, r%cv.kk/p.KW, r%p.KW
	src := img[c*cv.plane : (c+1)*cv.plane]
	if cv.shifts() {
		cv.im2colShift(dst, src, kh, kw)
		return
	}
	if cv.taps != nil {
		// ResNet's 3×3 of stride 2 over 256 channels of 14×14 (rows of
		// seven) 810–830 → 690–740 µs alone, 655 → 560 µs in the model
		// (Zen 5). Its 1×1 convolutions of stride 2 take evenColumns
		// below: as fast as tables, without one per shape.
		kernel.Gather(dst, src, cv.taps[r%cv.kk])
		return
	}
	lo, hi, iw0 := cpuValidRange(p.OW, p.W, p.StrideW, kw*p.DilW-p.PadW)
	if p.StrideW == 2 && cv.evenColumns(dst, src, kh, lo, hi, iw0) {
		return
	}
	// The runs are short (an output row), so plain loops beat copy and
	// clear, which pay for a call each.
	for oh := range p.OH {
		out := dst[oh*p.OW : (oh+1)*p.OW]
		ih := oh*p.StrideH - p.PadH + kh*p.DilH
		if ih < 0 || ih >= p.H || lo >= hi {
			cpuZero(out)
			continue
		}
		cpuZero(out[:lo])
		cpuZero(out[hi:])
		if p.StrideW == 1 {
			run := out[lo:hi]
			row := src[ih*p.W+iw0:]
			row = row[:len(run)]
			for i, v := range row {
				run[i] = v
			}
			continue
		}
		row := src[ih*p.W:]
		for ow, iw := lo, iw0; ow < hi; ow, iw = ow+1, iw+p.StrideW {
			out[ow] = row[iw]
		}
	}
}

// evenColumns is im2colRow for a stride of 2 along rows, given the
// valid outputs [lo, hi) of a row and the column iw0 the first reads: the
// valid rows in one call of kernel.EvenColumns, the padding zeroed around
// them. ResNet-18's 1×1 convolution of stride 2 from 64 channels at 56×56
// built its column matrix in 32 µs of CPU time rather than 53 element by
// element (the same as kernel.Gather through a table of positions), the
// whole layer 136–166 → 85–101 µs alone (Zen 5). It reports whether it
// could (only with AVX-512).
func (cv *cpuConv) evenColumns(dst, src []float32, kh, lo, hi, iw0 int) bool {
	p := cv.p
	oh0, oh1, ih0 := cpuValidRange(p.OH, p.H, p.StrideH, kh*p.DilH-p.PadH)
	if lo >= hi || oh0 >= oh1 ||
		!kernel.EvenColumns(dst[oh0*p.OW+lo:], p.OW, src[ih0*p.W+iw0:], p.StrideH*p.W, oh1-oh0, hi-lo) {
		return false
	}
	cpuZero(dst[:oh0*p.OW])
	cpuZero(dst[oh1*p.OW : cv.l])
	if lo > 0 || hi < p.OW {
		for oh := oh0; oh < oh1; oh++ {
			cpuZero(dst[oh*p.OW : oh*p.OW+lo])
			cpuZero(dst[oh*p.OW+hi : (oh+1)*p.OW])
		}
	}
	return true
}

// im2colShift is im2colRow for a convolution of stride 1 whose output rows
// are as long as the input's (a "same" convolution): the row of the column
// matrix is then the input plane shifted by one offset, so it is copied in
// one run, and the columns and rows that fall into the padding are zeroed
// afterwards.
func (cv *cpuConv) im2colShift(dst, src []float32, kh, kw int) {
	p := cv.p
	oh0, oh1, ih0 := cpuValidRange(p.OH, p.H, 1, kh*p.DilH-p.PadH)
	lo, hi, iw0 := cpuValidRange(p.OW, p.W, 1, kw*p.DilW-p.PadW)
	if oh0 >= oh1 || lo >= hi {
		clear(dst)
		return
	}
	clear(dst[:oh0*p.OW])
	clear(dst[oh1*p.OW:])
	// Output (oh, ow) reads input (ih0+oh-oh0, iw0+ow-lo), a fixed offset
	// away in both flat layouts since OW = W.
	first, end := oh0*p.OW+lo, (oh1-1)*p.OW+hi
	from := ih0*p.W + iw0
	copy(dst[first:end], src[from:from+end-first])
	for oh := oh0; oh < oh1; oh++ {
		row := dst[oh*p.OW : (oh+1)*p.OW]
		cpuZero(row[:lo])
		cpuZero(row[hi:])
	}
}

// cpuZero zeroes a short slice (often one element) without the call that
// clear makes; the compiler would turn a range loop into that call too.
func cpuZero(s []float32) {
	for i := 0; i < len(s); i++ {
		s[i] = 0
	}
}

// col2im adds the gradient of an image's column matrix onto the image's
// input gradient dx, which it first zeroes.
func (cv *cpuConv) col2im(dx, col []float32, parallel bool) {
	body := func(lo, hi int) {
		clear(dx[lo*cv.plane : hi*cv.plane])
		for c := lo; c < hi; c++ {
			for r := c * cv.kk; r < (c+1)*cv.kk; r++ {
				cv.col2imRow(dx[c*cv.plane:(c+1)*cv.plane], col[r*cv.l:(r+1)*cv.l], r)
			}
		}
	}
	if parallel {
		cpuParallel(cv.p.C, cv.kk*cv.l, body)
	} else {
		body(0, cv.p.C)
	}
}

// col2imRow adds row r of a column-matrix gradient onto its input channel.
func (cv *cpuConv) col2imRow(dx, src []float32, r int) {
	p := cv.p
	kh, kw := r%cv.kk/p.KW, r%p.KW
	lo, hi, iw0 := cpuValidRange(p.OW, p.W, p.StrideW, kw*p.DilW-p.PadW)
	if lo >= hi {
		return
	}
	for oh := range p.OH {
		ih := oh*p.StrideH - p.PadH + kh*p.DilH
		if ih < 0 || ih >= p.H {
			continue
		}
		row := dx[ih*p.W:]
		in := src[oh*p.OW : (oh+1)*p.OW]
		for ow, iw := lo, iw0; ow < hi; ow, iw = ow+1, iw+p.StrideW {
			row[iw] += in[ow]
		}
	}
}

// cpuValidRange returns the outputs [lo, hi) among n whose input position
// o·stride + shift lies in [0, size), and the input position of lo.
func cpuValidRange(n, size, stride, shift int) (lo, hi, first int) {
	if shift < 0 {
		lo = cpuCeilDiv(-shift, stride)
	}
	if last := size - 1 - shift; last >= 0 {
		hi = min(n, last/stride+1)
	}
	lo = min(lo, n)
	return lo, max(hi, lo), lo*stride + shift
}

// cpuEachImage calls fn(worker, n) for the n images of a batch, split into
// consecutive ranges over the given number of goroutines: a fixed split,
// so that the weight gradient's per-worker sums add up in the same order
// every time. Passes without such sums hand images out one at a time
// (cpuTasks), which evens out cores that run at different speeds.
func cpuEachImage(images, workers int, fn func(worker, n int)) {
	cpuParallelChunks(images, workers, func(w, lo, hi int) {
		for n := lo; n < hi; n++ {
			fn(w, n)
		}
	})
}

// cpuScratch is reusable float32 workspace split into equal parts, one per
// goroutine.
type cpuScratch struct {
	buf  []float32
	size int
}

// per returns worker w's part.
func (s *cpuScratch) per(w int) []float32 { return s.buf[w*s.size : (w+1)*s.size] }

// cpuScratchFree keeps convolution workspace between calls.
var cpuScratchFree = newCPUFreeList[cpuScratch](4)

// cpuGetScratch returns workspace of size elements for each of the workers,
// reusing memory from earlier calls; give it back with cpuScratchFree.put.
func cpuGetScratch(workers, size int) *cpuScratch {
	s := cpuScratchFree.get(func() *cpuScratch { return new(cpuScratch) })
	if n := workers * size; cap(s.buf) < n {
		s.buf = make([]float32, n)
	}
	s.size = size
	return s
}

// splitsK reports whether the 1×1 convolution cv of one image splits its
// input channels over the cores (see splitK): few output channels over
// many input channels on a small plane, each core's part of the input
// likely where the op before it (a stride-1 depthwise convolution, which
// splits channels) left it.
func (cv *cpuConv) splitsK() bool {
	p := cv.p
	return cv.direct && p.N == 1 && p.Groups == 1 && p.O <= cpuSplitKOutputs && cv.l <= cpuSplitKPlane &&
		cpuMaxProcs() > 1 && p.C >= 32*cpuMaxProcs() && p.O*p.C*cv.l >= cpuGemmSerial
}

// cpuSplitKOutputs and cpuSplitKPlane are the most output channels and
// positions of a convolution that splitsK takes: MobileNetV2's 144→24 at
// 56×56, after a depthwise layer of stride 2 (which splits rows), took
// 1.8 times as long split.
const (
	cpuSplitKOutputs = 128
	cpuSplitKPlane   = 1024
)

// splitK computes the 1×1 convolution cv of one image as one product per
// core over a consecutive share of the input channels, the first written
// into out and the others into scratch, then adds the shares and applies
// the epilogue ep, split by output channels. A core reads only its share
// of the input rather than half of every channel's positions: MobileNetV2's
// projections after a depthwise layer, which split the channels the same
// way, took half as long again as warm (a 192→32 1×1 at 28×28: 57 µs warm,
// 92 µs right after its depthwise layer).
func (cv *cpuConv) splitK(out, x, w []float32, ep *cpuEpilogue) {
	p := cv.p
	parts := cpuMaxProcs()
	size := p.O * cv.l
	partial := cpuGetScratch(parts-1, size)
	defer cpuScratchFree.put(partial)
	cpuParallelChunks(p.C, parts, func(c, lo, hi int) {
		dst := out
		if c > 0 {
			dst = partial.per(c - 1)
		}
		g := &cpuGemm{batch: 1, m: p.O, n: cv.l, k: hi - lo,
			a: cpuMatrix{w, lo, p.C, 1}, b: cpuMatrix{x, lo * cv.l, cv.l, 1}, c: dst, ldc: cv.l}
		g.run(false)
	})
	cpuParallel(p.O, cv.l*parts, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := out[o*cv.l : (o+1)*cv.l]
			for q := range parts - 1 {
				part := partial.per(q)[o*cv.l : (o+1)*cv.l]
				for i := kernel.Arith(kernel.AddOp, row, row, part); i < len(row); i++ {
					row[i] += part[i]
				}
			}
			if ep != nil {
				ep.plane(out, 0, o, 0, cv.l)
			}
		}
	})
}
