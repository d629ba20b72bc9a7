package bench

import (
	"os"
	"testing"
	"time"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

// step times a training step (or a forward and backward pass), waiting for
// the device after each, after untimed warm-up steps: until five steps in
// a row create no buffer (the pools then hold what the garbage of the
// steps between two collections needs), within 60 steps or 10 seconds.
func step(b *testing.B, dev device.Device, f func()) {
	b.Helper()
	start := time.Now()
	for i, clean := 0, 0; i < 60 && clean < 5 && time.Since(start) < 10*time.Second; i++ {
		created := dev.Stats().Created
		f()
		if err := dev.Sync(); err != nil {
			b.Fatal(err)
		}
		if clean++; dev.Stats().Created != created {
			clean = 0
		}
	}
	before := dev.Stats()
	var times iterationTimes
	b.ResetTimer()
	for b.Loop() {
		times.start()
		f()
		if err := dev.Sync(); err != nil {
			b.Fatal(err)
		}
		times.stop()
	}
	reportStats(b, before, dev.Stats())
	times.report(b)
	if os.Getenv("WGTENSOR_BENCH_PROFILE") != "" {
		profileStep(b, dev, f)
	}
}

// profileStep logs the kernel-by-kernel profile of one more step, on a
// device that can time its kernels.
func profileStep(b *testing.B, dev device.Device, f func()) {
	if _, ok := dev.(device.Profiler); !ok {
		return
	}
	if err := device.StartProfile(dev); err != nil {
		b.Fatal(err)
	}
	f()
	p, err := device.StopProfile(dev)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("one step:\n%s", p)
}

// BenchmarkTrainStepMLP is one step of an MLP 784-256-10 on a batch of 128
// with cross-entropy and SGD.
func BenchmarkTrainStepMLP(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		nn.Seed(1)
		net := nn.NewSequential(nn.NewLinear(dev, 784, 256), nn.ReLU{}, nn.NewLinear(dev, 256, 10))
		opt := optim.NewSGD(nn.Parameters(net), 0.01)
		rng := tensor.NewRNG(7)
		x := autograd.Const(tensor.Randn(dev, rng, 128, 784))
		y := tensor.RandInt(dev, rng, 0, 10, 128)
		step(b, dev, func() {
			opt.ZeroGrad()
			nn.CrossEntropyLoss(net.Forward(x), y).Backward()
			opt.Step()
		})
	})
}

// cnn is the network of BenchmarkTrainStepCNN.
type cnn struct {
	Conv1, Conv2 *nn.Conv2d
	FC1, FC2     *nn.Linear
}

func (m *cnn) forward(x *autograd.Var) *autograd.Var {
	pool := tensor.Pool2DOptions{Kernel: [2]int{2, 2}}
	x = autograd.MaxPool2D(m.Conv1.Forward(x).ReLU(), pool)
	x = autograd.MaxPool2D(m.Conv2.Forward(x).ReLU(), pool)
	return m.FC2.Forward(m.FC1.Forward(x.Flatten(1, -1)).ReLU())
}

// BenchmarkTrainStepCNN is one step of the MNIST CNN (two 3×3 convolutions
// with ReLU and 2×2 max pooling, two linear layers) on a batch of 64 with
// cross-entropy and Adam.
func BenchmarkTrainStepCNN(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		m, opt, x, y := newCNNStep(dev)
		step(b, dev, func() {
			opt.ZeroGrad()
			nn.CrossEntropyLoss(m.forward(x), y).Backward()
			opt.Step()
		})
	})
}

// newCNNStep returns the MNIST CNN of the CNN benchmarks, its Adam
// optimizer and a batch of 64 inputs and labels.
func newCNNStep(dev device.Device) (*cnn, optim.Optimizer, *autograd.Var, *tensor.Tensor) {
	nn.Seed(1)
	same := tensor.Conv2DOptions{Padding: [2]int{1, 1}}
	m := &cnn{nn.NewConv2d(dev, 1, 32, 3, 3, same), nn.NewConv2d(dev, 32, 64, 3, 3, same),
		nn.NewLinear(dev, 64*7*7, 128), nn.NewLinear(dev, 128, 10)}
	rng := tensor.NewRNG(8)
	return m, optim.NewAdam(nn.Parameters(m), 1e-3), autograd.Const(tensor.Randn(dev, rng, 64, 1, 28, 28)), tensor.RandInt(dev, rng, 0, 10, 64)
}

// BenchmarkTrainStepCNNAutocast is BenchmarkTrainStepCNN with the forward
// pass under autograd.Autocast to bfloat16 and to float16 (with a
// GradScaler, whose finiteness check reads one number back a step).
func BenchmarkTrainStepCNNAutocast(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		b.Run(dt.String(), func(b *testing.B) {
			onDevices(b, func(b *testing.B, dev device.Device) {
				m, opt, x, y := newCNNStep(dev)
				scaler := optim.NewGradScaler(65536)
				step(b, dev, func() {
					opt.ZeroGrad()
					var loss *autograd.Var
					autograd.Autocast(dt, func() { loss = nn.CrossEntropyLoss(m.forward(x), y) })
					if dt == tensor.BFloat16 {
						loss.Backward()
						opt.Step()
						return
					}
					scaler.Scale(loss).Backward()
					if _, err := scaler.Step(opt); err != nil {
						b.Fatal(err)
					}
					scaler.Update()
				})
			})
		})
	}
}

// BenchmarkAttention is the forward and backward pass of the sum of a
// self-attention layer's output: d=128, 4 heads, sequences of 64, batch 32.
func BenchmarkAttention(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		nn.Seed(1)
		mha := nn.NewMultiheadAttention(dev, 128, 4)
		x := autograd.Param(tensor.Randn(dev, tensor.NewRNG(9), 32, 64, 128))
		step(b, dev, func() {
			nn.ZeroGrad(mha)
			x.ZeroGrad()
			out, _ := mha.Forward(x, x, x, nn.AttentionMask{})
			out.Sum().Backward()
		})
	})
}

// BenchmarkRNN is the forward and backward pass of the sum of a tanh RNN's
// outputs: input 64, hidden 128, sequences of 50, batch 32.
func BenchmarkRNN(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		nn.Seed(1)
		rnn := nn.NewRNN(dev, 64, 128, 1)
		x := autograd.Param(tensor.Randn(dev, tensor.NewRNG(10), 32, 50, 64))
		step(b, dev, func() {
			nn.ZeroGrad(rnn)
			x.ZeroGrad()
			out, _ := rnn.Forward(x, nil)
			out.Sum().Backward()
		})
	})
}
