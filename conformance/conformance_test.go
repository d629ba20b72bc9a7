package conformance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/tensor"
)

// ---------------------------------------------------------------------------
// The file written by testdata/gen_programs.py (its docstring describes it).
// ---------------------------------------------------------------------------

// num is one number of the file as written: a JSON number, or one of the
// strings "nan", "inf" and "-inf".
type num string

func (n *num) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "nan" && s != "inf" && s != "-inf" {
			return fmt.Errorf("unknown special number %q", s)
		}
		*n = num(s)
		return nil
	}
	*n = num(b)
	return nil
}

func (n num) special() (float64, bool) {
	switch n {
	case "nan":
		return math.NaN(), true
	case "inf":
		return math.Inf(1), true
	case "-inf":
		return math.Inf(-1), true
	}
	return 0, false
}

// f64 parses n as float64 (for scalar parameters).
func (n num) f64() float64 {
	if v, ok := n.special(); ok {
		return v
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		panic(fmt.Sprintf("bad number %q", string(n)))
	}
	return v
}

// f32 parses n as float32 directly, so that the shortest decimal the
// generator wrote gives back its float32 exactly.
func (n num) f32() float32 {
	if v, ok := n.special(); ok {
		return float32(v)
	}
	v, err := strconv.ParseFloat(string(n), 32)
	if err != nil {
		panic(fmt.Sprintf("bad number %q", string(n)))
	}
	return float32(v)
}

type spec struct {
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
	Data  []num  `json:"data"`
	Grad  bool   `json:"grad"`
}

type params struct {
	S               num     `json:"s"`
	Lo              num     `json:"lo"`
	Hi              num     `json:"hi"`
	Axes            *[]int  `json:"axes"`
	Keepdim         bool    `json:"keepdim"`
	Axis            int     `json:"axis"`
	A               int     `json:"a"`
	B               int     `json:"b"`
	Dims            []int   `json:"dims"`
	Start           int     `json:"start"`
	End             int     `json:"end"`
	Step            int     `json:"step"`
	Length          int     `json:"length"`
	Index           int     `json:"index"`
	Shape           []int   `json:"shape"`
	Kernel          [2]int  `json:"kernel"`
	Stride          [2]int  `json:"stride"`
	Padding         [2]int  `json:"padding"`
	Dilation        [2]int  `json:"dilation"`
	Groups          int     `json:"groups"`
	CountIncludePad bool    `json:"count_include_pad"`
	IgnoreIndex     int     `json:"ignore_index"`
	LabelSmoothing  float64 `json:"label_smoothing"`
	Reduction       string  `json:"reduction"`
	Eps             float64 `json:"eps"`
	Weight          *bool   `json:"weight"`
	Bias            *bool   `json:"bias"`
	DType           string  `json:"dtype"`
}

type step struct {
	Op   string          `json:"op"`
	Args []int           `json:"args"`
	P    params          `json:"-"`
	Raw  json.RawMessage `json:"p"`
}

type program struct {
	Name         string  `json:"name"`
	Group        string  `json:"group"`
	Inputs       []spec  `json:"inputs"`
	Steps        []step  `json:"steps"`
	Expect       string  `json:"expect"`
	Output       *spec   `json:"output"`
	GradOutput   *spec   `json:"grad_output"`
	Grads        []*spec `json:"grads"`
	NoGrad       string  `json:"no_grad"`
	ErrorStep    int     `json:"error_step"`
	TorchError   string  `json:"torch_error"`
	GPUMayRefuse bool    `json:"gpu_may_refuse"`
	Bug          string  `json:"bug"`
	Note         string  `json:"note"`
}

func loadPrograms(t *testing.T) []*program {
	t.Helper()
	raw, err := os.ReadFile("testdata/programs.json")
	require.NoError(t, err)
	var file struct {
		Torch string     `json:"torch"`
		Cases []*program `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Cases)
	for _, c := range file.Cases {
		for i := range c.Steps {
			s := &c.Steps[i]
			require.NoError(t, json.Unmarshal(s.Raw, &s.P), "%s: step %d", c.Name, i)
			_, ok := ops[s.Op]
			require.True(t, ok, "%s: no Go mapping for op %q", c.Name, s.Op)
		}
	}
	return file.Cases
}

func shapeOf(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func (s *spec) tensor(dev device.Device) *tensor.Tensor {
	shape := shapeOf(s.Shape)
	if s.DType == "int32" {
		v := make([]int32, len(s.Data))
		for i, x := range s.Data {
			n, err := strconv.ParseInt(string(x), 10, 32)
			if err != nil {
				panic(fmt.Sprintf("bad int32 %q", string(x)))
			}
			v[i] = int32(n)
		}
		return tensor.New(dev, v, shape...)
	}
	v := make([]float32, len(s.Data))
	for i, x := range s.Data {
		v[i] = x.f32()
	}
	return tensor.New(dev, v, shape...)
}

func (s *spec) floats() []float64 {
	v := make([]float64, len(s.Data))
	for i, x := range s.Data {
		if s.DType == "int32" {
			n, _ := strconv.ParseInt(string(x), 10, 32)
			v[i] = float64(n)
		} else {
			v[i] = float64(x.f32())
		}
	}
	return v
}

// ---------------------------------------------------------------------------
// Tolerances, per op class and device kind. A program's tolerance is the
// loosest of its steps' (abs and rel separately); its gradients get twice
// that, and at least the arith class, because the backward pass runs about
// as many float32 operations again. gen_programs.py mirrors this table to
// redraw programs that float32 itself cannot meet with half the margin.
// ---------------------------------------------------------------------------

type tolClass int

const (
	exact   tolClass = iota // views, copies, indexing, comparisons, max/min, sign, neg, abs, relu: no rounding
	arith                   // + - * /, square, reciprocal, sqrt: a few correctly rounded operations per element
	transc                  // exp, log, tanh, sigmoid, gelu, sin, cos, pow, rsqrt: libm-quality on the CPU, WGSL's looser bounds on the GPU
	reduce                  // sums, means, softmax, layer norm, losses, average pooling: float32 sums in another order
	product                 // matmul, conv2d: long float32 dot products
)

var tolTable = map[tolClass][2]devicetest.Tol{ // [CPU, GPU]
	exact:   {{}, {}},
	arith:   {{Abs: 1e-5, Rel: 1e-4}, {Abs: 1e-5, Rel: 1e-4}},
	transc:  {{Abs: 1e-5, Rel: 1e-4}, {Abs: 5e-5, Rel: 5e-4}},
	reduce:  {{Abs: 1e-4, Rel: 1e-4}, {Abs: 1e-4, Rel: 2e-4}},
	product: {{Abs: 1e-4, Rel: 1e-4}, {Abs: 1e-4, Rel: 2e-4}},
}

var opClass = map[string]tolClass{}

func init() {
	for _, op := range []string{"neg", "abs", "sign", "relu", "maximum", "minimum", "max_s", "min_s", "clamp",
		"eq", "ne", "lt", "le", "gt", "ge", "eq_s", "ne_s", "lt_s", "le_s", "gt_s", "ge_s",
		"where", "max", "min", "argmax", "argmin", "transpose", "permute", "narrow", "slice",
		"expand", "reshape", "unsqueeze", "squeeze", "select", "flatten", "contiguous",
		"concat", "stack", "gather", "index_select", "max_pool2d", "astype"} {
		opClass[op] = exact
	}
	for _, op := range []string{"add", "sub", "mul", "div", "square", "reciprocal", "sqrt", "add_s", "sub_s",
		"rsub_s", "mul_s", "div_s", "rdiv_s", "add_si", "sub_si", "mul_si"} {
		opClass[op] = arith
	}
	for _, op := range []string{"exp", "log", "rsqrt", "tanh", "sigmoid", "gelu", "sin", "cos", "pow", "pow_s", "rpow_s"} {
		opClass[op] = transc
	}
	for _, op := range []string{"sum", "mean", "softmax", "log_softmax", "cross_entropy", "nll_loss", "bce_logits",
		"bce", "mse", "l1", "layer_norm", "avg_pool2d"} {
		opClass[op] = reduce
	}
	for _, op := range []string{"matmul", "conv2d"} {
		opClass[op] = product
	}
}

func programTol(c *program, kind device.Kind, grad bool) devicetest.Tol {
	col := 0
	if kind == device.KindGPU {
		col = 1
	}
	var tol devicetest.Tol
	for _, s := range c.Steps {
		cl, ok := opClass[s.Op]
		if !ok {
			panic("no tolerance class for " + s.Op)
		}
		t := tolTable[cl][col]
		tol.Abs, tol.Rel = max(tol.Abs, t.Abs), max(tol.Rel, t.Rel)
	}
	if grad {
		a := tolTable[arith][col]
		tol.Abs, tol.Rel = max(2*tol.Abs, a.Abs), max(2*tol.Rel, a.Rel)
	}
	return tol
}

// ---------------------------------------------------------------------------
// The interpreter: one Go call per op name.
// ---------------------------------------------------------------------------

type opFunc func(x []*autograd.Var, p params) *autograd.Var

// mask wraps a comparison result: wgtensor compares tensors, not Vars, and
// returns a float32 0/1 mask where PyTorch returns bool.
func mask(t *tensor.Tensor) *autograd.Var { return autograd.Const(t) }

func axesOf(p params) []int {
	if p.Axes == nil {
		return nil
	}
	return *p.Axes
}

func reduction(keep, drop func(*autograd.Var, ...int) *autograd.Var) opFunc {
	return func(x []*autograd.Var, p params) *autograd.Var {
		if p.Keepdim {
			return keep(x[0], axesOf(p)...)
		}
		return drop(x[0], axesOf(p)...)
	}
}

func lossOpts(p params) []nn.LossOption {
	r := map[string]nn.Reduction{"mean": nn.ReduceMean, "sum": nn.ReduceSum, "none": nn.ReduceNone}[p.Reduction]
	return []nn.LossOption{nn.WithReduction(r)}
}

func poolOpts(p params) tensor.Pool2DOptions {
	return tensor.Pool2DOptions{Kernel: p.Kernel, Stride: p.Stride, Padding: p.Padding, ExcludePadding: !p.CountIncludePad}
}

func unary(f func(*autograd.Var) *autograd.Var) opFunc {
	return func(x []*autograd.Var, _ params) *autograd.Var { return f(x[0]) }
}

func binary(f func(a, b *autograd.Var) *autograd.Var) opFunc {
	return func(x []*autograd.Var, _ params) *autograd.Var { return f(x[0], x[1]) }
}

func compare(f func(a, b *tensor.Tensor) *tensor.Tensor) opFunc {
	return func(x []*autograd.Var, _ params) *autograd.Var { return mask(f(x[0].Value(), x[1].Value())) }
}

func withScalar(f func(*autograd.Var, float64) *autograd.Var) opFunc {
	return func(x []*autograd.Var, p params) *autograd.Var { return f(x[0], p.S.f64()) }
}

func intScalar(f func(*tensor.Tensor, int) *tensor.Tensor) opFunc {
	return func(x []*autograd.Var, p params) *autograd.Var {
		n, err := strconv.Atoi(string(p.S))
		if err != nil {
			panic(fmt.Sprintf("int scalar %q", string(p.S)))
		}
		return autograd.Const(f(x[0].Value(), n))
	}
}

func compareScalar(f func(*tensor.Tensor, float64) *tensor.Tensor) opFunc {
	return func(x []*autograd.Var, p params) *autograd.Var { return mask(f(x[0].Value(), p.S.f64())) }
}

var ops = map[string]opFunc{
	"neg":        unary((*autograd.Var).Neg),
	"abs":        unary((*autograd.Var).Abs),
	"sign":       unary((*autograd.Var).Sign),
	"square":     unary((*autograd.Var).Square),
	"exp":        unary((*autograd.Var).Exp),
	"log":        unary((*autograd.Var).Log),
	"sqrt":       unary((*autograd.Var).Sqrt),
	"rsqrt":      unary((*autograd.Var).Rsqrt),
	"reciprocal": unary((*autograd.Var).Recip),
	"sin":        unary((*autograd.Var).Sin),
	"cos":        unary((*autograd.Var).Cos),
	"tanh":       unary((*autograd.Var).Tanh),
	"sigmoid":    unary((*autograd.Var).Sigmoid),
	"relu":       unary((*autograd.Var).ReLU),
	"gelu":       unary((*autograd.Var).GELU),

	"add":     binary((*autograd.Var).Add),
	"sub":     binary((*autograd.Var).Sub),
	"mul":     binary((*autograd.Var).Mul),
	"div":     binary((*autograd.Var).Div),
	"pow":     binary((*autograd.Var).Pow),
	"maximum": binary((*autograd.Var).Maximum),
	"minimum": binary((*autograd.Var).Minimum),
	"matmul":  binary((*autograd.Var).MatMul),

	"eq": compare((*tensor.Tensor).Eq),
	"ne": compare((*tensor.Tensor).Ne),
	"lt": compare((*tensor.Tensor).Lt),
	"le": compare((*tensor.Tensor).Le),
	"gt": compare((*tensor.Tensor).Gt),
	"ge": compare((*tensor.Tensor).Ge),

	"add_s":  withScalar((*autograd.Var).AddScalar),
	"sub_s":  withScalar((*autograd.Var).SubScalar),
	"rsub_s": withScalar((*autograd.Var).RSubScalar),
	"mul_s":  withScalar((*autograd.Var).MulScalar),
	"div_s":  withScalar((*autograd.Var).DivScalar),
	"rdiv_s": withScalar((*autograd.Var).RDivScalar),
	"pow_s":  withScalar((*autograd.Var).PowScalar),
	"rpow_s": withScalar((*autograd.Var).RPowScalar),
	"max_s":  withScalar((*autograd.Var).MaximumScalar),
	"min_s":  withScalar((*autograd.Var).MinimumScalar),
	"eq_s":   compareScalar((*tensor.Tensor).EqScalar),
	"ne_s":   compareScalar((*tensor.Tensor).NeScalar),
	"lt_s":   compareScalar((*tensor.Tensor).LtScalar),
	"le_s":   compareScalar((*tensor.Tensor).LeScalar),
	"gt_s":   compareScalar((*tensor.Tensor).GtScalar),
	"ge_s":   compareScalar((*tensor.Tensor).GeScalar),
	// int scalars keep int32 tensors int32 (PyTorch: int32 + 2 is int32);
	// the programs use them on int32 tensors only, which need no gradient.
	"add_si": intScalar((*tensor.Tensor).AddScalarInt),
	"sub_si": intScalar((*tensor.Tensor).SubScalarInt),
	"mul_si": intScalar((*tensor.Tensor).MulScalarInt),
	"astype": func(x []*autograd.Var, p params) *autograd.Var {
		return x[0].AsType(map[string]tensor.DType{"float32": tensor.Float32, "int32": tensor.Int32}[p.DType])
	},
	"clamp": func(x []*autograd.Var, p params) *autograd.Var {
		return x[0].Clamp(p.Lo.f64(), p.Hi.f64())
	},
	"where": func(x []*autograd.Var, _ params) *autograd.Var { return autograd.Where(x[0].Value(), x[1], x[2]) },

	"sum":  reduction((*autograd.Var).SumKeepDim, (*autograd.Var).Sum),
	"mean": reduction((*autograd.Var).MeanKeepDim, (*autograd.Var).Mean),
	"max":  reduction((*autograd.Var).MaxKeepDim, (*autograd.Var).Max),
	"min":  reduction((*autograd.Var).MinKeepDim, (*autograd.Var).Min),
	"argmax": func(x []*autograd.Var, p params) *autograd.Var {
		if p.Keepdim {
			return mask(x[0].Value().ArgMaxKeepDim(p.Axis))
		}
		return mask(x[0].Value().ArgMax(p.Axis))
	},
	"argmin": func(x []*autograd.Var, p params) *autograd.Var {
		if p.Keepdim {
			return mask(x[0].Value().ArgMinKeepDim(p.Axis))
		}
		return mask(x[0].Value().ArgMin(p.Axis))
	},
	"softmax":     func(x []*autograd.Var, p params) *autograd.Var { return x[0].Softmax(p.Axis) },
	"log_softmax": func(x []*autograd.Var, p params) *autograd.Var { return x[0].LogSoftmax(p.Axis) },

	"transpose": func(x []*autograd.Var, p params) *autograd.Var { return x[0].Transpose(p.A, p.B) },
	"permute":   func(x []*autograd.Var, p params) *autograd.Var { return x[0].Permute(p.Dims...) },
	"narrow":    func(x []*autograd.Var, p params) *autograd.Var { return x[0].Narrow(p.Axis, p.Start, p.Length) },
	"slice": func(x []*autograd.Var, p params) *autograd.Var {
		if p.Step != 0 {
			return x[0].Slice(p.Axis, p.Start, p.End, p.Step)
		}
		return x[0].Slice(p.Axis, p.Start, p.End)
	},
	"expand":     func(x []*autograd.Var, p params) *autograd.Var { return x[0].Expand(p.Shape...) },
	"reshape":    func(x []*autograd.Var, p params) *autograd.Var { return x[0].Reshape(p.Shape...) },
	"unsqueeze":  func(x []*autograd.Var, p params) *autograd.Var { return x[0].Unsqueeze(p.Axis) },
	"squeeze":    func(x []*autograd.Var, p params) *autograd.Var { return x[0].Squeeze(axesOf(p)...) },
	"select":     func(x []*autograd.Var, p params) *autograd.Var { return x[0].Select(p.Axis, p.Index) },
	"flatten":    func(x []*autograd.Var, p params) *autograd.Var { return x[0].Flatten(p.Start, p.End) },
	"contiguous": func(x []*autograd.Var, _ params) *autograd.Var { return x[0].Contiguous() },
	"concat":     func(x []*autograd.Var, p params) *autograd.Var { return autograd.Concat(x, p.Axis) },
	"stack":      func(x []*autograd.Var, p params) *autograd.Var { return autograd.Stack(x, p.Axis) },
	"gather": func(x []*autograd.Var, p params) *autograd.Var {
		return x[0].Gather(p.Axis, x[1].Value())
	},
	"index_select": func(x []*autograd.Var, p params) *autograd.Var {
		return x[0].IndexSelect(p.Axis, x[1].Value())
	},

	"cross_entropy": func(x []*autograd.Var, p params) *autograd.Var {
		opts := append(lossOpts(p), nn.WithIgnoreIndex(p.IgnoreIndex), nn.WithLabelSmoothing(p.LabelSmoothing))
		return nn.CrossEntropyLoss(x[0], x[1].Value(), opts...)
	},
	"nll_loss": func(x []*autograd.Var, p params) *autograd.Var {
		return nn.NLLLoss(x[0], x[1].Value(), append(lossOpts(p), nn.WithIgnoreIndex(p.IgnoreIndex))...)
	},
	"bce_logits": func(x []*autograd.Var, p params) *autograd.Var {
		return nn.BCEWithLogitsLoss(x[0], x[1], lossOpts(p)...)
	},
	"bce": func(x []*autograd.Var, p params) *autograd.Var { return nn.BCELoss(x[0], x[1], lossOpts(p)...) },
	"mse": func(x []*autograd.Var, p params) *autograd.Var { return nn.MSELoss(x[0], x[1], lossOpts(p)...) },
	"l1":  func(x []*autograd.Var, p params) *autograd.Var { return nn.L1Loss(x[0], x[1], lossOpts(p)...) },
	"layer_norm": func(x []*autograd.Var, p params) *autograd.Var {
		// args: x, then the weight and the bias when the program has them
		ln := &nn.LayerNorm{Shape: p.Shape, Eps: p.Eps}
		rest := x[1:]
		if p.Weight == nil || *p.Weight {
			ln.Weight, rest = rest[0], rest[1:]
		}
		if p.Bias == nil || *p.Bias {
			ln.Bias = rest[0]
		}
		return ln.Forward(x[0])
	},
	"conv2d": func(x []*autograd.Var, p params) *autograd.Var {
		return autograd.Conv2D(x[0], x[1], tensor.Conv2DOptions{Stride: p.Stride, Padding: p.Padding, Dilation: p.Dilation, Groups: p.Groups})
	},
	"max_pool2d": func(x []*autograd.Var, p params) *autograd.Var { return autograd.MaxPool2D(x[0], poolOpts(p)) },
	"avg_pool2d": func(x []*autograd.Var, p params) *autograd.Var { return autograd.AvgPool2D(x[0], poolOpts(p)) },
}

// goNames lists, per op, the names a refusal's message may use to say
// which call failed: the Go function the program called.
var goNames = map[string][]string{
	"add": {"Add"}, "sub": {"Sub"}, "mul": {"Mul"}, "div": {"Div"}, "pow": {"Pow"},
	"maximum": {"Maximum"}, "minimum": {"Minimum"}, "matmul": {"MatMul"},
	"eq": {"Eq"}, "ne": {"Ne"}, "lt": {"Lt"}, "le": {"Le"}, "gt": {"Gt"}, "ge": {"Ge"},
	"where": {"Where"}, "sum": {"Sum"}, "mean": {"Mean"}, "max": {"Max"}, "min": {"Min"},
	"argmax": {"ArgMax"}, "argmin": {"ArgMin"}, "softmax": {"Softmax"}, "log_softmax": {"LogSoftmax"},
	"transpose": {"Transpose"}, "permute": {"Permute"}, "narrow": {"Narrow"}, "slice": {"Slice"},
	"expand": {"Expand"}, "reshape": {"Reshape"}, "unsqueeze": {"Unsqueeze"}, "squeeze": {"Squeeze"},
	"select": {"Select"}, "flatten": {"Flatten"}, "concat": {"Concat"}, "stack": {"Stack"},
	"gather": {"Gather"}, "index_select": {"IndexSelect"},
	"cross_entropy": {"CrossEntropyLoss"}, "nll_loss": {"NLLLoss"},
	"add_si": {"AddScalarInt"}, "sub_si": {"SubScalarInt"}, "mul_si": {"MulScalarInt"}, "astype": {"AsType"},
	"bce_logits": {"BCEWithLogitsLoss"}, "bce": {"BCELoss"}, "mse": {"MSELoss"}, "l1": {"L1Loss"},
	"layer_norm": {"LayerNorm"}, "conv2d": {"Conv2D"}, "max_pool2d": {"MaxPool2D"}, "avg_pool2d": {"AvgPool2D"},
}

// ---------------------------------------------------------------------------
// The harness self-test: WGTENSOR_CONFORMANCE_BREAK=op perturbs op's value,
// op.grad negates the gradient through it.
// ---------------------------------------------------------------------------

const breakEnv = "WGTENSOR_CONFORMANCE_BREAK"

func breakStep(op string, out *autograd.Var) *autograd.Var {
	spec := os.Getenv(breakEnv)
	if spec == "" {
		return out
	}
	name, grad := strings.CutSuffix(spec, ".grad")
	if name != op {
		return out
	}
	if grad {
		return autograd.Record("broken "+op, out.Value(), func(g *tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{g.Neg()}
		}, out)
	}
	if out.Value().DType() == tensor.Int32 {
		return out.AddScalar(1)
	}
	return out.MulScalar(1.001).AddScalar(1e-3)
}

// ---------------------------------------------------------------------------
// Running a program.
// ---------------------------------------------------------------------------

// crash is a panic that is not a *tensor.Error: a bug whatever the program.
type crash struct {
	val   any
	stack string
}

func (c *crash) Error() string { return fmt.Sprintf("panic (not a *tensor.Error): %v", c.val) }

// catch runs f and returns the panic it raised as an error: a *tensor.Error
// as itself (what tensor.Maybe would return), anything else as a *crash.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(*tensor.Error); ok {
				err = e
				return
			}
			err = &crash{val: r, stack: string(debug.Stack())}
		}
	}()
	f()
	return nil
}

type result struct {
	vals     []*autograd.Var // inputs, then one per step run
	failStep int             // the step that panicked or returned an error; -1 if none
	err      error
}

func run(dev device.Device, c *program) result {
	r := result{failStep: -1}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		r.vals = append(r.vals, autograd.New(in.tensor(dev), in.Grad))
	}
	for k, s := range c.Steps {
		args := make([]*autograd.Var, len(s.Args))
		for i, a := range s.Args {
			args[i] = r.vals[a]
		}
		var out *autograd.Var
		err := catch(func() { out = breakStep(s.Op, ops[s.Op](args, s.P)) })
		if err == nil {
			err = out.Err()
		}
		if err != nil {
			r.failStep, r.err = k, err
			return r
		}
		r.vals = append(r.vals, out)
	}
	return r
}

// read returns the values of t as float64 (int32 tensors exactly).
func read(t *tensor.Tensor) (out []float64, err error) {
	if e := catch(func() { out, err = readValues(t) }); e != nil {
		return nil, e
	}
	return out, err
}

func readValues(t *tensor.Tensor) ([]float64, error) {
	if t.DType() == tensor.Int32 {
		v, err := t.Ints()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	}
	v, err := t.Data()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, nil
}

// describe prints the program for a failure message.
func describe(c *program) string {
	var b strings.Builder
	fmt.Fprintf(&b, "program %s", c.Name)
	if c.Bug != "" {
		fmt.Fprintf(&b, " (targets known bug %s)", c.Bug)
	}
	if c.Note != "" {
		fmt.Fprintf(&b, " [%s]", c.Note)
	}
	b.WriteString(":\n")
	for i := range c.Inputs {
		in := &c.Inputs[i]
		fmt.Fprintf(&b, "  v%d = input %s %v grad=%v", i, in.DType, shapeOf(in.Shape), in.Grad)
		if len(in.Data) <= 24 {
			fmt.Fprintf(&b, " %v", in.floats())
		}
		b.WriteString("\n")
	}
	for k, s := range c.Steps {
		args := make([]string, len(s.Args))
		for i, a := range s.Args {
			args[i] = fmt.Sprintf("v%d", a)
		}
		fmt.Fprintf(&b, "  v%d = %s(%s) %s\n", len(c.Inputs)+k, s.Op, strings.Join(args, ", "), string(s.Raw))
	}
	return b.String()
}

// mismatch finds the first element of got that is not within tol of want;
// it returns -1 when all are.
func mismatch(got, want []float64, tol devicetest.Tol) (first, count int) {
	first = -1
	for i := range want {
		if !tol.Close(got[i], want[i]) {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	return first, count
}

// unravel turns a flat index into a multi-index of shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

// margin records the largest error seen in a passing comparison, as a
// fraction of its tolerance, to show how much room the tolerances leave.
type margin struct {
	ratio float64
	where string
}

var (
	worst   margin
	curName string // the case being checked
)

// compareValues compares got with the reference want under tol: NaN must
// meet NaN and an infinity the same infinity (devicetest.Tol.Close); zeros
// match whatever their sign, and NaN payloads are not compared.
func compareValues(what string, got []float64, want *spec, tol devicetest.Tol) string {
	w := want.floats()
	if len(got) != len(w) {
		return fmt.Sprintf("%s: got %d elements, want %d", what, len(got), len(w))
	}
	first, count := mismatch(got, w, tol)
	if first < 0 {
		for i := range w {
			if e := math.Abs(got[i] - w[i]); e > 0 && !math.IsInf(w[i], 0) {
				if r := e / (tol.Abs + tol.Rel*math.Abs(w[i])); r > worst.ratio {
					worst = margin{r, fmt.Sprintf("%s, %s element %d: got %v, want %v", curName, what, i, got[i], w[i])}
				}
			}
		}
		return ""
	}
	return fmt.Sprintf("%s: first mismatch at element %d (index %v of %v): got %v, want %v (tolerance abs %g rel %g); %d of %d elements differ",
		what, first, unravel(first, shapeOf(want.Shape)), shapeOf(want.Shape), got[first], w[first], tol.Abs, tol.Rel, count, len(w))
}

// checkErrorNames reports whether msg names the op of step (see goNames).
func checkErrorNames(c *program, k int, err error) string {
	names := goNames[c.Steps[k].Op]
	for _, n := range names {
		if strings.Contains(err.Error(), n) {
			return ""
		}
	}
	return fmt.Sprintf("the error %q does not name the call that failed (want one of %v)", err, names)
}

// check runs c on dev and returns what went wrong, or "" when the case
// passes. refused reports an error that the case allows on this device.
func check(t *testing.T, dev device.Device, c *program) (failure string, refused error) {
	r := run(dev, c)
	var cr *crash
	if errors.As(r.err, &cr) {
		return fmt.Sprintf("step %d (%s) crashed: %v\n%s", r.failStep, c.Steps[max(r.failStep, 0)].Op, cr.val, cr.stack), nil
	}
	if c.Expect == "error" {
		if r.err != nil {
			if r.failStep < c.ErrorStep {
				return fmt.Sprintf("step %d (%s) failed, but PyTorch accepts it (it refuses step %d): %v",
					r.failStep, c.Steps[r.failStep].Op, c.ErrorStep, r.err), nil
			}
			t.Logf("refused as PyTorch does: %v (PyTorch: %s)", r.err, c.TorchError)
			return checkErrorNames(c, c.ErrorStep, r.err), nil
		}
		out := r.vals[len(r.vals)-1]
		if _, err := read(out.Value()); err != nil {
			if errors.As(err, &cr) {
				return fmt.Sprintf("reading the output crashed: %v\n%s", cr.val, cr.stack), nil
			}
			t.Logf("refused when read, as PyTorch does: %v (PyTorch: %s)", err, c.TorchError)
			return checkErrorNames(c, c.ErrorStep, err), nil
		}
		return fmt.Sprintf("PyTorch refuses step %d (%s): %q; wgtensor returned a %v value of shape %v",
			c.ErrorStep, c.Steps[c.ErrorStep].Op, c.TorchError, out.Value().DType(), out.Shape()), nil
	}
	if r.err != nil {
		if c.GPUMayRefuse && dev.Kind() == device.KindGPU {
			return "", r.err
		}
		return fmt.Sprintf("step %d (%s) failed: %v", r.failStep, c.Steps[r.failStep].Op, r.err), nil
	}
	out := r.vals[len(r.vals)-1]
	want := c.Output
	got, err := read(out.Value())
	if err != nil {
		if c.GPUMayRefuse && dev.Kind() == device.KindGPU {
			return "", err
		}
		return fmt.Sprintf("reading the output: %v", err), nil
	}
	if !slices.Equal(shapeOf(out.Shape()), shapeOf(want.Shape)) {
		return fmt.Sprintf("output shape %v, want %v", out.Shape(), shapeOf(want.Shape)), nil
	}
	wantDT := map[string]tensor.DType{"float32": tensor.Float32, "int32": tensor.Int32, "bool": tensor.Float32}[want.DType]
	if dt := out.Value().DType(); dt != wantDT {
		return fmt.Sprintf("output dtype %v, want %v (PyTorch %s)", dt, wantDT, want.DType), nil
	}
	tol := programTol(c, dev.Kind(), false)
	if want.DType != "float32" {
		tol = devicetest.Tol{} // integers and masks are exact
	}
	if msg := compareValues("output", got, want, tol); msg != "" {
		return msg, nil
	}
	if c.Grads == nil {
		return "", nil
	}
	if !out.RequiresGrad() {
		return "the output does not require a gradient, but PyTorch's does", nil
	}
	g := c.GradOutput.tensor(dev)
	if err := catch(func() { out.BackwardWith(g) }); err != nil {
		if errors.As(err, &cr) {
			return fmt.Sprintf("Backward crashed: %v\n%s", cr.val, cr.stack), nil
		}
		return fmt.Sprintf("Backward: %v", err), nil
	}
	gtol := programTol(c, dev.Kind(), true)
	var msgs []string
	for i, w := range c.Grads {
		leaf := r.vals[i]
		gr := leaf.Grad()
		if w == nil {
			// PyTorch found no path from the output to this input: wgtensor
			// may have none either or a gradient of zeros.
			if gr != nil {
				v, err := read(gr)
				if err != nil {
					msgs = append(msgs, fmt.Sprintf("gradient of v%d (PyTorch: none): %v", i, err))
				} else if slices.ContainsFunc(v, func(x float64) bool { return x != 0 }) {
					msgs = append(msgs, fmt.Sprintf("gradient of v%d: PyTorch has none, wgtensor has non-zero %v", i, v))
				}
			}
			continue
		}
		if gr == nil {
			msgs = append(msgs, fmt.Sprintf("no gradient for v%d", i))
			continue
		}
		if !slices.Equal(shapeOf(gr.Shape()), shapeOf(w.Shape)) {
			msgs = append(msgs, fmt.Sprintf("gradient of v%d has shape %v, want %v", i, gr.Shape(), shapeOf(w.Shape)))
			continue
		}
		v, err := read(gr)
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("reading the gradient of v%d: %v", i, err))
			continue
		}
		if msg := compareValues(fmt.Sprintf("gradient of v%d", i), v, w, gtol); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	return strings.Join(msgs, "\n"), nil
}

// afterRefusal is how many ordinary cases that passed run again on a
// device after the cases it may refuse, to check that a refusal left the
// device usable.
const afterRefusal = 20

// TestDifferential replays every program of testdata/programs.json on every
// device and compares with PyTorch.
func TestDifferential(t *testing.T) {
	cases := loadPrograms(t)
	// Cases a device may refuse run last, then a few ordinary ones again:
	// a refusal must fail that op only, not what comes after it.
	var ordinary, refusable []*program
	for _, c := range cases {
		if c.GPUMayRefuse {
			refusable = append(refusable, c)
		} else {
			ordinary = append(ordinary, c)
		}
	}
	type tally struct{ ran, passed int }
	for _, dev := range devicetest.Devices(t) {
		kind := dev.Kind().String()
		var all tally
		var failed []string
		var passed []*program
		runOne := func(prefix string, c *program) {
			name := prefix + c.Name
			curName = name
			ok := t.Run(kind+"/"+name, func(t *testing.T) {
				failure, refused := check(t, dev, c)
				if refused != nil {
					t.Logf("the %s refused it, which this case allows: %v", kind, refused)
				}
				if failure != "" {
					t.Errorf("%s\n%s", failure, describe(c))
				}
			})
			all.ran++
			if ok {
				all.passed++
				if prefix == "" && !c.GPUMayRefuse {
					passed = append(passed, c)
				}
			} else {
				failed = append(failed, name)
			}
		}
		worst = margin{}
		for _, c := range ordinary {
			runOne("", c)
		}
		for _, c := range refusable {
			runOne("", c)
		}
		if len(refusable) > 0 {
			for _, c := range passed[:min(afterRefusal, len(passed))] {
				runOne("after-refusal/", c)
			}
		}
		t.Logf("%s (%s): %d cases ran, %d passed, %d failed; largest error within tolerance: %.2f of it (%s)",
			kind, dev.Name(), all.ran, all.passed, all.ran-all.passed, worst.ratio, worst.where)
		if len(failed) > 0 {
			t.Logf("%s failures: %s", kind, strings.Join(failed, " "))
		}
	}
}
