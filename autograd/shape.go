package autograd

import (
	"github.com/wgtensor/wgtensor/tensor"
)

// Reshape returns v with another shape (see tensor.Tensor.Reshape).
func (v *Var) Reshape(shape ...int) *Var {
	in := v.val.Shape()
	return record("Reshape", v.val.Reshape(shape...), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Reshape(in...))
	}, v)
}

// Flatten merges the axes start..end into one.
func (v *Var) Flatten(start, end int) *Var {
	in := v.val.Shape()
	return record("Flatten", v.val.Flatten(start, end), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Reshape(in...))
	}, v)
}

// Permute reorders the axes.
func (v *Var) Permute(dims ...int) *Var {
	out := v.val.Permute(dims...)
	inverse := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			d += len(dims)
		}
		inverse[d] = i
	}
	return record("Permute", out, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Permute(inverse...))
	}, v)
}

// Transpose swaps two axes.
func (v *Var) Transpose(a, b int) *Var {
	return record("Transpose", v.val.Transpose(a, b), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Transpose(a, b))
	}, v)
}

// T swaps the last two axes.
func (v *Var) T() *Var {
	return record("T", v.val.T(), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g.T()) }, v)
}

// Contiguous returns v with its elements dense in memory; the gradient
// passes unchanged.
func (v *Var) Contiguous() *Var {
	return record("Contiguous", v.val.Contiguous(), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g) }, v)
}

// padAxis places g, a slice of length g.Size(axis) starting at start, into
// zeros of length n along axis.
func padAxis(g *tensor.Tensor, axis, start, n int) *tensor.Tensor {
	length := g.Size(axis)
	if start == 0 && length == n {
		return g
	}
	parts := make([]*tensor.Tensor, 0, 3)
	shape := g.Shape()
	if start > 0 {
		shape[axis] = start
		parts = append(parts, tensor.FullOf(g.Device(), g.DType(), 0, shape...))
	}
	parts = append(parts, g)
	if rest := n - start - length; rest > 0 {
		shape[axis] = rest
		parts = append(parts, tensor.FullOf(g.Device(), g.DType(), 0, shape...))
	}
	return tensor.Concat(parts, axis)
}

// Narrow returns length elements of axis starting at start.
func (v *Var) Narrow(axis, start, length int) *Var {
	out := v.val.Narrow(axis, start, length)
	a := normAxis("Narrow", axis, v.val.Dim())
	n := v.val.Size(a)
	r := record("Narrow", out, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(padAxis(g, a, start, n))
	}, v)
	if r.node != nil {
		r.node.slice = &slicePlace{axis: a, start: start}
	}
	return r
}

// Slice returns elements start..end-1 of axis with Python's rules, every
// step-th one when a step is given (see tensor.Tensor.Slice).
func (v *Var) Slice(axis, start, end int, step ...int) *Var {
	a := normAxis("Slice", axis, v.val.Dim())
	n := v.val.Size(a)
	s, e, st := tensor.SliceRange("Slice", n, start, end, step)
	if st == 1 {
		return v.Narrow(a, s, e-s)
	}
	out := v.val.Slice(a, s, e, st)
	return record("Slice", out, func(g *tensor.Tensor) []*tensor.Tensor {
		// Spread g to every step-th position: each element followed by
		// step-1 zeros, cut to the axis and placed at s.
		m := g.Size(a)
		zeros := g.Shape()
		zeros = append(zeros[:a+1], append([]int{st - 1}, zeros[a+1:]...)...)
		spread := tensor.Concat([]*tensor.Tensor{g.Unsqueeze(a + 1), tensor.FullOf(g.Device(), g.DType(), 0, zeros...)}, a+1)
		shape := g.Shape()
		shape[a] = m * st
		spread = spread.Reshape(shape...).Narrow(a, 0, min(m*st, n-s))
		return grads(padAxis(spread, a, s, n))
	}, v)
}

// Select returns index i of axis, removing the axis.
func (v *Var) Select(axis, i int) *Var {
	a := normAxis("Select", axis, v.val.Dim())
	n := v.val.Size(a)
	out := v.val.Select(a, i)
	if i < 0 {
		i += n
	}
	r := record("Select", out, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(padAxis(g.Unsqueeze(a), a, i, n))
	}, v)
	if r.node != nil {
		r.node.slice = &slicePlace{axis: a, start: i, removed: true}
	}
	return r
}

// Unsqueeze inserts an axis of length 1.
func (v *Var) Unsqueeze(axis int) *Var {
	out := v.val.Unsqueeze(axis)
	a := normAxis("Unsqueeze", axis, out.Dim())
	return record("Unsqueeze", out, func(g *tensor.Tensor) []*tensor.Tensor { return grads(g.Squeeze(a)) }, v)
}

// Squeeze removes axes of length 1 (all of them when none is given).
func (v *Var) Squeeze(axes ...int) *Var {
	in := v.val.Shape()
	return record("Squeeze", v.val.Squeeze(axes...), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Reshape(in...))
	}, v)
}

// Expand repeats axes of length 1 to reach shape; the gradient sums the
// repeats.
func (v *Var) Expand(shape ...int) *Var {
	in := v.val.Shape()
	return record("Expand", v.val.Expand(shape...), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(sumTo(g, in))
	}, v)
}

// Concat joins Vars along axis.
func Concat(vs []*Var, axis int) *Var {
	ts := make([]*tensor.Tensor, len(vs))
	for i, v := range vs {
		ts[i] = v.val
	}
	out := tensor.Concat(ts, axis)
	a := normAxis("Concat", axis, out.Dim())
	return record("Concat", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gs := make([]*tensor.Tensor, len(vs))
		pos := 0
		for i, t := range ts {
			n := t.Size(a)
			if vs[i].requiresGrad {
				gs[i] = g.Narrow(a, pos, n)
			}
			pos += n
		}
		return gs
	}, vs...)
}

// Stack joins Vars of one shape along a new axis (see tensor.Stack, which
// reports Vars of different shapes); each gets its slice of the gradient.
func Stack(vs []*Var, axis int) *Var {
	ts := make([]*tensor.Tensor, len(vs))
	for i, v := range vs {
		ts[i] = v.val
	}
	out := tensor.Stack(ts, axis)
	a := normAxis("Stack", axis, out.Dim())
	return record("Stack", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gs := make([]*tensor.Tensor, len(vs))
		for i, v := range vs {
			if v.requiresGrad {
				gs[i] = g.Select(a, i)
			}
		}
		return gs
	}, vs...)
}

// Split cuts axis into parts of size elements (the last may be shorter).
func (v *Var) Split(size, axis int) []*Var {
	a := normAxis("Split", axis, v.val.Dim())
	var parts []*Var
	for _, p := range v.val.Split(size, a) {
		start := len(parts) * size
		parts = append(parts, v.Narrow(a, start, p.Size(a)))
	}
	return parts
}

// Chunk cuts axis into n parts of nearly equal size.
func (v *Var) Chunk(n, axis int) []*Var {
	if n <= 0 {
		panicf("Chunk", "count %d is not positive", n)
	}
	a := normAxis("Chunk", axis, v.val.Dim())
	return v.Split(max((v.val.Size(a)+n-1)/n, 1), a)
}

// normAxis resolves a negative axis of op, panicking when it is out of
// range.
func normAxis(op string, a, rank int) int {
	if a < -rank || a >= rank {
		panicf(op, "axis %d out of range for %d dimensions", a, rank)
	}
	if a < 0 {
		a += rank
	}
	return a
}
