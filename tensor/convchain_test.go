package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestConv2DChain compares Conv2DChain on every device with the
// convolutions it stands for, made one by one: MobileNet-sized chains of
// stride 1 and 2 (which the CPU computes band by band), two images, a
// projection with a residual, and chains it hands back to Conv2DFused (an
// expansion with a residual, a first convolution that is not 1×1).
func TestConv2DChain(t *testing.T) {
	same := tensor.Conv2DOptions{Padding: [2]int{1, 1}, Groups: 64}
	strided := tensor.Conv2DOptions{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}, Groups: 64}
	relu6 := tensor.ConvEpilogue{Clamp: true, Lo: 0, Hi: 6}
	cases := []struct {
		name      string
		x, w1, w2 []int // w1 nil: no expansion
		o1, o2    tensor.Conv2DOptions
		project   int // the projection's channels, 0 for none
		residual  int // 1: on the projection, 2: on the expansion
	}{
		{"expand-stride1", []int{1, 8, 66, 63}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, 0, 0},
		{"expand-stride2-two-images", []int{2, 8, 65, 66}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, strided, 0, 0},
		{"depthwise-project", []int{1, 64, 70, 66}, nil, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, 16, 0},
		{"all-three-residual", []int{1, 8, 64, 64}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, 8, 1},
		{"expand-residual", []int{1, 8, 64, 64}, []int{64, 8, 1, 1}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{}, same, 0, 2},
		{"first-3x3", []int{1, 8, 64, 64}, []int{64, 8, 3, 3}, []int{64, 1, 3, 3}, tensor.Conv2DOptions{Padding: [2]int{1, 1}}, strided, 0, 0},
	}
	for _, c := range cases {
		for _, dev := range devicetest.Devices(t) {
			rng := tensor.NewRNG(7)
			x := tensor.Randn(dev, rng, c.x...)
			var expand, depthwise, project tensor.ConvLink
			y := x
			if c.w1 != nil {
				expand = tensor.ConvLink{W: tensor.Randn(dev, rng, c.w1...), Options: c.o1, Epilogue: relu6}
				expand.Epilogue.Bias = tensor.Randn(dev, rng, c.w1[0])
				if c.residual == 2 {
					expand.Epilogue.Residual = tensor.Randn(dev, rng, tensor.Conv2D(y, expand.W, c.o1).Shape()...)
				}
				y = tensor.Conv2DFused(y, expand.W, c.o1, expand.Epilogue)
			}
			depthwise = tensor.ConvLink{W: tensor.Randn(dev, rng, c.w2...), Options: c.o2, Epilogue: relu6}
			depthwise.Epilogue.Bias = tensor.Randn(dev, rng, c.w2[0])
			y = tensor.Conv2DFused(y, depthwise.W, c.o2, depthwise.Epilogue)
			if c.project > 0 {
				project = tensor.ConvLink{W: tensor.Randn(dev, rng, c.project, c.w2[0], 1, 1)}
				project.Epilogue.Bias = tensor.Randn(dev, rng, c.project)
				if c.residual == 1 {
					project.Epilogue.Residual = tensor.Randn(dev, rng, tensor.Conv2D(y, project.W, tensor.Conv2DOptions{}).Shape()...)
				}
				y = tensor.Conv2DFused(y, project.W, tensor.Conv2DOptions{}, project.Epilogue)
			}
			want, err := y.Data()
			require.NoError(t, err)
			got, err := tensor.Conv2DChain(x, expand, depthwise, project).Data()
			require.NoError(t, err, "%s on %s", c.name, dev.Name())
			require.Len(t, got, len(want))
			for i := range want {
				require.InDelta(t, want[i], got[i], 1e-5*(1+math.Abs(float64(want[i]))), "%s on %s: element %d", c.name, dev.Name(), i)
			}
		}
	}
}
