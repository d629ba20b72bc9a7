package nn_test

import (
	"math"
	"sync"
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

// TestAutocast: inside Autocast the products run in the 16-bit type and
// the loss in float32, float32 parameters get float32 gradients close to
// those computed without it; Autocast(Float32) turns it off, and another
// goroutine is not affected.
func TestAutocast(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			nn.Seed(3)
			fc := nn.NewLinear(dev, 8, 4)
			x := autograd.Const(tensor.Randn(dev, tensor.NewRNG(4), 5, 8))
			labels := tensor.New(dev, []int32{0, 1, 2, 3, 0})

			loss32 := nn.CrossEntropyLoss(fc.Forward(x), labels)
			loss32.Backward()
			want := fc.Weight.Grad()
			fc.Weight.ZeroGrad()
			fc.Bias.ZeroGrad()

			var prod, logits, loss, off *autograd.Var
			autograd.Autocast(dt, func() {
				prod = x.MatMul(fc.Weight.T())
				logits = fc.Forward(x)
				loss = nn.CrossEntropyLoss(logits, labels)
				autograd.Autocast(tensor.Float32, func() { off = x.MatMul(fc.Weight.T()) })
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.Equal(t, tensor.Float32, x.MatMul(fc.Weight.T()).Value().DType(), "another goroutine")
				}()
				wg.Wait()
			})
			assert.Equal(t, dt, prod.Value().DType(), "%s %v: the product", dev.Name(), dt)
			assert.Equal(t, tensor.Float32, off.Value().DType(), "Autocast(Float32) inside")
			assert.Equal(t, tensor.Float32, loss.Value().DType(), "the loss")
			loss.Backward()
			got := fc.Weight.Grad()
			require.Equal(t, tensor.Float32, got.DType(), "a float32 parameter's gradient")
			g, err := got.Data()
			require.NoError(t, err)
			w, err := want.Data()
			require.NoError(t, err)
			if msg := devicetest.Compare(g, w, devicetest.Tol{Abs: 2e-2, Rel: 2e-2}); msg != "" {
				t.Errorf("%s %v: gradient: %s", dev.Name(), dt, msg)
			}
			assert.Equal(t, tensor.Float32, x.MatMul(fc.Weight.T()).Value().DType(), "after Autocast")
		}
	}
}

// TestGradScaler skips a step whose gradients overflowed and halves the
// scale, steps with the unscaled gradients otherwise, and grows the scale
// after GrowthInterval good steps.
func TestGradScaler(t *testing.T) {
	dev := device.CPU()
	p := autograd.Param(tensor.New(dev, []float32{1, 2}))
	opt := optim.NewSGD([]*autograd.Var{p}, 0.5)
	s := optim.NewGradScaler(1024)
	s.GrowthInterval = 2

	loss := s.Scale(p.Sum())
	v, err := loss.Item()
	require.NoError(t, err)
	assert.Equal(t, float32(3*1024), v)

	p.SetGrad(tensor.New(dev, []float32{float32(math.Inf(1)), 1}))
	ok, err := s.Step(opt)
	require.NoError(t, err)
	assert.False(t, ok, "an Inf gradient skips the step")
	s.Update()
	assert.Equal(t, 512.0, s.Factor())
	assert.Equal(t, []float32{1, 2}, floatsOf(t, p.Value()), "the parameter is untouched")

	p.SetGrad(tensor.New(dev, []float32{float32(math.NaN()), 1}))
	ok, err = s.Step(opt)
	require.NoError(t, err)
	assert.False(t, ok, "so does NaN")
	s.Update()
	assert.Equal(t, 256.0, s.Factor())

	for i := range 2 {
		p.SetGrad(tensor.New(dev, []float32{256, -512}).AsType(tensor.Float16))
		ok, err = s.Step(opt)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, tensor.Float32, p.Grad().DType(), "unscaled into float32")
		assert.Equal(t, []float32{1, -2}, floatsOf(t, p.Grad()))
		s.Update()
		if i == 0 {
			assert.Equal(t, 256.0, s.Factor())
		}
	}
	assert.Equal(t, []float32{0, 4}, floatsOf(t, p.Value()), "two steps of 0.5 times the unscaled gradient")
	assert.Equal(t, 512.0, s.Factor(), "grown after two good steps")
}

// TestMasterWeights: an optimizer over 16-bit parameters updates a float32
// copy, so that steps smaller than the parameter's precision add up, and
// rounds it into the parameter.
func TestMasterWeights(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			p := autograd.Param(tensor.New(dev, []float32{1, 1}).AsType(dt))
			for name, opt := range map[string]optim.Optimizer{
				"sgd":  optim.NewSGD([]*autograd.Var{p}, 1e-4),
				"adam": optim.NewAdam([]*autograd.Var{p}, 1e-4),
			} {
				p.SetValue(tensor.New(dev, []float32{1, 1}).AsType(dt))
				for range 20 {
					p.SetGrad(tensor.New(dev, []float32{1, 1}).AsType(dt))
					opt.Step()
				}
				assert.Equal(t, dt, p.Value().DType(), name)
				master := opt.State()["0.master"]
				require.NotNil(t, master, name)
				m := floatsOf(t, master)
				assert.InDelta(t, 0.998, m[0], 1e-5, "%s %s %v: twenty steps of 1e-4 in float32", dev.Name(), name, dt)
				got := floatsOf(t, p.Value())
				want := floatsOf(t, tensor.New(dev, m).AsType(dt))
				assert.Equal(t, want[0], got[0], "%s %s %v: the parameter is the master rounded", name, dev.Name(), dt)
				assert.Less(t, got[0], float32(1), "%s %s %v: the steps were not lost to rounding", dev.Name(), name, dt)
			}
		}
	}
}
