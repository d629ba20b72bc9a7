package tensor

import (
	"slices"

	"github.com/wgtensor/wgtensor/device"
)

// withLayout returns a view of t's memory with another layout.
func (t *Tensor) withLayout(shape, strides []int, offset int) *Tensor {
	return &Tensor{dev: t.dev, st: t.st, dtype: t.dtype, shape: shape, strides: strides, offset: offset, err: t.err}
}

// Reshape returns a tensor with the same elements in row-major order and the
// given shape; one dimension may be -1 and is then inferred. It is a view
// when the memory layout allows, as in PyTorch, and a copy otherwise.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = inferShape("Reshape", t.shape, shape)
	if strides, ok := viewStrides(t.shape, t.strides, shape); ok {
		return t.withLayout(shape, strides, t.offset)
	}
	c := t.copyContiguous()
	return c.withLayout(shape, device.ContiguousStrides(shape), c.offset)
}

// inferShape resolves a -1 in shape and checks that it holds as many
// elements as from.
func inferShape(op string, from, shape []int) []int {
	shape = slices.Clone(shape)
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panicf(op, "invalid shape %v", shape)
		default:
			known *= d
		}
	}
	n := device.Numel(from)
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			panicf(op, "cannot reshape %v into %v", from, shape)
		}
		shape[infer] = n / known
	}
	if device.Numel(shape) != n {
		panicf(op, "cannot reshape %v (%d elements) into %v", from, n, shape)
	}
	return shape
}

// viewStrides finds strides that present memory laid out as (shape,
// strides) with the new shape, when that is possible without a copy (the
// rule of PyTorch's view).
func viewStrides(shape, strides, newShape []int) ([]int, bool) {
	out := make([]int, len(newShape))
	if device.Numel(shape) == 0 || len(shape) == 0 {
		return device.ContiguousStrides(newShape), true
	}
	vd := len(newShape) - 1
	base := strides[len(strides)-1]
	tensorN, viewN := 1, 1
	for td := len(shape) - 1; td >= 0; td-- {
		tensorN *= shape[td]
		if td == 0 || (shape[td-1] != 1 && strides[td-1] != tensorN*base) {
			for vd >= 0 && (viewN < tensorN || newShape[vd] == 1) {
				out[vd] = viewN * base
				viewN *= newShape[vd]
				vd--
			}
			if viewN != tensorN {
				return nil, false
			}
			if td > 0 {
				base = strides[td-1]
				tensorN, viewN = 1, 1
			}
		}
	}
	return out, vd == -1
}

// Flatten merges the axes start..end (inclusive) into one.
func (t *Tensor) Flatten(start, end int) *Tensor {
	if len(t.shape) == 0 {
		return t.Reshape(1)
	}
	s, e := t.axis("Flatten", start), t.axis("Flatten", end)
	if s > e {
		panicf("Flatten", "start axis %d after end axis %d", start, end)
	}
	shape := append(slices.Clone(t.shape[:s]), device.Numel(t.shape[s:e+1]))
	return t.Reshape(append(shape, t.shape[e+1:]...)...)
}

// Permute reorders the axes: axis i of the result is axis dims[i] of t.
func (t *Tensor) Permute(dims ...int) *Tensor {
	if len(dims) != len(t.shape) {
		panicf("Permute", "%d axes given for a tensor of shape %v", len(dims), t.shape)
	}
	shape := make([]int, len(dims))
	strides := make([]int, len(dims))
	seen := make([]bool, len(dims))
	for i, d := range dims {
		d = t.axis("Permute", d)
		if seen[d] {
			panicf("Permute", "axis %d repeated in %v", d, dims)
		}
		seen[d] = true
		shape[i], strides[i] = t.shape[d], t.strides[d]
	}
	return t.withLayout(shape, strides, t.offset)
}

// Transpose swaps two axes. As in PyTorch, a 0-d tensor takes axes 0 and
// -1 and is returned as it is (a view).
func (t *Tensor) Transpose(a, b int) *Tensor {
	if len(t.shape) == 0 {
		scalarAxis("Transpose", a)
		scalarAxis("Transpose", b)
		return t.withLayout([]int{}, []int{}, t.offset)
	}
	a, b = t.axis("Transpose", a), t.axis("Transpose", b)
	shape, strides := slices.Clone(t.shape), slices.Clone(t.strides)
	shape[a], shape[b] = shape[b], shape[a]
	strides[a], strides[b] = strides[b], strides[a]
	return t.withLayout(shape, strides, t.offset)
}

// T swaps the last two axes (the matrix transpose, batched).
func (t *Tensor) T() *Tensor {
	if len(t.shape) < 2 {
		panicf("T", "tensor of shape %v has fewer than 2 dimensions", t.shape)
	}
	return t.Transpose(-2, -1)
}

// Narrow returns the view of length elements of axis starting at start.
func (t *Tensor) Narrow(axis, start, length int) *Tensor {
	a := t.axis("Narrow", axis)
	if start < 0 || length < 0 || start+length > t.shape[a] {
		panicf("Narrow", "range [%d, %d) outside axis %d of shape %v", start, start+length, axis, t.shape)
	}
	shape := slices.Clone(t.shape)
	shape[a] = length
	return t.withLayout(shape, slices.Clone(t.strides), t.offset+start*t.strides[a])
}

// Slice returns the view of elements start..end-1 of axis, with Python's
// rules: negative positions count from the end and the range is clipped to
// the axis. An optional step (positive, 1 by default) takes every step-th
// element, as t[start:end:step] in PyTorch.
func (t *Tensor) Slice(axis, start, end int, step ...int) *Tensor {
	a := t.axis("Slice", axis)
	s, e, st := SliceRange("Slice", t.shape[a], start, end, step)
	if st == 1 {
		return t.Narrow(a, s, e-s)
	}
	shape, strides := slices.Clone(t.shape), slices.Clone(t.strides)
	shape[a] = (e - s + st - 1) / st
	strides[a] *= st
	return t.withLayout(shape, strides, t.offset+s*t.strides[a])
}

// SliceRange resolves Slice's arguments for op on an axis of length n:
// positions clipped to [0, n] with negative ones counted from the end,
// start <= end, and the step (1 when none is given). It panics for op on
// a step that is not positive or more than one step.
func SliceRange(op string, n, start, end int, step []int) (s, e, st int) {
	st = 1
	switch {
	case len(step) > 1:
		panicf(op, "one step at most, got %v", step)
	case len(step) == 1:
		st = step[0]
	}
	if st <= 0 {
		panicf(op, "step %d must be positive", st)
	}
	clip := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	s, e = clip(start), clip(end)
	return s, max(e, s), st
}

// Select returns the view of index i of axis, with that axis removed;
// negative i counts from the end.
func (t *Tensor) Select(axis, i int) *Tensor {
	a := t.axis("Select", axis)
	if i < -t.shape[a] || i >= t.shape[a] {
		panicf("Select", "index %d out of range for axis %d of shape %v", i, axis, t.shape)
	}
	if i < 0 {
		i += t.shape[a]
	}
	shape := slices.Delete(slices.Clone(t.shape), a, a+1)
	strides := slices.Delete(slices.Clone(t.strides), a, a+1)
	return t.withLayout(shape, strides, t.offset+i*t.strides[a])
}

// Unsqueeze inserts an axis of length 1 at position axis (which may equal
// the number of dimensions, or count from the end).
func (t *Tensor) Unsqueeze(axis int) *Tensor {
	a := normAxis("Unsqueeze", axis, len(t.shape)+1)
	stride := 1
	if a < len(t.shape) {
		stride = t.strides[a] * t.shape[a]
	}
	shape := slices.Insert(slices.Clone(t.shape), a, 1)
	strides := slices.Insert(slices.Clone(t.strides), a, stride)
	return t.withLayout(shape, strides, t.offset)
}

// Squeeze removes the given axes, which must have length 1, or every axis
// of length 1 when none is given. As in PyTorch, a 0-d tensor takes axis 0
// or -1 and stays 0-d.
func (t *Tensor) Squeeze(axes ...int) *Tensor {
	if len(t.shape) == 0 {
		for _, a := range axes {
			scalarAxis("Squeeze", a)
		}
		return t.withLayout([]int{}, []int{}, t.offset)
	}
	drop := make([]bool, len(t.shape))
	if len(axes) == 0 {
		for i, d := range t.shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		a = t.axis("Squeeze", a)
		if t.shape[a] != 1 {
			panicf("Squeeze", "axis %d of shape %v has length %d, not 1", a, t.shape, t.shape[a])
		}
		drop[a] = true
	}
	shape, strides := []int{}, []int{}
	for i := range t.shape {
		if !drop[i] {
			shape = append(shape, t.shape[i])
			strides = append(strides, t.strides[i])
		}
	}
	return t.withLayout(shape, strides, t.offset)
}

// Expand returns a view repeating axes of length 1 (with stride 0) to reach
// shape; new leading axes may be added, and -1 keeps an axis's length.
func (t *Tensor) Expand(shape ...int) *Tensor {
	if len(shape) < len(t.shape) {
		panicf("Expand", "cannot expand shape %v to %v", t.shape, shape)
	}
	lead := len(shape) - len(t.shape)
	out := slices.Clone(shape)
	strides := make([]int, len(shape))
	for i := range shape {
		if i < lead {
			if shape[i] < 0 {
				panicf("Expand", "cannot expand shape %v to %v", t.shape, shape)
			}
			continue
		}
		d, s := t.shape[i-lead], t.strides[i-lead]
		switch {
		case shape[i] == -1 || shape[i] == d:
			out[i], strides[i] = d, s
		case d == 1 && shape[i] >= 0:
			strides[i] = 0
		default:
			panicf("Expand", "cannot expand shape %v to %v", t.shape, shape)
		}
	}
	return t.withLayout(out, strides, t.offset)
}

// BroadcastTo is Expand to a shape without -1.
func (t *Tensor) BroadcastTo(shape ...int) *Tensor { return t.Expand(shape...) }

// Contiguous returns t when its elements are dense in row-major order and a
// dense copy otherwise.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.copyContiguous()
}

// Clone returns a dense copy of t that shares no memory with it.
func (t *Tensor) Clone() *Tensor { return t.copyContiguous() }

// copyContiguous copies t into a new dense buffer.
func (t *Tensor) copyContiguous() *Tensor {
	out, ok := result(t.dev, t.dtype, slices.Clone(t.shape), t)
	if ok && out.Numel() > 0 {
		t.dev.Copy(out.view(), t.view())
	}
	keepAlive(t)
	return out
}

// AsType returns t converted to dt (t itself when it has that type). Float
// to int conversion truncates toward zero.
func (t *Tensor) AsType(dt DType) *Tensor {
	if dt == t.dtype {
		return t
	}
	out, ok := result(t.dev, dt, slices.Clone(t.shape), t)
	if ok && out.Numel() > 0 {
		t.dev.Copy(out.view(), t.view())
	}
	keepAlive(t)
	return out
}

// Concat joins tensors of one type and device along axis; their other axes
// must match.
func Concat(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		panicf("Concat", "no tensors")
	}
	first := ts[0]
	a := first.axis("Concat", axis)
	sameDevice("Concat", ts...)
	shape := slices.Clone(first.shape)
	shape[a] = 0
	for _, t := range ts {
		if t.dtype != first.dtype {
			panicf("Concat", "dtypes %v and %v differ", first.dtype, t.dtype)
		}
		if len(t.shape) != len(first.shape) {
			panicf("Concat", "shapes %v and %v have different ranks", first.shape, t.shape)
		}
		for d := range t.shape {
			if d != a && t.shape[d] != first.shape[d] {
				panicf("Concat", "shapes %v and %v differ outside axis %d", first.shape, t.shape, a)
			}
		}
		shape[a] += t.shape[a]
	}
	out, ok := result(first.dev, first.dtype, shape, ts...)
	if !ok {
		return out
	}
	pos := 0
	for _, t := range ts {
		if t.Numel() > 0 {
			first.dev.Copy(out.Narrow(a, pos, t.shape[a]).view(), t.view())
		}
		pos += t.shape[a]
	}
	keepAlive(ts...)
	return out
}

// Stack joins tensors of one shape along a new axis.
func Stack(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		panicf("Stack", "no tensors")
	}
	a := normAxis("Stack", axis, len(ts[0].shape)+1)
	sameDevice("Stack", ts...)
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !slices.Equal(t.shape, ts[0].shape) {
			panicf("Stack", "shapes %v and %v differ", ts[0].shape, t.shape)
		}
		if t.dtype != ts[0].dtype {
			panicf("Stack", "dtypes %v and %v differ", ts[0].dtype, t.dtype)
		}
		us[i] = t.Unsqueeze(a)
	}
	return Concat(us, a)
}

// Split cuts axis into views of size elements each (the last may be
// shorter).
func (t *Tensor) Split(size, axis int) []*Tensor {
	a := t.axis("Split", axis)
	if size <= 0 {
		panicf("Split", "size %d is not positive", size)
	}
	var parts []*Tensor
	for start := 0; start < t.shape[a]; start += size {
		parts = append(parts, t.Narrow(a, start, min(size, t.shape[a]-start)))
	}
	return parts
}

// Chunk cuts axis into n views of nearly equal size, as torch.chunk.
func (t *Tensor) Chunk(n, axis int) []*Tensor {
	if n <= 0 {
		panicf("Chunk", "count %d is not positive", n)
	}
	a := t.axis("Chunk", axis)
	return t.Split(max((t.shape[a]+n-1)/n, 1), a)
}
