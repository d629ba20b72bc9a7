package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// input describes one operand of an op case: its values are drawn on the
// host from gen (standard normal when nil) so that every device sees the
// same numbers, then view turns the dense tensor into the operand.
type input struct {
	shape []int
	dt    tensor.DType
	gen   func(r *rand.Rand) float64
	view  func(*tensor.Tensor) *tensor.Tensor
}

// opCase is one row of the op table: f maps the operands to results, which
// must match the CPU's within tol on every device.
type opCase struct {
	name string
	in   []input
	f    func(x []*tensor.Tensor) []*tensor.Tensor
	tol  devicetest.Tol
}

func f32(shape ...int) input { return input{shape: shape, dt: tensor.Float32} }

func withGen(in input, gen func(r *rand.Rand) float64) input {
	in.gen = gen
	return in
}

func withView(in input, view func(*tensor.Tensor) *tensor.Tensor) input {
	in.view = view
	return in
}

func ints(lo, hi int, shape ...int) input {
	return input{shape: shape, dt: tensor.Int32, gen: func(r *rand.Rand) float64 { return float64(lo + r.IntN(hi-lo)) }}
}

func positive(shape ...int) input {
	return withGen(f32(shape...), func(r *rand.Rand) float64 { return 0.05 + 3*r.Float64() })
}

// transposed is an input stored as [cols, rows] and presented transposed,
// so it is not contiguous.
func transposed(rows, cols int) input {
	return withView(f32(cols, rows), func(t *tensor.Tensor) *tensor.Tensor { return t.T() })
}

// offsetSlice is an input cut out of a larger buffer, starting at an offset.
func offsetSlice(shape ...int) input {
	big := append([]int{shape[0] + 3}, shape[1:]...)
	return withView(f32(big...), func(t *tensor.Tensor) *tensor.Tensor { return t.Narrow(0, 2, shape[0]) })
}

func one(f func(x []*tensor.Tensor) *tensor.Tensor) func(x []*tensor.Tensor) []*tensor.Tensor {
	return func(x []*tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{f(x)} }
}

var (
	exact   = devicetest.Tol{}
	tight   = devicetest.Tol{Abs: 1e-6, Rel: 1e-6}
	transc  = devicetest.Tol{Abs: 1e-6, Rel: 2e-5} // exp, log, sin, ... on GPU hardware
	summed  = devicetest.Tol{Abs: 1e-5, Rel: 1e-5} // reductions, summed in another order
	product = devicetest.Tol{Abs: 1e-4, Rel: 1e-4} // matmul and conv: long dot products
)

func unaryCases() []opCase {
	type unary struct {
		name string
		f    func(*tensor.Tensor) *tensor.Tensor
		in   func(shape ...int) input
		tol  devicetest.Tol
	}
	ops := []unary{
		{"Neg", (*tensor.Tensor).Neg, f32, exact},
		{"Abs", (*tensor.Tensor).Abs, f32, exact},
		{"Sign", (*tensor.Tensor).Sign, f32, exact},
		{"Square", (*tensor.Tensor).Square, f32, tight},
		{"Exp", (*tensor.Tensor).Exp, f32, transc},
		{"Log", (*tensor.Tensor).Log, positive, transc},
		{"Sqrt", (*tensor.Tensor).Sqrt, positive, transc},
		{"Rsqrt", (*tensor.Tensor).Rsqrt, positive, transc},
		{"Recip", (*tensor.Tensor).Recip, positive, tight},
		{"Sin", (*tensor.Tensor).Sin, f32, transc},
		{"Cos", (*tensor.Tensor).Cos, f32, transc},
		{"Tanh", (*tensor.Tensor).Tanh, f32, transc},
		{"Sigmoid", (*tensor.Tensor).Sigmoid, f32, transc},
		{"ReLU", (*tensor.Tensor).ReLU, f32, exact},
		{"GELU", (*tensor.Tensor).GELU, f32, transc},
		{"GELUGrad", (*tensor.Tensor).GELUGrad, f32, transc},
		{"Erf", (*tensor.Tensor).Erf, f32, transc},
	}
	var cases []opCase
	for _, op := range ops {
		for _, n := range []int{1, 3, 17, 1000} {
			cases = append(cases, opCase{name: fmt.Sprintf("%s/%d", op.name, n), in: []input{op.in(n)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: op.tol})
		}
		cases = append(cases,
			opCase{name: op.name + "/empty", in: []input{op.in(0, 5)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: op.tol},
			opCase{name: op.name + "/transposed", in: []input{withView(op.in(33, 17), func(t *tensor.Tensor) *tensor.Tensor { return t.T() })}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: op.tol},
			opCase{name: op.name + "/offset", in: []input{withView(op.in(9, 7), func(t *tensor.Tensor) *tensor.Tensor { return t.Narrow(0, 2, 5).Narrow(1, 1, 5) })}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: op.tol},
		)
	}
	// Values where naive formulas overflow or lose precision.
	extreme := withGen(f32(64), func(r *rand.Rand) float64 {
		v := []float64{1e4, -1e4, 88, -88, 100, -100, 20, -20, 1e-7, -1e-7, 1e-3, 0.1, 0, 9.5}
		return v[r.IntN(len(v))]
	})
	for _, op := range []struct {
		name string
		f    func(*tensor.Tensor) *tensor.Tensor
	}{{"Tanh", (*tensor.Tensor).Tanh}, {"Sigmoid", (*tensor.Tensor).Sigmoid}, {"GELU", (*tensor.Tensor).GELU}, {"ReLU", (*tensor.Tensor).ReLU}} {
		cases = append(cases, opCase{name: op.name + "/extreme", in: []input{extreme}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: transc})
	}
	nans := withGen(f32(40), func(r *rand.Rand) float64 {
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -1.5, 2}[r.IntN(6)]
	})
	for _, op := range []struct {
		name string
		f    func(*tensor.Tensor) *tensor.Tensor
	}{{"Sign", (*tensor.Tensor).Sign}, {"ReLU", (*tensor.Tensor).ReLU}, {"Abs", (*tensor.Tensor).Abs}, {"Neg", (*tensor.Tensor).Neg}} {
		cases = append(cases, opCase{name: op.name + "/nan-inf", in: []input{nans}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: exact})
	}
	for _, op := range []struct {
		name string
		f    func(*tensor.Tensor) *tensor.Tensor
	}{{"Neg", (*tensor.Tensor).Neg}, {"Abs", (*tensor.Tensor).Abs}, {"Sign", (*tensor.Tensor).Sign}, {"Square", (*tensor.Tensor).Square}, {"Exp", (*tensor.Tensor).Exp}} {
		cases = append(cases, opCase{name: op.name + "/int32", in: []input{ints(-9, 10, 4, 7)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0]) }), tol: transc})
	}
	return cases
}

func binaryCases() []opCase {
	type binary struct {
		name string
		f    func(a, b *tensor.Tensor) *tensor.Tensor
		s    func(a *tensor.Tensor, s float64) *tensor.Tensor
		tol  devicetest.Tol
	}
	T := (*tensor.Tensor)(nil)
	_ = T
	ops := []binary{
		{"Add", (*tensor.Tensor).Add, (*tensor.Tensor).AddScalar, tight},
		{"Sub", (*tensor.Tensor).Sub, (*tensor.Tensor).SubScalar, tight},
		{"Mul", (*tensor.Tensor).Mul, (*tensor.Tensor).MulScalar, tight},
		{"Div", (*tensor.Tensor).Div, (*tensor.Tensor).DivScalar, tight},
		{"Maximum", (*tensor.Tensor).Maximum, (*tensor.Tensor).MaximumScalar, exact},
		{"Minimum", (*tensor.Tensor).Minimum, (*tensor.Tensor).MinimumScalar, exact},
		{"Eq", (*tensor.Tensor).Eq, (*tensor.Tensor).EqScalar, exact},
		{"Ne", (*tensor.Tensor).Ne, (*tensor.Tensor).NeScalar, exact},
		{"Lt", (*tensor.Tensor).Lt, (*tensor.Tensor).LtScalar, exact},
		{"Le", (*tensor.Tensor).Le, (*tensor.Tensor).LeScalar, exact},
		{"Gt", (*tensor.Tensor).Gt, (*tensor.Tensor).GtScalar, exact},
		{"Ge", (*tensor.Tensor).Ge, (*tensor.Tensor).GeScalar, exact},
	}
	shapes := []struct {
		name string
		a, b input
	}{
		{"same/1", f32(1), f32(1)},
		{"same/1000", f32(1000), f32(1000)},
		{"broadcast/17x1+1x33", f32(17, 1), f32(1, 33)},
		{"broadcast/3x4x5+5", f32(3, 4, 5), f32(5)},
		{"broadcast/scalar", f32(2, 3), f32()},
		{"transposed", transposed(17, 33), f32(17, 33)},
		{"offset", offsetSlice(5, 7), transposed(5, 7)},
		{"empty", f32(0, 3), f32(1, 3)},
	}
	var cases []opCase
	for _, op := range ops {
		for _, sh := range shapes {
			a, b := sh.a, sh.b
			if op.name == "Div" {
				b.gen = func(r *rand.Rand) float64 { return 0.5 + r.Float64() }
			}
			cases = append(cases, opCase{name: op.name + "/" + sh.name, in: []input{a, b}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], x[1]) }), tol: op.tol})
		}
		// Comparisons need ties: draw from a small set.
		small := ints(-3, 4, 6, 5)
		cases = append(cases,
			opCase{name: op.name + "/int32", in: []input{small, ints(1, 4, 5)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], x[1]) }), tol: op.tol},
			opCase{name: op.name + "/mixed", in: []input{ints(-3, 4, 6, 5), f32(5)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], x[1]) }), tol: op.tol},
			opCase{name: op.name + "/scalar", in: []input{f32(17, 3)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.s(x[0], 0.25) }), tol: op.tol},
			opCase{name: op.name + "/scalar-int", in: []input{ints(-3, 4, 17)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.s(x[0], 2) }), tol: op.tol},
		)
	}
	// The gradients of tanh and the sigmoid through their outputs (in
	// (−1, 1) and (0, 1)) over every layout of the binary ops.
	for _, op := range []struct {
		name string
		f    func(g, y *tensor.Tensor) *tensor.Tensor
		lo   float64
	}{{"TanhGrad", (*tensor.Tensor).TanhGrad, -1}, {"SigmoidGrad", (*tensor.Tensor).SigmoidGrad, 0}} {
		for _, sh := range shapes {
			y := withGen(sh.b, func(r *rand.Rand) float64 { return op.lo + (1-op.lo)*r.Float64() })
			cases = append(cases, opCase{name: op.name + "/" + sh.name, in: []input{sh.a, y}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], x[1]) }), tol: tight})
		}
	}
	pow := withGen(f32(40), func(r *rand.Rand) float64 { return []float64{-2, -1.5, 0, 0.5, 3}[r.IntN(5)] })
	exps := withGen(f32(40), func(r *rand.Rand) float64 { return []float64{-2, -1, 0, 1, 2, 3, 0.5}[r.IntN(7)] })
	cases = append(cases,
		opCase{name: "Pow/mixed-signs", in: []input{pow, exps}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Pow(x[1]) }), tol: transc},
		opCase{name: "Pow/positive", in: []input{positive(17, 3), f32(3)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Pow(x[1]) }), tol: transc},
		opCase{name: "PowScalar", in: []input{pow}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].PowScalar(3) }), tol: transc},
		opCase{name: "PowScalar/half", in: []input{positive(33)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].PowScalar(0.5) }), tol: transc},
		opCase{name: "RPowScalar", in: []input{f32(33)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].RPowScalar(2) }), tol: transc},
		opCase{name: "RSubScalar", in: []input{f32(33)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].RSubScalar(1) }), tol: tight},
		opCase{name: "RDivScalar", in: []input{positive(33)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].RDivScalar(3) }), tol: tight},
		opCase{name: "Clamp", in: []input{f32(100)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Clamp(-0.5, 0.7) }), tol: exact},
		opCase{name: "Where/broadcast", in: []input{withGen(f32(17, 1), func(r *rand.Rand) float64 { return float64(r.IntN(2)) }), f32(17, 5), transposed(1, 5)},
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Where(x[0], x[1], x[2]) }), tol: exact},
		opCase{name: "Where/int32", in: []input{ints(0, 2, 9), ints(0, 100, 9), ints(-5, 0, 9)},
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Where(x[0], x[1], x[2]) }), tol: exact},
		opCase{name: "Where/empty", in: []input{f32(0), f32(0), f32(0)},
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Where(x[0], x[1], x[2]) }), tol: exact},
	)
	return cases
}

func reduceCases() []opCase {
	type red struct {
		name string
		f    func(*tensor.Tensor, ...int) *tensor.Tensor
		keep func(*tensor.Tensor, ...int) *tensor.Tensor
	}
	ops := []red{
		{"Sum", (*tensor.Tensor).Sum, (*tensor.Tensor).SumKeepDim},
		{"Mean", (*tensor.Tensor).Mean, (*tensor.Tensor).MeanKeepDim},
		{"Max", (*tensor.Tensor).Max, (*tensor.Tensor).MaxKeepDim},
		{"Min", (*tensor.Tensor).Min, (*tensor.Tensor).MinKeepDim},
	}
	shapes := []struct {
		name string
		in   input
		axes []int
	}{
		{"all/1", f32(1), nil},
		{"all/1000", f32(1000), nil},
		{"all/17x33", f32(17, 33), nil},
		{"last/17x33", f32(17, 33), []int{-1}},
		{"first/17x33", f32(17, 33), []int{0}},
		{"first/1000x3", f32(1000, 3), []int{0}},
		{"last/3x1000", f32(3, 1000), []int{1}},
		{"middle/4x65x3", f32(4, 65, 3), []int{1}},
		{"outer/4x5x6", f32(4, 5, 6), []int{0, 2}},
		{"transposed", transposed(33, 17), []int{1}},
		{"offset", offsetSlice(5, 70), []int{1}},
		{"broadcast", withView(f32(1, 7), func(t *tensor.Tensor) *tensor.Tensor { return t.Expand(100, 7) }), []int{0}},
		{"int32/last", ints(-50, 50, 9, 70), []int{-1}},
		{"long/2M", withGen(f32(1<<21+3), func(r *rand.Rand) float64 { return r.Float64() }), nil},
		{"long/3x700000", withGen(f32(3, 700000), func(r *rand.Rand) float64 { return r.Float64() }), []int{1}},
		{"int32/all", ints(-50, 50, 9, 7), nil},
	}
	var cases []opCase
	for _, op := range ops {
		for _, sh := range shapes {
			if op.name == "Mean" && sh.in.dt == tensor.Int32 {
				continue
			}
			axes := sh.axes
			cases = append(cases,
				opCase{name: op.name + "/" + sh.name, in: []input{sh.in}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], axes...) }), tol: summed},
				opCase{name: op.name + "/keepdim/" + sh.name, in: []input{sh.in}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.keep(x[0], axes...) }), tol: summed},
			)
		}
	}
	cases = append(cases,
		opCase{name: "Sum/empty-axis", in: []input{f32(4, 0)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Sum(1) }), tol: exact},
		opCase{name: "Mean/empty-axis", in: []input{f32(4, 0)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Mean(1) }), tol: exact},
		opCase{name: "Sum/empty-result", in: []input{f32(0, 4)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Sum(1) }), tol: exact},
	)
	for _, arg := range []struct {
		name string
		f    func(*tensor.Tensor, int) *tensor.Tensor
	}{{"ArgMax", (*tensor.Tensor).ArgMax}, {"ArgMin", (*tensor.Tensor).ArgMin}} {
		ties := withGen(f32(9, 300), func(r *rand.Rand) float64 { return float64(r.IntN(5)) })
		cases = append(cases,
			opCase{name: arg.name + "/ties", in: []input{ties}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return arg.f(x[0], 1) }), tol: exact},
			opCase{name: arg.name + "/axis0", in: []input{ties}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return arg.f(x[0], 0) }), tol: exact},
			opCase{name: arg.name + "/1000", in: []input{f32(1000)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return arg.f(x[0], 0) }), tol: exact},
			opCase{name: arg.name + "/int32", in: []input{ints(0, 4, 5, 17)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return arg.f(x[0], -1) }), tol: exact},
			opCase{name: arg.name + "/transposed", in: []input{transposed(17, 33)}, f: one(func(x []*tensor.Tensor) *tensor.Tensor { return arg.f(x[0], 1) }), tol: exact},
		)
	}
	return cases
}

func matmulCases() []opCase {
	mm := one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].MatMul(x[1]) })
	// Sizes with K and N multiples of 4 take the GPU's vec4 loads; 130×260
	// spans several of its largest tiles with ragged edges.
	sizes := [][3]int{{1, 1, 1}, {3, 17, 5}, {17, 33, 65}, {64, 64, 64}, {100, 130, 70}, {1, 1000, 3}, {65, 1, 63}, {130, 68, 260}, {7, 12, 4}}
	var cases []opCase
	for _, s := range sizes {
		m, k, n := s[0], s[1], s[2]
		cases = append(cases,
			opCase{name: fmt.Sprintf("MatMul/%dx%dx%d", m, k, n), in: []input{f32(m, k), f32(k, n)}, f: mm, tol: product},
			opCase{name: fmt.Sprintf("MatMul/transposed/%dx%dx%d", m, k, n), in: []input{transposed(m, k), transposed(k, n)}, f: mm, tol: product},
		)
	}
	return append(cases,
		opCase{name: "MatMul/batched", in: []input{f32(4, 17, 9), f32(4, 9, 6)}, f: mm, tol: product},
		opCase{name: "MatMul/broadcast-batch", in: []input{f32(2, 3, 17, 5), f32(5, 7)}, f: mm, tol: product},
		opCase{name: "MatMul/broadcast-both", in: []input{f32(2, 1, 4, 5), f32(1, 3, 5, 6)}, f: mm, tol: product},
		opCase{name: "MatMul/vector-vector", in: []input{f32(33), f32(33)}, f: mm, tol: product},
		opCase{name: "MatMul/matrix-vector", in: []input{f32(17, 33), f32(33)}, f: mm, tol: product},
		opCase{name: "MatMul/vector-matrix", in: []input{f32(33), f32(3, 33, 17)}, f: mm, tol: product},
		opCase{name: "MatMul/offset", in: []input{offsetSlice(5, 7), offsetSlice(7, 3)}, f: mm, tol: product},
		opCase{name: "MatMul/offset-vec4", in: []input{offsetSlice(6, 8), offsetSlice(8, 12)}, f: mm, tol: product},
		// Single rows of a sequence-first view of a batch of one times a
		// shared weight: folded into one product of many rows.
		opCase{name: "MatMul/shared-weight-rows", in: []input{withView(f32(1, 9, 7), func(t *tensor.Tensor) *tensor.Tensor { return t.Transpose(0, 1) }), f32(7, 5)}, f: mm, tol: product},
		opCase{name: "MatMul/shared-weight-rows-transposed", in: []input{withView(f32(3, 6, 8), func(t *tensor.Tensor) *tensor.Tensor { return t.Transpose(0, 1).Narrow(1, 1, 1) }), transposed(8, 4)}, f: mm, tol: product},
		opCase{name: "MatMul/broadcast-vec4", in: []input{f32(3, 12, 8), f32(8, 16)}, f: mm, tol: product},
		opCase{name: "MatMul/long-k", in: []input{f32(3, 9000), f32(9000, 5)}, f: mm, tol: devicetest.Tol{Abs: 1e-3, Rel: 1e-4}},
		opCase{name: "MatMul/k0", in: []input{f32(3, 0), f32(0, 4)}, f: mm, tol: exact},
		opCase{name: "MatMul/m0", in: []input{f32(0, 3), f32(3, 4)}, f: mm, tol: exact},
	)
}

func convCases() []opCase {
	type conv struct {
		name string
		x, w []int
		o    tensor.Conv2DOptions
	}
	// Long dot products (600 channels × 9 taps) lose more to rounding, and
	// each device sums in its own order.
	deep := devicetest.Tol{Abs: 2e-3, Rel: 1e-4}
	configs := []conv{
		{"basic", []int{2, 3, 7, 9}, []int{4, 3, 3, 3}, tensor.Conv2DOptions{}},
		{"padded", []int{2, 3, 7, 9}, []int{5, 3, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}},
		{"stride2", []int{1, 2, 9, 8}, []int{3, 2, 3, 2}, tensor.Conv2DOptions{Stride: [2]int{2, 3}, Padding: [2]int{1, 0}}},
		{"dilated", []int{2, 2, 11, 10}, []int{2, 2, 3, 3}, tensor.Conv2DOptions{Dilation: [2]int{2, 3}, Padding: [2]int{2, 1}}},
		{"groups", []int{2, 4, 6, 6}, []int{6, 2, 3, 3}, tensor.Conv2DOptions{Groups: 2, Padding: [2]int{1, 1}}},
		{"depthwise", []int{1, 3, 5, 5}, []int{3, 1, 3, 3}, tensor.Conv2DOptions{Groups: 3}},
		{"1x1", []int{3, 5, 4, 4}, []int{7, 5, 1, 1}, tensor.Conv2DOptions{}},
		{"mnist", []int{4, 1, 28, 28}, []int{8, 1, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}},
		{"batch64", []int{64, 1, 28, 28}, []int{4, 1, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}},
		{"deep", []int{1, 600, 4, 4}, []int{600, 600, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}},
		// The GPU runs each pass as a GEMM in 64×64 tiles: more than one
		// tile of rows with ragged edges, an asymmetric kernel.
		{"wide", []int{2, 8, 9, 9}, []int{130, 8, 1, 3}, tensor.Conv2DOptions{Padding: [2]int{0, 1}}},
		{"groups-strided-dilated", []int{3, 6, 13, 11}, []int{9, 2, 3, 2}, tensor.Conv2DOptions{Groups: 3, Stride: [2]int{2, 1}, Dilation: [2]int{2, 3}, Padding: [2]int{2, 1}}},
		// A batch long enough that the GPU's weight gradient cuts its K
		// (batch·OH·OW) into slices, per group, with strides.
		{"batch-groups", []int{32, 4, 20, 20}, []int{6, 2, 3, 3}, tensor.Conv2DOptions{Groups: 2, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}},
	}
	var cases []opCase
	for _, c := range configs {
		o := c.o
		tol := product
		if c.name == "deep" {
			tol = deep
		}
		probe := tensor.Conv2D(tensor.Zeros(device.CPU(), c.x...), tensor.Zeros(device.CPU(), c.w...), o)
		ys := probe.Shape()
		xs, ws := c.x, c.w
		cases = append(cases,
			opCase{name: "Conv2D/" + c.name, in: []input{f32(c.x...), f32(c.w...)}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Conv2D(x[0], x[1], o) })},
			opCase{name: "Conv2DInputGrad/" + c.name, in: []input{f32(ys...), f32(c.w...)}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Conv2DInputGrad(x[0], x[1], xs, o) })},
			opCase{name: "Conv2DWeightGrad/" + c.name, in: []input{f32(c.x...), f32(ys...)}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Conv2DWeightGrad(x[0], x[1], ws, o) })},
			opCase{name: "Conv2DFused/" + c.name, in: []input{f32(c.x...), f32(c.w...), f32(ys[1]), f32(ys...)}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor {
					return tensor.Conv2DFused(x[0], x[1], o, tensor.ConvEpilogue{Bias: x[2], Residual: x[3], Clamp: true, Lo: -0.25, Hi: 0.5})
				})},
			opCase{name: "Conv2DFused/hardswish-affine/" + c.name, in: []input{f32(c.x...), f32(c.w...), f32(ys[1])}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor {
					return tensor.Conv2DFused(x[0], x[1], o, tensor.ConvEpilogue{Bias: x[2], HardSwish: true, Affine: true, Scale: 1.5, Shift: -0.25})
				})},
			opCase{name: "Conv2DFused/bias-relu/" + c.name, in: []input{f32(c.x...), f32(c.w...), f32(ys[1])}, tol: tol,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor {
					return tensor.Conv2DFused(x[0], x[1], o, tensor.ConvEpilogue{Bias: x[2], Clamp: true, Hi: math.Inf(1)})
				})},
		)
	}
	cases = append(cases, opCase{name: "Conv2D/noncontiguous", in: []input{withView(f32(2, 7, 9, 3), func(t *tensor.Tensor) *tensor.Tensor { return t.Permute(0, 3, 1, 2) }), f32(2, 3, 2, 2)}, tol: product,
		f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Conv2D(x[0], x[1], tensor.Conv2DOptions{}) })})
	return cases
}

func poolCases() []opCase {
	type pool struct {
		name string
		x    []int
		o    tensor.Pool2DOptions
	}
	configs := []pool{
		{"2x2", []int{2, 3, 8, 8}, tensor.Pool2DOptions{Kernel: [2]int{2, 2}}},
		{"odd", []int{1, 2, 7, 9}, tensor.Pool2DOptions{Kernel: [2]int{2, 2}}},
		{"overlap", []int{2, 2, 9, 7}, tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{1, 2}}},
		{"padded", []int{1, 3, 6, 5}, tensor.Pool2DOptions{Kernel: [2]int{3, 2}, Stride: [2]int{2, 1}, Padding: [2]int{1, 1}}},
		{"padded-exclude", []int{1, 3, 6, 5}, tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, ExcludePadding: true}},
	}
	var cases []opCase
	for _, c := range configs {
		o, xs := c.o, c.x
		ys := tensor.AvgPool2D(tensor.Zeros(device.CPU(), c.x...), o).Shape()
		// Few distinct values make ties, which max pooling must break the
		// same way everywhere, and NaNs must win the same way.
		ties := withGen(f32(c.x...), func(r *rand.Rand) float64 {
			if r.IntN(20) == 0 {
				return math.NaN()
			}
			return float64(r.IntN(4))
		})
		cases = append(cases,
			opCase{name: "MaxPool2D/" + c.name, in: []input{ties}, tol: exact,
				f: func(x []*tensor.Tensor) []*tensor.Tensor {
					y, idx := tensor.MaxPool2D(x[0], o)
					return []*tensor.Tensor{y, idx}
				}},
			opCase{name: "MaxPool2DValues/" + c.name, in: []input{ties}, tol: exact,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.MaxPool2DValues(x[0], o) })},
			opCase{name: "MaxPool2DGrad/" + c.name, in: []input{ties, f32(ys...)}, tol: tight,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor {
					_, idx := tensor.MaxPool2D(x[0], o)
					return tensor.MaxPool2DGrad(x[1], idx, xs, o)
				})},
			opCase{name: "AvgPool2D/" + c.name, in: []input{f32(c.x...)}, tol: tight,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.AvgPool2D(x[0], o) })},
			opCase{name: "AvgPool2DGrad/" + c.name, in: []input{f32(ys...)}, tol: tight,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.AvgPool2DGrad(x[0], xs, o) })},
		)
	}
	return cases
}

func softmaxCases() []opCase {
	big := withGen(f32(7, 33), func(r *rand.Rand) float64 { return 1e4 + 50*r.NormFloat64() })
	var cases []opCase
	for _, op := range []struct {
		name string
		f    func(*tensor.Tensor, int) *tensor.Tensor
	}{{"Softmax", (*tensor.Tensor).Softmax}, {"LogSoftmax", (*tensor.Tensor).LogSoftmax}} {
		for _, c := range []struct {
			name string
			in   input
			axis int
		}{
			{"last/17x33", f32(17, 33), -1},
			{"first/17x33", f32(17, 33), 0},
			{"1000", f32(3, 1000), 1},
			{"cols1", f32(5, 1), 1},
			{"large-logits", big, 1},
			{"transposed", transposed(17, 33), 1},
			{"3d-middle", f32(2, 9, 4), 1},
			{"empty", f32(0, 5), 1},
		} {
			axis := c.axis
			cases = append(cases, opCase{name: op.name + "/" + c.name, in: []input{c.in}, tol: transc,
				f: one(func(x []*tensor.Tensor) *tensor.Tensor { return op.f(x[0], axis) })})
		}
	}
	return cases
}

func indexCases() []opCase {
	return []opCase{
		{name: "IndexSelect/rows", in: []input{f32(10, 7), ints(0, 10, 25)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexSelect(0, x[1]) })},
		{name: "IndexSelect/axis1", in: []input{f32(3, 10, 4), ints(0, 10, 6)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexSelect(1, x[1]) })},
		{name: "IndexSelect/int32", in: []input{ints(-9, 9, 6, 3), ints(0, 6, 8)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexSelect(0, x[1]) })},
		{name: "IndexSelect/transposed", in: []input{transposed(10, 7), ints(0, 10, 4)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexSelect(0, x[1]) })},
		{name: "IndexAdd/repeats", in: []input{f32(10, 7), ints(0, 4, 25), f32(25, 7)}, tol: summed,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexAdd(0, x[1], x[2]) })},
		{name: "IndexAdd/int32", in: []input{ints(0, 9, 5, 3), ints(0, 5, 30), ints(-9, 9, 30, 3)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexAdd(0, x[1], x[2]) })},
		{name: "Gather/axis1", in: []input{f32(17, 10), ints(0, 10, 17, 1)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Gather(1, x[1]) })},
		{name: "Gather/axis0-narrow", in: []input{f32(6, 5), ints(0, 6, 4, 3)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Gather(0, x[1]) })},
		{name: "ScatterAdd/axis1", in: []input{f32(17, 10), ints(0, 10, 17, 4), f32(17, 4)}, tol: summed,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].ScatterAdd(1, x[1], x[2]) })},
		{name: "ScatterAdd/axis0", in: []input{f32(3, 8), ints(0, 3, 40, 8), f32(40, 8)}, tol: summed,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].ScatterAdd(0, x[1], x[2]) })},
		{name: "OneHot", in: []input{ints(0, 10, 33)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.OneHot(x[0], 10) })},
		{name: "IndexSelect/empty", in: []input{f32(4, 3), ints(0, 4, 0)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].IndexSelect(0, x[1]) })},
	}
}

func layoutCases() []opCase {
	return []opCase{
		{name: "Contiguous/transposed", in: []input{transposed(17, 33)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Contiguous() })},
		{name: "Contiguous/permuted", in: []input{f32(2, 3, 4, 5)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Permute(3, 1, 0, 2).Contiguous() })},
		// Views of more dimensions than the GPU kernels index (MaxRank
		// after coalescing): copies, elementwise ops and reductions split
		// or copy them on the host.
		{name: "Contiguous/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Permute(3, 2, 0, 5, 8, 4, 7, 1, 6).Contiguous() })},
		{name: "Contiguous/rank10-uneven", in: []input{f32(3, 1, 2, 4, 2, 3, 2, 2, 5, 2)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor {
				return x[0].Permute(9, 0, 8, 2, 7, 3, 6, 4, 5, 1).Contiguous()
			})},
		{name: "Add/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2), f32(2, 2, 2, 1, 2, 2, 2, 2, 2)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor {
				return x[0].Permute(3, 2, 0, 5, 8, 4, 7, 1, 6).Add(x[1].Permute(8, 7, 6, 3, 4, 5, 2, 1, 0))
			})},
		{name: "Exp/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2)}, tol: transc,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Permute(8, 6, 4, 2, 0, 1, 3, 5, 7).Exp() })},
		{name: "Where/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2), f32(2, 2, 2, 2, 2, 2, 2, 2, 2)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor {
				a := x[0].Permute(3, 2, 0, 5, 8, 4, 7, 1, 6)
				return tensor.Where(a.GtScalar(0), a, x[1].MulScalar(2))
			})},
		{name: "Sum/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2, 2)}, tol: summed,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Permute(9, 3, 2, 0, 5, 8, 4, 7, 1, 6).Sum(-1, -3) })},
		{name: "ArgMax/rank9-permuted", in: []input{f32(2, 2, 2, 2, 2, 2, 2, 2, 2, 3)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Permute(3, 2, 0, 5, 8, 4, 7, 1, 6, 9).ArgMax(-1) })},
		{name: "Slice/step", in: []input{f32(5, 9)}, tol: transc,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Slice(1, 1, -1, 3).Slice(0, -100, 100, 2).Exp() })},
		{name: "Contiguous/expanded", in: []input{f32(3, 1)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Expand(2, 3, 4).Contiguous() })},
		{name: "Reshape/non-view", in: []input{transposed(6, 4)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Reshape(3, 8) })},
		{name: "Concat/axis1", in: []input{f32(3, 4), transposed(3, 2), f32(3, 0), offsetSlice(3, 5)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Concat(x, 1) })},
		{name: "Stack/axis0", in: []input{f32(3, 4), transposed(3, 4)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Stack(x, 0) })},
		{name: "Stack/last", in: []input{f32(3, 4), f32(3, 4), f32(3, 4)}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return tensor.Stack(x, -1) })},
		{name: "AsType/float-int", in: []input{withGen(f32(50), func(r *rand.Rand) float64 { return 20 * r.NormFloat64() })}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].AsType(tensor.Int32) })},
		{name: "AsType/int-float-transposed", in: []input{withView(ints(-100, 100, 4, 9), func(t *tensor.Tensor) *tensor.Tensor { return t.T() })}, tol: exact,
			f: one(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].AsType(tensor.Float32) })},
		{name: "Full", in: nil, tol: exact,
			f: func(x []*tensor.Tensor) []*tensor.Tensor {
				return []*tensor.Tensor{tensor.Full(device.CPU(), 2.5, 3, 5), tensor.FullOf(device.CPU(), tensor.Int32, -7, 4)}
			}},
	}
}

func allCases() []opCase {
	var cases []opCase
	for _, group := range [][]opCase{unaryCases(), binaryCases(), reduceCases(), matmulCases(), convCases(), poolCases(), softmaxCases(), indexCases(), layoutCases()} {
		cases = append(cases, group...)
	}
	return cases
}

// build creates the operands of c on dev from the case's seeded host data.
func build(t *testing.T, dev device.Device, c opCase, seed uint64) []*tensor.Tensor {
	t.Helper()
	return buildAs(t, dev, c, seed, nil)
}

// buildAs is build with the float operands passed through conv (a
// conversion to a 16-bit type) before their view is taken.
func buildAs(t *testing.T, dev device.Device, c opCase, seed uint64, conv func(*tensor.Tensor) *tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]*tensor.Tensor, len(c.in))
	for i, in := range c.in {
		gen := in.gen
		if gen == nil {
			gen = func(r *rand.Rand) float64 { return r.NormFloat64() }
		}
		n := device.Numel(in.shape)
		var x *tensor.Tensor
		if in.dt == tensor.Int32 {
			data := make([]int32, n)
			for j := range data {
				data[j] = int32(gen(r))
			}
			x = tensor.New(dev, data, in.shape...)
		} else {
			data := make([]float32, n)
			for j := range data {
				data[j] = float32(gen(r))
			}
			x = tensor.New(dev, data, in.shape...)
			if conv != nil {
				x = conv(x)
			}
		}
		if in.view != nil {
			x = in.view(x)
		}
		out[i] = x
	}
	return out
}

// outputs runs c on dev and reads its results back.
func outputs(t *testing.T, dev device.Device, c opCase, seed uint64) (shapes [][]int, dtypes []tensor.DType, values [][]float32) {
	t.Helper()
	res := c.f(build(t, dev, c, seed))
	for _, r := range res {
		v, err := r.Data()
		require.NoError(t, err)
		shapes = append(shapes, r.Shape())
		dtypes = append(dtypes, r.DType())
		values = append(values, v)
	}
	require.NoError(t, dev.Sync())
	return shapes, dtypes, values
}

// TestOps runs the op table on every device and compares each result with
// the CPU's.
func TestOps(t *testing.T) {
	devs := devicetest.Devices(t)
	for i, c := range allCases() {
		seed := uint64(i + 1)
		t.Run(c.name, func(t *testing.T) {
			wantShapes, wantTypes, want := outputs(t, device.CPU(), c, seed)
			for k, w := range want {
				require.Len(t, w, device.Numel(wantShapes[k]), "CPU result %d", k)
			}
			for _, dev := range devs[1:] {
				shapes, types, got := outputs(t, dev, c, seed)
				require.Equal(t, wantShapes, shapes, "shapes on %s", dev.Name())
				require.Equal(t, wantTypes, types, "dtypes on %s", dev.Name())
				for k := range got {
					if msg := devicetest.Compare(got[k], want[k], c.tol); msg != "" {
						t.Errorf("%s, result %d of shape %v: %s", dev.Name(), k, shapes[k], msg)
					}
				}
			}
		})
	}
}

// TestOpValues checks results against values known independently of any
// backend, on every device.
func TestOpValues(t *testing.T) {
	cases := []struct {
		name string
		f    func(dev device.Device) *tensor.Tensor
		want []float32
	}{
		{"Add/broadcast", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 2, 3}, 3, 1).Add(tensor.New(d, []float32{10, 20}, 1, 2))
		}, []float32{11, 21, 12, 22, 13, 23}},
		{"MatMul", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 2, 3, 4, 5, 6}, 2, 3).MatMul(tensor.New(d, []float32{1, 0, 0, 1, 1, 1}, 3, 2))
		}, []float32{4, 5, 10, 11}},
		{"Sum/axis0", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 2, 3, 4, 5, 6}, 2, 3).Sum(0)
		}, []float32{5, 7, 9}},
		{"Mean/all", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 2, 3, 4, 5, 6}, 2, 3).Mean()
		}, []float32{3.5}},
		{"Max/nan", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, float32(math.NaN()), 3}).Max()
		}, []float32{float32(math.NaN())}},
		{"ArgMax/first-tie", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 5, 5, 2}).ArgMax(0)
		}, []float32{1}},
		{"Softmax/large", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1e4, 1e4}).Softmax(0)
		}, []float32{0.5, 0.5}},
		{"LogSoftmax/large", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{-1e4, 0}).LogSoftmax(0)
		}, []float32{-1e4, 0}},
		{"Tanh/large", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{-1e4, 1e4, 0}).Tanh()
		}, []float32{-1, 1, 0}},
		{"Sigmoid/large", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{-1e4, 1e4, 0}).Sigmoid()
		}, []float32{0, 1, 0.5}},
		{"Pow/negative-base", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{-2, -2, -8}).Pow(tensor.New(d, []float32{2, 3, 1.0 / 3}))
		}, []float32{4, -8, float32(math.NaN())}},
		{"OneHot", func(d device.Device) *tensor.Tensor {
			return tensor.OneHot(tensor.New(d, []int32{2, 0}), 3)
		}, []float32{0, 0, 1, 1, 0, 0}},
		{"Conv2D/identity", func(d device.Device) *tensor.Tensor {
			x := tensor.New(d, []float32{1, 2, 3, 4}, 1, 1, 2, 2)
			w := tensor.New(d, []float32{0, 0, 0, 0, 1, 0, 0, 0, 0}, 1, 1, 3, 3)
			return tensor.Conv2D(x, w, tensor.Conv2DOptions{Padding: [2]int{1, 1}})
		}, []float32{1, 2, 3, 4}},
		{"MaxPool2D", func(d device.Device) *tensor.Tensor {
			x := tensor.New(d, []float32{1, 5, 2, 0, 3, 4, 7, 7, 1}, 1, 1, 3, 3)
			y, _ := tensor.MaxPool2D(x, tensor.Pool2DOptions{Kernel: [2]int{2, 2}, Stride: [2]int{1, 1}})
			return y
		}, []float32{5, 5, 7, 7}},
		{"AvgPool2D/include-pad", func(d device.Device) *tensor.Tensor {
			x := tensor.New(d, []float32{4, 4, 4, 4}, 1, 1, 2, 2)
			return tensor.AvgPool2D(x, tensor.Pool2DOptions{Kernel: [2]int{2, 2}, Padding: [2]int{1, 1}, Stride: [2]int{2, 2}})
		}, []float32{1, 1, 1, 1}},
		{"Gather", func(d device.Device) *tensor.Tensor {
			return tensor.New(d, []float32{1, 2, 3, 4}, 2, 2).Gather(1, tensor.New(d, []int32{1, 0}, 2, 1))
		}, []float32{2, 3}},
		{"IndexAdd/repeat", func(d device.Device) *tensor.Tensor {
			return tensor.Zeros(d, 3).IndexAdd(0, tensor.New(d, []int32{1, 1, 2}), tensor.New(d, []float32{1, 2, 4}))
		}, []float32{0, 3, 4}},
	}
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.name, func(t *testing.T) {
				got, err := c.f(dev).Data()
				require.NoError(t, err)
				if msg := devicetest.Compare(got, c.want, devicetest.Tol{Abs: 1e-6, Rel: 1e-6}); msg != "" {
					t.Error(msg)
				}
			})
		}
	}
}
