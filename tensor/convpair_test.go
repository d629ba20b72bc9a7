package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestConv2DPair compares Conv2DPair on every device with the two
// convolutions it stands for: MobileNet-sized pairs of stride 1 and 2
// (which the CPU computes band by band), two images, and pairs it must
// hand back to Conv2DFused (a residual, a convolution that is not 1×1).
func TestConv2DPair(t *testing.T) {
	same := tensor.Conv2DOptions{Padding: [2]int{1, 1}, Groups: 64}
	strided := tensor.Conv2DOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, Groups: 64}
	relu6 := tensor.ConvEpilogue{Clamp: true, Lo: 0, Hi: 6}
	cases := []struct {
		name      string
		x, w1, w2 []int
		o1, o2    tensor.Conv2DOptions
		residual  bool
	}{
		{"stride1", []int{1, 8, 66, 63}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, false},
		{"stride2-two-images", []int{2, 8, 65, 66}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, strided, false},
		{"residual", []int{1, 8, 64, 64}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, true},
		{"first-3x3", []int{1, 8, 64, 64}, []int{64, 8, 3, 3}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}, strided, false},
	}
	for _, c := range cases {
		for _, dev := range devicetest.Devices(t) {
			rng := tensor.NewRNG(7)
			x, w1, w2 := tensor.Randn(dev, rng, c.x...), tensor.Randn(dev, rng, c.w1...), tensor.Randn(dev, rng, c.w2...)
			e1, e2 := relu6, relu6
			e1.Bias, e2.Bias = tensor.Randn(dev, rng, c.w1[0]), tensor.Randn(dev, rng, c.w2[0])
			mid := tensor.Conv2DFused(x, w1, c.o1, e1)
			if c.residual {
				e2.Residual = tensor.Randn(dev, rng, tensor.Conv2D(mid, w2, c.o2).Shape()...)
			}
			want, err := tensor.Conv2DFused(mid, w2, c.o2, e2).Data()
			require.NoError(t, err)
			got, err := tensor.Conv2DPair(x, w1, c.o1, e1, w2, c.o2, e2).Data()
			require.NoError(t, err, "%s on %s", c.name, dev.Name())
			require.Len(t, got, len(want))
			for i := range want {
				require.InDelta(t, want[i], got[i], 1e-5*(1+math.Abs(float64(want[i]))), "%s on %s: element %d", c.name, dev.Name(), i)
			}
		}
	}
}
