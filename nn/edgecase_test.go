package nn_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/tensor"
)

// Regression tests for edge cases an independent differential test against
// PyTorch 1.13 found; the expected values are PyTorch's (float64).

func floatsOf(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Data()
	require.NoError(t, err)
	return v
}

// TestBCEWithLogitsGradientAtZero: the gradient is sigmoid(x) - t, also at
// a logit of exactly 0, where the stable formula's pieces have kinks.
func TestBCEWithLogitsGradientAtZero(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			x := autograd.Param(tensor.New(dev, []float32{0, 0, 0, 1e-7}))
			target := autograd.Param(tensor.New(dev, []float32{1, 0, 0.25, 1}))
			l := nn.BCEWithLogitsLoss(x, target, nn.WithReduction(nn.ReduceSum))
			v, err := l.Item()
			require.NoError(t, err)
			assert.InDelta(t, 2.7725886722397823, v, 1e-6)
			l.Backward()
			assert.InDeltaSlice(t, []float32{-0.5, 0.5, 0.25, -0.5}, floatsOf(t, x.Grad()), 1e-7)
			assert.InDeltaSlice(t, []float32{0, 0, 0, -1e-7}, floatsOf(t, target.Grad()), 1e-12)
		})
	}
}

// TestIgnoredRowsMayHoldNaN: rows whose label is the ignore index
// contribute nothing to CrossEntropyLoss and NLLLoss, even when their
// logits are NaN (fully masked padding), with or without label smoothing;
// the other rows' gradients are PyTorch's.
func TestIgnoredRowsMayHoldNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			labels := tensor.New(dev, []int32{-100, 2})
			for _, c := range []struct {
				name  string
				loss  func(*autograd.Var) *autograd.Var
				want  float64
				grads []float32
			}{
				{"cross-entropy", func(x *autograd.Var) *autograd.Var { return nn.CrossEntropyLoss(x, labels) },
					0.4076059644443804, []float32{0.09003057317038043, 0.24472847105479764, -0.3347590442251782}},
				{"smoothed", func(x *autograd.Var) *autograd.Var { return nn.CrossEntropyLoss(x, labels, nn.WithLabelSmoothing(0.1)) },
					0.5076059644443804, []float32{0.0566972398370471, 0.21139513772146432, -0.26809237755851156}},
				{"sum", func(x *autograd.Var) *autograd.Var {
					return nn.CrossEntropyLoss(x, labels, nn.WithReduction(nn.ReduceSum))
				}, 0.4076059644443804, nil},
				{"nll", func(x *autograd.Var) *autograd.Var { return nn.NLLLoss(x, labels) }, -3, nil},
			} {
				x := autograd.Param(tensor.New(dev, []float32{nan, 0, 0, 1, 2, 3}, 2, 3))
				l := c.loss(x)
				v, err := l.Item()
				require.NoError(t, err, c.name)
				assert.InDelta(t, c.want, v, 1e-6, c.name)
				if c.grads != nil {
					l.Backward()
					g := floatsOf(t, x.Grad())
					assert.InDeltaSlice(t, c.grads, g[3:], 1e-6, c.name)
				}
			}
		})
	}
}

// TestConv2dBiasOfWrongLength names the layer's op and the bias.
func TestConv2dBiasOfWrongLength(t *testing.T) {
	dev := device.CPU()
	conv := nn.NewConv2d(dev, 1, 2, 3, 3, tensor.Conv2DOptions{})
	conv.Bias = autograd.Param(tensor.Zeros(dev, 3))
	err := tensor.Maybe(func() { conv.Forward(autograd.Const(tensor.Zeros(dev, 1, 1, 5, 5))) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Conv2D: bias of shape [3] does not fit weight [2 1 3 3]")
}

// TestLayerNormZeroValue: a LayerNorm written as a struct literal uses
// PyTorch's eps (constant rows give 0, not NaN) and no affine transform.
func TestLayerNormZeroValue(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		ln := &nn.LayerNorm{Shape: []int{3}}
		y := ln.Forward(autograd.Const(tensor.New(dev, []float32{2, 2, 2, 1, 2, 3}, 2, 3)))
		got := floatsOf(t, y.Value())
		assert.Equal(t, []float32{0, 0, 0}, got[:3])
		assert.InDeltaSlice(t, []float32{-1.2247357, 0, 1.2247357}, got[3:], 1e-5)
	}
}

// TestLabelOutOfRangeNamesTheLoss: a label outside [0, classes) is reported
// as the loss's label, with its value and the range, and the device goes on.
func TestLabelOutOfRangeNamesTheLoss(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			logits := autograd.Param(tensor.Zeros(dev, 2, 3))
			_, err := nn.CrossEntropyLoss(logits, tensor.New(dev, []int32{1, 7})).Item()
			assert.ErrorContains(t, err, "device: CrossEntropyLoss: label 7 out of range [0, 3)")
			_, err = nn.NLLLoss(logits, tensor.New(dev, []int32{-3, 0})).Item()
			assert.ErrorContains(t, err, "device: NLLLoss: label -3 out of range [0, 3)")
			v, err := nn.CrossEntropyLoss(logits, tensor.New(dev, []int32{1, 2})).Item()
			require.NoError(t, err)
			assert.InDelta(t, math.Log(3), v, 1e-6)
		})
	}
}
