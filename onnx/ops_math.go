package onnx

import (
	"errors"
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/internal/half"
	"github.com/wgtensor/wgtensor/tensor"
)

// ops holds every supported operator, filled by the ops_*.go files.
var ops = map[string]*opSpec{}

// register adds an operator; it panics on a duplicate, a programming error.
func register(name string, s *opSpec) {
	if _, dup := ops[name]; dup {
		panic("onnx: operator registered twice: " + name)
	}
	ops[name] = s
}

func init() {
	unary := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"Relu": (*tensor.Tensor).ReLU, "Sigmoid": (*tensor.Tensor).Sigmoid, "Tanh": (*tensor.Tensor).Tanh,
		"Exp": (*tensor.Tensor).Exp, "Log": (*tensor.Tensor).Log, "Sqrt": (*tensor.Tensor).Sqrt,
		"Abs": (*tensor.Tensor).Abs, "Neg": (*tensor.Tensor).Neg, "Reciprocal": (*tensor.Tensor).Recip,
		"Erf": (*tensor.Tensor).Erf, "Sin": (*tensor.Tensor).Sin, "Cos": (*tensor.Tensor).Cos,
		"Sign": (*tensor.Tensor).Sign,
	}
	host := map[string]func(float64) float64{
		"Relu": func(x float64) float64 { return max(x, 0) }, "Abs": math.Abs, "Neg": func(x float64) float64 { return -x },
		"Sign": func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x
		},
		"Exp": math.Exp, "Log": math.Log, "Sqrt": math.Sqrt, "Reciprocal": func(x float64) float64 { return 1 / x },
		"Sigmoid": func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, "Tanh": math.Tanh,
		"Erf": math.Erf, "Sin": math.Sin, "Cos": math.Cos,
	}
	for name, f := range unary {
		register(name, &opSpec{since: 1, minIn: 1, foldable: true, run: unaryOp(f, host[name])})
	}
	register("Identity", &opSpec{since: 1, minIn: 1, foldable: true, run: func(c *call) ([]*value, error) { return []*value{c.in[0]}, nil }})
	register("Dropout", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"ratio", "seed", "is_test"},
		check: func(n *node) error {
			if len(n.outputs) > 1 && n.outputs[1] != "" {
				return errors.New("the mask output of Dropout is not supported")
			}
			return nil
		},
		run: func(c *call) ([]*value, error) { return []*value{c.in[0]}, nil }})

	register("LeakyRelu", &opSpec{since: 6, minIn: 1, foldable: true, attrs: []string{"alpha"}, run: func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		alpha := c.attrFloat("alpha", 0.01)
		return one(tFloat, tensor.Where(x.GtScalar(0), x, x.MulScalar(alpha)))
	}})
	register("HardSigmoid", &opSpec{since: 6, minIn: 1, foldable: true, attrs: []string{"alpha", "beta"}, run: func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		return one(tFloat, x.MulScalar(c.attrFloat("alpha", 0.2)).AddScalar(c.attrFloat("beta", 0.5)).Clamp(0, 1))
	}})
	register("HardSwish", &opSpec{since: 14, minIn: 1, foldable: true, run: func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		return one(tFloat, x.Mul(x.MulScalar(1.0/6).AddScalar(0.5).Clamp(0, 1)))
	}})
	register("Gelu", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"approximate"},
		check: func(n *node) error {
			if a := n.attrString("approximate", "none"); a != "none" && a != "tanh" {
				return fmt.Errorf("approximate %q is not supported", a)
			}
			return nil
		},
		run: func(c *call) ([]*value, error) {
			x, err := c.tensor(0)
			if err != nil {
				return nil, err
			}
			if c.attrString("approximate", "none") == "tanh" {
				inner := x.Add(x.Square().Mul(x).MulScalar(0.044715)).MulScalar(math.Sqrt(2 / math.Pi))
				return one(tFloat, x.MulScalar(0.5).Mul(inner.Tanh().AddScalar(1)))
			}
			return one(tFloat, x.GELU())
		}})
	register("Clip", &opSpec{since: 6, minIn: 1, foldable: true, attrs: []string{"min", "max"}, run: runClip})

	arith := map[string]struct {
		dev  func(a, b *tensor.Tensor) *tensor.Tensor
		host func(a, b float64) float64
	}{
		"Add": {(*tensor.Tensor).Add, func(a, b float64) float64 { return a + b }},
		"Sub": {(*tensor.Tensor).Sub, func(a, b float64) float64 { return a - b }},
		"Mul": {(*tensor.Tensor).Mul, func(a, b float64) float64 { return a * b }},
		"Div": {(*tensor.Tensor).Div, func(a, b float64) float64 { return a / b }},
		"Pow": {(*tensor.Tensor).Pow, math.Pow},
	}
	for name, f := range arith {
		register(name, &opSpec{since: 7, minIn: 2, foldable: true, run: binaryOp(name, f.dev, f.host)})
	}
	compare := map[string]struct {
		dev  func(a, b *tensor.Tensor) *tensor.Tensor
		host func(a, b float64) bool
	}{
		"Equal":          {(*tensor.Tensor).Eq, func(a, b float64) bool { return a == b }},
		"Less":           {(*tensor.Tensor).Lt, func(a, b float64) bool { return a < b }},
		"LessOrEqual":    {(*tensor.Tensor).Le, func(a, b float64) bool { return a <= b }},
		"Greater":        {(*tensor.Tensor).Gt, func(a, b float64) bool { return a > b }},
		"GreaterOrEqual": {(*tensor.Tensor).Ge, func(a, b float64) bool { return a >= b }},
	}
	for name, f := range compare {
		host := f.host
		register(name, &opSpec{since: 7, minIn: 2, foldable: true, run: compareOp(f.dev, host)})
	}
	logic := map[string]struct {
		dev  func(a, b *tensor.Tensor) *tensor.Tensor
		host func(a, b bool) bool
	}{
		"And": {(*tensor.Tensor).Mul, func(a, b bool) bool { return a && b }},
		"Or":  {(*tensor.Tensor).Maximum, func(a, b bool) bool { return a || b }},
		"Xor": {(*tensor.Tensor).Ne, func(a, b bool) bool { return a != b }},
	}
	for name, f := range logic {
		host := f.host
		register(name, &opSpec{since: 7, minIn: 2, foldable: true, run: compareOp(f.dev, func(a, b float64) bool { return host(a != 0, b != 0) })})
	}
	register("Not", &opSpec{since: 1, minIn: 1, foldable: true, run: func(c *call) ([]*value, error) {
		x := c.in[0]
		if x.onHost() {
			return []*value{mapHost(tBool, x, func(v float64) float64 { return b2f(v == 0) })}, nil
		}
		t, err := x.device(c.dev)
		if err != nil {
			return nil, err
		}
		return one(tBool, t.RSubScalar(1))
	}})
	register("Where", &opSpec{since: 9, minIn: 3, foldable: true, run: runWhere})
	register("Cast", &opSpec{since: 6, minIn: 1, foldable: true, attrs: []string{"to", "saturate"}, check: func(n *node) error {
		to := elemType(n.attrInt("to", 0))
		if _, ok := elemSize[to]; !ok {
			return fmt.Errorf("cast to %v is not supported", to)
		}
		return nil
	}, run: runCast})
	for _, name := range []string{"Max", "Min", "Sum", "Mean"} {
		register(name, &opSpec{since: 1, minIn: 1, foldable: true, run: variadicOp(name)}) // before opset 8 without broadcasting: a subset
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unaryOp runs f on the device, or hf on the host for small host inputs.
func unaryOp(f func(*tensor.Tensor) *tensor.Tensor, hf func(float64) float64) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		x := c.in[0]
		if x.onHost() && hf != nil {
			return []*value{mapHost(x.typ, x, hf)}, nil
		}
		t, err := x.device(c.dev)
		if err != nil {
			return nil, err
		}
		if !x.typ.isFloat() && t.DType() == tensor.Int32 {
			r := f(t)
			if r.DType() != tensor.Int32 {
				r = r.AsType(tensor.Int32)
			}
			return one(x.typ, r)
		}
		return one(x.typ, f(t))
	}
}

// mapHost applies f to every element of a host value.
func mapHost(typ elemType, x *value, f func(float64) float64) *value {
	out := make([]float64, len(x.host))
	for i, v := range x.host {
		out[i] = f(v)
	}
	return hostValue(typ, x.shape, out)
}

// resultType is the type of an elementwise op on inputs of types a and b,
// which ONNX requires to be equal.
func resultType(a, b elemType) (elemType, error) {
	if a != b && !(a.isFloat() && b.isFloat()) {
		return a, fmt.Errorf("inputs of types %v and %v differ", a, b)
	}
	return a, nil
}

// binaryOp runs an arithmetic op with NumPy broadcasting: on the host when
// both inputs are small host values, on the device otherwise. Integer
// division truncates toward zero, as ONNX Runtime's does.
func binaryOp(name string, f func(a, b *tensor.Tensor) *tensor.Tensor, hf func(a, b float64) float64) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		a, b := c.in[0], c.in[1]
		typ, err := resultType(a.typ, b.typ)
		if name == "Pow" {
			typ, err = a.typ, nil // the exponent may have another type
		}
		if err != nil {
			return nil, err
		}
		integer := !typ.isFloat()
		if a.onHost() && b.onHost() {
			h := hf
			if integer && name == "Div" {
				h = func(x, y float64) float64 { return math.Trunc(x / y) }
			}
			return broadcastHost(typ, a, b, h)
		}
		ta, err := a.device(c.dev)
		if err != nil {
			return nil, err
		}
		if name == "Pow" && !integer && b.onHost() && len(b.host) == 1 && len(b.shape) <= len(a.shape) {
			return one(typ, ta.PowScalar(b.host[0])) // x^2 of a layer norm: a square
		}
		tb, err := b.device(c.dev)
		if err != nil {
			return nil, err
		}
		if name == "Pow" && tb.DType() != ta.DType() {
			tb = tb.AsType(ta.DType())
		}
		r := f(ta, tb)
		if integer && r.DType() != tensor.Int32 {
			r = r.AsType(tensor.Int32) // Div and Pow compute in float32
		}
		return one(typ, r)
	}
}

// compareOp runs a comparison (or a logical op on masks) with a bool result.
func compareOp(f func(a, b *tensor.Tensor) *tensor.Tensor, hf func(a, b float64) bool) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		a, b := c.in[0], c.in[1]
		if a.onHost() && b.onHost() {
			return broadcastHost(tBool, a, b, func(x, y float64) float64 { return b2f(hf(x, y)) })
		}
		ta, err := a.device(c.dev)
		if err != nil {
			return nil, err
		}
		tb, err := b.device(c.dev)
		if err != nil {
			return nil, err
		}
		if ta.DType() != tb.DType() {
			ta, tb = ta.AsType(tensor.Float32), tb.AsType(tensor.Float32)
		}
		r := f(ta, tb)
		if r.DType() != tensor.Float32 {
			r = r.AsType(tensor.Float32)
		}
		return one(tBool, r)
	}
}

// broadcastHost computes f over the NumPy broadcast of two host values.
func broadcastHost(typ elemType, a, b *value, f func(x, y float64) float64) ([]*value, error) {
	shape, err := broadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	out := make([]float64, device.Numel(shape))
	ia, ib := broadcastIndex(a.shape, shape), broadcastIndex(b.shape, shape)
	for i := range out {
		out[i] = f(a.host[ia(i)], b.host[ib(i)])
	}
	return []*value{hostValue(typ, shape, out)}, nil
}

// broadcastShape is NumPy's broadcast of two shapes.
func broadcastShape(a, b []int) (shape []int, err error) {
	err = tensor.Maybe(func() { shape = tensor.BroadcastShapes("broadcast", a, b) })
	return shape, err
}

// broadcastIndex maps a linear index of shape to the element of a tensor of
// shape from that broadcasts to it.
func broadcastIndex(from, shape []int) func(i int) int {
	strides := make([]int, len(shape))
	acc := 1
	for d := len(from) - 1; d >= 0; d-- {
		k := d + len(shape) - len(from)
		if from[d] != 1 {
			strides[k] = acc
		}
		acc *= from[d]
	}
	return func(i int) int {
		o := 0
		for d := len(shape) - 1; d >= 0; d-- {
			o += (i % shape[d]) * strides[d]
			i /= shape[d]
		}
		return o
	}
}

func runWhere(c *call) ([]*value, error) {
	cond, a, b := c.in[0], c.in[1], c.in[2]
	typ, err := resultType(a.typ, b.typ)
	if err != nil {
		return nil, err
	}
	if cond.onHost() && a.onHost() && b.onHost() {
		shape, err := broadcastShape(cond.shape, a.shape)
		if err == nil {
			shape, err = broadcastShape(shape, b.shape)
		}
		if err != nil {
			return nil, err
		}
		out := make([]float64, device.Numel(shape))
		ic, ia, ib := broadcastIndex(cond.shape, shape), broadcastIndex(a.shape, shape), broadcastIndex(b.shape, shape)
		for i := range out {
			if cond.host[ic(i)] != 0 {
				out[i] = a.host[ia(i)]
			} else {
				out[i] = b.host[ib(i)]
			}
		}
		return []*value{hostValue(typ, shape, out)}, nil
	}
	tc, err := cond.device(c.dev)
	if err != nil {
		return nil, err
	}
	ta, err := a.device(c.dev)
	if err != nil {
		return nil, err
	}
	tb, err := b.device(c.dev)
	if err != nil {
		return nil, err
	}
	return one(typ, tensor.Where(tc, ta, tb))
}

func runClip(c *call) ([]*value, error) {
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.opset < 11 {
		lo, hi = c.attrFloat("min", lo), c.attrFloat("max", hi)
	} else {
		for i, p := range []*float64{&lo, &hi} {
			v := c.input(i + 1)
			if v == nil {
				continue
			}
			f, err := v.values()
			if err != nil {
				return nil, err
			}
			if len(f) != 1 {
				return nil, fmt.Errorf("bound of %d values, want 1", len(f))
			}
			*p = f[0]
		}
	}
	x := c.in[0]
	if x.onHost() {
		return []*value{mapHost(x.typ, x, func(v float64) float64 { return min(max(v, lo), hi) })}, nil
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	if !math.IsInf(lo, -1) {
		t = t.MaximumScalar(lo)
	}
	if !math.IsInf(hi, 1) {
		t = t.MinimumScalar(hi)
	}
	if !x.typ.isFloat() && t.DType() != tensor.Int32 {
		t = t.AsType(tensor.Int32)
	}
	return one(x.typ, t)
}

func runCast(c *call) ([]*value, error) {
	to := elemType(c.attrInt("to", 0))
	x := c.in[0]
	conv := func(v float64) float64 {
		switch {
		case to == tBool:
			return b2f(v != 0)
		case to.halfType() != 0:
			return float64(half.Value(half.Round(float32(v), to == tBFloat16), to == tBFloat16))
		case to == tFloat:
			return float64(float32(v))
		case to.isFloat():
			return v
		case math.IsNaN(v) || math.IsInf(v, 0):
			return 0
		}
		return math.Trunc(v)
	}
	if x.onHost() {
		return []*value{mapHost(to, x, conv)}, nil
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	switch {
	case to.halfType() != 0: // held in float32, rounded to the 16-bit type
		t = t.AsType(tensor.Float32).AsType(to.halfType()).AsType(tensor.Float32)
	case to == tBool:
		t = t.AsType(tensor.Float32).NeScalar(0)
	case to.deviceType() != t.DType():
		t = t.AsType(to.deviceType())
	}
	return one(to, t)
}

// variadicOp is Max, Min, Sum or Mean of any number of inputs.
func variadicOp(name string) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		acc, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		for i := 1; i < len(c.in); i++ {
			t, err := c.tensor(i)
			if err != nil {
				return nil, err
			}
			switch name {
			case "Max":
				acc = acc.Maximum(t)
			case "Min":
				acc = acc.Minimum(t)
			default:
				acc = acc.Add(t)
			}
		}
		if name == "Mean" {
			acc = acc.DivScalar(float64(len(c.in)))
		}
		return one(c.in[0].typ, acc)
	}
}
