package tensor

import (
	"github.com/wgtensor/wgtensor/device"
)

// Sum adds the elements along the given axes (all axes when none is
// given), removing them. As in PyTorch, axis 0 or -1 of a 0-d tensor names
// its value, for every reduction and ArgMax/ArgMin: the result is 0-d,
// with or without KeepDim.
func (t *Tensor) Sum(axes ...int) *Tensor { return t.reduce(device.ReduceSum, false, axes) }

// SumKeepDim is Sum keeping the reduced axes with length 1.
func (t *Tensor) SumKeepDim(axes ...int) *Tensor { return t.reduce(device.ReduceSum, true, axes) }

// Mean averages the elements along the given axes (all when none is given).
func (t *Tensor) Mean(axes ...int) *Tensor { return t.reduce(device.ReduceMean, false, axes) }

// MeanKeepDim is Mean keeping the reduced axes with length 1.
func (t *Tensor) MeanKeepDim(axes ...int) *Tensor { return t.reduce(device.ReduceMean, true, axes) }

// Max takes the largest element along the given axes (all when none is
// given); NaN propagates.
func (t *Tensor) Max(axes ...int) *Tensor { return t.reduce(device.ReduceMax, false, axes) }

// MaxKeepDim is Max keeping the reduced axes with length 1.
func (t *Tensor) MaxKeepDim(axes ...int) *Tensor { return t.reduce(device.ReduceMax, true, axes) }

// Min takes the smallest element along the given axes (all when none is
// given); NaN propagates.
func (t *Tensor) Min(axes ...int) *Tensor { return t.reduce(device.ReduceMin, false, axes) }

// MinKeepDim is Min keeping the reduced axes with length 1.
func (t *Tensor) MinKeepDim(axes ...int) *Tensor { return t.reduce(device.ReduceMin, true, axes) }

// reduceAxes marks the axes a reduction combines (all when none is given)
// and returns the permutation that puts the kept axes first.
func (t *Tensor) reduceAxes(op string, axes []int) (reduced []bool, perm []int, nRed int) {
	reduced = make([]bool, len(t.shape))
	for _, a := range axes {
		a = t.axis(op, a)
		if reduced[a] {
			panicf(op, "axis %d given twice", a)
		}
		reduced[a] = true
	}
	if len(axes) == 0 {
		for i := range reduced {
			reduced[i] = true
		}
	}
	for i, r := range reduced {
		if !r {
			perm = append(perm, i)
		}
	}
	for i, r := range reduced {
		if r {
			perm = append(perm, i)
			nRed++
		}
	}
	return reduced, perm, nRed
}

// reducedShape is t's shape without the reduced axes, or with them set to 1
// when keep is set.
func (t *Tensor) reducedShape(reduced []bool, keep bool) []int {
	shape := []int{}
	for i, d := range t.shape {
		switch {
		case !reduced[i]:
			shape = append(shape, d)
		case keep:
			shape = append(shape, 1)
		}
	}
	return shape
}

func (t *Tensor) reduce(op device.ReduceOp, keep bool, axes []int) *Tensor {
	name := op.String()
	if len(t.shape) == 0 && len(axes) > 0 {
		// Axis 0 or -1 of a 0-d tensor, as PyTorch: reduce the value as
		// a tensor of one axis of length 1, giving a 0-d result with or
		// without keep.
		for _, a := range axes {
			scalarAxis(name, a)
		}
		return t.Reshape(1).reduce(op, false, axes)
	}
	if t.dtype.IsHalf() {
		return narrow(widen(t).reduce(op, keep, axes), t.dtype)
	}
	reduced, perm, nRed := t.reduceAxes(name, axes)
	x := t
	if op == device.ReduceMean && t.dtype == Int32 {
		x = t.AsType(Float32)
	}
	shape := t.reducedShape(reduced, keep)
	if (op == device.ReduceMax || op == device.ReduceMin) && device.Numel(shape) > 0 {
		for i, r := range reduced {
			if r && t.shape[i] == 0 {
				panicf(name, "cannot reduce the empty axis %d of shape %v", i, t.shape)
			}
		}
	}
	out, ok := result(t.dev, x.dtype, shape, x)
	if ok && out.Numel() > 0 {
		t.dev.Reduce(op, out.st.buf, x.Permute(perm...).view(), nRed)
	}
	keepAlive(x)
	return out
}

// ArgMax returns the int32 index of the largest element along axis (the
// first on ties; NaN counts as largest), removing the axis.
func (t *Tensor) ArgMax(axis int) *Tensor { return t.argReduce(device.ReduceMax, axis, false) }

// ArgMaxKeepDim is ArgMax keeping the axis with length 1.
func (t *Tensor) ArgMaxKeepDim(axis int) *Tensor { return t.argReduce(device.ReduceMax, axis, true) }

// ArgMin returns the int32 index of the smallest element along axis.
func (t *Tensor) ArgMin(axis int) *Tensor { return t.argReduce(device.ReduceMin, axis, false) }

// ArgMinKeepDim is ArgMin keeping the axis with length 1.
func (t *Tensor) ArgMinKeepDim(axis int) *Tensor { return t.argReduce(device.ReduceMin, axis, true) }

func (t *Tensor) argReduce(op device.ReduceOp, axis int, keep bool) *Tensor {
	name := "Arg" + op.String()
	if len(t.shape) == 0 {
		// Axis 0 or -1 of a 0-d tensor, as PyTorch: index 0, 0-d.
		scalarAxis(name, axis)
		return t.Reshape(1).argReduce(op, 0, false)
	}
	if t.dtype.IsHalf() {
		return widen(t).argReduce(op, axis, keep)
	}
	a := t.axis(name, axis)
	reduced, perm, _ := t.reduceAxes(name, []int{a})
	shape := t.reducedShape(reduced, keep)
	if t.shape[a] == 0 && device.Numel(shape) > 0 {
		panicf(name, "cannot reduce the empty axis %d of shape %v", a, t.shape)
	}
	out, ok := result(t.dev, Int32, shape, t)
	if ok && out.Numel() > 0 {
		t.dev.ArgReduce(op, out.st.buf, t.Permute(perm...).view())
	}
	keepAlive(t)
	return out
}
