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

// TestStackShapesNamed: stacking Vars of different shapes is an error that
// names Stack and both shapes (PyTorch: "stack expects each tensor to be
// equal size"), not the Concat that Stack is built on; the gradient of a
// stack is the slice of each input.
func TestStackShapesNamed(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			a := autograd.Param(tensor.New(dev, []float32{1, 2, 3}))
			for name, f := range map[string]func(){
				"autograd": func() { autograd.Stack([]*autograd.Var{a, autograd.Const(tensor.Zeros(dev, 4))}, 0) },
				"autograd/rank": func() {
					autograd.Stack([]*autograd.Var{a, a, autograd.Const(tensor.Zeros(dev, 1, 3))}, -1)
				},
				"tensor": func() { tensor.Stack([]*tensor.Tensor{a.Value(), tensor.Zeros(dev, 4)}, 0) },
			} {
				err := tensor.Maybe(f)
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), "tensor: Stack: shapes [3] and ", name)
			}
			b := autograd.Param(tensor.New(dev, []float32{4, 5, 6}))
			y := autograd.Stack([]*autograd.Var{a, b}, -1)
			assert.Equal(t, []int{3, 2}, y.Shape())
			assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, values(t, y.Value()))
			y.BackwardWith(tensor.New(dev, []float32{1, 2, 3, 4, 5, 6}, 3, 2))
			assert.Equal(t, []float32{1, 3, 5}, values(t, a.Grad()))
			assert.Equal(t, []float32{2, 4, 6}, values(t, b.Grad()))
		})
	}
}

// TestZeroDimAxes: as PyTorch, axis 0 or -1 names the value of a 0-d Var
// (a scalar has one axis of length 1 for dim wrapping): reductions, softmax
// and transpose give 0-d results and gradients, Softmax's and LogSoftmax's
// backward included; axis 1 is still an error naming the op. Values from
// PyTorch 1.13 with x = 1.5 and an upstream gradient of 2.5.
func TestZeroDimAxes(t *testing.T) {
	cases := []struct {
		name    string
		f       func(x *autograd.Var) *autograd.Var
		y, grad float32
	}{
		{"Sum", func(x *autograd.Var) *autograd.Var { return x.Sum(0) }, 1.5, 2.5},
		{"SumKeepDim", func(x *autograd.Var) *autograd.Var { return x.SumKeepDim(-1) }, 1.5, 2.5},
		{"Mean", func(x *autograd.Var) *autograd.Var { return x.Mean(-1) }, 1.5, 2.5},
		{"MeanKeepDim", func(x *autograd.Var) *autograd.Var { return x.MeanKeepDim(0) }, 1.5, 2.5},
		{"Max", func(x *autograd.Var) *autograd.Var { return x.Max(0) }, 1.5, 2.5},
		{"MaxKeepDim", func(x *autograd.Var) *autograd.Var { return x.MaxKeepDim(-1) }, 1.5, 2.5},
		{"Min", func(x *autograd.Var) *autograd.Var { return x.Min(-1) }, 1.5, 2.5},
		{"MinKeepDim", func(x *autograd.Var) *autograd.Var { return x.MinKeepDim(0) }, 1.5, 2.5},
		{"Softmax", func(x *autograd.Var) *autograd.Var { return x.Softmax(-1) }, 1, 0},
		{"Softmax/0", func(x *autograd.Var) *autograd.Var { return x.Softmax(0) }, 1, 0},
		{"LogSoftmax", func(x *autograd.Var) *autograd.Var { return x.LogSoftmax(0) }, 0, 0},
		{"LogSoftmax/-1", func(x *autograd.Var) *autograd.Var { return x.LogSoftmax(-1) }, 0, 0},
		{"Transpose", func(x *autograd.Var) *autograd.Var { return x.Transpose(0, -1) }, 1.5, 2.5},
		{"Squeeze", func(x *autograd.Var) *autograd.Var { return x.Squeeze(0) }, 1.5, 2.5},
	}
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.name, func(t *testing.T) {
				x := autograd.Param(tensor.Scalar(dev, 1.5))
				var y *autograd.Var
				require.NoError(t, tensor.Maybe(func() { y = c.f(x) }))
				assert.Empty(t, y.Shape())
				assert.Equal(t, []float32{c.y}, values(t, y.Value()))
				require.NoError(t, tensor.Maybe(func() { y.BackwardWith(tensor.Scalar(dev, 2.5)) }))
				assert.Empty(t, x.Grad().Shape())
				assert.Equal(t, []float32{c.grad}, values(t, x.Grad()))
			})
		}
		t.Run(dev.Kind().String()+"/ArgMax", func(t *testing.T) {
			x := autograd.Param(tensor.Scalar(dev, 1.5))
			var i *tensor.Tensor
			require.NoError(t, tensor.Maybe(func() { i = x.ArgMax(-1) }))
			assert.Empty(t, i.Shape())
			ints, err := i.Ints()
			require.NoError(t, err)
			assert.Equal(t, []int32{0}, ints)
		})
		t.Run(dev.Kind().String()+"/errors", func(t *testing.T) {
			x := autograd.Param(tensor.Scalar(dev, 1.5))
			for name, f := range map[string]func(){
				"Sum":        func() { x.Sum(1) },
				"Mean":       func() { x.Mean(-2) },
				"Max":        func() { x.Max(1) },
				"Min":        func() { x.MinKeepDim(1) },
				"ArgMax":     func() { x.ArgMax(1) },
				"Softmax":    func() { x.Softmax(1) },
				"LogSoftmax": func() { x.LogSoftmax(-2) },
				"Transpose":  func() { x.Transpose(0, 1) },
				"Squeeze":    func() { x.Squeeze(1) },
			} {
				err := tensor.Maybe(f)
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), "tensor: "+name+": axis", name)
			}
		})
	}
}

// TestMaskedGradientsSelect: derivative rules that are 0 somewhere select
// the upstream gradient rather than multiply it by a 0/1 mask, so an
// infinite or NaN upstream gradient where the derivative is 0 gives 0, as
// PyTorch's where and masked_fill do; where the derivative is 1 it passes
// unchanged. Also PyTorch's conventions at NaN inputs: relu' = 1, clamp' =
// 0, maximum and minimum pass the gradient to both operands. Values from
// PyTorch 1.13 (float64).
func TestMaskedGradientsSelect(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	x := []float32{1, -1, 0, 2, -3, 0.5, nan}
	up := []float32{inf, inf, -inf, 4, nan, 2, 3}
	a, b := []float32{1, 2, 0, -1, nan, 3}, []float32{0, 2, -1, 0, 1, nan}
	upAB := []float32{inf, -inf, nan, inf, 2, 3}
	unary := func(f func(*autograd.Var) *autograd.Var) func([]*autograd.Var) *autograd.Var {
		return func(v []*autograd.Var) *autograd.Var { return f(v[0]) }
	}
	cases := []struct {
		name  string
		args  [][]float32
		shape []int
		f     func([]*autograd.Var) *autograd.Var
		up    []float32
		want  [][]float32
	}{
		{"ReLU", [][]float32{x}, nil, unary((*autograd.Var).ReLU), up,
			[][]float32{{inf, 0, 0, 4, 0, 2, 3}}},
		{"Clamp", [][]float32{x}, nil, unary(func(v *autograd.Var) *autograd.Var { return v.Clamp(0, 1) }), up,
			[][]float32{{inf, 0, -inf, 0, 0, 2, 0}}},
		{"MaximumScalar", [][]float32{x}, nil, unary(func(v *autograd.Var) *autograd.Var { return v.MaximumScalar(0) }), up,
			[][]float32{{inf, 0, -inf, 4, 0, 2, 0}}},
		{"MinimumScalar", [][]float32{x}, nil, unary(func(v *autograd.Var) *autograd.Var { return v.MinimumScalar(0) }),
			[]float32{nan, inf, inf, inf, -inf, -inf, 3},
			[][]float32{{0, inf, inf, 0, -inf, 0, 0}}},
		{"Maximum", [][]float32{a, b}, nil, func(v []*autograd.Var) *autograd.Var { return v[0].Maximum(v[1]) }, upAB,
			[][]float32{{inf, -inf, nan, 0, 2, 3}, {0, -inf, 0, inf, 2, 3}}},
		{"Minimum", [][]float32{a, b}, nil, func(v []*autograd.Var) *autograd.Var { return v[0].Minimum(v[1]) }, upAB,
			[][]float32{{0, -inf, 0, inf, 2, 3}, {inf, -inf, nan, 0, 2, 3}}},
		// torch.max(x) and torch.min(x) over all elements: masked_fill.
		{"Max", [][]float32{{0, -1, -2, -3}}, []int{2, 2}, unary(func(v *autograd.Var) *autograd.Var { return v.Max() }),
			[]float32{inf}, [][]float32{{inf, 0, 0, 0}}},
		{"Min", [][]float32{{0, -1, -2, -3}}, []int{2, 2}, unary(func(v *autograd.Var) *autograd.Var { return v.Min() }),
			[]float32{-inf}, [][]float32{{0, 0, 0, -inf}}},
	}
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.name, func(t *testing.T) {
				var vs []*autograd.Var
				for _, d := range c.args {
					shape := c.shape
					if shape == nil {
						shape = []int{len(d)}
					}
					vs = append(vs, autograd.Param(tensor.New(dev, d, shape...)))
				}
				y := c.f(vs)
				y.BackwardWith(tensor.New(dev, c.up, y.Shape()...))
				for i, v := range vs {
					got := values(t, v.Grad())
					for j, w := range c.want[i] {
						if math.IsNaN(float64(w)) {
							assert.True(t, math.IsNaN(float64(got[j])), "input %d element %d: got %v, want NaN", i, j, got[j])
						} else {
							assert.Equal(t, w, got[j], "input %d element %d", i, j)
						}
					}
				}
			})
		}
		t.Run(dev.Kind().String()+"/relu>log", func(t *testing.T) {
			// The example of the differential test: x → relu → log → sum.
			v := autograd.Param(tensor.New(dev, []float32{1, -1, 0, 2, -3, 0.5}))
			v.ReLU().Log().Sum().Backward()
			assert.Equal(t, []float32{1, 0, 0, 0.5, 0, 2}, values(t, v.Grad()))
		})
	}
}
