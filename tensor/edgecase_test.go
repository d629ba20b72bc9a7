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

// TestZeroDimAxes: as PyTorch, axis 0 or -1 names the value of a 0-d
// tensor, as if it had one axis of length 1: reductions (with and without
// keepdim), argmax/argmin, softmax, transpose and squeeze accept it and
// give 0-d results; any other axis is still an error naming the op, and so
// is an axis given twice. Values from PyTorch 1.13.
func TestZeroDimAxes(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			x := tensor.Scalar(dev, -1.5)
			for name, c := range map[string]struct {
				f    func() *tensor.Tensor
				want float32
			}{
				"Sum":              {func() *tensor.Tensor { return x.Sum(0) }, -1.5},
				"SumKeepDim":       {func() *tensor.Tensor { return x.SumKeepDim(-1) }, -1.5},
				"Mean":             {func() *tensor.Tensor { return x.Mean(-1) }, -1.5},
				"Mean/int":         {func() *tensor.Tensor { return tensor.ScalarInt(dev, 3).MeanKeepDim(0) }, 3},
				"Max":              {func() *tensor.Tensor { return x.Max(0) }, -1.5},
				"MaxKeepDim":       {func() *tensor.Tensor { return x.MaxKeepDim(-1) }, -1.5},
				"Min":              {func() *tensor.Tensor { return x.Min(-1) }, -1.5},
				"MinKeepDim":       {func() *tensor.Tensor { return x.MinKeepDim(0) }, -1.5},
				"Softmax":          {func() *tensor.Tensor { return x.Softmax(0) }, 1},
				"Softmax/-1":       {func() *tensor.Tensor { return x.Softmax(-1) }, 1},
				"LogSoftmax":       {func() *tensor.Tensor { return x.LogSoftmax(-1) }, 0},
				"Transpose":        {func() *tensor.Tensor { return x.Transpose(0, -1) }, -1.5},
				"Transpose/-1,-1":  {func() *tensor.Tensor { return x.Transpose(-1, -1) }, -1.5},
				"Squeeze":          {func() *tensor.Tensor { return x.Squeeze(0) }, -1.5},
				"Squeeze/-1":       {func() *tensor.Tensor { return x.Squeeze(-1) }, -1.5},
				"ArgMax":           {func() *tensor.Tensor { return x.ArgMax(0).AsType(tensor.Float32) }, 0},
				"ArgMaxKeepDim":    {func() *tensor.Tensor { return x.ArgMaxKeepDim(-1).AsType(tensor.Float32) }, 0},
				"ArgMin":           {func() *tensor.Tensor { return x.ArgMin(-1).AsType(tensor.Float32) }, 0},
				"ArgMinKeepDim/0":  {func() *tensor.Tensor { return x.ArgMinKeepDim(0).AsType(tensor.Float32) }, 0},
				"Sum/all":          {func() *tensor.Tensor { return x.Sum() }, -1.5},
				"Softmax/vector-1": {func() *tensor.Tensor { return tensor.New(dev, []float32{0.5}).Softmax(-1).Reshape() }, 1},
			} {
				var got *tensor.Tensor
				if !assert.NoError(t, tensor.Maybe(func() { got = c.f() }), name) {
					continue
				}
				assert.Empty(t, got.Shape(), name)
				assert.Equal(t, []float32{c.want}, data(t, got), name)
			}
			for name, f := range map[string]func(){
				"Sum":        func() { x.Sum(1) },
				"Mean":       func() { x.MeanKeepDim(-2) },
				"Max":        func() { x.Max(1) },
				"Min":        func() { x.MinKeepDim(-2) },
				"ArgMax":     func() { x.ArgMax(1) },
				"ArgMin":     func() { x.ArgMinKeepDim(-2) },
				"Softmax":    func() { x.Softmax(1) },
				"LogSoftmax": func() { x.LogSoftmax(-2) },
				"Transpose":  func() { x.Transpose(0, 1) },
				"Squeeze":    func() { x.Squeeze(1) },
			} {
				err := tensor.Maybe(f)
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), "tensor: "+name+": axis", name)
			}
			err := tensor.Maybe(func() { x.Sum(0, -1) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tensor: Sum: axis 0 given twice")
			// Other ranks keep their checks: axis 1 of a 1-d tensor.
			err = tensor.Maybe(func() { tensor.Ones(dev, 2).Sum(1) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tensor: Sum: axis 1 out of range for 1 dimensions")
		})
	}
}

// TestTanhSigmoidSaturate: tanh is exactly ±1 where float32 tanh rounds to
// ±1 (|x| >= 9.0109), on the vector path (blocks of 8 elements) as on the
// scalar tail; sigmoid reaches exactly 1 for large x and tiny values, then
// 0, for very negative x; 1 - tanh(x)², tanh's derivative, is then exactly
// 0. Values from PyTorch 1.13 (float32).
func TestTanhSigmoidSaturate(t *testing.T) {
	inf := math.Inf(1)
	x := []float32{9.02, -9.02, 9.5, -10, 20, -20, 1e4, -1e4, float32(inf), float32(-inf), 50, 100, -100, 15.5, -15.5, 9.1}
	wantTanh := []float32{1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 1, -1, 1, -1, 1}
	s := []float32{17.5, 20, 50, 88, 89, 100, 1e4, float32(inf), -20, -50, -80, -87, -88, -100, -1e4, float32(-inf)}
	wantSigmoid := []float64{1, 1, 1, 1, 1, 1, 1, 1, 2.06115369216775e-09, 1.9287498933537385e-22,
		1.8048513285848406e-35, 1.6458115938842401e-38, 6.054601485195952e-39, 0, 0, 0}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			for _, n := range []int{16, 8, 3} { // vector blocks, one block, the scalar tail alone
				assert.Equal(t, wantTanh[:n], data(t, tensor.New(dev, x[:n]).Tanh()), "tanh of %d elements", n)
				got := data(t, tensor.New(dev, s[:n]).Sigmoid())
				for i, g := range got {
					// WGSL's exp is not correctly rounded and may flush
					// denormals (sigmoid(-88) is one) to 0.
					assert.InDelta(t, wantSigmoid[i], g, 1e-5*wantSigmoid[i]+1e-38, "sigmoid(%v) of %d elements", s[i], n)
				}
			}
			// The gradient of tanh there, 1 - y², is exactly 0.
			assert.Equal(t, make([]float32, 16), data(t, tensor.New(dev, x).Tanh().Square().RSubScalar(1)))
			assert.Equal(t, make([]float32, 16), data(t, tensor.Ones(dev, 16).TanhGrad(tensor.New(dev, x).Tanh())))
		})
	}
}

// TestPowSpecialCases: pow follows C's powf, as PyTorch: ±0 and ±inf
// bases with odd, even and non-integer exponents of both signs, NaN,
// exponents ±0, ±inf and huge (even) ones, negative finite bases; 1^y and
// x^0 are 1 even for NaN. Each of Pow (broadcast), PowScalar and
// RPowScalar. Values from PyTorch 1.13 (float32).
func TestPowSpecialCases(t *testing.T) {
	inf, nan, negz := float32(math.Inf(1)), float32(math.NaN()), float32(math.Copysign(0, -1))
	exps := []float32{0, negz, 1, 2, 3, -1, -2, -3, 0.5, -0.5, 2.5, inf, -inf, nan, 1e30}
	table := []struct {
		base float32
		want []float32
	}{
		{0, []float32{1.0, 1.0, 0, 0, 0, inf, inf, inf, 0, inf, 0, 0, inf, nan, 0}},
		{negz, []float32{1.0, 1.0, negz, 0, negz, -inf, inf, -inf, 0, inf, 0, 0, inf, nan, 0}},
		{inf, []float32{1.0, 1.0, inf, inf, inf, 0, 0, 0, inf, 0, inf, inf, 0, nan, inf}},
		{-inf, []float32{1.0, 1.0, -inf, inf, -inf, negz, 0, negz, inf, 0, inf, inf, 0, nan, inf}},
		{nan, []float32{1.0, 1.0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan}},
		{1.0, []float32{1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}},
		{-1.0, []float32{1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, nan, nan, nan, 1.0, 1.0, nan, 1.0}},
		{-2.0, []float32{1.0, 1.0, -2.0, 4.0, -8.0, -0.5, 0.25, -0.125, nan, nan, nan, inf, 0, nan, inf}},
		{2.0, []float32{1.0, 1.0, 2.0, 4.0, 8.0, 0.5, 0.25, 0.125, 1.4142135381698608, 0.7071067690849304, 5.656854152679443, inf, 0, nan, inf}},
		{0.5, []float32{1.0, 1.0, 0.5, 0.25, 0.125, 2.0, 4.0, 8.0, 0.7071067690849304, 1.4142135381698608, 0.1767766922712326, 0, inf, nan, 0}},
		{-0.5, []float32{1.0, 1.0, -0.5, 0.25, -0.125, -2.0, 4.0, -8.0, nan, nan, nan, 0, inf, nan, 0}},
	}
	check := func(t *testing.T, what string, base, exp, want, got float32) {
		t.Helper()
		switch {
		case want != want:
			assert.True(t, got != got, "%s: pow(%v, %v) = %v, want NaN", what, base, exp, got)
		case want == 0 || math.IsInf(float64(want), 0):
			assert.Equal(t, math.Float32bits(want), math.Float32bits(got), "%s: pow(%v, %v) = %v, want %v", what, base, exp, got, want)
		default:
			assert.InEpsilon(t, want, got, 1e-6, "%s: pow(%v, %v)", what, base, exp)
		}
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			var bases []float32
			for _, r := range table {
				bases = append(bases, r.base)
			}
			all := data(t, tensor.New(dev, bases, len(bases), 1).Pow(tensor.New(dev, exps)))
			for i, r := range table {
				for j, e := range exps {
					check(t, "Pow", r.base, e, r.want[j], all[i*len(exps)+j])
				}
			}
			b := tensor.New(dev, bases)
			for j, e := range exps {
				got := data(t, b.PowScalar(float64(e)))
				for i, r := range table {
					check(t, "PowScalar", r.base, e, r.want[j], got[i])
				}
			}
			ex := tensor.New(dev, exps)
			for _, r := range table {
				got := data(t, ex.RPowScalar(float64(r.base)))
				for j, e := range exps {
					check(t, "RPowScalar", r.base, e, r.want[j], got[j])
				}
			}
		})
	}
}

// TestWhereDenseRuns: Where over dense runs longer than the CPU's vector
// blocks (the derivative rules select with it in every training step):
// a NaN condition counts as true, -0 and 0 as false, and the chosen
// elements are copied exactly, -0 and NaN included.
func TestWhereDenseRuns(t *testing.T) {
	nan, negz := float32(math.NaN()), float32(math.Copysign(0, -1))
	conds := []float32{0, negz, 1, -2, nan, float32(math.Inf(-1)), 1e-40}
	n := 37
	c, a, b := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		c[i] = conds[(i*5)%len(conds)]
		a[i], b[i] = float32(i), -float32(i)
		if i%6 == 0 {
			a[i], b[i] = negz, nan
		}
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			got := data(t, tensor.Where(tensor.New(dev, c), tensor.New(dev, a), tensor.New(dev, b)))
			for i := range n {
				want := b[i]
				if c[i] != 0 {
					want = a[i]
				}
				if want != want {
					assert.True(t, got[i] != got[i], "element %d (condition %v) = %v, want NaN", i, c[i], got[i])
				} else {
					assert.Equal(t, math.Float32bits(want), math.Float32bits(got[i]), "element %d (condition %v)", i, c[i])
				}
			}
		})
	}
}

// TestActivationGradients: TanhGrad and SigmoidGrad are g·(1 − y²) and
// g·y·(1 − y) on every device, as the three ops they replace compute them
// (torch's tanh_backward and sigmoid_backward), with NaN and infinities in
// either operand, broadcasting, int32 and float16 operands.
func TestActivationGradients(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	g := []float32{1, -2, 0.5, 3, nan, inf, -inf, 1, 2, 0, 1e30, -0.25}
	y := []float32{0.5, -0.75, 0.99, 0, 0.5, 1, 0.25, nan, inf, -inf, 0.5, 1}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			gt, yt := tensor.New(dev, g), tensor.New(dev, y)
			for _, c := range []struct {
				name      string
				got, want *tensor.Tensor
			}{
				{"TanhGrad", gt.TanhGrad(yt), gt.Mul(yt.Square().RSubScalar(1))},
				{"SigmoidGrad", gt.SigmoidGrad(yt), gt.Mul(yt).Mul(yt.RSubScalar(1))},
				{"TanhGrad/broadcast", gt.Reshape(3, 4).TanhGrad(yt.Reshape(3, 4).Narrow(0, 1, 1)), gt.Reshape(3, 4).Mul(yt.Reshape(3, 4).Narrow(0, 1, 1).Square().RSubScalar(1))},
				{"SigmoidGrad/int32", tensor.New(dev, []int32{1, -2, 3}).SigmoidGrad(tensor.New(dev, []int32{0, 1, 2})), tensor.New(dev, []float32{0, 0, -6})},
			} {
				want, got := data(t, c.want), data(t, c.got)
				require.Len(t, got, len(want), c.name)
				for i := range want {
					if want[i] != want[i] {
						assert.True(t, got[i] != got[i], "%s[%d] = %v, want NaN", c.name, i, got[i])
						continue
					}
					assert.InDelta(t, want[i], got[i], 1e-6*math.Abs(float64(want[i])), "%s[%d]", c.name, i)
				}
			}
			h := tensor.New(dev, g[:4]).AsType(tensor.Float16).TanhGrad(tensor.New(dev, y[:4]).AsType(tensor.Float16))
			assert.Equal(t, tensor.Float16, h.DType())
			assert.InDeltaSlice(t, []float32{0.75, -0.875, 0.00995, 3}, data(t, h.AsType(tensor.Float32)), 2e-3)
		})
	}
}
