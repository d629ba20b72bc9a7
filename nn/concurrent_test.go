package nn_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

// trainer is one small model with its own data and optimizer.
type trainer struct {
	net  *nn.Sequential
	opt  optim.Optimizer
	x    *autograd.Var
	y    *tensor.Tensor
	loss []float32
}

// newTrainer builds a model from the global seed and data from seed.
func newTrainer(dev device.Device, seed uint64) *trainer {
	nn.Seed(seed)
	net := nn.NewSequential(nn.NewLinear(dev, 20, 32), nn.Tanh{}, nn.NewLinear(dev, 32, 5))
	rng := tensor.NewRNG(seed)
	return &trainer{
		net: net,
		opt: optim.NewAdam(nn.Parameters(net), 1e-2),
		x:   autograd.Const(tensor.Randn(dev, rng, 64, 20)),
		y:   tensor.RandInt(dev, rng, 0, 5, 64),
	}
}

// train runs steps steps, recording each loss.
func (tr *trainer) train(steps int) error {
	for range steps {
		tr.opt.ZeroGrad()
		loss := nn.CrossEntropyLoss(tr.net.Forward(tr.x), tr.y)
		loss.Backward()
		tr.opt.Step()
		v, err := loss.Value().Item()
		if err != nil {
			return err
		}
		tr.loss = append(tr.loss, v)
	}
	return nil
}

// params reads back every parameter.
func (tr *trainer) params(t *testing.T) [][]float32 {
	var out [][]float32
	for _, p := range nn.Parameters(tr.net) {
		v, err := p.Value().Data()
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// TestConcurrentTraining: two goroutines training separate models on one
// device at once end with exactly the losses and parameters of training
// the models one after the other.
func TestConcurrentTraining(t *testing.T) {
	const steps = 30
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			a, b := newTrainer(dev, 1), newTrainer(dev, 2)
			require.NoError(t, a.train(steps))
			require.NoError(t, b.train(steps))

			ca, cb := newTrainer(dev, 1), newTrainer(dev, 2)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, tr := range []*trainer{ca, cb} {
				wg.Go(func() { errs[i] = tr.train(steps) })
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])

			require.Equal(t, a.loss, ca.loss, "model A's losses")
			require.Equal(t, b.loss, cb.loss, "model B's losses")
			require.Equal(t, a.params(t), ca.params(t), "model A's parameters")
			require.Equal(t, b.params(t), cb.params(t), "model B's parameters")
			require.Less(t, a.loss[steps-1], a.loss[0], "model A learns")
		})
	}
}
