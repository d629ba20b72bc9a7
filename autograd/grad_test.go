package autograd_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// arg describes an input of a gradient case: float32 values from gen
// (standard normal when nil), or int32 indices in [0, hi) when hi > 0.
type arg struct {
	shape []int
	gen   func(r *rand.Rand) float64
	hi    int
}

func normal(shape ...int) arg { return arg{shape: shape} }

func uniform(lo, hi float64, shape ...int) arg {
	return arg{shape: shape, gen: func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }}
}

// awayFrom0 draws values with |x| in [0.3, 2], away from the kinks of abs,
// relu and sign.
func awayFrom0(shape ...int) arg {
	return arg{shape: shape, gen: func(r *rand.Rand) float64 {
		v := 0.3 + 1.7*r.Float64()
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}}
}

// distinct draws a permutation of spaced values, so that maxima are unique
// and finite differences never swap the order of two elements.
func distinct(shape ...int) arg {
	n := device.Numel(shape)
	return arg{shape: shape, gen: func(r *rand.Rand) float64 { return 0.1 * float64(r.IntN(1000*n)) / float64(n) }}
}

func index(hi int, shape ...int) arg { return arg{shape: shape, hi: hi} }

func (a arg) make(dev device.Device, r *rand.Rand) *tensor.Tensor {
	n := device.Numel(a.shape)
	if a.hi > 0 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(r.IntN(a.hi))
		}
		return tensor.New(dev, v, a.shape...)
	}
	gen := a.gen
	if gen == nil {
		gen = func(r *rand.Rand) float64 { return r.NormFloat64() }
	}
	// Values are drawn without repeats, so no case meets a tie.
	v := make([]float32, n)
	seen := map[float32]bool{}
	for i := range v {
		x := float32(gen(r))
		for tries := 0; seen[x] && tries < 10; tries++ {
			x = float32(gen(r))
		}
		seen[x] = true
		v[i] = x
	}
	return tensor.New(dev, v, a.shape...)
}

type gradCase struct {
	name string
	args []arg
	f    func(x []*autograd.Var) *autograd.Var
	opt  autograd.CheckOptions
}

var (
	conv = tensor.Conv2DOptions{Stride: [2]int{2, 1}, Padding: [2]int{1, 1}, Dilation: [2]int{1, 2}, Groups: 2}
	pool = tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
)

// gradCases has a case for every differentiable op.
func gradCases() []gradCase {
	un := func(name string, a arg, f func(v *autograd.Var) *autograd.Var) gradCase {
		return gradCase{name: name, args: []arg{a}, f: func(x []*autograd.Var) *autograd.Var { return f(x[0]) }}
	}
	bin := func(name string, a, b arg, f func(a, b *autograd.Var) *autograd.Var) gradCase {
		return gradCase{name: name, args: []arg{a, b}, f: func(x []*autograd.Var) *autograd.Var { return f(x[0], x[1]) }}
	}
	return []gradCase{
		bin("Add/broadcast", normal(3, 1), normal(1, 4), (*autograd.Var).Add),
		bin("Sub/broadcast", normal(2, 3, 4), normal(4), (*autograd.Var).Sub),
		bin("Mul/broadcast", normal(3, 1), normal(3, 4), (*autograd.Var).Mul),
		bin("Div/broadcast", normal(3, 4), awayFrom0(4), (*autograd.Var).Div),
		bin("Pow", uniform(0.5, 2, 3, 4), uniform(-2, 2, 3, 4), (*autograd.Var).Pow),
		bin("Maximum", distinct(3, 4), distinct(3, 4), (*autograd.Var).Maximum),
		bin("Minimum/broadcast", distinct(3, 4), distinct(4), (*autograd.Var).Minimum),
		un("AddScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.AddScalar(2) }),
		un("SubScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.SubScalar(2) }),
		un("RSubScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.RSubScalar(2) }),
		un("MulScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.MulScalar(-3) }),
		un("DivScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.DivScalar(4) }),
		un("RDivScalar", awayFrom0(5), func(v *autograd.Var) *autograd.Var { return v.RDivScalar(2) }),
		un("PowScalar", uniform(0.5, 2, 5), func(v *autograd.Var) *autograd.Var { return v.PowScalar(-1.5) }),
		un("RPowScalar", normal(5), func(v *autograd.Var) *autograd.Var { return v.RPowScalar(2.5) }),
		un("MaximumScalar", awayFrom0(6), func(v *autograd.Var) *autograd.Var { return v.MaximumScalar(0.05) }),
		un("MinimumScalar", awayFrom0(6), func(v *autograd.Var) *autograd.Var { return v.MinimumScalar(0.05) }),
		un("Clamp", awayFrom0(8), func(v *autograd.Var) *autograd.Var { return v.Clamp(-1.1, 0.9) }),
		un("Neg", normal(5), (*autograd.Var).Neg),
		un("Abs", awayFrom0(5), (*autograd.Var).Abs),
		un("Sign", awayFrom0(5), (*autograd.Var).Sign),
		un("Square", normal(5), (*autograd.Var).Square),
		un("Exp", normal(5), (*autograd.Var).Exp),
		un("Log", uniform(0.5, 3, 5), (*autograd.Var).Log),
		un("Sqrt", uniform(0.5, 3, 5), (*autograd.Var).Sqrt),
		un("Rsqrt", uniform(0.5, 3, 5), (*autograd.Var).Rsqrt),
		un("Recip", awayFrom0(5), (*autograd.Var).Recip),
		un("Sin", normal(5), (*autograd.Var).Sin),
		un("Cos", normal(5), (*autograd.Var).Cos),
		un("Tanh", normal(5), (*autograd.Var).Tanh),
		un("Sigmoid", normal(5), (*autograd.Var).Sigmoid),
		un("ReLU", awayFrom0(6), (*autograd.Var).ReLU),
		un("GELU", normal(6), (*autograd.Var).GELU),
		un("Erf", normal(6), (*autograd.Var).Erf),
		{name: "Where", args: []arg{index(2, 3, 1), normal(3, 4), normal(4)}, f: func(x []*autograd.Var) *autograd.Var {
			return autograd.Where(x[0].Value(), x[1], x[2])
		}},
		un("Reshape", normal(2, 6), func(v *autograd.Var) *autograd.Var { return v.Reshape(3, -1).MulScalar(2) }),
		un("Flatten", normal(2, 3, 2), func(v *autograd.Var) *autograd.Var { return v.Flatten(1, 2) }),
		un("Permute", normal(2, 3, 4), func(v *autograd.Var) *autograd.Var { return v.Permute(2, 0, 1).Contiguous() }),
		un("Transpose", normal(2, 3, 4), func(v *autograd.Var) *autograd.Var { return v.Transpose(0, 2) }),
		un("T", normal(3, 4), (*autograd.Var).T),
		un("Narrow", normal(5, 3), func(v *autograd.Var) *autograd.Var { return v.Narrow(0, 1, 3) }),
		un("Slice", normal(3, 7), func(v *autograd.Var) *autograd.Var { return v.Slice(1, -4, 100) }),
		un("Slice/step", normal(3, 8), func(v *autograd.Var) *autograd.Var { return v.Slice(1, 1, -1, 3) }),
		un("Slice/step-past-end", normal(7, 2), func(v *autograd.Var) *autograd.Var { return v.Slice(0, 0, 100, 2) }),
		un("Select", normal(3, 4), func(v *autograd.Var) *autograd.Var { return v.Select(1, -2) }),
		un("Unsqueeze", normal(3, 4), func(v *autograd.Var) *autograd.Var { return v.Unsqueeze(1).MulScalar(3) }),
		un("Squeeze", normal(3, 1, 4), func(v *autograd.Var) *autograd.Var { return v.Squeeze(1) }),
		un("Expand", normal(3, 1), func(v *autograd.Var) *autograd.Var { return v.Expand(2, 3, 4) }),
		un("Split", normal(7, 2), func(v *autograd.Var) *autograd.Var {
			p := v.Split(3, 0)
			return p[0].Mul(p[1]).Sum().Add(p[2].Sum())
		}),
		{name: "Concat", args: []arg{normal(2, 3), normal(2, 1), normal(2, 2)}, f: func(x []*autograd.Var) *autograd.Var {
			return autograd.Concat(x, 1)
		}},
		{name: "Stack", args: []arg{normal(2, 3), normal(2, 3)}, f: func(x []*autograd.Var) *autograd.Var {
			return autograd.Stack(x, 1)
		}},
		un("Sum/all", normal(3, 4), func(v *autograd.Var) *autograd.Var { return v.Sum() }),
		un("Sum/axes", normal(2, 3, 4), func(v *autograd.Var) *autograd.Var { return v.Sum(0, 2) }),
		un("Sum/keepdim", normal(2, 3, 4), func(v *autograd.Var) *autograd.Var { return v.SumKeepDim(1) }),
		un("Mean/axis", normal(3, 4), func(v *autograd.Var) *autograd.Var { return v.Mean(-1) }),
		un("Mean/keepdim", normal(3, 4), func(v *autograd.Var) *autograd.Var { return v.MeanKeepDim(0) }),
		un("Max/all", distinct(3, 4), func(v *autograd.Var) *autograd.Var { return v.Max() }),
		un("Max/axis", distinct(3, 4), func(v *autograd.Var) *autograd.Var { return v.Max(1) }),
		un("Max/axes-keepdim", distinct(2, 3, 4), func(v *autograd.Var) *autograd.Var { return v.MaxKeepDim(0, 2) }),
		un("Min/axis", distinct(3, 4), func(v *autograd.Var) *autograd.Var { return v.Min(0) }),
		un("Min/all", distinct(3, 4), func(v *autograd.Var) *autograd.Var { return v.Min() }),
		bin("MatMul/matrix", normal(3, 4), normal(4, 5), (*autograd.Var).MatMul),
		bin("MatMul/vector-vector", normal(4), normal(4), (*autograd.Var).MatMul),
		bin("MatMul/matrix-vector", normal(3, 4), normal(4), (*autograd.Var).MatMul),
		bin("MatMul/vector-matrix", normal(4), normal(4, 5), (*autograd.Var).MatMul),
		bin("MatMul/broadcast-batch", normal(2, 1, 3, 4), normal(3, 4, 2), (*autograd.Var).MatMul),
		bin("MatMul/shared-weight", normal(2, 3, 4), normal(4, 5), (*autograd.Var).MatMul),
		bin("MatMul/shared-transposed-weight", normal(3, 2, 4), normal(5, 4), func(x, w *autograd.Var) *autograd.Var {
			return x.MatMul(w.T()) // a linear layer on a batch of sequences
		}),
		bin("MatMul/shared-weight-transposed-input", normal(2, 4, 3), normal(4, 5), func(x, w *autograd.Var) *autograd.Var {
			return x.Transpose(1, 2).MatMul(w)
		}),
		bin("Conv2D", normal(2, 4, 5, 6), normal(4, 2, 3, 3), func(x, w *autograd.Var) *autograd.Var {
			return autograd.Conv2D(x, w, conv)
		}),
		un("MaxPool2D", distinct(1, 2, 5, 6), func(v *autograd.Var) *autograd.Var { return autograd.MaxPool2D(v, pool) }),
		un("AvgPool2D", normal(1, 2, 5, 6), func(v *autograd.Var) *autograd.Var { return autograd.AvgPool2D(v, pool) }),
		un("Softmax", normal(3, 5), func(v *autograd.Var) *autograd.Var { return v.Softmax(-1) }),
		un("Softmax/axis0", normal(4, 3), func(v *autograd.Var) *autograd.Var { return v.Softmax(0) }),
		un("LogSoftmax", normal(3, 5), func(v *autograd.Var) *autograd.Var { return v.LogSoftmax(1) }),
		{name: "IndexSelect", args: []arg{normal(5, 3), index(5, 7)}, f: func(x []*autograd.Var) *autograd.Var {
			return x[0].IndexSelect(0, x[1].Value())
		}},
		{name: "Embedding", args: []arg{normal(5, 3), index(5, 2, 4)}, f: func(x []*autograd.Var) *autograd.Var {
			return autograd.Embedding(x[0], x[1].Value())
		}},
		{name: "Gather", args: []arg{normal(4, 5), index(5, 4, 2)}, f: func(x []*autograd.Var) *autograd.Var {
			return x[0].Gather(1, x[1].Value())
		}},
		{name: "Gather/narrow", args: []arg{normal(4, 5), index(4, 3, 2)}, f: func(x []*autograd.Var) *autograd.Var {
			return x[0].Gather(0, x[1].Value())
		}},
		{name: "Composite/shared-input", args: []arg{normal(3)}, f: func(x []*autograd.Var) *autograd.Var {
			v := x[0]
			return v.Mul(v).Add(v.Exp()).Mul(v.Sin())
		}},
	}
}

func TestGradCheck(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for i, c := range gradCases() {
			t.Run(dev.Kind().String()+"/"+c.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(i+1), 11))
				in := make([]*tensor.Tensor, len(c.args))
				for k, a := range c.args {
					in[k] = a.make(dev, r)
				}
				opt := c.opt
				opt.Seed = uint64(i)
				require.NoError(t, autograd.GradCheck(c.name, c.f, in, opt))
			})
		}
	}
}

// TestGradCheckCatchesWrongGradients makes sure the checker can fail.
func TestGradCheckCatchesWrongGradients(t *testing.T) {
	dev := device.CPU()
	wrong := func(x []*autograd.Var) *autograd.Var {
		v := x[0]
		// Forward is 2x, backward claims 3.
		return autograd.Record("Wrong", v.Value().MulScalar(2), func(g *tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{g.MulScalar(3)}
		}, v)
	}
	err := autograd.GradCheck("Wrong", wrong, []*tensor.Tensor{tensor.New(dev, []float32{1, 2, 3, 4}, 2, 2)}, autograd.CheckOptions{})
	var ge *autograd.GradError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "Wrong", ge.Op)
	assert.Equal(t, []int{2, 2}, ge.Shape)
	assert.Len(t, ge.Index, 2)
	assert.InDelta(t, 1.5*ge.Numeric, ge.Analytic, 1e-3*abs(ge.Analytic))
	assert.Contains(t, err.Error(), "GradCheck Wrong: input 0 of shape [2 2]")
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
