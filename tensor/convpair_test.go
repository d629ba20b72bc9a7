package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestConv2DPair: Conv2DPair gives what two Conv2DFused calls give, on
// every device (the CPU computes ResNet-like pairs in one op, the others
// and the pairs it refuses run one after the other): a basic block with
// its residual, a strided first convolution, a 5×5 second one, two
// images, and a pair the CPU refuses (a strided second convolution).
func TestConv2DPair(t *testing.T) {
	relu := tensor.ConvEpilogue{Clamp: true, Lo: 0, Hi: math.Inf(1)}
	same := func(k, s int) tensor.Conv2DOptions {
		return tensor.Conv2DOptions{Stride: [2]int{s, s}, Padding: [2]int{k / 2, k / 2}}
	}
	cases := []struct {
		name      string
		x, w1, w2 []int
		o1, o2    tensor.Conv2DOptions
		residual  bool
	}{
		{"basic-block", []int{1, 16, 30, 28}, []int{32, 16, 3, 3}, []int{16, 32, 3, 3}, same(3, 1), same(3, 1), true},
		{"strided-first", []int{1, 8, 31, 30}, []int{32, 8, 3, 3}, []int{24, 32, 3, 3}, same(3, 2), same(3, 1), false},
		{"5x5-two-images", []int{2, 4, 20, 21}, []int{8, 4, 3, 3}, []int{8, 8, 5, 5}, same(3, 1), same(5, 1), true},
		{"strided-second", []int{1, 4, 20, 20}, []int{8, 4, 3, 3}, []int{8, 8, 3, 3}, same(3, 1), same(3, 2), false},
	}
	for _, c := range cases {
		for _, dev := range devicetest.Devices(t) {
			rng := tensor.NewRNG(12)
			x := tensor.Randn(dev, rng, c.x...)
			first := tensor.ConvLink{W: tensor.Randn(dev, rng, c.w1...), Options: c.o1, Epilogue: relu}
			second := tensor.ConvLink{W: tensor.Randn(dev, rng, c.w2...), Options: c.o2, Epilogue: relu}
			first.Epilogue.Bias, second.Epilogue.Bias = tensor.Randn(dev, rng, c.w1[0]), tensor.Randn(dev, rng, c.w2[0])
			y := tensor.Conv2DFused(x, first.W, first.Options, first.Epilogue)
			if c.residual {
				second.Epilogue.Residual = tensor.Randn(dev, rng, tensor.Conv2D(y, second.W, second.Options).Shape()...)
			}
			want, err := tensor.Conv2DFused(y, second.W, second.Options, second.Epilogue).Data()
			require.NoError(t, err)
			got, err := tensor.Conv2DPair(x, first, second).Data()
			require.NoError(t, err, "%s on %s", c.name, dev.Name())
			require.Len(t, got, len(want))
			for i := range want {
				require.InDelta(t, want[i], got[i], 1e-5*(1+math.Abs(float64(want[i]))), "%s on %s: element %d", c.name, dev.Name(), i)
			}
		}
	}
}
