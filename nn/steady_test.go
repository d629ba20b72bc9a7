package nn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestTrainingStepIsSteady: after warm-up an MLP training step (784-256-10,
// batch 128, cross-entropy, SGD) reads nothing back, submits at most three
// times on the GPU, and takes every buffer from the pool.
func TestTrainingStepIsSteady(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector delays the cleanups that refill the pools")
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			nn.Seed(1)
			net := nn.NewSequential(nn.NewLinear(dev, 784, 256), nn.ReLU{}, nn.NewLinear(dev, 256, 10))
			opt := optim.NewSGD(nn.Parameters(net), 0.01)
			x := autograd.Const(tensor.Randn(dev, tensor.NewRNG(1), 128, 784))
			y := tensor.RandInt(dev, tensor.NewRNG(2), 0, 10, 128)
			step := func() {
				opt.ZeroGrad()
				nn.CrossEntropyLoss(net.Forward(x), y).Backward()
				opt.Step()
			}
			for range 60 {
				step()
			}
			require.NoError(t, dev.Sync())
			before := dev.Stats()
			const steps = 40
			for range steps {
				step()
			}
			after := dev.Stats()
			require.NoError(t, dev.Sync())
			t.Logf("%s: per step %.2f submits, %d readbacks, %.2f new buffers, %d dispatches",
				dev.Name(), float64(after.Submits-before.Submits)/steps, after.Readbacks-before.Readbacks,
				float64(after.Created-before.Created)/steps, (after.Dispatches-before.Dispatches)/steps)
			assert.Zero(t, after.Readbacks-before.Readbacks, "a training step reads nothing back")
			assert.LessOrEqual(t, after.Submits-before.Submits, int64(3*steps), "at most 3 submits a step")
			assert.Zero(t, after.Created-before.Created, "no new buffers after warm-up")
			if dev.Kind() == device.KindGPU {
				assert.Positive(t, after.Dispatches-before.Dispatches)
			}
		})
	}
}
