package autograd

import (
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// Record returns a Var holding out, computed by an op of the caller's from
// inputs; backward maps the gradient of out to one gradient per input (nil
// where none is needed). It is how packages above autograd define
// differentiable ops of their own.
func Record(op string, out *tensor.Tensor, backward func(g *tensor.Tensor) []*tensor.Tensor, inputs ...*Var) *Var {
	return record(op, out, backward, inputs...)
}

// sumTo sums g over the axes that broadcasting added or stretched, giving a
// gradient of the operand's shape.
func sumTo(g *tensor.Tensor, shape []int) *tensor.Tensor {
	gs := g.Shape()
	if slices.Equal(gs, shape) {
		return g
	}
	lead := len(gs) - len(shape)
	var axes []int
	for i := range gs {
		if i < lead || (shape[i-lead] == 1 && gs[i] != 1) {
			axes = append(axes, i)
		}
	}
	if len(axes) > 0 {
		g = g.SumKeepDim(axes...)
	}
	return g.Reshape(shape...)
}

// grads builds a backward result.
func grads(gs ...*tensor.Tensor) []*tensor.Tensor { return gs }

// pass returns g where mask, a 0/1 comparison result of g's shape, is 1
// and 0 where it is 0. It selects rather than multiplies, as PyTorch's
// where and masked_fill do, so an infinite or NaN g where the derivative
// is 0 gives 0, not NaN; the zeros are the mask's own, so it is one device
// op, as the product was.
func pass(mask, g *tensor.Tensor) *tensor.Tensor { return tensor.Where(mask, g, mask) }

// Add returns a + b, broadcasting.
func (a *Var) Add(b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	return record("Add", a.val.Add(b.val), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(sumTo(g, as), sumTo(g, bs))
	}, a, b)
}

// Sub returns a - b, broadcasting.
func (a *Var) Sub(b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	return record("Sub", a.val.Sub(b.val), func(g *tensor.Tensor) []*tensor.Tensor {
		var gb *tensor.Tensor
		if b.requiresGrad {
			gb = sumTo(g.Neg(), bs)
		}
		return grads(sumTo(g, as), gb)
	}, a, b)
}

// Mul returns a * b elementwise, broadcasting.
func (a *Var) Mul(b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	av, bv := a.val, b.val
	return record("Mul", av.Mul(bv), func(g *tensor.Tensor) []*tensor.Tensor {
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			ga = sumTo(g.Mul(bv), as)
		}
		if b.requiresGrad {
			gb = sumTo(g.Mul(av), bs)
		}
		return grads(ga, gb)
	}, a, b)
}

// Div returns a / b elementwise, broadcasting.
func (a *Var) Div(b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	av, bv := a.val, b.val
	return record("Div", av.Div(bv), func(g *tensor.Tensor) []*tensor.Tensor {
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			ga = sumTo(g.Div(bv), as)
		}
		if b.requiresGrad {
			gb = sumTo(g.Mul(av).Div(bv.Square()).Neg(), bs)
		}
		return grads(ga, gb)
	}, a, b)
}

// Pow returns a raised to b elementwise, broadcasting.
func (a *Var) Pow(b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	av, bv := a.val, b.val
	out := av.Pow(bv)
	return record("Pow", out, func(g *tensor.Tensor) []*tensor.Tensor {
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			// As PyTorch: no gradient where the exponent is 0, where
			// b·a^(b-1) would be 0·∞ at a = 0.
			d := g.Mul(bv).Mul(av.Pow(bv.SubScalar(1)))
			ga = sumTo(tensor.Where(bv.EqScalar(0), tensor.Scalar(av.Device(), 0), d), as)
		}
		if b.requiresGrad {
			// As PyTorch: no gradient where the base is 0 and the exponent
			// non-negative (log 0 would make it NaN).
			d := g.Mul(out).Mul(av.Log())
			zero := av.EqScalar(0).Mul(bv.GeScalar(0))
			gb = sumTo(tensor.Where(zero, tensor.Scalar(av.Device(), 0), d), bs)
		}
		return grads(ga, gb)
	}, a, b)
}

// Maximum returns the elementwise maximum; on ties each operand receives
// half the gradient, and where either is NaN both receive all of it, as
// torch.maximum.
func (a *Var) Maximum(b *Var) *Var { return a.extremum("Maximum", b, a.val.Maximum(b.val), true) }

// Minimum returns the elementwise minimum, with Maximum's gradient rules.
func (a *Var) Minimum(b *Var) *Var { return a.extremum("Minimum", b, a.val.Minimum(b.val), false) }

func (a *Var) extremum(op string, b *Var, out *tensor.Tensor, isMax bool) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	av, bv := a.val, b.val
	return record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		// As PyTorch: where(a == b, g/2, g), zeroed (selected, not
		// multiplied) where the operand loses. loseA and loseB are never
		// both 1, so each supplies the other's zeros.
		h := tensor.Where(av.Eq(bv), g.MulScalar(0.5), g)
		loseA, loseB := av.Lt(bv), av.Gt(bv)
		if !isMax {
			loseA, loseB = loseB, loseA
		}
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			ga = sumTo(tensor.Where(loseA, loseB, h), as)
		}
		if b.requiresGrad {
			gb = sumTo(tensor.Where(loseB, loseA, h), bs)
		}
		return grads(ga, gb)
	}, a, b)
}

// AddScalar returns v + s.
func (v *Var) AddScalar(s float64) *Var {
	return record("AddScalar", v.val.AddScalar(s), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g) }, v)
}

// SubScalar returns v - s.
func (v *Var) SubScalar(s float64) *Var {
	return record("SubScalar", v.val.SubScalar(s), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g) }, v)
}

// RSubScalar returns s - v.
func (v *Var) RSubScalar(s float64) *Var {
	return record("RSubScalar", v.val.RSubScalar(s), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g.Neg()) }, v)
}

// MulScalar returns v * s.
func (v *Var) MulScalar(s float64) *Var {
	return record("MulScalar", v.val.MulScalar(s), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g.MulScalar(s)) }, v)
}

// DivScalar returns v / s.
func (v *Var) DivScalar(s float64) *Var {
	return record("DivScalar", v.val.DivScalar(s), func(g *tensor.Tensor) []*tensor.Tensor { return grads(g.DivScalar(s)) }, v)
}

// RDivScalar returns s / v.
func (v *Var) RDivScalar(s float64) *Var {
	x := v.val
	out := x.RDivScalar(s)
	return record("RDivScalar", out, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Mul(out).Div(x).Neg())
	}, v)
}

// PowScalar returns v raised to s.
func (v *Var) PowScalar(s float64) *Var {
	x := v.val
	return record("PowScalar", x.PowScalar(s), func(g *tensor.Tensor) []*tensor.Tensor {
		if s == 0 {
			return grads(tensor.ZerosLike(x))
		}
		return grads(g.Mul(x.PowScalar(s - 1)).MulScalar(s))
	}, v)
}

// RPowScalar returns s raised to v.
func (v *Var) RPowScalar(s float64) *Var {
	out := v.val.RPowScalar(s)
	return record("RPowScalar", out, func(g *tensor.Tensor) []*tensor.Tensor {
		if s == 0 {
			return grads(tensor.ZerosLike(out))
		}
		return grads(g.Mul(out).MulScalar(math.Log(s)))
	}, v)
}

// MaximumScalar returns max(v, s), as torch.clamp(v, min=s): the gradient
// passes where v >= s.
func (v *Var) MaximumScalar(s float64) *Var {
	x := v.val
	return record("MaximumScalar", x.MaximumScalar(s), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(pass(x.GeScalar(s), g))
	}, v)
}

// MinimumScalar returns min(v, s), as torch.clamp(v, max=s): the gradient
// passes where v <= s.
func (v *Var) MinimumScalar(s float64) *Var {
	x := v.val
	return record("MinimumScalar", x.MinimumScalar(s), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(pass(x.LeScalar(s), g))
	}, v)
}

// Clamp limits v to [lo, hi]; the gradient passes where lo <= v <= hi, as
// torch.clamp.
func (v *Var) Clamp(lo, hi float64) *Var {
	x := v.val
	y := x.Clamp(lo, hi)
	return record("Clamp", y, func(g *tensor.Tensor) []*tensor.Tensor {
		// lo <= x <= hi exactly where clamping left x as it was (lo <= hi
		// is checked; a NaN x or bound gives NaN, equal to nothing): one
		// comparison instead of two and their product.
		return grads(pass(y.Eq(x), g))
	}, v)
}

// unary records an op of one argument whose gradient rule is grad(g, x, y)
// for input x and output y.
func (v *Var) unary(op string, y *tensor.Tensor, rule func(g, x, y *tensor.Tensor) *tensor.Tensor) *Var {
	x := v.val
	return record(op, y, func(g *tensor.Tensor) []*tensor.Tensor { return grads(rule(g, x, y)) }, v)
}

// Neg returns -v.
func (v *Var) Neg() *Var {
	return v.unary("Neg", v.val.Neg(), func(g, _, _ *tensor.Tensor) *tensor.Tensor { return g.Neg() })
}

// Abs returns |v|; the gradient at 0 is 0.
func (v *Var) Abs() *Var {
	return v.unary("Abs", v.val.Abs(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Mul(x.Sign()) })
}

// Sign returns the sign of v; its gradient is 0.
func (v *Var) Sign() *Var {
	return v.unary("Sign", v.val.Sign(), func(_, x, _ *tensor.Tensor) *tensor.Tensor { return tensor.ZerosLike(x) })
}

// Square returns v * v.
func (v *Var) Square() *Var {
	return v.unary("Square", v.val.Square(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Mul(x).MulScalar(2) })
}

// Exp returns e^v.
func (v *Var) Exp() *Var {
	return v.unary("Exp", v.val.Exp(), func(g, _, y *tensor.Tensor) *tensor.Tensor { return g.Mul(y) })
}

// Log returns the natural logarithm of v.
func (v *Var) Log() *Var {
	return v.unary("Log", v.val.Log(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Div(x) })
}

// Sqrt returns the square root of v.
func (v *Var) Sqrt() *Var {
	return v.unary("Sqrt", v.val.Sqrt(), func(g, _, y *tensor.Tensor) *tensor.Tensor { return g.Div(y).MulScalar(0.5) })
}

// Rsqrt returns 1/sqrt(v).
func (v *Var) Rsqrt() *Var {
	return v.unary("Rsqrt", v.val.Rsqrt(), func(g, _, y *tensor.Tensor) *tensor.Tensor {
		return g.Mul(y.Square().Mul(y)).MulScalar(-0.5)
	})
}

// Recip returns 1/v.
func (v *Var) Recip() *Var {
	return v.unary("Recip", v.val.Recip(), func(g, _, y *tensor.Tensor) *tensor.Tensor { return g.Mul(y.Square()).Neg() })
}

// Sin returns the sine of v.
func (v *Var) Sin() *Var {
	return v.unary("Sin", v.val.Sin(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Mul(x.Cos()) })
}

// Cos returns the cosine of v.
func (v *Var) Cos() *Var {
	return v.unary("Cos", v.val.Cos(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Mul(x.Sin()).Neg() })
}

// Tanh returns the hyperbolic tangent of v.
func (v *Var) Tanh() *Var {
	return v.unary("Tanh", v.val.Tanh(), func(g, _, y *tensor.Tensor) *tensor.Tensor { return g.TanhGrad(y) })
}

// Sigmoid returns 1/(1+e^-v).
func (v *Var) Sigmoid() *Var {
	return v.unary("Sigmoid", v.val.Sigmoid(), func(g, _, y *tensor.Tensor) *tensor.Tensor { return g.SigmoidGrad(y) })
}

// ReLU returns max(v, 0); the gradient at 0 is 0 and at NaN 1, as
// PyTorch (threshold_backward).
func (v *Var) ReLU() *Var {
	return v.unary("ReLU", v.val.ReLU(), func(g, _, y *tensor.Tensor) *tensor.Tensor {
		// y is positive, +0 or NaN, and Where takes NaN as true: g where
		// y is not 0, and y's own 0 elsewhere, in one op.
		return tensor.Where(y, g, y)
	})
}

// GELU returns the exact GELU of v.
func (v *Var) GELU() *Var {
	return v.unary("GELU", v.val.GELU(), func(g, x, _ *tensor.Tensor) *tensor.Tensor { return g.Mul(x.GELUGrad()) })
}

// Erf returns the error function of v; its derivative is 2/√π·e^(-v²).
func (v *Var) Erf() *Var {
	return v.unary("Erf", v.val.Erf(), func(g, x, _ *tensor.Tensor) *tensor.Tensor {
		return g.Mul(x.Square().Neg().Exp().MulScalar(2 / math.Sqrt(math.Pi)))
	})
}

// Where returns a where cond (a plain tensor) is non-zero and b elsewhere,
// broadcasting.
func Where(cond *tensor.Tensor, a, b *Var) *Var {
	as, bs := a.val.Shape(), b.val.Shape()
	return record("Where", tensor.Where(cond, a.val, b.val), func(g *tensor.Tensor) []*tensor.Tensor {
		zero := tensor.Scalar(g.Device(), 0)
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			ga = sumTo(tensor.Where(cond, g, zero), as)
		}
		if b.requiresGrad {
			gb = sumTo(tensor.Where(cond, zero, g), bs)
		}
		return grads(ga, gb)
	}, a, b)
}
