package cpu

import "github.com/wgtensor/wgtensor/device/backend"

// cpuBlock is the number of elements an elementwise kernel handles at a
// time when some operand must first be gathered from strided memory.
const cpuBlock = 512

// cpuTile is the side of the square tiles in which a loop visits its two
// innermost dimensions when an operand runs across them (a transpose): all
// operands' memory of a tile then stays in cache.
const cpuTile = 32

// cpuLoop is the iteration space of a loop over several operands of the
// same shape: the shape after Coalesce, and each operand's strides and
// offset.
type cpuLoop struct {
	shape   []int
	strides [][]int
	offsets []int
}

// newCPULoop coalesces shape for operands with the given strides and
// offsets.
func newCPULoop(shape []int, strides [][]int, offsets []int) *cpuLoop {
	s, st := backend.Coalesce(shape, strides...)
	return &cpuLoop{shape: s, strides: st, offsets: offsets}
}

// cpuDenseLoop is newCPULoop for a dense operand followed by views.
func cpuDenseLoop(shape []int, views ...backend.View) *cpuLoop {
	strides := [][]int{backend.ContiguousStrides(shape)}
	offsets := []int{0}
	for _, v := range views {
		strides = append(strides, v.Strides)
		offsets = append(offsets, v.Offset)
	}
	return newCPULoop(shape, strides, offsets)
}

// inner returns operand j's stride along the innermost dimension.
func (l *cpuLoop) inner(j int) int {
	if len(l.shape) == 0 {
		return 1
	}
	return l.strides[j][len(l.shape)-1]
}

// offset returns operand j's offset of the element with row-major index flat.
func (l *cpuLoop) offset(j, flat int) int {
	off := l.offsets[j]
	for d := len(l.shape) - 1; d >= 0; d-- {
		off += flat % l.shape[d] * l.strides[j][d]
		flat /= l.shape[d]
	}
	return off
}

// each calls visit for runs of consecutive innermost elements that together
// cover the loop's n elements, on several goroutines when the elements,
// costing about cost operations each, are worth it. Each goroutine calls
// newVisit once to get its visit function, which can own scratch space.
// visit gets operand j's offset of a run's first element in off[j] and the
// run's length in n; it must not keep off.
func (l *cpuLoop) each(n, cost int, newVisit func() func(off []int, n int)) {
	if !l.transposes() {
		cpuParallel(n, cost, func(lo, hi int) { l.rows(lo, hi, newVisit()) })
		return
	}
	nd := len(l.shape)
	rows, cols := l.shape[nd-2], l.shape[nd-1]
	perMatrix := cpuCeilDiv(rows, cpuTile)
	cpuParallel(n/(rows*cols)*perMatrix, cpuTile*cols*cost, func(lo, hi int) {
		visit := newVisit()
		base := make([]int, len(l.offsets))
		off := make([]int, len(l.offsets))
		for band := lo; band < hi; band++ {
			r0 := band % perMatrix * cpuTile
			for j := range base {
				base[j] = l.offset(j, (band/perMatrix*rows+r0)*cols)
			}
			for c0 := 0; c0 < cols; c0 += cpuTile {
				for r := r0; r < min(r0+cpuTile, rows); r++ {
					for j, s := range l.strides {
						off[j] = base[j] + (r-r0)*s[nd-2] + c0*s[nd-1]
					}
					visit(off, min(cpuTile, cols-c0))
				}
			}
		}
	})
}

// transposes reports whether some operand steps through memory across the
// innermost dimension but more densely along the one before, so that
// visiting tiles beats visiting whole rows.
func (l *cpuLoop) transposes() bool {
	nd := len(l.shape)
	if nd < 2 || l.shape[nd-1] < cpuTile || l.shape[nd-2] < cpuTile {
		return false
	}
	for _, s := range l.strides {
		if s[nd-1] > cpuTile/2 && s[nd-2] < s[nd-1] {
			return true
		}
	}
	return false
}

// rows calls fn for each run of consecutive innermost elements among the
// elements with row-major indices [lo, hi): off[j] is operand j's offset of
// the run's first element and n the run's length; operand j's next elements
// follow at steps of inner(j). fn must not keep off.
func (l *cpuLoop) rows(lo, hi int, fn func(off []int, n int)) {
	if lo >= hi {
		return
	}
	off := make([]int, len(l.offsets))
	for j := range off {
		off[j] = l.offset(j, lo)
	}
	nd := len(l.shape)
	if nd == 0 {
		fn(off, 1)
		return
	}
	idx := make([]int, nd)
	for d, rem := nd-1, lo; d >= 0; d-- {
		idx[d] = rem % l.shape[d]
		rem /= l.shape[d]
	}
	last := nd - 1
	for pos := lo; ; {
		n := min(l.shape[last]-idx[last], hi-pos)
		fn(off, n)
		if pos += n; pos >= hi {
			return
		}
		for j := range off {
			off[j] -= idx[last] * l.strides[j][last]
		}
		idx[last] = 0
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			for j := range off {
				off[j] += l.strides[j][d]
			}
			if idx[d] < l.shape[d] {
				break
			}
			idx[d] = 0
			for j := range off {
				off[j] -= l.shape[d] * l.strides[j][d]
			}
		}
	}
}

// cpuOperand returns the n elements of x that start at off and follow at steps
// of stride: a subslice of x when they are contiguous, else a copy in buf
// (n <= cpuBlock then).
func cpuOperand[T cpuElem](x []T, off, stride, n int, buf *[cpuBlock]T) []T {
	if stride == 1 {
		return x[off : off+n]
	}
	b := buf[:n]
	for i := range b {
		b[i] = x[off]
		off += stride
	}
	return b
}

// cpuOperandBuf holds the gathered elements of one operand of a strided
// loop. A broadcast operand (stride 0), such as a bias added to every
// position of a feature map, repeats one element along the whole run; the
// buffer keeps which element it last repeated, and how often, so that runs
// reading the same element again do not refill it.
type cpuOperandBuf[T cpuElem] struct {
	buf     [cpuBlock]T
	repeats int // leading elements of buf equal to x[from]
	from    int
}

// operand returns the n elements of x from off, stride apart, gathering
// them into the buffer when they are not contiguous.
func (b *cpuOperandBuf[T]) operand(x []T, off, stride, n int) []T {
	if stride != 0 {
		b.repeats = 0
		return cpuOperand(x, off, stride, n, &b.buf)
	}
	if off != b.from || n > b.repeats {
		v := x[off]
		for i := range b.buf[:n] {
			b.buf[i] = v
		}
		b.from, b.repeats = off, n
	}
	return b.buf[:n]
}

// cpuBlocks calls fn(i, m) for consecutive pieces [i, i+m) of a run of n
// elements: the whole run when contiguous is set, else pieces of at most
// cpuBlock elements.
func cpuBlocks(n int, contiguous bool, fn func(i, m int)) {
	if contiguous {
		fn(0, n)
		return
	}
	for i := 0; i < n; i += cpuBlock {
		fn(i, min(cpuBlock, n-i))
	}
}
