package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestConv2DMaxPool checks Conv2DMaxPool on every device against
// Conv2DFused and MaxPool2DValues one after the other: a ResNet-like stem
// and a 3×3 convolution with 2×2 pooling that the CPU computes in one op,
// and shapes it leaves to the two ops (a residual, a small output).
func TestConv2DMaxPool(t *testing.T) {
	relu := tensor.ConvEpilogue{Clamp: true, Lo: 0, Hi: math.Inf(1)}
	cases := []struct {
		name     string
		x, w     []int
		o        tensor.Conv2DOptions
		pool     tensor.Pool2DOptions
		residual bool
	}{
		{"stem", []int{1, 3, 128, 130}, []int{64, 3, 7, 7}, tensor.Conv2DOptions{Stride: [2]int{2, 2}, Padding: [2]int{3, 3}},
			tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}, false},
		{"3x3-pool2-two-images", []int{2, 8, 66, 65}, []int{64, 8, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}},
			tensor.Pool2DOptions{Kernel: [2]int{2, 2}}, false},
		{"residual", []int{1, 8, 66, 66}, []int{64, 8, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}},
			tensor.Pool2DOptions{Kernel: [2]int{2, 2}}, true},
		{"small", []int{1, 3, 20, 20}, []int{8, 3, 3, 3}, tensor.Conv2DOptions{},
			tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}, false},
	}
	for _, c := range cases {
		for _, dev := range devicetest.Devices(t) {
			rng := tensor.NewRNG(11)
			x, w := tensor.Randn(dev, rng, c.x...), tensor.Randn(dev, rng, c.w...)
			e := relu
			e.Bias = tensor.Randn(dev, rng, c.w[0])
			if c.residual {
				e.Residual = tensor.Randn(dev, rng, tensor.Conv2D(x, w, c.o).Shape()...)
			}
			want, err := tensor.MaxPool2DValues(tensor.Conv2DFused(x, w, c.o, e), c.pool).Data()
			require.NoError(t, err)
			got, err := tensor.Conv2DMaxPool(x, w, c.o, e, c.pool).Data()
			require.NoError(t, err, "%s on %s", c.name, dev.Name())
			require.Len(t, got, len(want))
			for i := range want {
				require.InDelta(t, want[i], got[i], 1e-5*(1+math.Abs(float64(want[i]))), "%s on %s: element %d", c.name, dev.Name(), i)
			}
		}
	}
}
