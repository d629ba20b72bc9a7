package nn

import (
	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// BatchNorm normalises each channel (axis 1) over the batch and any
// trailing axes, as torch.nn.BatchNorm1d ([N, C] or [N, C, L]) and
// BatchNorm2d ([N, C, H, W]). In training mode it uses the batch statistics
// and updates the running ones; in evaluation mode it uses the running ones.
type BatchNorm struct {
	Weight            *autograd.Var // [C], ones
	Bias              *autograd.Var // [C], zeros
	RunningMean       *Buffer       // [C]
	RunningVar        *Buffer       // [C]
	NumBatchesTracked *Buffer       // [] int64 in PyTorch
	Eps               float64       // added to the variance; 0 means PyTorch's 1e-5
	Momentum          float64
	rank              int // 2, 3 or 4 for the 1d and 2d forms; 0 accepts any
	mode
}

func newBatchNorm(dev device.Device, c, rank int) *BatchNorm {
	return &BatchNorm{
		Weight:            autograd.Param(tensor.Ones(dev, c)),
		Bias:              autograd.Param(tensor.Zeros(dev, c)),
		RunningMean:       &Buffer{T: tensor.Zeros(dev, c)},
		RunningVar:        &Buffer{T: tensor.Ones(dev, c)},
		NumBatchesTracked: &Buffer{T: tensor.FullOf(dev, tensor.Int32, 0), Int64: true},
		Eps:               defaultEps,
		Momentum:          0.1,
		rank:              rank,
	}
}

// NewBatchNorm1d returns batch normalisation over c channels of [N, C] or
// [N, C, L] inputs.
func NewBatchNorm1d(dev device.Device, c int) *BatchNorm { return newBatchNorm(dev, c, 1) }

// NewBatchNorm2d returns batch normalisation over c channels of [N, C, H, W]
// inputs.
func NewBatchNorm2d(dev device.Device, c int) *BatchNorm { return newBatchNorm(dev, c, 4) }

// Forward normalises x.
func (b *BatchNorm) Forward(x *autograd.Var) *autograd.Var {
	rank := x.Dim()
	switch {
	case b.rank == 1 && rank != 2 && rank != 3:
		panicf("BatchNorm1d", "input of shape %v, want [N, C] or [N, C, L]", x.Shape())
	case b.rank == 4 && rank != 4:
		panicf("BatchNorm2d", "input of shape %v, want [N, C, H, W]", x.Shape())
	case x.Size(1) != b.Weight.Size(0):
		panicf("BatchNorm", "input of shape %v has %d channels, want %d", x.Shape(), x.Size(1), b.Weight.Size(0))
	}
	// Statistics run over every axis but the channels.
	axes := []int{0}
	shape := []int{1, -1}
	for a := 2; a < rank; a++ {
		axes = append(axes, a)
		shape = append(shape, 1)
	}
	var mean, variance *autograd.Var
	if b.Training() {
		mean = x.MeanKeepDim(axes...)
		variance = x.Sub(mean).Square().MeanKeepDim(axes...)
		b.updateRunning(mean.Value(), variance.Value(), x.Value().Numel()/x.Size(1))
	} else {
		mean = autograd.Const(b.RunningMean.T.Reshape(shape...))
		variance = autograd.Const(b.RunningVar.T.Reshape(shape...))
	}
	y := x.Sub(mean).Mul(variance.AddScalar(epsOr(b.Eps)).Rsqrt())
	return y.Mul(b.Weight.Reshape(shape...)).Add(b.Bias.Reshape(shape...))
}

// updateRunning folds the batch statistics into the running ones, with the
// unbiased variance, as PyTorch does; all on the device.
func (b *BatchNorm) updateRunning(mean, biasedVar *tensor.Tensor, n int) {
	c := b.RunningMean.T.Numel()
	unbiased := biasedVar.MulScalar(float64(n) / float64(max(n-1, 1)))
	m := b.Momentum
	b.RunningMean.T = b.RunningMean.T.MulScalar(1 - m).Add(mean.Reshape(c).MulScalar(m))
	b.RunningVar.T = b.RunningVar.T.MulScalar(1 - m).Add(unbiased.Reshape(c).MulScalar(m))
	b.NumBatchesTracked.T = b.NumBatchesTracked.T.AddScalarInt(1)
}

// defaultEps is the variance offset of PyTorch's normalisation layers.
const defaultEps = 1e-5

// epsOr returns eps, or defaultEps for the zero value, so that a layer
// written as a struct literal works as PyTorch's default one does.
func epsOr(eps float64) float64 {
	if eps == 0 {
		return defaultEps
	}
	return eps
}

// LayerNorm normalises over the trailing axes of the given shape, as
// torch.nn.LayerNorm with an elementwise affine transform. Its zero value
// with a Shape is usable: Eps 0 means 1e-5, and a nil Weight or Bias is left
// out (elementwise_affine=False).
type LayerNorm struct {
	Weight *autograd.Var // the normalised shape, ones
	Bias   *autograd.Var // zeros
	Shape  []int
	Eps    float64 // added to the variance; 0 means PyTorch's 1e-5
}

// NewLayerNorm returns layer normalisation over the trailing axes of shape.
func NewLayerNorm(dev device.Device, shape ...int) *LayerNorm {
	return &LayerNorm{
		Weight: autograd.Param(tensor.Ones(dev, shape...)),
		Bias:   autograd.Param(tensor.Zeros(dev, shape...)),
		Shape:  shape,
		Eps:    defaultEps,
	}
}

// Forward normalises x [..., shape...].
func (l *LayerNorm) Forward(x *autograd.Var) *autograd.Var {
	n := len(l.Shape)
	if x.Dim() < n {
		panicf("LayerNorm", "input of shape %v is smaller than the normalised shape %v", x.Shape(), l.Shape)
	}
	axes := make([]int, n)
	for i := range axes {
		axes[i] = x.Dim() - n + i
		if x.Size(axes[i]) != l.Shape[i] {
			panicf("LayerNorm", "input of shape %v does not end in the normalised shape %v", x.Shape(), l.Shape)
		}
	}
	mean := x.MeanKeepDim(axes...)
	centred := x.Sub(mean)
	variance := centred.Square().MeanKeepDim(axes...)
	y := centred.Mul(variance.AddScalar(epsOr(l.Eps)).Rsqrt())
	if l.Weight != nil {
		y = y.Mul(l.Weight)
	}
	if l.Bias != nil {
		y = y.Add(l.Bias)
	}
	return y
}
