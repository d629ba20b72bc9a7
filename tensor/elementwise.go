package tensor

import (
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/device"
)

// BroadcastShapes returns the shape that a and b broadcast to under NumPy's
// rules, panicking for op when they do not.
func BroadcastShapes(op string, a, b []int) []int {
	if slices.Equal(a, b) {
		return a // shapes are never modified in place, so sharing is safe
	}
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			panicf(op, "shapes %v and %v do not broadcast", a, b)
		}
	}
	return out
}

// promote converts int32 operands to float32 where op needs it: when the
// operands' types differ, and for Div and Pow.
func promote(op device.BinaryOp, a, b *Tensor) (*Tensor, *Tensor) {
	if a.dtype != b.dtype || !op.IntOK() {
		return a.AsType(Float32), b.AsType(Float32)
	}
	return a, b
}

func (t *Tensor) binary(op device.BinaryOp, other *Tensor) *Tensor {
	name := op.String()
	sameDevice(name, t, other)
	if anyHalf(t, other) {
		dt := resultType(t, other)
		if op.IsComparison() {
			dt = Float32
		}
		return narrow(widen(t).binary(op, widen(other)), dt)
	}
	a, b := promote(op, t, other)
	shape := BroadcastShapes(name, a.shape, b.shape)
	dt := a.dtype
	if op.IsComparison() {
		dt = Float32
	}
	out, ok := result(t.dev, dt, shape, a, b)
	if ok && out.Numel() > 0 {
		t.dev.Binary(op, out.st.buf, a.broadcastView(shape), b.broadcastView(shape))
	}
	keepAlive(a, b)
	return out
}

// broadcastView is the device view of t expanded to shape.
func (t *Tensor) broadcastView(shape []int) device.View {
	if slices.Equal(t.shape, shape) {
		return t.view()
	}
	return t.Expand(shape...).view()
}

// binaryScalar applies op to t and the float scalar s. As in PyTorch, a
// float scalar makes arithmetic on an int32 tensor float32 (int32 + 2.0 is
// float32); comparisons of int32 tensors with whole numbers stay exact.
func (t *Tensor) binaryScalar(op device.BinaryOp, s float64, scalarFirst bool) *Tensor {
	return t.scalarOp(op, s, scalarFirst, false)
}

// scalarOp is binaryScalar; intScalar marks s as an integer, which keeps
// int32 arithmetic in int32 while it fits.
func (t *Tensor) scalarOp(op device.BinaryOp, s float64, scalarFirst, intScalar bool) *Tensor {
	if t.dtype.IsHalf() {
		out := widen(t).scalarOp(op, s, scalarFirst, intScalar)
		if op.IsComparison() {
			return out
		}
		return narrow(out, t.dtype)
	}
	a := t
	exact := s == math.Trunc(s) && math.Abs(s) <= math.MaxInt32
	if t.dtype == Int32 && (!op.IntOK() || !exact || !(intScalar || op.IsComparison())) {
		a = t.AsType(Float32)
	}
	dt := a.dtype
	if op.IsComparison() {
		dt = Float32
	}
	out, ok := result(t.dev, dt, slices.Clone(t.shape), a)
	if ok && out.Numel() > 0 {
		t.dev.BinaryScalar(op, out.st.buf, a.view(), s, scalarFirst)
	}
	keepAlive(a)
	return out
}

func (t *Tensor) unary(op device.UnaryOp) *Tensor {
	if t.dtype.IsHalf() {
		return narrow(widen(t).unary(op), t.dtype)
	}
	x := t
	if t.dtype == Int32 && !op.IntOK() {
		x = t.AsType(Float32)
	}
	out, ok := result(t.dev, x.dtype, slices.Clone(t.shape), x)
	if ok && out.Numel() > 0 {
		t.dev.Unary(op, out.st.buf, x.view())
	}
	keepAlive(x)
	return out
}

// Add returns t + o, broadcasting.
func (t *Tensor) Add(o *Tensor) *Tensor { return t.binary(device.Add, o) }

// Sub returns t - o, broadcasting.
func (t *Tensor) Sub(o *Tensor) *Tensor { return t.binary(device.Sub, o) }

// Mul returns t * o elementwise, broadcasting.
func (t *Tensor) Mul(o *Tensor) *Tensor { return t.binary(device.Mul, o) }

// Div returns t / o elementwise, broadcasting; int32 operands are divided
// as float32, as torch.div does.
func (t *Tensor) Div(o *Tensor) *Tensor { return t.binary(device.Div, o) }

// TanhGrad returns t·(1 − y²), broadcasting: the gradient t of a loss
// with respect to tanh(x), carried back to x through tanh's output y, in
// one pass instead of three (torch's tanh_backward).
func (t *Tensor) TanhGrad(y *Tensor) *Tensor { return t.binary(device.TanhGrad, y) }

// SigmoidGrad returns t·y·(1 − y), broadcasting: the gradient t carried
// back through the sigmoid's output y (torch's sigmoid_backward).
func (t *Tensor) SigmoidGrad(y *Tensor) *Tensor { return t.binary(device.SigmoidGrad, y) }

// Pow returns t raised to o elementwise, broadcasting.
func (t *Tensor) Pow(o *Tensor) *Tensor { return t.binary(device.Pow, o) }

// Maximum returns the elementwise maximum, propagating NaN.
func (t *Tensor) Maximum(o *Tensor) *Tensor { return t.binary(device.Maximum, o) }

// Minimum returns the elementwise minimum, propagating NaN.
func (t *Tensor) Minimum(o *Tensor) *Tensor { return t.binary(device.Minimum, o) }

// Eq returns a float32 mask, 1 where t == o.
func (t *Tensor) Eq(o *Tensor) *Tensor { return t.binary(device.Eq, o) }

// Ne returns a float32 mask, 1 where t != o.
func (t *Tensor) Ne(o *Tensor) *Tensor { return t.binary(device.Ne, o) }

// Lt returns a float32 mask, 1 where t < o.
func (t *Tensor) Lt(o *Tensor) *Tensor { return t.binary(device.Lt, o) }

// Le returns a float32 mask, 1 where t <= o.
func (t *Tensor) Le(o *Tensor) *Tensor { return t.binary(device.Le, o) }

// Gt returns a float32 mask, 1 where t > o.
func (t *Tensor) Gt(o *Tensor) *Tensor { return t.binary(device.Gt, o) }

// Ge returns a float32 mask, 1 where t >= o.
func (t *Tensor) Ge(o *Tensor) *Tensor { return t.binary(device.Ge, o) }

// AddScalar returns t + s; like every scalar op taking a float64, it makes an
// int32 tensor float32, as PyTorch does for a float scalar (see
// AddScalarInt for integer arithmetic).
func (t *Tensor) AddScalar(s float64) *Tensor { return t.binaryScalar(device.Add, s, false) }

// AddScalarInt returns t + s for an integer s: an int32 tensor stays int32,
// as with a Python int in PyTorch.
func (t *Tensor) AddScalarInt(s int) *Tensor { return t.scalarOp(device.Add, float64(s), false, true) }

// SubScalarInt returns t - s for an integer s, keeping int32 as AddScalarInt.
func (t *Tensor) SubScalarInt(s int) *Tensor { return t.scalarOp(device.Sub, float64(s), false, true) }

// MulScalarInt returns t * s for an integer s, keeping int32 as AddScalarInt.
func (t *Tensor) MulScalarInt(s int) *Tensor { return t.scalarOp(device.Mul, float64(s), false, true) }

// SubScalar returns t - s.
func (t *Tensor) SubScalar(s float64) *Tensor { return t.binaryScalar(device.Sub, s, false) }

// RSubScalar returns s - t.
func (t *Tensor) RSubScalar(s float64) *Tensor { return t.binaryScalar(device.Sub, s, true) }

// MulScalar returns t * s.
func (t *Tensor) MulScalar(s float64) *Tensor { return t.binaryScalar(device.Mul, s, false) }

// DivScalar returns t / s.
func (t *Tensor) DivScalar(s float64) *Tensor { return t.binaryScalar(device.Div, s, false) }

// RDivScalar returns s / t.
func (t *Tensor) RDivScalar(s float64) *Tensor { return t.binaryScalar(device.Div, s, true) }

// PowScalar returns t raised to s.
func (t *Tensor) PowScalar(s float64) *Tensor {
	if s == 2 && t.dtype == Float32 {
		return t.Square() // the same values as pow(x, 2), without its logarithms
	}
	return t.binaryScalar(device.Pow, s, false)
}

// RPowScalar returns s raised to t.
func (t *Tensor) RPowScalar(s float64) *Tensor { return t.binaryScalar(device.Pow, s, true) }

// MaximumScalar returns the elementwise maximum of t and s.
func (t *Tensor) MaximumScalar(s float64) *Tensor { return t.binaryScalar(device.Maximum, s, false) }

// MinimumScalar returns the elementwise minimum of t and s.
func (t *Tensor) MinimumScalar(s float64) *Tensor { return t.binaryScalar(device.Minimum, s, false) }

// EqScalar returns a float32 mask, 1 where t == s.
func (t *Tensor) EqScalar(s float64) *Tensor { return t.binaryScalar(device.Eq, s, false) }

// NeScalar returns a float32 mask, 1 where t != s.
func (t *Tensor) NeScalar(s float64) *Tensor { return t.binaryScalar(device.Ne, s, false) }

// LtScalar returns a float32 mask, 1 where t < s.
func (t *Tensor) LtScalar(s float64) *Tensor { return t.binaryScalar(device.Lt, s, false) }

// LeScalar returns a float32 mask, 1 where t <= s.
func (t *Tensor) LeScalar(s float64) *Tensor { return t.binaryScalar(device.Le, s, false) }

// GtScalar returns a float32 mask, 1 where t > s.
func (t *Tensor) GtScalar(s float64) *Tensor { return t.binaryScalar(device.Gt, s, false) }

// GeScalar returns a float32 mask, 1 where t >= s.
func (t *Tensor) GeScalar(s float64) *Tensor { return t.binaryScalar(device.Ge, s, false) }

// Clamp limits every element to [lo, hi]; NaN stays NaN.
func (t *Tensor) Clamp(lo, hi float64) *Tensor {
	if lo > hi {
		panicf("Clamp", "lower bound %v above upper bound %v", lo, hi)
	}
	return t.MaximumScalar(lo).MinimumScalar(hi)
}

// Neg returns -t.
func (t *Tensor) Neg() *Tensor { return t.unary(device.Neg) }

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor { return t.unary(device.Abs) }

// Sign returns -1, 0 or 1 by the sign of each element.
func (t *Tensor) Sign() *Tensor { return t.unary(device.Sign) }

// Square returns t * t.
func (t *Tensor) Square() *Tensor { return t.unary(device.Square) }

// Exp returns e raised to each element.
func (t *Tensor) Exp() *Tensor { return t.unary(device.Exp) }

// Log returns the natural logarithm of each element.
func (t *Tensor) Log() *Tensor { return t.unary(device.Log) }

// Sqrt returns the square root of each element.
func (t *Tensor) Sqrt() *Tensor { return t.unary(device.Sqrt) }

// Rsqrt returns 1/sqrt of each element.
func (t *Tensor) Rsqrt() *Tensor { return t.unary(device.Rsqrt) }

// Recip returns 1/t.
func (t *Tensor) Recip() *Tensor { return t.unary(device.Recip) }

// Sin returns the sine of each element.
func (t *Tensor) Sin() *Tensor { return t.unary(device.Sin) }

// Cos returns the cosine of each element.
func (t *Tensor) Cos() *Tensor { return t.unary(device.Cos) }

// Tanh returns the hyperbolic tangent, exact for large |t|.
func (t *Tensor) Tanh() *Tensor { return t.unary(device.Tanh) }

// Sigmoid returns 1/(1+e^-t), without overflow for large |t|.
func (t *Tensor) Sigmoid() *Tensor { return t.unary(device.Sigmoid) }

// ReLU returns max(t, 0) (NaN stays NaN).
func (t *Tensor) ReLU() *Tensor { return t.unary(device.ReLU) }

// GELU returns the exact Gaussian error linear unit t·Φ(t), PyTorch's
// default.
func (t *Tensor) GELU() *Tensor { return t.unary(device.GELU) }

// Erf returns the error function of t, as torch.erf.
func (t *Tensor) Erf() *Tensor { return t.unary(device.Erf) }

// GELUGrad returns the derivative of GELU at t, Φ(t) + t·φ(t).
func (t *Tensor) GELUGrad() *Tensor { return t.unary(device.GELUGrad) }

// Where returns a where cond is non-zero and b elsewhere, broadcasting all
// three.
func Where(cond, a, b *Tensor) *Tensor {
	sameDevice("Where", cond, a, b)
	if anyHalf(cond, a, b) {
		return narrow(Where(widen(cond), widen(a), widen(b)), resultType(a, b))
	}
	if a.dtype != b.dtype {
		a, b = a.AsType(Float32), b.AsType(Float32)
	}
	shape := BroadcastShapes("Where", BroadcastShapes("Where", cond.shape, a.shape), b.shape)
	out, ok := result(a.dev, a.dtype, shape, cond, a, b)
	if ok && out.Numel() > 0 {
		a.dev.Where(out.st.buf, cond.broadcastView(shape), a.broadcastView(shape), b.broadcastView(shape))
	}
	keepAlive(cond, a, b)
	return out
}
