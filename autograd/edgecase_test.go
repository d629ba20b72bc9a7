package autograd_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// Regression tests for edge cases an independent differential test against
// PyTorch 1.13 found; the expected values are PyTorch's (float64).

// TestPowGradientAtZero: d(a^b)/da is 0 where b is 0, also at a = 0 where
// b·a^(b-1) is 0·∞; d/db is 0 at a = 0 with b >= 0.
func TestPowGradientAtZero(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			a := autograd.Param(tensor.New(dev, []float32{0, 0, 2, 0}))
			b := autograd.Param(tensor.New(dev, []float32{0, 2, 0, -1}))
			y := a.Pow(b)
			y.Sum().Backward()
			assert.Equal(t, []float32{1, 0, 1, inf}, values(t, y.Value()))
			assert.Equal(t, []float32{0, 0, 0, -inf}, values(t, a.Grad()))
			gb := values(t, b.Grad())
			assert.Equal(t, []float32{0, 0}, gb[:2])
			assert.InDelta(t, math.Ln2, gb[2], 1e-6)
			assert.Equal(t, -inf, gb[3])
		})
	}
}

// TestMatMulEmptyInnerBackward: products whose inner dimension is 0 are
// zeros, and so are their gradients, in the shapes of the operands.
func TestMatMulEmptyInnerBackward(t *testing.T) {
	cases := []struct {
		name   string
		as, bs []int
	}{
		{"batched", []int{2, 3, 0}, []int{0, 4}},
		{"batched-vector", []int{3, 8, 0}, []int{0}},
		{"linear", []int{2, 2, 0}, []int{0, 3}},
		{"matrix", []int{3, 0}, []int{0, 2}},
		{"batch-both", []int{2, 3, 0}, []int{2, 0, 4}},
	}
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.name, func(t *testing.T) {
				a := autograd.Param(tensor.Zeros(dev, c.as...))
				b := autograd.Param(tensor.Zeros(dev, c.bs...))
				y := a.MatMul(b)
				for _, v := range values(t, y.Value()) {
					assert.Zero(t, v)
				}
				y.Sum().Backward()
				require.NoError(t, a.Grad().Err())
				require.NoError(t, b.Grad().Err())
				assert.Equal(t, c.as, a.Grad().Shape())
				assert.Equal(t, c.bs, b.Grad().Shape())
			})
		}
	}
}

// TestAxisErrorsNameTheOp: an axis out of range names the op it was given
// to, through autograd too.
func TestAxisErrorsNameTheOp(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		x := autograd.Param(tensor.Zeros(dev, 2, 3))
		idx := tensor.New(dev, []int32{0, 1}, 2, 1)
		for name, f := range map[string]func(){
			"Gather":      func() { x.Gather(2, idx) },
			"IndexSelect": func() { x.IndexSelect(-3, tensor.New(dev, []int32{0})) },
			"Sum":         func() { x.Sum(5) },
			"Narrow":      func() { x.Narrow(7, 0, 1) },
		} {
			err := tensor.Maybe(f)
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), "tensor: "+name+": axis", name)
		}
	}
}

// TestConv2DBias: the bias is added per output channel, and one of the
// wrong length is an error naming Conv2D and the bias.
func TestConv2DBias(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		x := autograd.Const(tensor.Ones(dev, 1, 1, 2, 2))
		w := autograd.Param(tensor.Ones(dev, 2, 1, 1, 1))
		b := autograd.Param(tensor.New(dev, []float32{10, 20}))
		y := autograd.Conv2DBias(x, w, b, tensor.Conv2DOptions{})
		assert.Equal(t, []float32{11, 11, 11, 11, 21, 21, 21, 21}, values(t, y.Value()))
		y.Sum().Backward()
		assert.Equal(t, []float32{4, 4}, values(t, b.Grad()))
		assert.Equal(t, []float32{4}, values(t, autograd.Conv2DBias(x, w.Narrow(0, 0, 1), nil, tensor.Conv2DOptions{}).Sum().Value()))
		err := tensor.Maybe(func() { autograd.Conv2DBias(x, w, autograd.Const(tensor.Ones(dev, 3)), tensor.Conv2DOptions{}) })
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Conv2D: bias of shape [3]")
	}
}

// TestNoGradientOps: comparisons, index reductions and int casts on a Var
// give plain tensors or constants, as PyTorch gives no gradient there.
func TestNoGradientOps(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		a := autograd.Param(tensor.New(dev, []float32{3, 1, 2, 1}, 2, 2))
		b := autograd.Param(tensor.New(dev, []float32{3, 0, 5, 1}, 2, 2))
		assert.Equal(t, []float32{1, 0, 0, 1}, values(t, a.Eq(b)))
		assert.Equal(t, []float32{0, 1, 1, 0}, values(t, a.Ne(b)))
		assert.Equal(t, []float32{0, 0, 1, 0}, values(t, a.Lt(b)))
		assert.Equal(t, []float32{1, 1, 0, 1}, values(t, a.Ge(b)))
		assert.Equal(t, []float32{0, 1, 0, 1}, values(t, a.LeScalar(1)))
		assert.Equal(t, []int{2, 1}, a.ArgMaxKeepDim(1).Shape())
		mins, err := a.ArgMin(1).Ints()
		require.NoError(t, err)
		assert.Equal(t, []int32{1, 1}, mins)
		assert.Same(t, a, a.AsType(tensor.Float32))
		ints := a.AsType(tensor.Int32)
		assert.False(t, ints.RequiresGrad())
		assert.Equal(t, tensor.Int32, ints.Value().DType())
	}
}
