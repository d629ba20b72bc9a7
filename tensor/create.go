package tensor

import (
	"math"
	"math/rand/v2"

	"github.com/wgtensor/wgtensor/device"
)

// Elem is the Go type of a tensor element.
type Elem interface{ float32 | int32 }

// New returns a tensor on dev holding a copy of data with the given shape;
// without a shape it is one-dimensional. It panics when the shape does not
// hold len(data) elements.
func New[T Elem](dev device.Device, data []T, shape ...int) *Tensor {
	if shape == nil {
		shape = []int{len(data)}
	}
	checkShape("New", shape)
	if n := device.Numel(shape); n != len(data) {
		panicf("New", "shape %v holds %d elements, data has %d", shape, n, len(data))
	}
	var dt DType = Float32
	if _, ok := any(data).([]int32); ok {
		dt = Int32
	}
	t := empty(dev, dt, append([]int(nil), shape...))
	if t.err == nil && len(data) > 0 {
		if err := dev.Write(t.st.buf, data); err != nil {
			return failed(dev, dt, t.shape, err)
		}
	}
	return t
}

// Scalar returns a zero-dimensional float32 tensor holding v, as
// torch.tensor(v).
func Scalar(dev device.Device, v float32) *Tensor {
	return New(dev, []float32{v}, []int{}...)
}

// ScalarInt returns a zero-dimensional int32 tensor holding v.
func ScalarInt(dev device.Device, v int32) *Tensor {
	return New(dev, []int32{v}, []int{}...)
}

// checkShape panics for op when a dimension is negative.
func checkShape(op string, shape []int) {
	for _, d := range shape {
		if d < 0 {
			panicf(op, "negative dimension in shape %v", shape)
		}
	}
}

// Full returns a float32 tensor of the given shape with every element v.
func Full(dev device.Device, v float64, shape ...int) *Tensor {
	return FullOf(dev, Float32, v, shape...)
}

// FullOf returns a tensor of type dt and the given shape with every element
// v.
func FullOf(dev device.Device, dt DType, v float64, shape ...int) *Tensor {
	checkShape("Full", shape)
	t := empty(dev, dt, append([]int{}, shape...))
	if t.err == nil {
		dev.Fill(t.st.buf, v)
	}
	return t
}

// Zeros returns a float32 tensor of zeros.
func Zeros(dev device.Device, shape ...int) *Tensor { return Full(dev, 0, shape...) }

// Ones returns a float32 tensor of ones.
func Ones(dev device.Device, shape ...int) *Tensor { return Full(dev, 1, shape...) }

// ZerosLike returns zeros of t's shape, type and device.
func ZerosLike(t *Tensor) *Tensor { return FullOf(t.dev, t.dtype, 0, t.shape...) }

// OnesLike returns ones of t's shape, type and device.
func OnesLike(t *Tensor) *Tensor { return FullOf(t.dev, t.dtype, 1, t.shape...) }

// FullLike returns a tensor of t's shape, type and device filled with v.
func FullLike(t *Tensor, v float64) *Tensor { return FullOf(t.dev, t.dtype, v, t.shape...) }

// Arange returns the one-dimensional tensor start, start+step, ... up to but
// excluding stop, of type dt.
func Arange(dev device.Device, dt DType, start, stop, step float64) *Tensor {
	if step == 0 || math.IsNaN(start) || math.IsNaN(stop) || math.IsNaN(step) {
		panicf("Arange", "invalid range start=%v stop=%v step=%v", start, stop, step)
	}
	n := max(int(math.Ceil((stop-start)/step)), 0)
	if dt == Int32 {
		data := make([]int32, n)
		for i := range data {
			data[i] = int32(start + float64(i)*step)
		}
		return New(dev, data)
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(start + float64(i)*step)
	}
	return New(dev, data).AsType(dt)
}

// Rand returns a float32 tensor of values drawn uniformly from [0, 1) by
// rng. The values are drawn on the host, so a seed gives the same tensor on
// every device.
func Rand(dev device.Device, rng *rand.Rand, shape ...int) *Tensor {
	return Uniform(dev, rng, 0, 1, shape...)
}

// Uniform returns a float32 tensor of values drawn uniformly from [lo, hi).
func Uniform(dev device.Device, rng *rand.Rand, lo, hi float64, shape ...int) *Tensor {
	checkShape("Uniform", shape)
	data := make([]float32, device.Numel(shape))
	for i := range data {
		data[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return New(dev, data, shape...)
}

// Randn returns a float32 tensor of standard normal values drawn by rng.
func Randn(dev device.Device, rng *rand.Rand, shape ...int) *Tensor {
	checkShape("Randn", shape)
	data := make([]float32, device.Numel(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return New(dev, data, shape...)
}

// RandInt returns an int32 tensor of values drawn uniformly from [lo, hi).
func RandInt(dev device.Device, rng *rand.Rand, lo, hi int, shape ...int) *Tensor {
	checkShape("RandInt", shape)
	if hi <= lo {
		panicf("RandInt", "empty range [%d, %d)", lo, hi)
	}
	data := make([]int32, device.Numel(shape))
	for i := range data {
		data[i] = int32(lo + rng.IntN(hi-lo))
	}
	return New(dev, data, shape...)
}

// NewRNG returns a random number generator seeded with seed, for Rand,
// Randn and the initialisers built on them.
func NewRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
