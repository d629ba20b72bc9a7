package tensor

import (
	"fmt"
	"slices"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/internal/half"
)

// Ops on Float16 and BFloat16 tensors compute in float32 and round each
// result to the 16-bit type once, as PyTorch's CPU kernels do: sums, means
// and products accumulate in float32, and elementwise ops see the exact
// float32 values of their 16-bit inputs. Comparisons give float32 masks
// and ArgMax int32 indices, as for float32.

// promoteTypes is the type two operands of an elementwise op compute in,
// as torch.promote_types: int32 takes the float type, two different float
// types meet in float32.
func promoteTypes(a, b DType) DType {
	switch {
	case a == b:
		return a
	case a == Int32:
		return b
	case b == Int32:
		return a
	}
	return Float32
}

// resultType is the type of an elementwise op on a and b, as PyTorch's
// type promotion: a 0-d operand does not widen a dimensioned one of the
// same kind (a float16 tensor times a 0-d float32 tensor stays float16).
func resultType(a, b *Tensor) DType {
	if (a.Dim() == 0) != (b.Dim() == 0) {
		dims, zero := a, b
		if a.Dim() == 0 {
			dims, zero = b, a
		}
		if dims.dtype.IsFloat() == zero.dtype.IsFloat() {
			return dims.dtype
		}
	}
	return promoteTypes(a.dtype, b.dtype)
}

// anyHalf reports whether any of ts is a 16-bit float.
func anyHalf(ts ...*Tensor) bool {
	return slices.ContainsFunc(ts, func(t *Tensor) bool { return t != nil && t.dtype.IsHalf() })
}

// widen returns a 16-bit float t as float32, anything else as it is.
func widen(t *Tensor) *Tensor {
	if t == nil || !t.dtype.IsHalf() {
		return t
	}
	return t.AsType(Float32)
}

// narrow rounds the float32 result of an op computed for 16-bit floats to
// their type dt; other results pass unchanged.
func narrow(t *Tensor, dt DType) *Tensor {
	if !dt.IsHalf() || t.dtype != Float32 {
		return t
	}
	return t.AsType(dt)
}

// FromBits returns a Float16 or BFloat16 tensor on dev holding the 16-bit
// floats whose bits are data, in row-major order; without a shape it is
// one-dimensional. It panics when the shape does not hold len(data)
// elements or dt is not a 16-bit float type.
func FromBits(dev device.Device, dt DType, data []uint16, shape ...int) *Tensor {
	if !dt.IsHalf() {
		panicf("FromBits", "%v is not a 16-bit float type", dt)
	}
	if shape == nil {
		shape = []int{len(data)}
	}
	checkShape("FromBits", shape)
	if n := device.Numel(shape); n != len(data) {
		panicf("FromBits", "shape %v holds %d elements, data has %d", shape, n, len(data))
	}
	t := empty(dev, dt, slices.Clone(shape))
	if t.err == nil && len(data) > 0 {
		if err := dev.Write(t.st.buf, data); err != nil {
			return failed(dev, dt, t.shape, err)
		}
	}
	return t
}

// Bits waits for a Float16 or BFloat16 tensor to be computed and returns
// the bits of its elements in row-major order.
func (t *Tensor) Bits() ([]uint16, error) {
	if !t.dtype.IsHalf() {
		return nil, fmt.Errorf("tensor: Bits: a %v tensor has no 16-bit floats (convert it with AsType)", t.dtype)
	}
	out := make([]uint16, t.Numel())
	return out, t.read("Bits", out)
}

// halfData reads a 16-bit float tensor as float32.
func (t *Tensor) halfData() ([]float32, error) {
	bits, err := t.Bits()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(bits))
	half.Decode(out, bits, t.dtype == BFloat16)
	return out, nil
}
