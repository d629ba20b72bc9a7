package tensor

import (
	"slices"

	"github.com/wgtensor/wgtensor/device"
)

// MatMul returns the matrix product of t and o with torch.matmul's rules:
// a one-dimensional operand is a vector (a row on the left, a column on the
// right, its axis removed from the result), and leading batch axes
// broadcast.
func (t *Tensor) MatMul(o *Tensor) *Tensor {
	sameDevice("MatMul", t, o)
	if t.dtype != o.dtype || !t.dtype.IsFloat() {
		panicf("MatMul", "operands of one float type only, got %v and %v", t.dtype, o.dtype)
	}
	if hk, ok := t.dev.(device.HalfKernels); t.dtype.IsHalf() && (!ok || !hk.MatMulHalf(t.dtype)) {
		// Accumulated in float32, rounded once (a device that takes the
		// 16-bit operands natively does the same in one pass).
		return narrow(widen(t).MatMul(widen(o)), t.dtype)
	}
	if t.Dim() == 0 || o.Dim() == 0 {
		panicf("MatMul", "shapes %v and %v: both need at least one dimension", t.shape, o.shape)
	}
	a, b := t, o
	if a.Dim() == 1 {
		a = a.Unsqueeze(0)
	}
	if b.Dim() == 1 {
		b = b.Unsqueeze(1)
	}
	m, k := a.shape[a.Dim()-2], a.shape[a.Dim()-1]
	n := b.shape[b.Dim()-1]
	if b.shape[b.Dim()-2] != k {
		panicf("MatMul", "shapes %v and %v do not fit", t.shape, o.shape)
	}
	batch := BroadcastShapes("MatMul", a.shape[:a.Dim()-2], b.shape[:b.Dim()-2])
	a = a.Expand(append(slices.Clone(batch), m, k)...)
	b = b.Expand(append(slices.Clone(batch), k, n)...)

	shape := slices.Clone(batch)
	if t.Dim() > 1 {
		shape = append(shape, m)
	}
	if o.Dim() > 1 {
		shape = append(shape, n)
	}
	av, bv := batched(a, len(batch)), batched(b, len(batch))
	if nb := av.shape[0]; nb > 1 && bv.strides[0] == 0 && (av.strides[0] == m*av.strides[1] || m == 1) {
		// A right operand shared by every batch element (a weight applied
		// to a batch of sequences) and left rows that continue from one
		// batch element to the next, or single rows at any stride (a
		// sequence-first view of a batch of one): one product of nb·m rows
		// is faster than nb products of m.
		rowStride := av.strides[1]
		if m == 1 {
			rowStride = av.strides[0]
		}
		av = av.withLayout([]int{1, nb * m, k}, []int{0, rowStride, av.strides[2]}, av.offset)
		bv = bv.withLayout([]int{1, k, n}, bv.strides, bv.offset)
	}
	out, ok := result(t.dev, Float32, shape, av, bv)
	if ok && out.Numel() > 0 {
		t.dev.MatMul(out.st.buf, av.view(), bv.view())
	}
	keepAlive(av, bv)
	return narrow(out, t.dtype)
}

// batched presents t [batch..., r, c] as [B, r, c] with one batch stride,
// copying t when its batch axes cannot be traversed with a single stride.
func batched(t *Tensor, nb int) *Tensor {
	nbatch := device.Numel(t.shape[:nb])
	bshape, bstrides := device.Coalesce(t.shape[:nb], t.strides[:nb])
	if len(bshape) > 1 {
		t = t.Contiguous()
		bshape, bstrides = device.Coalesce(t.shape[:nb], t.strides[:nb])
	}
	stride := 0
	if len(bshape) == 1 {
		stride = bstrides[0][0]
	}
	r, c := t.shape[nb], t.shape[nb+1]
	return t.withLayout([]int{nbatch, r, c}, []int{stride, t.strides[nb], t.strides[nb+1]}, t.offset)
}
