package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// Regression tests for edge cases an independent differential test against
// PyTorch 1.13 found; the expected values are PyTorch's.

// TestComparisonsWithNaN: every comparison is false with a NaN operand
// except Ne, which is true, as IEEE 754 and PyTorch say; a NaN condition of
// Where counts as true.
func TestComparisonsWithNaN(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			u := tensor.New(dev, []float32{nan, nan, 1, inf, 2})
			v := tensor.New(dev, []float32{1, nan, nan, inf, 3})
			for name, c := range map[string]struct {
				got  *tensor.Tensor
				want []float32
			}{
				"Ne":           {u.Ne(v), []float32{1, 1, 1, 0, 1}},
				"Eq":           {u.Eq(v), []float32{0, 0, 0, 1, 0}},
				"Lt":           {u.Lt(v), []float32{0, 0, 0, 0, 1}},
				"Le":           {u.Le(v), []float32{0, 0, 0, 1, 1}},
				"Gt":           {u.Gt(v), []float32{0, 0, 0, 0, 0}},
				"Ge":           {u.Ge(v), []float32{0, 0, 0, 1, 0}},
				"NeScalar":     {u.NeScalar(1), []float32{1, 1, 0, 1, 1}},
				"NeScalar/NaN": {u.NeScalar(math.NaN()), []float32{1, 1, 1, 1, 1}},
				"EqScalar/NaN": {u.EqScalar(math.NaN()), []float32{0, 0, 0, 0, 0}},
				"LtScalar/NaN": {u.LtScalar(math.NaN()), []float32{0, 0, 0, 0, 0}},
				"GeScalar":     {u.GeScalar(2), []float32{0, 0, 0, 1, 1}},
				"Where":        {tensor.Where(tensor.New(dev, []float32{nan, 0, float32(math.Copysign(0, -1)), 1, -inf}), tensor.Ones(dev, 5), tensor.Zeros(dev, 5)), []float32{1, 0, 0, 1, 1}},
			} {
				got, err := c.got.Data()
				require.NoError(t, err, name)
				assert.Equal(t, c.want, got, name)
			}
			min, max := data(t, u.Minimum(v)), data(t, u.Maximum(v))
			for i := range 3 {
				assert.True(t, math.IsNaN(float64(min[i])) && math.IsNaN(float64(max[i])), "Minimum/Maximum with NaN at %d", i)
			}
		})
	}
}

// TestKernelLargerThanPaddedInput: convolutions and pooling refuse a kernel
// that does not fit the padded input, also when it overhangs by less than a
// stride (with dilation too), and accept one that fits exactly.
func TestKernelLargerThanPaddedInput(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		x2, x3 := tensor.Ones(dev, 1, 1, 2, 2), tensor.Ones(dev, 1, 1, 3, 3)
		for name, f := range map[string]func(){
			"MaxPool2D":  func() { tensor.MaxPool2D(x2, tensor.Pool2DOptions{Kernel: [2]int{3, 3}}) },
			"AvgPool2D":  func() { tensor.AvgPool2D(x2, tensor.Pool2DOptions{Kernel: [2]int{3, 3}}) },
			"Conv2D":     func() { tensor.Conv2D(x2, tensor.Ones(dev, 1, 1, 3, 3), tensor.Conv2DOptions{Stride: [2]int{2, 2}}) },
			"Conv2D/4x4": func() { tensor.Conv2D(x3, tensor.Ones(dev, 1, 1, 4, 4), tensor.Conv2DOptions{Stride: [2]int{2, 2}}) },
			"Conv2D/dilated": func() {
				tensor.Conv2D(x3, tensor.Ones(dev, 1, 1, 2, 2), tensor.Conv2DOptions{Stride: [2]int{2, 2}, Dilation: [2]int{3, 3}})
			},
			"Conv2D/widthonly": func() {
				tensor.Conv2D(tensor.Ones(dev, 1, 1, 5, 2), tensor.Ones(dev, 1, 1, 3, 3), tensor.Conv2DOptions{Stride: [2]int{2, 2}})
			},
		} {
			err := tensor.Maybe(f)
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), "more than the padded input", name)
		}
		y := tensor.Conv2D(x3, tensor.Ones(dev, 1, 1, 3, 3), tensor.Conv2DOptions{Stride: [2]int{2, 2}})
		assert.Equal(t, []float32{9}, data(t, y), "a kernel that fits exactly")
		p, _ := tensor.MaxPool2D(x3, tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}})
		assert.Equal(t, []int{1, 1, 2, 2}, p.Shape())
	}
}

// TestPoolingErrorShowsDefaultStride: the default stride (the kernel size)
// is filled in before an error prints the options.
func TestPoolingErrorShowsDefaultStride(t *testing.T) {
	x := tensor.Ones(devicetest.Devices(t)[0], 1, 1, 8, 8)
	err := tensor.Maybe(func() { tensor.MaxPool2D(x, tensor.Pool2DOptions{Kernel: [2]int{2, 2}, Padding: [2]int{2, 0}}) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stride [2 2]")
}

// TestSliceStep: t[start:end:step] as in PyTorch, with Python's clipping.
func TestSliceStep(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		x := tensor.Arange(dev, tensor.Float32, 0, 10, 1)
		assert.Equal(t, []float32{1, 4, 7}, data(t, x.Slice(0, 1, 9, 3)))
		assert.Equal(t, []float32{0, 2, 4, 6, 8}, data(t, x.Slice(0, -100, 100, 2)))
		assert.Equal(t, []int{0}, x.Slice(0, 5, 2, 2).Shape())
		assert.Error(t, tensor.Maybe(func() { x.Slice(0, 0, 5, 0) }))
		assert.Error(t, tensor.Maybe(func() { x.Slice(0, 0, 5, -1) }))
	}
}

// TestScalarTypePromotion: a float scalar makes int32 arithmetic float32,
// as PyTorch does; the Int variants and comparisons keep integers exact.
func TestScalarTypePromotion(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		i := tensor.New(dev, []int32{1, 5})
		assert.Equal(t, tensor.Float32, i.AddScalar(2).DType())
		assert.Equal(t, []float32{3.5, 7.5}, data(t, i.AddScalar(2.5)))
		assert.Equal(t, tensor.Float32, i.MaximumScalar(2).DType())
		assert.Equal(t, tensor.Int32, i.AddScalarInt(2).DType())
		v, err := i.MulScalarInt(3).SubScalarInt(1).Ints()
		require.NoError(t, err)
		assert.Equal(t, []int32{2, 14}, v)
		assert.Equal(t, []float32{1, 0}, data(t, i.LtScalar(2.5)))
		s := tensor.ScalarInt(dev, 7)
		assert.Zero(t, s.Dim())
		assert.Equal(t, tensor.Int32, s.DType())
		assert.Zero(t, tensor.Scalar(dev, 1.5).Dim())
	}
}
