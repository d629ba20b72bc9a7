package autograd

import (
	"github.com/wgtensor/wgtensor/tensor"
)

// MatMul returns the matrix product with torch.matmul's rules (vectors,
// batches, broadcasting); gradients are summed over broadcast batch axes.
func (a *Var) MatMul(b *Var) *Var {
	if vs := lowered(a, b); vs[0] != a || vs[1] != b {
		return vs[0].MatMul(vs[1])
	}
	av, bv := a.val, b.val
	out := av.MatMul(bv)
	return record("MatMul", out, func(g *tensor.Tensor) []*tensor.Tensor {
		// Work with the matrix forms of vector operands.
		a2, b2 := av, bv
		matrixAxes := 2
		if av.Dim() == 1 {
			a2 = av.Unsqueeze(0)
			matrixAxes--
		}
		if bv.Dim() == 1 {
			b2 = bv.Unsqueeze(1)
			matrixAxes--
		}
		batch := g.Shape()[:g.Dim()-matrixAxes]
		g2 := g.Reshape(append(batch, a2.Size(-2), b2.Size(-1))...)
		var ga, gb *tensor.Tensor
		if a.requiresGrad {
			ga = sumTo(product(g2, b2.T(), transposedLayout(a2)), a2.Shape()).Reshape(av.Shape()...)
		}
		switch {
		case !b.requiresGrad:
		case b2.Dim() == 2 && a2.Dim() > 2:
			// b is shared by every batch element: fold the batch into the
			// rows of one product rather than a product per element and
			// a sum over them.
			// (No -1 in the reshapes: K or N may be 0.)
			k, n := a2.Size(-1), b2.Size(-1)
			rows := 1
			for _, d := range a2.Shape()[:a2.Dim()-1] {
				rows *= d
			}
			gb = product(a2.Reshape(rows, k).T(), g2.Reshape(rows, n), transposedLayout(b2)).Reshape(bv.Shape()...)
		default:
			gb = sumTo(product(a2.T(), g2, transposedLayout(b2)), b2.Shape()).Reshape(bv.Shape()...)
		}
		return grads(ga, gb)
	}, a, b)
}

// transposedLayout reports whether t is a transposed view of a dense
// matrix (its last two axes swapped), as the weight of a linear layer is in
// x·Wᵀ.
func transposedLayout(t *tensor.Tensor) bool {
	st, sh := t.Strides(), t.Shape()
	n := len(st)
	return n >= 2 && !t.IsContiguous() && st[n-2] == 1 && st[n-1] == sh[n-2]
}

// product returns x·y, computed as (yᵀ·xᵀ)ᵀ when transposed is set, so that
// a gradient that flows back through a transposed view (such as a linear
// layer's Wᵀ) arrives dense in the parameter's own layout.
func product(x, y *tensor.Tensor, transposed bool) *tensor.Tensor {
	if transposed {
		return y.T().MatMul(x.T()).T()
	}
	return x.MatMul(y)
}

// Conv2D is the 2-D convolution of x [N, C, H, W] with w [O, C/groups, KH,
// KW] (see tensor.Conv2D).
func Conv2D(x, w *Var, opt tensor.Conv2DOptions) *Var {
	if vs := lowered(x, w); vs[0] != x || vs[1] != w {
		return Conv2D(vs[0], vs[1], opt)
	}
	xv, wv := x.val, w.val
	return record("Conv2D", tensor.Conv2D(xv, wv, opt), func(g *tensor.Tensor) []*tensor.Tensor {
		var gx, gw *tensor.Tensor
		if x.requiresGrad {
			gx = tensor.Conv2DInputGrad(g, wv, xv.Shape(), opt)
		}
		if w.requiresGrad {
			gw = tensor.Conv2DWeightGrad(xv, g, wv.Shape(), opt)
		}
		return grads(gx, gw)
	}, x, w)
}

// Conv2DBias is Conv2D plus a bias b [O] added to every output position of
// each output channel, as torch.nn.functional.conv2d with a bias; b may be
// nil. A bias of another shape panics naming Conv2D and the bias.
func Conv2DBias(x, w, b *Var, opt tensor.Conv2DOptions) *Var {
	y := Conv2D(x, w, opt)
	if b == nil {
		return y
	}
	if ws, bs := w.Shape(), b.Shape(); len(bs) != 1 || len(ws) == 0 || bs[0] != ws[0] {
		panicf("Conv2D", "bias of shape %v does not fit weight %v: want [%d]", bs, ws, ws[0])
	}
	return y.Add(b.Reshape(1, -1, 1, 1))
}

// MaxPool2D takes window maxima; the gradient goes to the element each
// maximum came from.
func MaxPool2D(x *Var, opt tensor.Pool2DOptions) *Var {
	y, idx := tensor.MaxPool2D(x.val, opt)
	in := x.val.Shape()
	return record("MaxPool2D", y, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(tensor.MaxPool2DGrad(g, idx, in, opt))
	}, x)
}

// AvgPool2D takes window means.
func AvgPool2D(x *Var, opt tensor.Pool2DOptions) *Var {
	in := x.val.Shape()
	return record("AvgPool2D", tensor.AvgPool2D(x.val, opt), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(tensor.AvgPool2DGrad(g, in, opt))
	}, x)
}

// Softmax normalises exp(v) along axis.
func (v *Var) Softmax(axis int) *Var {
	if w := widened(v); w != v {
		return w.Softmax(axis)
	}
	y := v.val.Softmax(axis)
	return record("Softmax", y, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(y.Mul(g.Sub(g.Mul(y).SumKeepDim(axis))))
	}, v)
}

// LogSoftmax returns v - log(sum(exp(v))) along axis.
func (v *Var) LogSoftmax(axis int) *Var {
	if w := widened(v); w != v {
		return w.LogSoftmax(axis)
	}
	y := v.val.LogSoftmax(axis)
	return record("LogSoftmax", y, func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(g.Sub(y.Exp().Mul(g.SumKeepDim(axis))))
	}, v)
}

// IndexSelect picks the entries idx (1-D int32) of axis; an embedding
// lookup is weight.IndexSelect(0, ids). The gradient adds up the rows
// picked more than once.
func (v *Var) IndexSelect(axis int, idx *tensor.Tensor) *Var {
	x := v.val
	a := normAxis("IndexSelect", axis, x.Dim())
	return record("IndexSelect", x.IndexSelect(a, idx), func(g *tensor.Tensor) []*tensor.Tensor {
		return grads(tensor.ZerosLike(x).IndexAdd(a, idx, g))
	}, v)
}

// Gather picks, along axis, the elements idx names (see tensor.Gather).
func (v *Var) Gather(axis int, idx *tensor.Tensor) *Var { return v.GatherNamed("", axis, idx) }

// GatherNamed is Gather whose out-of-range indices are reported as what
// (see tensor.Tensor.GatherNamed).
func (v *Var) GatherNamed(what string, axis int, idx *tensor.Tensor) *Var {
	x := v.val
	a := normAxis("Gather", axis, x.Dim())
	return record("Gather", x.GatherNamed(what, a, idx), func(g *tensor.Tensor) []*tensor.Tensor {
		// Scatter into the part of x the index covers, then pad to x.
		shape := idx.Shape()
		shape[a] = x.Size(a)
		gx := tensor.FullOf(x.Device(), g.DType(), 0, shape...).ScatterAdd(a, idx, g)
		for d, n := range x.Shape() {
			if d != a && shape[d] != n {
				gx = padAxis(gx, d, 0, n)
			}
		}
		return grads(gx)
	}, v)
}

// Embedding looks up the rows of w [vocab, dim] named by the int32 ids of
// any shape, giving [ids..., dim].
func Embedding(w *Var, ids *tensor.Tensor) *Var {
	shape := append(ids.Shape(), w.Size(1))
	return w.IndexSelect(0, ids.Reshape(-1)).Reshape(shape...)
}
