package nn

import (
	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// Linear applies y = x Wᵀ + b to the last axis of x, as torch.nn.Linear.
type Linear struct {
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out], nil without bias
}

// NewLinear returns a Linear layer with PyTorch's default initialisation.
func NewLinear(dev device.Device, in, out int) *Linear {
	return &Linear{
		Weight: autograd.Param(defaultWeight(dev, out, in)),
		Bias:   autograd.Param(defaultBias(dev, in, out)),
	}
}

// NewLinearNoBias returns a Linear layer without a bias.
func NewLinearNoBias(dev device.Device, in, out int) *Linear {
	return &Linear{Weight: autograd.Param(defaultWeight(dev, out, in))}
}

// Forward maps x [..., in] to [..., out].
func (l *Linear) Forward(x *autograd.Var) *autograd.Var {
	y := x.MatMul(l.Weight.T())
	if l.Bias != nil {
		y = y.Add(l.Bias)
	}
	return y
}

// Flatten merges the axes Start..End (inclusive; negative counts from the
// end), as torch.nn.Flatten (whose defaults are 1 and -1).
type Flatten struct{ Start, End int }

// NewFlatten returns a Flatten of every axis but the first.
func NewFlatten() *Flatten { return &Flatten{Start: 1, End: -1} }

// Forward flattens x.
func (f *Flatten) Forward(x *autograd.Var) *autograd.Var { return x.Flatten(f.Start, f.End) }

// Sequential chains layers; their parameters are named by position, 0.weight,
// 1.bias, ..., as in torch.nn.Sequential.
type Sequential struct {
	Layers []Layer `nn:",inline"`
}

// NewSequential returns the chain of layers.
func NewSequential(layers ...Layer) *Sequential { return &Sequential{Layers: layers} }

// Forward runs x through every layer in turn.
func (s *Sequential) Forward(x *autograd.Var) *autograd.Var {
	for _, l := range s.Layers {
		x = l.Forward(x)
	}
	return x
}

// ReLU is the activation max(x, 0).
type ReLU struct{}

// Forward applies ReLU.
func (ReLU) Forward(x *autograd.Var) *autograd.Var { return x.ReLU() }

// Sigmoid is the activation 1/(1+e^-x).
type Sigmoid struct{}

// Forward applies Sigmoid.
func (Sigmoid) Forward(x *autograd.Var) *autograd.Var { return x.Sigmoid() }

// Tanh is the activation tanh(x).
type Tanh struct{}

// Forward applies Tanh.
func (Tanh) Forward(x *autograd.Var) *autograd.Var { return x.Tanh() }

// GELU is the exact Gaussian error linear unit.
type GELU struct{}

// Forward applies GELU.
func (GELU) Forward(x *autograd.Var) *autograd.Var { return x.GELU() }

// Softmax normalises along Axis.
type Softmax struct{ Axis int }

// Forward applies Softmax.
func (s Softmax) Forward(x *autograd.Var) *autograd.Var { return x.Softmax(s.Axis) }

// LogSoftmax is the logarithm of Softmax along Axis.
type LogSoftmax struct{ Axis int }

// Forward applies LogSoftmax.
func (s LogSoftmax) Forward(x *autograd.Var) *autograd.Var { return x.LogSoftmax(s.Axis) }

// Conv2d is a 2-D convolution layer, as torch.nn.Conv2d.
type Conv2d struct {
	Weight  *autograd.Var // [out, in/groups, kh, kw]
	Bias    *autograd.Var // [out], nil without bias
	Options tensor.Conv2DOptions
}

// NewConv2d returns a convolution from in to out channels with a kernel of
// kh×kw and PyTorch's default initialisation; opt gives stride, padding,
// dilation and groups.
func NewConv2d(dev device.Device, in, out, kh, kw int, opt tensor.Conv2DOptions) *Conv2d {
	groups := max(opt.Groups, 1)
	if in%groups != 0 || out%groups != 0 {
		panicf("NewConv2d", "%d groups do not divide %d input and %d output channels", groups, in, out)
	}
	w := defaultWeight(dev, out, in/groups, kh, kw)
	fanIn, _ := Fans(w.Shape())
	return &Conv2d{
		Weight:  autograd.Param(w),
		Bias:    autograd.Param(defaultBias(dev, fanIn, out)),
		Options: opt,
	}
}

// Forward convolves x [N, C, H, W].
func (c *Conv2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Conv2DBias(x, c.Weight, c.Bias, c.Options)
}

// MaxPool2d takes window maxima, as torch.nn.MaxPool2d.
type MaxPool2d struct{ Options tensor.Pool2DOptions }

// NewMaxPool2d returns max pooling over k×k windows with stride k.
func NewMaxPool2d(k int) *MaxPool2d {
	return &MaxPool2d{Options: tensor.Pool2DOptions{Kernel: [2]int{k, k}}}
}

// Forward pools x [N, C, H, W].
func (p *MaxPool2d) Forward(x *autograd.Var) *autograd.Var { return autograd.MaxPool2D(x, p.Options) }

// AvgPool2d takes window means, as torch.nn.AvgPool2d.
type AvgPool2d struct{ Options tensor.Pool2DOptions }

// NewAvgPool2d returns average pooling over k×k windows with stride k.
func NewAvgPool2d(k int) *AvgPool2d {
	return &AvgPool2d{Options: tensor.Pool2DOptions{Kernel: [2]int{k, k}}}
}

// Forward pools x [N, C, H, W].
func (p *AvgPool2d) Forward(x *autograd.Var) *autograd.Var { return autograd.AvgPool2D(x, p.Options) }

// Embedding maps int32 ids to rows of a table, as torch.nn.Embedding.
type Embedding struct {
	Weight *autograd.Var // [num, dim], initialised from N(0, 1)
}

// NewEmbedding returns a table of num embeddings of size dim.
func NewEmbedding(dev device.Device, num, dim int) *Embedding {
	return &Embedding{Weight: autograd.Param(NormalInit(dev, 0, 1, num, dim))}
}

// Forward looks up ids of any shape, giving [ids..., dim]. An id out of
// range yields zeros and an error from the next read.
func (e *Embedding) Forward(ids *tensor.Tensor) *autograd.Var {
	return autograd.Embedding(e.Weight, ids)
}

// Dropout zeroes elements with probability P in training mode and scales
// the rest by 1/(1-P), as torch.nn.Dropout; in evaluation mode it passes x
// through.
type Dropout struct {
	P float64
	mode
}

// NewDropout returns a Dropout with probability p.
func NewDropout(p float64) *Dropout {
	if p < 0 || p > 1 {
		panicf("NewDropout", "probability %v outside [0, 1]", p)
	}
	return &Dropout{P: p}
}

// Forward applies dropout to x.
func (d *Dropout) Forward(x *autograd.Var) *autograd.Var {
	if !d.Training() || d.P == 0 {
		return x
	}
	if d.P == 1 {
		return x.MulScalar(0)
	}
	keep := UniformInit(x.Device(), 0, 1, x.Shape()...).GeScalar(d.P).MulScalar(1 / (1 - d.P))
	if dt := x.Value().DType(); dt.IsFloat() {
		keep = keep.AsType(dt) // a 16-bit x stays 16-bit, as in PyTorch
	}
	return x.Mul(autograd.Const(keep))
}
