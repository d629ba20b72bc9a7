package autograd_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// The reference vectors come from testdata/gen_reference.py, which runs
// each op in PyTorch (float64) and stores inputs, outputs and gradients.

type refTensor struct {
	Shape []int     `json:"shape"`
	DType string    `json:"dtype"`
	Data  []float64 `json:"data"`
	Grad  bool      `json:"grad"`
}

type refCase struct {
	Name       string          `json:"name"`
	Op         string          `json:"op"`
	Params     json.RawMessage `json:"params"`
	Inputs     []refTensor     `json:"inputs"`
	Output     refTensor       `json:"output"`
	GradOutput refTensor       `json:"grad_output"`
	Grads      []*refTensor    `json:"grads"`
}

// refParams holds every parameter any op uses.
type refParams struct {
	S, Lo, Hi       float64
	Shape, Dims     []int
	Axes            *[]int
	Keepdim         bool
	A, B            int
	Axis            int
	Start, End      int
	Length, Index   int
	Stride, Padding [2]int
	Dilation        [2]int
	Kernel          [2]int
	Groups          int
	CountIncludePad bool `json:"count_include_pad"`
}

func (r refTensor) tensor(dev device.Device) *tensor.Tensor {
	shape := r.Shape
	if shape == nil {
		shape = []int{}
	}
	if r.DType == "int32" {
		v := make([]int32, len(r.Data))
		for i, x := range r.Data {
			v[i] = int32(x)
		}
		return tensor.New(dev, v, shape...)
	}
	v := make([]float32, len(r.Data))
	for i, x := range r.Data {
		v[i] = float32(x)
	}
	return tensor.New(dev, v, shape...)
}

// refOps maps each op of the reference file to autograd calls.
var refOps = map[string]func(x []*autograd.Var, p refParams) *autograd.Var{
	"add":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Add(x[1]) },
	"sub":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Sub(x[1]) },
	"mul":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Mul(x[1]) },
	"div":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Div(x[1]) },
	"pow":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Pow(x[1]) },
	"maximum":        func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Maximum(x[1]) },
	"minimum":        func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Minimum(x[1]) },
	"add_scalar":     func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].AddScalar(p.S) },
	"sub_scalar":     func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].SubScalar(p.S) },
	"rsub_scalar":    func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].RSubScalar(p.S) },
	"mul_scalar":     func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].MulScalar(p.S) },
	"div_scalar":     func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].DivScalar(p.S) },
	"rdiv_scalar":    func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].RDivScalar(p.S) },
	"pow_scalar":     func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].PowScalar(p.S) },
	"rpow_scalar":    func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].RPowScalar(p.S) },
	"maximum_scalar": func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].MaximumScalar(p.S) },
	"minimum_scalar": func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].MinimumScalar(p.S) },
	"clamp":          func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Clamp(p.Lo, p.Hi) },
	"neg":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Neg() },
	"abs":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Abs() },
	"square":         func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Square() },
	"exp":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Exp() },
	"log":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Log() },
	"sqrt":           func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Sqrt() },
	"rsqrt":          func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Rsqrt() },
	"recip":          func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Recip() },
	"sin":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Sin() },
	"cos":            func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Cos() },
	"tanh":           func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Tanh() },
	"sigmoid":        func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Sigmoid() },
	"relu":           func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].ReLU() },
	"gelu":           func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].GELU() },
	"where": func(x []*autograd.Var, p refParams) *autograd.Var {
		return autograd.Where(x[0].Value(), x[1], x[2])
	},
	"reshape":      func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Reshape(p.Shape...) },
	"flatten":      func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Flatten(p.Start, p.End) },
	"permute":      func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Permute(p.Dims...) },
	"transpose":    func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Transpose(p.A, p.B) },
	"narrow":       func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Narrow(p.Axis, p.Start, p.Length) },
	"select":       func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Select(p.Axis, p.Index) },
	"unsqueeze":    func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Unsqueeze(p.Axis) },
	"squeeze":      func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Squeeze(*p.Axes...) },
	"expand":       func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Expand(p.Shape...) },
	"contiguous_t": func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].T().Contiguous() },
	"concat":       func(x []*autograd.Var, p refParams) *autograd.Var { return autograd.Concat(x, p.Axis) },
	"stack":        func(x []*autograd.Var, p refParams) *autograd.Var { return autograd.Stack(x, p.Axis) },
	"sum":          reduction((*autograd.Var).Sum, (*autograd.Var).SumKeepDim),
	"mean":         reduction((*autograd.Var).Mean, (*autograd.Var).MeanKeepDim),
	"max":          reduction((*autograd.Var).Max, (*autograd.Var).MaxKeepDim),
	"min":          reduction((*autograd.Var).Min, (*autograd.Var).MinKeepDim),
	"matmul":       func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].MatMul(x[1]) },
	"conv2d": func(x []*autograd.Var, p refParams) *autograd.Var {
		return autograd.Conv2D(x[0], x[1], tensor.Conv2DOptions{Stride: p.Stride, Padding: p.Padding, Dilation: p.Dilation, Groups: p.Groups})
	},
	"max_pool2d": func(x []*autograd.Var, p refParams) *autograd.Var {
		return autograd.MaxPool2D(x[0], tensor.Pool2DOptions{Kernel: p.Kernel, Stride: p.Stride, Padding: p.Padding})
	},
	"avg_pool2d": func(x []*autograd.Var, p refParams) *autograd.Var {
		return autograd.AvgPool2D(x[0], tensor.Pool2DOptions{Kernel: p.Kernel, Stride: p.Stride, Padding: p.Padding, ExcludePadding: !p.CountIncludePad})
	},
	"softmax":      func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Softmax(p.Axis) },
	"log_softmax":  func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].LogSoftmax(p.Axis) },
	"index_select": func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].IndexSelect(p.Axis, x[1].Value()) },
	"gather":       func(x []*autograd.Var, p refParams) *autograd.Var { return x[0].Gather(p.Axis, x[1].Value()) },
	"mlp_ce": func(x []*autograd.Var, p refParams) *autograd.Var {
		h := x[0].MatMul(x[1].T()).Add(x[2]).ReLU()
		logits := h.MatMul(x[3].T()).Add(x[4])
		return crossEntropy(logits, x[5].Value())
	},
	"conv_pool": func(x []*autograd.Var, p refParams) *autograd.Var {
		y := autograd.Conv2D(x[0], x[1], tensor.Conv2DOptions{Padding: [2]int{1, 1}}).Add(x[2].Reshape(1, -1, 1, 1))
		return autograd.MaxPool2D(y.ReLU(), tensor.Pool2DOptions{Kernel: [2]int{2, 2}})
	},
	"attention": func(x []*autograd.Var, p refParams) *autograd.Var {
		q, k, v := x[0].MatMul(x[1]), x[0].MatMul(x[2]), x[0].MatMul(x[3])
		scores := q.MatMul(k.Transpose(-1, -2)).DivScalar(math.Sqrt(float64(q.Size(-1))))
		return scores.Softmax(-1).MatMul(v)
	},
	"rnn3": func(x []*autograd.Var, p refParams) *autograd.Var {
		h := x[4]
		for t := range 3 {
			h = x[0].Select(1, t).MatMul(x[1].T()).Add(h.MatMul(x[2].T())).Add(x[3]).Tanh()
		}
		return h
	},
}

// crossEntropy is the mean negative log-likelihood of int32 labels under
// softmax(logits), as torch.nn.functional.cross_entropy.
func crossEntropy(logits *autograd.Var, labels *tensor.Tensor) *autograd.Var {
	picked := logits.LogSoftmax(-1).Gather(1, labels.Reshape(-1, 1))
	return picked.Mean().Neg()
}

func reduction(f, keep func(*autograd.Var, ...int) *autograd.Var) func(x []*autograd.Var, p refParams) *autograd.Var {
	return func(x []*autograd.Var, p refParams) *autograd.Var {
		var axes []int
		if p.Axes != nil {
			axes = *p.Axes
		}
		if p.Keepdim {
			return keep(x[0], axes...)
		}
		return f(x[0], axes...)
	}
}

func loadReference(t *testing.T) []refCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var file struct {
		Cases []refCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Cases)
	return file.Cases
}

// refTol is the tolerance against the float64 PyTorch references: float32
// rounding, with room for long sums and transcendental functions on GPUs.
var refTol = devicetest.Tol{Abs: 2e-5, Rel: 1e-4}

func floats(r refTensor) []float32 {
	v := make([]float32, len(r.Data))
	for i, x := range r.Data {
		v[i] = float32(x)
	}
	return v
}

// TestPyTorchReference checks the forward result and the gradients of every
// case against PyTorch on every device.
func TestPyTorchReference(t *testing.T) {
	cases := loadReference(t)
	covered := map[string]bool{}
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.Name, func(t *testing.T) {
				f, ok := refOps[c.Op]
				require.True(t, ok, "no mapping for op %q", c.Op)
				covered[c.Op] = true
				var p refParams
				require.NoError(t, json.Unmarshal(c.Params, &p))
				vars := make([]*autograd.Var, len(c.Inputs))
				for i, in := range c.Inputs {
					vars[i] = autograd.New(in.tensor(dev), in.Grad)
				}
				out := f(vars, p)
				require.Equal(t, c.Output.Shape, nonNil(out.Shape()), "output shape")
				got, err := out.Data()
				require.NoError(t, err)
				if msg := devicetest.Compare(got, floats(c.Output), refTol); msg != "" {
					t.Errorf("output: %s", msg)
				}
				out.BackwardWith(c.GradOutput.tensor(dev))
				for i, want := range c.Grads {
					if want == nil {
						continue
					}
					g := vars[i].Grad()
					require.NotNil(t, g, "no gradient for input %d", i)
					require.Equal(t, want.Shape, nonNil(g.Shape()), "gradient %d shape", i)
					gv, err := g.Data()
					require.NoError(t, err)
					if msg := devicetest.Compare(gv, floats(*want), refTol); msg != "" {
						t.Errorf("gradient of input %d: %s", i, msg)
					}
				}
			})
		}
	}
	for op := range refOps {
		if !covered[op] {
			t.Errorf("op %q has no reference case", op)
		}
	}
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
