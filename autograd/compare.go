package autograd

import "github.com/wgtensor/wgtensor/tensor"

// Comparisons, index reductions and casts to int32 have no gradient, as in
// PyTorch: they return plain tensors (float32 0/1 masks, int32 indices)
// that can serve as Where conditions, labels or indices.

// Eq returns a float32 mask, 1 where a == b, broadcasting.
func (a *Var) Eq(b *Var) *tensor.Tensor { return a.val.Eq(b.val) }

// Ne returns a float32 mask, 1 where a != b (NaN differs from everything).
func (a *Var) Ne(b *Var) *tensor.Tensor { return a.val.Ne(b.val) }

// Lt returns a float32 mask, 1 where a < b.
func (a *Var) Lt(b *Var) *tensor.Tensor { return a.val.Lt(b.val) }

// Le returns a float32 mask, 1 where a <= b.
func (a *Var) Le(b *Var) *tensor.Tensor { return a.val.Le(b.val) }

// Gt returns a float32 mask, 1 where a > b.
func (a *Var) Gt(b *Var) *tensor.Tensor { return a.val.Gt(b.val) }

// Ge returns a float32 mask, 1 where a >= b.
func (a *Var) Ge(b *Var) *tensor.Tensor { return a.val.Ge(b.val) }

// EqScalar returns a float32 mask, 1 where v == s.
func (v *Var) EqScalar(s float64) *tensor.Tensor { return v.val.EqScalar(s) }

// NeScalar returns a float32 mask, 1 where v != s.
func (v *Var) NeScalar(s float64) *tensor.Tensor { return v.val.NeScalar(s) }

// LtScalar returns a float32 mask, 1 where v < s.
func (v *Var) LtScalar(s float64) *tensor.Tensor { return v.val.LtScalar(s) }

// LeScalar returns a float32 mask, 1 where v <= s.
func (v *Var) LeScalar(s float64) *tensor.Tensor { return v.val.LeScalar(s) }

// GtScalar returns a float32 mask, 1 where v > s.
func (v *Var) GtScalar(s float64) *tensor.Tensor { return v.val.GtScalar(s) }

// GeScalar returns a float32 mask, 1 where v >= s.
func (v *Var) GeScalar(s float64) *tensor.Tensor { return v.val.GeScalar(s) }

// ArgMaxKeepDim is ArgMax keeping axis with length 1.
func (v *Var) ArgMaxKeepDim(axis int) *tensor.Tensor { return v.val.ArgMaxKeepDim(axis) }

// ArgMin returns the int32 index of the smallest element along axis (the
// first on ties); it has no gradient.
func (v *Var) ArgMin(axis int) *tensor.Tensor { return v.val.ArgMin(axis) }

// ArgMinKeepDim is ArgMin keeping axis with length 1.
func (v *Var) ArgMinKeepDim(axis int) *tensor.Tensor { return v.val.ArgMinKeepDim(axis) }

// AsType converts v to dt, as Tensor.AsType: a type to itself keeps v (and
// its gradient); between float types the gradient flows back converted to
// v's type; a conversion to or from int32 has no gradient and returns a
// constant, as in PyTorch.
func (v *Var) AsType(dt tensor.DType) *Var {
	from := v.val.DType()
	switch {
	case dt == from:
		return v
	case dt.IsFloat() && from.IsFloat():
		return record("AsType", v.val.AsType(dt), func(g *tensor.Tensor) []*tensor.Tensor {
			return grads(g.AsType(from))
		}, v)
	}
	return Const(v.val.AsType(dt))
}
