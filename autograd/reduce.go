package autograd

import (
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// reducedAxes resolves the axes of the reduction op over a tensor of rank dims
// (all of them when none is given). A 0-d tensor has none: axis 0 or -1
// names its value, as in PyTorch (the tensor op has checked them).
func reducedAxes(op string, axes []int, rank int) []int {
	if rank == 0 {
		for _, a := range axes {
			if a != 0 && a != -1 {
				panicf(op, "axis %d out of range for 0 dimensions (a 0-d tensor takes axis 0 or -1)", a)
			}
		}
		return nil
	}
	if len(axes) == 0 {
		all := make([]int, rank)
		for i := range all {
			all[i] = i
		}
		return all
	}
	out := make([]int, len(axes))
	for i, a := range axes {
		out[i] = normAxis(op, a, rank)
	}
	slices.Sort(out)
	return out
}

// keepShape is in with the reduced axes set to 1.
func keepShape(in []int, axes []int) []int {
	s := slices.Clone(in)
	for _, a := range axes {
		s[a] = 1
	}
	return s
}

// Sum adds elements along axes (all when none is given).
func (v *Var) Sum(axes ...int) *Var {
	v = widened(v)
	return v.sum("Sum", v.val.Sum(axes...), axes, false)
}

// SumKeepDim is Sum keeping the reduced axes with length 1.
func (v *Var) SumKeepDim(axes ...int) *Var {
	v = widened(v)
	return v.sum("Sum", v.val.SumKeepDim(axes...), axes, false)
}

// Mean averages elements along axes (all when none is given).
func (v *Var) Mean(axes ...int) *Var {
	v = widened(v)
	return v.sum("Mean", v.val.Mean(axes...), axes, true)
}

// MeanKeepDim is Mean keeping the reduced axes with length 1.
func (v *Var) MeanKeepDim(axes ...int) *Var {
	v = widened(v)
	return v.sum("Mean", v.val.MeanKeepDim(axes...), axes, true)
}

func (v *Var) sum(op string, out *tensor.Tensor, axes []int, mean bool) *Var {
	in := v.val.Shape()
	red := reducedAxes(op, axes, len(in))
	count := 1
	for _, a := range red {
		count *= in[a]
	}
	return record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		g = g.Reshape(keepShape(in, red)...).Expand(in...)
		if mean {
			g = g.DivScalar(float64(count))
		}
		return grads(g)
	}, v)
}

// Max takes the largest element along axes (all when none is given). As in
// PyTorch, along a single axis the gradient goes to the first maximum
// (torch.max(x, dim)); over several axes or all of them it is shared evenly
// between tied maxima (torch.amax, torch.max(x)).
func (v *Var) Max(axes ...int) *Var {
	return v.extreme("Max", v.val.MaxKeepDim(axes...), axes, false, true)
}

// MaxKeepDim is Max keeping the reduced axes with length 1.
func (v *Var) MaxKeepDim(axes ...int) *Var {
	return v.extreme("Max", v.val.MaxKeepDim(axes...), axes, true, true)
}

// Min takes the smallest element along axes, with Max's gradient rules.
func (v *Var) Min(axes ...int) *Var {
	return v.extreme("Min", v.val.MinKeepDim(axes...), axes, false, false)
}

// MinKeepDim is Min keeping the reduced axes with length 1.
func (v *Var) MinKeepDim(axes ...int) *Var {
	return v.extreme("Min", v.val.MinKeepDim(axes...), axes, true, false)
}

func (v *Var) extreme(op string, kept *tensor.Tensor, axes []int, keep, isMax bool) *Var {
	x := v.val
	in := x.Shape()
	red := reducedAxes(op, axes, len(in))
	out := kept
	if !keep {
		out = kept.Squeeze(red...)
	}
	return record(op, out, func(g *tensor.Tensor) []*tensor.Tensor {
		g = g.Reshape(keepShape(in, red)...)
		if len(in) == 0 {
			// A 0-d value is its own extreme, NaN too (as PyTorch's
			// torch.max(x) and torch.max(x, 0)).
			return grads(g)
		}
		if len(axes) == 1 {
			var idx *tensor.Tensor
			if isMax {
				idx = x.ArgMaxKeepDim(red[0])
			} else {
				idx = x.ArgMinKeepDim(red[0])
			}
			return grads(tensor.ZerosLike(x).ScatterAdd(red[0], idx, g))
		}
		mask := x.Eq(kept)
		share := g.Div(mask.SumKeepDim(red...))
		if len(axes) == 0 && !keep {
			// torch.max(x): the share is selected (masked_fill), so an
			// infinite or NaN gradient gives 0 away from the maxima.
			return grads(tensor.Where(mask, share, mask))
		}
		// torch.amax: PyTorch multiplies by the mask (scale_grad_by_count),
		// giving NaN there; so do we.
		return grads(share.Mul(mask))
	}, v)
}

// ArgMax returns the int32 index of the largest element along axis; it is
// not differentiable.
func (v *Var) ArgMax(axis int) *tensor.Tensor { return v.val.ArgMax(axis) }
