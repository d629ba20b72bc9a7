package nn

import (
	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// Reduction says how a loss combines its per-element values.
type Reduction int

// The reductions; ReduceMean is the default, as in PyTorch.
const (
	ReduceMean Reduction = iota
	ReduceSum
	ReduceNone
)

// LossOption configures a loss.
type LossOption func(*lossConfig)

type lossConfig struct {
	reduction      Reduction
	ignoreIndex    int
	labelSmoothing float64
}

func newLossConfig(opts []LossOption) lossConfig {
	c := lossConfig{ignoreIndex: -100}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithReduction sets how a loss combines per-element values.
func WithReduction(r Reduction) LossOption { return func(c *lossConfig) { c.reduction = r } }

// WithIgnoreIndex sets the label that CrossEntropyLoss and NLLLoss skip
// (-100 by default, as in PyTorch).
func WithIgnoreIndex(i int) LossOption { return func(c *lossConfig) { c.ignoreIndex = i } }

// WithLabelSmoothing mixes the target distribution of CrossEntropyLoss with
// the uniform one by eps, as PyTorch's label_smoothing.
func WithLabelSmoothing(eps float64) LossOption {
	return func(c *lossConfig) { c.labelSmoothing = eps }
}

// reduce combines per-element losses.
func (c lossConfig) reduce(l *autograd.Var) *autograd.Var {
	switch c.reduction {
	case ReduceSum:
		return l.Sum()
	case ReduceNone:
		return l
	}
	return l.Mean()
}

func checkSameShape(op string, a, b []int) {
	if len(a) != len(b) {
		panicf(op, "prediction of shape %v and target of shape %v differ", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			panicf(op, "prediction of shape %v and target of shape %v differ", a, b)
		}
	}
}

// MSELoss is the squared error between pred and target.
func MSELoss(pred, target *autograd.Var, opts ...LossOption) *autograd.Var {
	checkSameShape("MSELoss", pred.Shape(), target.Shape())
	return newLossConfig(opts).reduce(pred.Sub(target).Square())
}

// L1Loss is the absolute error between pred and target.
func L1Loss(pred, target *autograd.Var, opts ...LossOption) *autograd.Var {
	checkSameShape("L1Loss", pred.Shape(), target.Shape())
	return newLossConfig(opts).reduce(pred.Sub(target).Abs())
}

// CrossEntropyLoss is the cross-entropy between softmax(logits) and int32
// class labels, as torch.nn.functional.cross_entropy: logits [N, C] with
// labels [N], or [N, C, d...] with labels [N, d...]. Labels equal to the
// ignore index (-100 by default) contribute nothing, and the mean is over
// the others.
func CrossEntropyLoss(logits *autograd.Var, labels *tensor.Tensor, opts ...LossOption) *autograd.Var {
	c := newLossConfig(opts)
	checkLabels("CrossEntropyLoss", logits, labels)
	if c.labelSmoothing == 0 && len(logits.Shape()) == 2 {
		return c.crossEntropy(logits, labels)
	}
	logp := logits.LogSoftmax(1)
	return c.nll("CrossEntropyLoss", logp, labels)
}

// crossEntropy is CrossEntropyLoss of logits [N, C] without label
// smoothing as one recorded op with the closed-form gradient
// (softmax − one-hot)·w, w the weight of a row's loss (0 for an ignored
// row): a handful of ops that a device fusing elementwise work runs as a
// few kernels, instead of log-softmax, gather and their gradients (a
// scatter into zeros among them). It keeps PyTorch's results at the edges:
// the mean over no kept row is NaN, and an ignored row of NaN logits has a
// NaN gradient but adds nothing to the loss.
func (c lossConfig) crossEntropy(logits *autograd.Var, labels *tensor.Tensor) *autograd.Var {
	const op = "CrossEntropyLoss"
	dev := labels.Device()
	logp := logits.Value().LogSoftmax(1)
	keep := labels.NeScalar(float64(c.ignoreIndex)) // float 0/1 per row
	safe := tensor.Where(keep, labels, tensor.FullOf(dev, tensor.Int32, 0))
	// The gather also checks the labels, reporting one out of range.
	picked := logp.GatherNamed(op+": label", 1, safe.Unsqueeze(1)).Squeeze(1).Neg()
	zero := tensor.Scalar(dev, 0)
	// Ignored rows may hold anything, NaN too (fully masked padding):
	// select, not multiply, so that they contribute 0.
	loss := tensor.Where(keep, picked, zero)
	var count *tensor.Tensor
	switch c.reduction {
	case ReduceSum:
		loss = loss.Sum()
	case ReduceMean:
		count = keep.Sum()
		loss = loss.Div(count).Sum() // each term over the count: 0/0 is NaN
	}
	n, classes := logits.Shape()[0], logits.Shape()[1]
	return autograd.Record(op, loss, func(g *tensor.Tensor) []*tensor.Tensor {
		if count != nil {
			g = g.Div(count)
		}
		w := tensor.Where(keep, g, zero) // [N]
		onehot := tensor.Arange(dev, tensor.Int32, 0, float64(classes), 1).Unsqueeze(0).Eq(labels.Unsqueeze(1))
		return []*tensor.Tensor{logp.Exp().Sub(onehot).Mul(w.Unsqueeze(1).Expand(n, classes))}
	}, logits)
}

// NLLLoss is the negative log-likelihood of int32 labels under log
// probabilities logp [N, C] (or [N, C, d...]), as torch.nn.NLLLoss.
func NLLLoss(logp *autograd.Var, labels *tensor.Tensor, opts ...LossOption) *autograd.Var {
	c := newLossConfig(opts)
	c.labelSmoothing = 0
	checkLabels("NLLLoss", logp, labels)
	return c.nll("NLLLoss", logp, labels)
}

func checkLabels(op string, scores *autograd.Var, labels *tensor.Tensor) {
	s, l := scores.Shape(), labels.Shape()
	want := append([]int{s[0]}, s[2:]...)
	if len(s) < 2 || labels.DType() != tensor.Int32 || len(l) != len(want) {
		panicf(op, "scores of shape %v and %v labels of shape %v do not fit (want int32 labels of shape %v)", s, labels.DType(), l, want)
	}
	for i := range want {
		if l[i] != want[i] {
			panicf(op, "scores of shape %v and labels of shape %v do not fit", s, l)
		}
	}
}

// nll picks -logp at each label, skipping ignored labels, with label
// smoothing eps: (1-eps)·nll + eps·mean_c(-logp); a label out of range is
// reported as op's.
func (c lossConfig) nll(op string, logp *autograd.Var, labels *tensor.Tensor) *autograd.Var {
	dev := labels.Device()
	keep := labels.NeScalar(float64(c.ignoreIndex)) // float 0/1
	safe := tensor.Where(keep, labels, tensor.FullOf(dev, tensor.Int32, 0))
	picked := logp.GatherNamed(op+": label", 1, safe.Unsqueeze(1)).Squeeze(1).Neg()
	if c.labelSmoothing > 0 {
		uniform := logp.Mean(1).Neg()
		picked = picked.MulScalar(1 - c.labelSmoothing).Add(uniform.MulScalar(c.labelSmoothing))
	}
	// Ignored rows may hold anything, NaN too (fully masked padding):
	// select, not multiply, so that they contribute exactly 0.
	loss := autograd.Where(keep, picked, autograd.Const(tensor.Scalar(dev, 0)))
	switch c.reduction {
	case ReduceSum:
		return loss.Sum()
	case ReduceNone:
		return loss
	}
	return loss.Sum().Div(autograd.Const(keep.Sum()))
}

// BCELoss is the binary cross-entropy between probabilities and targets in
// [0, 1]; as PyTorch it clamps the logarithms at -100.
func BCELoss(probs, target *autograd.Var, opts ...LossOption) *autograd.Var {
	checkSameShape("BCELoss", probs.Shape(), target.Shape())
	logp := probs.Log().MaximumScalar(-100)
	log1mp := probs.RSubScalar(1).Log().MaximumScalar(-100)
	l := target.Mul(logp).Add(target.RSubScalar(1).Mul(log1mp)).Neg()
	return newLossConfig(opts).reduce(l)
}

// BCEWithLogitsLoss is BCELoss of sigmoid(logits), computed stably as
// max(x, 0) - x·t + log(1 + e^-|x|), with the gradient sigmoid(x) - t for
// the logits (and -x for the target), also at x = 0 where the pieces of
// the stable form have kinks.
func BCEWithLogitsLoss(logits, target *autograd.Var, opts ...LossOption) *autograd.Var {
	checkSameShape("BCEWithLogitsLoss", logits.Shape(), target.Shape())
	x, t := logits.Value(), target.Value()
	l := x.ReLU().Sub(x.Mul(t)).Add(x.Abs().Neg().Exp().AddScalar(1).Log())
	loss := autograd.Record("BCEWithLogitsLoss", l, func(g *tensor.Tensor) []*tensor.Tensor {
		var dt *tensor.Tensor
		if target.RequiresGrad() {
			dt = g.Mul(x).Neg()
		}
		return []*tensor.Tensor{g.Mul(x.Sigmoid().Sub(t)), dt}
	}, logits, target)
	return newLossConfig(opts).reduce(loss)
}
