package cpu

import "github.com/wgtensor/wgtensor/device/internal/kernel"

// cpuTapGrad computes the weight gradient of a stride-1 convolution one
// kernel tap at a time, without a column matrix. For tap (kh, kw) the
// gradient is dW[o, c] = Σ_j dY[o, j] · X[c, j + shift], j running over the
// padded image's "wide" positions (see cpuIndirectConv) and the shift the
// tap's offset in it: a product whose operands are dY and the padded image
// with their channels last. With the channels last in blocks of 16, both
// operands are already in the layout of the 16×16 GEMM micro-kernel's
// packed slivers, and each tap's operand B is the same block shifted, so
// per image two transpositions (of dY and of x) replace the column matrix
// and its packing. It suits layers with 16 or more input channels per
// group; fewer would leave most of each block empty.
type cpuTapGrad struct {
	*cpuIndirectConv
	ogPad, cgPad int // channels per group rounded up to blocks of 16
	aRows, bRows int // wide positions of dY, and of the padded image with slack
	aSize, bSize int // floats of one image's operands, all groups
	cSize        int // floats of the per-tap gradients [KH·KW][G][ogPad][cgPad]
}

// tapGrad returns the tap-by-tap weight gradient of cv, or nil when the
// convolution does not suit it.
func (cv *cpuConv) tapGrad() *cpuTapGrad {
	if cv.p.StrideH != 1 || cv.p.StrideW != 1 {
		return nil
	}
	ic := cv.indirectPlan()
	if ic == nil || cv.cg < cpuIndirectTile {
		return nil
	}
	tg := &cpuTapGrad{cpuIndirectConv: ic,
		ogPad: cpuRoundUp(cv.og, cpuIndirectTile), cgPad: cpuRoundUp(cv.cg, cpuIndirectTile)}
	if 3*tg.cgPad > 4*cv.cg {
		return nil // a third or more of each input block would be padding
	}
	tg.aRows = cv.p.OH * ic.wp
	tg.bRows = ic.planeP + ic.wp
	g := cv.p.Groups
	tg.aSize, tg.bSize = g*tg.ogPad*tg.aRows, g*tg.cgPad*tg.bRows
	tg.cSize = cv.kk * g * tg.ogPad * tg.cgPad
	return tg
}

// operands writes image n's dY into a, [G][ogPad/16][aRows][16], and its
// input into b, [G][cgPad/16][bRows][16], at the positions of the padded
// image; the padding and the wide positions past OW keep the zeros that a
// and b were cleared to.
func (tg *cpuTapGrad) operands(a, b, x, dy []float32, n int) {
	p := tg.p
	out, in := p.OH*p.OW, p.H*p.W
	for g := range p.Groups {
		for o0 := 0; o0 < tg.og; o0 += cpuIndirectTile {
			blk := a[(g*tg.ogPad+o0)*tg.aRows:]
			src := dy[(n*p.O+g*tg.og+o0)*out:]
			lines := min(cpuIndirectTile, tg.og-o0)
			for oh := range p.OH {
				kernel.Transpose(blk[oh*tg.wp*cpuIndirectTile:], cpuIndirectTile, src[oh*p.OW:], out, lines, p.OW)
			}
		}
		for c0 := 0; c0 < tg.cg; c0 += cpuIndirectTile {
			blk := b[(g*tg.cgPad+c0)*tg.bRows:]
			src := x[(n*p.C+g*tg.cg+c0)*in:]
			lines := min(cpuIndirectTile, tg.cg-c0)
			for h := range p.H {
				at := (h+p.PadH)*tg.wp + p.PadW
				kernel.Transpose(blk[at*cpuIndirectTile:], cpuIndirectTile, src[h*p.W:], in, lines, p.W)
			}
		}
	}
}

// tiles returns the number of micro-kernel calls per image: one per tap,
// group, block of output channels and block of input channels.
func (tg *cpuTapGrad) tiles() int {
	return tg.kk * tg.p.Groups * (tg.ogPad / cpuIndirectTile) * (tg.cgPad / cpuIndirectTile)
}

// accumulate adds calls [lo, hi) of one image's product, whose operands are
// a and b, into the per-tap gradients c.
func (tg *cpuTapGrad) accumulate(c, a, b []float32, lo, hi int) {
	p := tg.p
	ob, cb := tg.ogPad/cpuIndirectTile, tg.cgPad/cpuIndirectTile
	// The kernel reads aRows steps of a block of a, and as many of a block
	// of b from the tap's shift on, which bRows leaves room for.
	_, _, _ = a[tg.aSize-1], b[tg.bSize-1], c[tg.cSize-1]
	for i := lo; i < hi; i++ {
		j, t := i%cb, i/cb
		k, t := t%ob, t/ob
		g, tap := t%p.Groups, t/p.Groups
		shift := tap/p.KW*p.DilH*tg.wp + tap%p.KW*p.DilW
		kernel.Sgemm16x16AVX512(tg.aRows,
			&a[(g*tg.ogPad+k*cpuIndirectTile)*tg.aRows],
			&b[(g*tg.cgPad+j*cpuIndirectTile)*tg.bRows+shift*cpuIndirectTile],
			&c[((tap*p.Groups+g)*tg.ogPad+k*cpuIndirectTile)*tg.cgPad+j*cpuIndirectTile], tg.cgPad, true, nil, nil, cpuIndirectTile)
	}
}

// weightGrad writes the weight gradient of the convolution of x, given dy,
// into dw: each worker sums its share of the images into its own per-tap
// gradients, which are then added in a fixed order.
func (tg *cpuTapGrad) weightGrad(dw, x, dy []float32) {
	p := tg.p
	workers := tg.workers()
	per := tg.aSize + tg.bSize + tg.cSize
	s := cpuGetScratch(workers, per)
	defer cpuScratchFree.put(s)
	clear(s.buf[:workers*per])
	parts := func(wk int) (a, b, c []float32) {
		w := s.per(wk)
		return w[:tg.aSize], w[tg.aSize : tg.aSize+tg.bSize], w[tg.aSize+tg.bSize:]
	}
	if workers == 1 {
		// Few images: each one's kernel calls are split over the cores.
		a, b, c := parts(0)
		for n := range p.N {
			tg.operands(a, b, x, dy, n)
			cpuParallel(tg.tiles(), tg.aRows*cpuIndirectTile*cpuIndirectTile, func(lo, hi int) {
				tg.accumulate(c, a, b, lo, hi)
			})
		}
	} else {
		cpuEachImage(p.N, workers, func(wk, n int) {
			a, b, c := parts(wk)
			tg.operands(a, b, x, dy, n)
			tg.accumulate(c, a, b, 0, tg.tiles())
		})
	}
	sums := make([][]float32, workers)
	for wk := range sums {
		_, _, sums[wk] = parts(wk)
	}
	for g := range p.Groups {
		for o := range tg.og {
			for ci := range tg.cg {
				to := dw[((g*tg.og+o)*tg.cg+ci)*tg.kk:][:tg.kk]
				for tap := range to {
					at := ((tap*p.Groups+g)*tg.ogPad+o)*tg.cgPad + ci
					var sum float32
					for _, c := range sums {
						sum += c[at]
					}
					to[tap] = sum
				}
			}
		}
	}
}
