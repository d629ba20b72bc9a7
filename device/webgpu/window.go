//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"slices"

	"github.com/wgtensor/wgtensor/device/backend"
)

// Buffers larger than one binding covers (maxStorageBufferBindingSize, 128
// MiB on lavapipe, while maxBufferSize is 2 GiB) are bound a window at a
// time: an op whose operands do not fit splits its work into parts whose
// elements do, and binds each operand's buffer from an aligned byte offset
// just before the part's first element. The kernels take the element
// offsets of their operands as parameters, so a part is the same kernel
// with rebased offsets. The parts run in order in one command stream.

// oversized reports whether any of args is bound to a buffer larger than
// one binding covers, so that the op must be split.
func (g *gpuDevice) oversized(args []gpuArg) bool {
	for _, a := range args {
		if a.gb != nil && a.gb.size > g.bindLimit {
			return true
		}
	}
	return false
}

// passElements is how many 4-byte elements one part of a split op reads
// from an operand: half a binding, leaving room for the window's alignment
// and for parts that are not cut exactly.
func (g *gpuDevice) passElements() int { return int(g.bindLimit) / 4 / 2 }

// passRows is how many rows of n elements one part of a split op covers:
// as many as passElements holds, and at least one.
func (g *gpuDevice) passRows(n int) int { return max(g.passElements()/max(n, 1), 1) }

// span returns the first and the last element that a view of shape and
// strides from offset touches; both are offset when the view is empty.
func span(offset int, shape, strides []int) (lo, hi int) {
	lo, hi = offset, offset
	if slices.Contains(shape, 0) {
		return lo, hi
	}
	for d, n := range shape {
		if s := (n - 1) * strides[d]; s > 0 {
			hi += s
		} else {
			lo += s
		}
	}
	return lo, hi
}

// window narrows a to the elements lo…hi of its buffer. The binding starts
// at the adapter's offset alignment at or before lo; start is the element
// it starts at, which the kernel's offsets of the operand are rebased by.
// The window may still be larger than a binding covers, which the caller
// checks with fits.
func (g *gpuDevice) window(a gpuArg, lo, hi int) (w gpuArg, start int) {
	if a.gb == nil {
		return a, 0
	}
	esize := a.gb.dt.Size()
	last := int(a.gb.size)/esize - 1
	lo = min(max(lo, 0), last)
	hi = min(max(hi, lo), last)
	align := int(max(g.limits.MinStorageBufferOffsetAlignment, 16)) / esize
	start = lo - lo%align
	a.offset = uint64(start * esize)
	a.size = min(uint64((hi+1-start)*esize+15)/16*16, a.gb.size-a.offset)
	return a, start
}

// fits reports whether every one of args fits one binding.
func (g *gpuDevice) fits(args []gpuArg) bool {
	for _, a := range args {
		if a.size > g.bindLimit {
			return false
		}
	}
	return true
}

// ewPart is a part of an elementwise kernel's iteration space: shape, each
// operand's offset and strides, and lin, the element its linear operands
// start at.
type ewPart struct {
	shape   []int
	strides [][]int
	offs    []int
	lin     int
}

// bind windows args to the part and returns the part rebased to the
// windows, and whether every window fits a binding.
func (g *gpuDevice) bind(p ewPart, args []gpuArg) (ewPart, []gpuArg, bool) {
	bound := make([]gpuArg, len(args))
	rebased := p
	rebased.offs = append([]int(nil), p.offs...)
	n := backend.Numel(p.shape)
	for i, a := range args {
		if a.view == 0 {
			w, start := g.window(a, p.lin, p.lin+n-1)
			bound[i], rebased.lin = w, p.lin-start
			continue
		}
		k := a.view - 1
		lo, hi := span(p.offs[k], p.shape, p.strides[k])
		w, start := g.window(a, lo, hi)
		bound[i], rebased.offs[k] = w, p.offs[k]-start
	}
	return rebased, bound, g.fits(bound)
}

// splitElementwise calls launch for parts of p, in order, whose operands
// each fit one binding: it halves the outermost dimension until they do,
// dropping dimensions of size 1. A single element always fits.
func (g *gpuDevice) splitElementwise(p ewPart, args []gpuArg, launch func(ewPart, []gpuArg) error) error {
	if rebased, bound, ok := g.bind(p, args); ok {
		return launch(rebased, bound)
	}
	outer := func(q ewPart) ewPart {
		q.shape = q.shape[1:]
		q.strides = make([][]int, len(p.strides))
		for k, s := range p.strides {
			q.strides[k] = s[1:]
		}
		return q
	}
	if p.shape[0] == 1 {
		return g.splitElementwise(outer(p), args, launch)
	}
	rows, inner := p.shape[0], backend.Numel(p.shape[1:])
	step := (rows + 1) / 2
	for r0 := 0; r0 < rows; r0 += step {
		q := p
		q.shape = append([]int{min(step, rows-r0)}, p.shape[1:]...)
		q.offs = make([]int, len(p.offs))
		for k, off := range p.offs {
			q.offs[k] = off + r0*p.strides[k][0]
		}
		q.lin = p.lin + r0*inner
		if err := g.splitElementwise(q, args, launch); err != nil {
			return err
		}
	}
	return nil
}
