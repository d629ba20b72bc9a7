package cpu

import (
	"runtime"
	"slices"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// The CPU matrix product is blocked for the caches: the micro-kernel
// computes an mr×nr tile of C from packed slivers of A and B; one task
// computes a block of C of at most mc×nc elements, stepping through K in
// panels of kc, so that a packed sliver of A stays in L1 and a packed panel
// of B in L2 or L3. The kernel and the blocking are chosen per machine and
// per shape class of product (see tune.go).

// cpuMicro is a micro-kernel: fn adds to the mr×nr tile of c (rows ldc
// apart), or with add false stores into it, the product of a packed mr×k
// sliver a and a packed k×nr sliver b.
type cpuMicro struct {
	mr, nr int
	name   string
	fn     func(k int, a, b, c []float32, ldc int, add bool)
	// epi, where the kernel has one, is fn followed by an epilogue on
	// each row r of the tile, with bias[r] for its bias.
	epi func(k int, a, b, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs)
	// strided, where the kernel has one, is epi (fn when e is nil) reading
	// b as a k×nr block of a row-major matrix, rows ldb floats apart,
	// rather than a packed sliver.
	strided func(k int, a, b []float32, ldb int, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs)
	// stridedRows is the most rows of a product whose B the kernel reads
	// in place (see readB).
	stridedRows int
}

// cpuPortable is the micro-kernel written in Go, for every platform.
var cpuPortable = cpuMicro{mr: 4, nr: 2, name: "go 4x2", fn: cpuMicroKernel}

// cpuKernels lists the micro-kernels this CPU runs, fastest first: the
// assembly ones where the CPU supports them, then the portable one.
var cpuKernels = []cpuMicro{cpuPortable}

// cpuChoice is the set of kernels a product chooses from (see
// cpuPickKernel): the best for large products first, then alternatives of
// other tile shapes. Tests narrow it to one kernel.
var cpuChoice = []cpuMicro{cpuPortable}

// cpuPickKernel returns the kernel of cpuChoice for an m×n product: the
// first one unless another computes clearly fewer padded tile elements
// (partial tiles cost as much as full ones), for example 16×16 tiles
// rather than 12×32 for the 64 channels and 196 positions of a
// convolution.
func cpuPickKernel(m, n int) cpuMicro {
	padded := func(k cpuMicro) int { return cpuRoundUp(m, k.mr) * cpuRoundUp(n, k.nr) }
	best := cpuChoice[0]
	for _, k := range cpuChoice[1:] {
		if 10*padded(k) < 9*padded(best) {
			best = k
		}
	}
	return best
}

// cpuMaxTile bounds mr×nr of every kernel, for the edge tile's scratch.
const cpuMaxTile = 16 * 32

// cpuGemmSerial is the number of multiply-adds below which a matrix product
// runs on one goroutine: an RNN step's 32×128×128 products (a few
// microseconds) gained less from the second core than its hand-off cost
// (with 1<<16, the RNN and MLP steps took 2–4% longer, interleaved).
const cpuGemmSerial = 1 << 20

// cpuVectorSerial is cpuGemmSerial for products with one row or one
// column, which read each element of the matrix once and are bound by
// memory: ResNet-18's classifier (512 by 1000 weights, 2 MB) took 1.7
// times ONNX Runtime's time on one goroutine.
const cpuVectorSerial = 1 << 16

// cpuMatrix is a strided float32 matrix: element (i, j) is at
// data[off + i*rs + j*cs].
type cpuMatrix struct {
	data        []float32
	off, rs, cs int
}

// cpuGemm is a batch of matrix products c[l] = a[l]·b[l], or c[l] += a[l]·b[l]
// when accumulate is set, for a[l] m×k, b[l] k×n and c[l] m×n with rows of
// stride ldc. Batch element l of each operand starts l steps after the
// first.
type cpuGemm struct {
	batch, m, n, k int
	a, b           cpuMatrix
	aStep, bStep   int
	c              []float32
	cOff, ldc      int
	cStep          int
	accumulate     bool
	// post, when set, is called with each block of C that is complete:
	// rows [r0, r1) and columns [j0, j1) of batch element l.
	post func(l, r0, r1, j0, j1 int)
	// aPacks and bPacks keep the packed blocks of a frozen a or b (see
	// Freeze), nil for operands packed at each use.
	aPacks, bPacks *cpuPacks
	aKind          byte // the kind of a's packed blocks: 'a', or 'A' for a convolution's transposed weights

	kern            cpuMicro     // the micro-kernel, set by run
	mc, nc, kc      int          // block sizes, set by chooseBlocks
	nBlocks, mTasks int          // column panels, and tasks per panel
	fixed           *cpuBlocking // when set, the blocking to use rather than the tuned one (tuning sets it)
	// shared holds all of a packed once, block after block, when every
	// panel of columns would otherwise pack it again (see packShared).
	shared []float32
	// epi, when set, is an epilogue that the kernel applies to each tile
	// of C as it stores its final sums (in place of post, which the caller
	// sets too, for kernels without one).
	epi *cpuGemmEpilogue
}

// cpuGemmEpilogue is the epilogue of a product's rows: row r of batch
// element l takes bias[l·step + r], then args's clamp and other steps.
type cpuGemmEpilogue struct {
	bias []float32
	step int
	args kernel.EpilogueArgs
}

// cpuGemmScratch holds one goroutine's packed panels, and the tile that
// edge tiles are computed in (on the heap once, rather than per tile: a
// slice of a local array handed to the kernel function would escape).
// The panels grow to the largest blocks used.
type cpuGemmScratch struct {
	a, b []float32
	tile [cpuMaxTile]float32
}

// fit makes the panels hold an mc×kc block of A and a kc×nc panel of B.
func (s *cpuGemmScratch) fit(mc, nc, kc int) {
	if len(s.a) < mc*kc {
		s.a = make([]float32, mc*kc)
	}
	if len(s.b) < kc*nc {
		s.b = make([]float32, kc*nc)
	}
}

// cpuGemmFree keeps packing space between matrix products, one per
// goroutine that computes a product at the same time.
var cpuGemmFree = newCPUFreeList[cpuGemmScratch](16)

// newCPUGemmScratch returns packing space, sized by fit.
func newCPUGemmScratch() *cpuGemmScratch { return &cpuGemmScratch{} }

// cpuFreeList keeps up to a fixed number of large scratch objects between
// uses. Unlike a sync.Pool it survives garbage collections, which the
// tensor package forces often: with a sync.Pool every collection threw
// away the packing space and the next products allocated it again.
type cpuFreeList[T any] struct{ items chan *T }

func newCPUFreeList[T any](n int) cpuFreeList[T] { return cpuFreeList[T]{make(chan *T, n)} }

// get returns a kept object, or fresh() when none is left.
func (l cpuFreeList[T]) get(fresh func() *T) *T {
	select {
	case x := <-l.items:
		return x
	default:
		return fresh()
	}
}

// put keeps x for a later get, unless the list is full.
func (l cpuFreeList[T]) put(x *T) {
	select {
	case l.items <- x:
	default:
	}
}

// MatMul writes a @ b for a [B, M, K] and b [B, K, N] into dst [B, M, N].
func (d *cpuDevice) MatMul(dst backend.Buffer, a, b backend.View) {
	d.dispatch()
	if a.Buf.DType() == backend.BFloat16 { // see MatMulHalf
		bf16MatMul(cpuFloats(dst), a, b)
		return
	}
	m, n := a.Shape[1], b.Shape[2]
	g := &cpuGemm{
		batch: a.Shape[0], m: m, n: n, k: a.Shape[2],
		a:     cpuMatrix{cpuFloats(a.Buf), a.Offset, a.Strides[1], a.Strides[2]},
		b:     cpuMatrix{cpuFloats(b.Buf), b.Offset, b.Strides[1], b.Strides[2]},
		aStep: a.Strides[0], bStep: b.Strides[0],
		c: cpuFloats(dst), ldc: n, cStep: m * n,
		aPacks: cpuFrozen(a.Buf), bPacks: cpuFrozen(b.Buf),
	}
	g.run(true)
}

// run computes the products, on all cores when parallel is set and the
// work is large enough.
func (g *cpuGemm) run(parallel bool) {
	workers, serial := 1, cpuGemmSerial
	if g.m == 1 || g.n == 1 {
		serial = cpuVectorSerial
	}
	if parallel && g.batch*g.m*g.n*g.k >= serial {
		workers = runtime.GOMAXPROCS(0)
	}
	g.runWith(workers)
}

// runWith computes the products on workers goroutines.
func (g *cpuGemm) runWith(workers int) {
	if g.batch == 0 || g.m == 0 || g.n == 0 {
		return
	}
	if g.m == 1 || g.n == 1 {
		g.vector(workers > 1)
		if g.post != nil {
			for l := range g.batch {
				g.post(l, 0, g.m, 0, g.n)
			}
		}
		return
	}
	var bl cpuBlocking
	if g.fixed != nil {
		bl = *g.fixed
	} else {
		bl = cpuTune.blocking(g.m, g.n, g.k, workers, g.aPacks != nil || g.bPacks != nil)
	}
	g.kern = bl.kern
	if g.epi != nil {
		if g.kern.epi != nil && g.k > 0 {
			g.post = nil
		} else {
			g.epi = nil
		}
	}
	g.chooseBlocks(bl, workers)
	scratch := make([]*cpuGemmScratch, workers)
	for w := range scratch {
		scratch[w] = cpuGemmFree.get(newCPUGemmScratch)
		scratch[w].fit(g.mc, g.nc, g.kc)
	}
	shared := g.packShared(workers)
	cpuTasks(g.batch*g.mTasks*g.nBlocks, workers, func(w, t int) {
		g.panel(scratch[w], t)
	})
	for _, s := range scratch {
		cpuGemmFree.put(s)
	}
	if shared != nil {
		g.shared = nil
		cpuSharedFree.put(shared)
	}
}

// cpuSharedMax bounds the floats of a shared packed A (20 MiB: a
// 2048×2048 A with its last block of rows padded to a whole block, 4.2 to
// 4.4 million floats as the blocking goes; the space is kept between
// products. At 16 MiB that A did not fit and each panel packed it again:
// MatMul 2048 ran 1–5% slower), and cpuSharedMin is the smallest A packed
// once for all panels: packing a smaller one again costs less than the
// hand-off of a separate packing pass (MatMul 128 took 45% longer with
// it).
const (
	cpuSharedMax = 5 << 20
	cpuSharedMin = 1 << 17
)

// cpuSharedFree keeps the space of shared packed As between products.
var cpuSharedFree = newCPUFreeList[[]float32](1)

// packShared packs all of a (each batch element's blocks of mc rows by kc
// steps of K, in that order) into g.shared, on workers goroutines, when a
// is not frozen and more than one panel of columns would pack each of its
// blocks: with panels of 256 columns, a 1024×1024 product packed A four
// times. It returns the space to give back, or nil.
func (g *cpuGemm) packShared(workers int) *[]float32 {
	if g.aPacks != nil || g.nBlocks < 2 || g.mTasks != 1 || g.m*g.k < cpuSharedMin {
		return nil
	}
	nk, nm := cpuCeilDiv(g.k, g.kc), cpuCeilDiv(g.m, g.mc)
	block := cpuRoundUp(g.mc, g.kern.mr) * g.kc
	n := g.batch * nk * nm * block
	if n > cpuSharedMax {
		return nil
	}
	space := cpuSharedFree.get(func() *[]float32 { return new([]float32) })
	if len(*space) < n {
		*space = make([]float32, n)
	}
	g.shared = *space
	cpuTasks(g.batch*nk*nm, workers, func(_, t int) {
		bi, pi, l := t%nm, t/nm%nk, t/(nm*nk)
		i0, p0 := bi*g.mc, pi*g.kc
		a := g.a
		a.off += l * g.aStep
		cpuPackA(g.shared[t*block:(t+1)*block], a, i0, p0, min(g.mc, g.m-i0), min(g.kc, g.k-p0), g.kern.mr)
	})
	return space
}

// chooseBlocks sets the block sizes, at most bl's, and the tasks. A task
// is a panel of columns of C (of one batch element), so that each packed
// panel of B serves every block of rows; with several workers the panels
// are made narrower (down to a point) to give each worker two tasks, and
// only when that is not enough are the rows split between tasks too.
func (g *cpuGemm) chooseBlocks(bl cpuBlocking, workers int) {
	mr, nr := g.kern.mr, g.kern.nr
	g.mc, g.nc = min(bl.mc, cpuRoundUp(g.m, mr)), min(bl.nc, cpuRoundUp(g.n, nr))
	g.nBlocks, g.mTasks = cpuCeilDiv(g.n, g.nc), 1
	// Panels of K of equal depth: 288 is 144+144 rather than 256+32, whose
	// short panel would pay the tile loads and stores for little work.
	g.kc = cpuCeilDiv(g.k, max(1, cpuCeilDiv(g.k, bl.kc)))
	if workers == 1 {
		return
	}
	full, fullBlocks := g.nc, g.nBlocks
	if per := cpuCeilDiv(2*workers, g.batch); g.nBlocks < per {
		g.nc = min(g.nc, max(cpuRoundUp(cpuCeilDiv(g.n, per), nr), 4*nr))
		g.nBlocks = cpuCeilDiv(g.n, g.nc)
	}
	if tasks := g.batch * g.nBlocks; tasks < workers {
		g.mTasks = min(cpuCeilDiv(workers, tasks), cpuCeilDiv(g.m, mr))
	}
	// Narrow panels can leave the workers uneven: 196 columns are panels
	// of 128 and 68, one worker idle for a third of the time. Splitting
	// the rows instead, over full-width panels, is taken when it finishes
	// clearly sooner.
	if g.nBlocks > fullBlocks {
		rows := min(cpuCeilDiv(2*workers, g.batch*fullBlocks), cpuCeilDiv(g.m, mr))
		if 20*g.makespan(full, fullBlocks, rows, workers) < 19*g.makespan(g.nc, g.nBlocks, g.mTasks, workers) {
			g.nc, g.nBlocks, g.mTasks = full, fullBlocks, rows
		}
	}
}

// makespan estimates, in padded tile elements, when the last of workers
// finishes the tasks of panels nc wide (nBlocks of them) and mTasks shares
// of the rows, handed out in task order to the first free worker as
// cpuTasks does.
func (g *cpuGemm) makespan(nc, nBlocks, mTasks, workers int) int {
	mr, nr := g.kern.mr, g.kern.nr
	span := cpuRoundUp(cpuCeilDiv(g.m, mTasks), mr)
	loads := make([]int, workers)
	for t := range g.batch * mTasks * nBlocks {
		ni, mt := t%nBlocks, t/nBlocks%mTasks
		cols := cpuRoundUp(min(nc, g.n-ni*nc), nr)
		rows := cpuRoundUp(max(0, min(span, g.m-mt*span)), mr)
		loads[slices.Index(loads, slices.Min(loads))] += rows * cols
	}
	return slices.Max(loads)
}

// panel computes task t: the columns of panel ni of C, for the rows of the
// task's share of M, of one batch element.
func (g *cpuGemm) panel(s *cpuGemmScratch, t int) {
	ni := t % g.nBlocks
	t /= g.nBlocks
	mt, l := t%g.mTasks, t/g.mTasks
	span := cpuRoundUp(cpuCeilDiv(g.m, g.mTasks), g.kern.mr)
	m0, m1 := mt*span, min(g.m, (mt+1)*span)
	j0 := ni * g.nc
	nb := min(g.nc, g.n-j0)
	c := g.c[g.cOff+l*g.cStep:]
	if g.k == 0 && !g.accumulate {
		for r := m0; r < m1; r++ {
			clear(c[r*g.ldc+j0 : r*g.ldc+j0+nb])
		}
	}
	a, b := g.a, g.b
	a.off += l * g.aStep
	b.off += l * g.bStep
	// Whole tiles of columns read B in place where readB says so, the
	// last partial one from a packed sliver.
	inPlace := 0
	if g.readB() {
		inPlace = nb / g.kern.nr * g.kern.nr
	}
	for p0 := 0; p0 < g.k; p0 += g.kc {
		kb := min(g.kc, g.k-p0)
		var pb []float32
		if inPlace < nb {
			pb = g.packB(s.b, b, p0, j0+inPlace, kb, nb-inPlace)
		}
		// The first panel of K stores its sums, the others add theirs:
		// C is never cleared first, a pass over memory saved.
		add := g.accumulate || p0 > 0
		for i0 := m0; i0 < m1; i0 += g.mc {
			mb := min(g.mc, m1-i0)
			pa := g.packA(s.a, a, l, i0, p0, mb, kb)
			var bias []float32
			if g.epi != nil && p0+kb == g.k {
				bias = g.epi.bias[l*g.epi.step+i0:]
			}
			row := c[i0*g.ldc+j0:]
			if inPlace > 0 {
				direct := cpuDirectB{b.data[b.off+p0*b.rs+j0:], b.rs}
				cpuMacroKernel(g.kern, pa, nil, row, g.ldc, mb, inPlace, kb, add, &s.tile, g.epi, bias, direct)
			}
			if inPlace < nb {
				cpuMacroKernel(g.kern, pa, pb, row[inPlace:], g.ldc, mb, nb-inPlace, kb, add, &s.tile, g.epi, bias, cpuDirectB{})
			}
		}
	}
	if g.post != nil {
		g.post(l, m0, m1, j0, j0+nb)
	}
}

// readB reports whether the macro-kernels read B in place rather than
// packed: with a kernel that can, B row-major and not frozen, and few rows
// of tiles to share each packed sliver, whose packing, a pass over B
// itself, would cost more than it saves (the kernel's stridedRows).
func (g *cpuGemm) readB() bool {
	return cpuReadB && g.kern.strided != nil && g.b.cs == 1 && g.bPacks == nil && g.m <= g.kern.stridedRows
}

// cpuReadB turns readB on (tests turn it off).
var cpuReadB = true

// packA returns the mb×kb block of a at (i0, p0) of batch element l
// packed: into dst, or from the shared packing of all of a, or for a
// frozen a from the block's packed form kept with it.
func (g *cpuGemm) packA(dst []float32, a cpuMatrix, l, i0, p0, mb, kb int) []float32 {
	mr := g.kern.mr
	if g.shared != nil {
		nk, nm := cpuCeilDiv(g.k, g.kc), cpuCeilDiv(g.m, g.mc)
		block := cpuRoundUp(g.mc, mr) * g.kc
		t := (l*nk+p0/g.kc)*nm + i0/g.mc
		return g.shared[t*block:][:cpuRoundUp(mb, mr)*kb]
	}
	if g.aPacks == nil {
		return cpuPackA(dst, a, i0, p0, mb, kb, mr)
	}
	kind := byte('a')
	if g.aKind != 0 {
		kind = g.aKind
	}
	key := cpuPackKey{kind: kind, off: a.off, rs: a.rs, cs: a.cs, r0: i0, c0: p0, h: mb, w: kb, tile: mr}
	return g.aPacks.get(key, cpuRoundUp(mb, mr)*kb, func(dst []float32) []float32 { return cpuPackA(dst, a, i0, p0, mb, kb, mr) })
}

// packB is packA for the kb×nb block of b at (p0, j0).
func (g *cpuGemm) packB(dst []float32, b cpuMatrix, p0, j0, kb, nb int) []float32 {
	nr := g.kern.nr
	if g.bPacks == nil {
		return cpuPackB(dst, b, p0, j0, kb, nb, nr)
	}
	key := cpuPackKey{kind: 'b', off: b.off, rs: b.rs, cs: b.cs, r0: p0, c0: j0, h: kb, w: nb, tile: nr}
	return g.bPacks.get(key, cpuRoundUp(nb, nr)*kb, func(dst []float32) []float32 { return cpuPackB(dst, b, p0, j0, kb, nb, nr) })
}

// cpuPackA copies the mb×kb block of a at (i0, p0) into dst as slivers of
// mr rows, each stored column by column. It returns the packed part of dst.
// The rows that pad the last sliver keep whatever dst held: they only reach
// parts of tiles that cpuMacroKernel discards.
func cpuPackA(dst []float32, a cpuMatrix, i0, p0, mb, kb, mr int) []float32 {
	dst = dst[:cpuRoundUp(mb, mr)*kb]
	for ir := 0; ir < mb; ir += mr {
		sl := dst[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if a.rs == 1 {
			// Column-major A (a transposed view): each step of k is a
			// contiguous run of the sliver's rows.
			cpuCopyRuns(sl, mr, a.data, a.off+(i0+ir)+p0*a.cs, a.cs, rows, kb)
			continue
		}
		if a.cs == 1 {
			cpuInterleave(sl, mr, a.data, a.off+(i0+ir)*a.rs+p0, a.rs, rows, kb)
			continue
		}
		for r := range rows {
			src := a.off + (i0+ir+r)*a.rs + p0*a.cs
			for p := range kb {
				sl[p*mr+r] = a.data[src]
				src += a.cs
			}
		}
	}
	return dst
}

// cpuPackB copies the kb×nb block of b at (p0, j0) into dst as slivers of
// nr columns, each stored row by row. It returns the packed part of dst;
// like cpuPackA it leaves the padding of the last sliver as it was.
func cpuPackB(dst []float32, b cpuMatrix, p0, j0, kb, nb, nr int) []float32 {
	dst = dst[:cpuRoundUp(nb, nr)*kb]
	for jr := 0; jr < nb; jr += nr {
		sl := dst[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if b.cs == 1 {
			cpuCopyRuns(sl, nr, b.data, b.off+p0*b.rs+j0+jr, b.rs, cols, kb)
			continue
		}
		if b.rs == 1 {
			cpuInterleave(sl, nr, b.data, b.off+p0+(j0+jr)*b.cs, b.cs, cols, kb)
			continue
		}
		for q := range cols {
			src := b.off + p0*b.rs + (j0+jr+q)*b.cs
			for p := range kb {
				sl[p*nr+q] = b.data[src]
				src += b.rs
			}
		}
	}
	return dst
}

// cpuCopyRuns copies kb runs of width contiguous floats, ld apart from
// data[src] on, into the sliver sl at steps of w (its mr or nr, at least
// width): packing an operand whose sliver lines are contiguous. A whole
// sliver goes through one vector loop; copy would call memmove for every
// run of 64 or 128 bytes.
func cpuCopyRuns(sl []float32, w int, data []float32, src, ld, width, kb int) {
	if kb > 0 && kernel.CopyRows(sl[:(kb-1)*w+width], data[src:], width, kb, w, ld) {
		return
	}
	for p := range kb {
		copy(sl[p*w:p*w+width], data[src+p*ld:src+p*ld+width])
	}
}

// cpuInterleave writes lines lines of kb contiguous floats, line q
// starting at data[off+q*ld], into dst so that element p of line q lands at
// dst[p*w+q]: the transposition that packing a row of A or a column of B
// needs: 16×16 blocks transposed in registers with AVX-512, else four
// lines at a time so that each store fills four adjacent floats.
func cpuInterleave(dst []float32, w int, data []float32, off, ld, lines, kb int) {
	if kernel.Transpose(dst, w, data[off:], ld, lines, kb) {
		return
	}
	q := 0
	for ; q+4 <= lines; q += 4 {
		l0 := data[off+q*ld : off+q*ld+kb]
		l1 := data[off+(q+1)*ld : off+(q+1)*ld+kb]
		l2 := data[off+(q+2)*ld : off+(q+2)*ld+kb]
		l3 := data[off+(q+3)*ld : off+(q+3)*ld+kb]
		for p := range l0 {
			o := dst[p*w+q : p*w+q+4 : p*w+q+4]
			o[0], o[1], o[2], o[3] = l0[p], l1[p], l2[p], l3[p]
		}
	}
	for ; q < lines; q++ {
		for p, v := range data[off+q*ld : off+q*ld+kb] {
			dst[p*w+q] = v
		}
	}
}

// cpuMacroKernel adds the product of the packed mb×kb block pa and kb×nb
// panel pb to c (or with add false stores it there), whose rows have
// stride ldc, tile by tile with the micro-kernel k; edge tiles go through a
// scratch tile. With bias not nil (the last panel of K of a product with
// an epilogue) each row r then goes through epi with bias[r].
func cpuMacroKernel(k cpuMicro, pa, pb, c []float32, ldc, mb, nb, kb int, add bool, tile *[cpuMaxTile]float32, epi *cpuGemmEpilogue, bias []float32, direct cpuDirectB) {
	mr, nr := k.mr, k.nr
	for ir := 0; ir < mb; ir += mr {
		as := pa[ir*kb : (ir+mr)*kb]
		for jr := 0; jr < nb; jr += nr {
			full := ir+mr <= mb && jr+nr <= nb
			switch {
			case full && direct.ldb > 0:
				var e *kernel.EpilogueArgs
				var rb []float32
				if bias != nil {
					e, rb = &epi.args, bias[ir:ir+mr]
				}
				k.strided(kb, as, direct.b[jr:], direct.ldb, c[ir*ldc+jr:], ldc, add, rb, e)
				continue
			case full && bias != nil:
				k.epi(kb, as, pb[jr*kb:(jr+nr)*kb], c[ir*ldc+jr:], ldc, add, bias[ir:ir+mr], &epi.args)
				continue
			case full:
				k.fn(kb, as, pb[jr*kb:(jr+nr)*kb], c[ir*ldc+jr:], ldc, add)
				continue
			}
			t := tile[:mr*nr]
			if direct.ldb > 0 {
				k.strided(kb, as, direct.b[jr:], direct.ldb, t, nr, false, nil, nil)
			} else {
				k.fn(kb, as, pb[jr*kb:(jr+nr)*kb], t, nr, false)
			}
			for r := range min(mr, mb-ir) {
				row, tr := c[(ir+r)*ldc+jr:][:min(nr, nb-jr)], t[r*nr:]
				switch {
				case !add:
					copy(row, tr)
				default:
					for q := range row {
						row[q] += tr[q]
					}
				}
				if bias != nil {
					args := epi.args
					args.Bias = bias[ir+r]
					for q := kernel.Epilogue(row, nil, &args); q < len(row); q++ {
						row[q] = args.Step(row[q], 0)
					}
				}
			}
		}
	}
}

// cpuDirectB is a block of B that a macro-kernel reads in place, rows ldb
// floats apart, rather than packed (ldb 0: packed).
type cpuDirectB struct {
	b   []float32
	ldb int
}

// cpuMicroKernel adds to the 4×2 tile of c (rows of stride ldc), or with add
// false stores into it, the product of a packed 4×k sliver a and a packed
// k×2 sliver b. The sixteen
// multiply-adds of two steps of k are written out so that the eight
// accumulators and the operands stay in registers.
func cpuMicroKernel(k int, a, b, c []float32, ldc int, add bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	a, b = a[:4*k], b[:2*k]
	for len(a) >= 8 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a0, a1, a2, a3 = a[4], a[5], a[6], a[7]
		b0, b1 = b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a, b = a[8:], b[4:]
	}
	if len(a) >= 4 && len(b) >= 2 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
	}
	if !add {
		c[0], c[1], c[ldc], c[ldc+1] = c00, c01, c10, c11
		c[2*ldc], c[2*ldc+1], c[3*ldc], c[3*ldc+1] = c20, c21, c30, c31
		return
	}
	r := c[:2:2]
	r[0] += c00
	r[1] += c01
	r = c[ldc : ldc+2 : ldc+2]
	r[0] += c10
	r[1] += c11
	r = c[2*ldc : 2*ldc+2 : 2*ldc+2]
	r[0] += c20
	r[1] += c21
	r = c[3*ldc : 3*ldc+2 : 3*ldc+2]
	r[0] += c30
	r[1] += c31
}

// vector computes products with a single row or a single column, where
// packing would cost more than the arithmetic: each output is a dot
// product, except that a row times a row-major b sums scaled rows of b so
// as to read b in order.
func (g *cpuGemm) vector(parallel bool) {
	per := g.m * g.n
	body := func(lo, hi int) {
		for l := lo / per; l*per < hi; l++ {
			i0, i1 := max(lo-l*per, 0), min(hi-l*per, per)
			a, b := g.a, g.b
			a.off += l * g.aStep
			b.off += l * g.bStep
			c := g.c[g.cOff+l*g.cStep:]
			if g.m == 1 && b.cs == 1 {
				g.rowTimes(c[i0:i1], a, b, i0)
				continue
			}
			for o := i0; o < i1; o++ {
				i, j := o/g.n, o%g.n
				v := cpuDot(a.data, a.off+i*a.rs, a.cs, b.data, b.off+j*b.cs, b.rs, g.k)
				if g.accumulate {
					v += c[i*g.ldc+j]
				}
				c[i*g.ldc+j] = v
			}
		}
	}
	if parallel {
		cpuParallel(g.batch*per, g.k, body)
	} else {
		body(0, g.batch*per)
	}
}

// rowTimes writes into c the columns [j0, j0+len(c)) of the row a times the
// row-major matrix b, adding them to c's contents when accumulating.
func (g *cpuGemm) rowTimes(c []float32, a, b cpuMatrix, j0 int) {
	if !g.accumulate {
		clear(c)
	}
	for p := range g.k {
		s := a.data[a.off+p*a.cs]
		row := b.data[b.off+p*b.rs+j0:]
		row = row[:len(c)]
		for j := kernel.Axpy(c, row, s); j < len(row); j++ {
			c[j] += s * row[j]
		}
	}
}

// cpuDot returns the dot product of n elements of x (from xo at steps of
// xs) and of y (from yo at steps of ys), in vector steps where both are
// contiguous.
func cpuDot(x []float32, xo, xs int, y []float32, yo, ys, n int) float32 {
	var s0, s1, s2, s3 float32
	if xs == 1 && ys == 1 {
		x, y = x[xo:xo+n], y[yo:yo+n]
		s, done := kernel.Dot(x, y)
		s0, x, y = s, x[done:], y[done:]
		for len(x) >= 4 && len(y) >= 4 {
			s0 += x[0] * y[0]
			s1 += x[1] * y[1]
			s2 += x[2] * y[2]
			s3 += x[3] * y[3]
			x, y = x[4:], y[4:]
		}
		for i := range x {
			s0 += x[i] * y[i]
		}
		return (s0 + s1) + (s2 + s3)
	}
	for range n {
		s0 += x[xo] * y[yo]
		xo += xs
		yo += ys
	}
	return s0
}

// cpuCeilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0.
func cpuCeilDiv(a, b int) int { return (a + b - 1) / b }

// cpuRoundUp returns the smallest multiple of m that is at least a.
func cpuRoundUp(a, m int) int { return cpuCeilDiv(a, m) * m }
