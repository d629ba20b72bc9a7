// Command linreg recovers the weights and bias of a synthetic linear model
// y = X·w + b + noise with nn.Linear, the mean squared error and SGD: the
// linear regression of the deep-learning curriculum, done on a device.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

var (
	trueW = []float32{2, -3.4, 1.7}
	trueB = float32(4.2)
)

func main() {
	fs := flag.NewFlagSet("linreg", flag.ContinueOnError)
	f := run.Register(fs, 20)
	lr := fs.Float64("lr", 0.05, "learning rate")
	n := fs.Int("n", 1000, "number of samples")
	run.Main("linreg", fs, func() error { return train(f, *lr, *n) })
}

// synthetic draws n samples of y = X·trueW + trueB + N(0, 0.01²).
func synthetic(n int, seed uint64) *data.Memory {
	rng := tensor.NewRNG(seed)
	x := make([]float32, n*len(trueW))
	y := make([]float32, n)
	for i := range n {
		s := float64(trueB)
		for j, w := range trueW {
			v := rng.NormFloat64()
			x[i*len(trueW)+j] = float32(v)
			s += float64(w) * v
		}
		y[i] = float32(s + 0.01*rng.NormFloat64())
	}
	return &data.Memory{Inputs: x, Targets: y, InputDims: []int{len(trueW)}, TargetDims: []int{1}}
}

func train(f *run.Flags, lr float64, n int) error {
	if n <= 0 {
		return run.Usagef("-n must be positive, got %d", n)
	}
	dev, err := run.OpenDevice(f.Device, os.Stdout)
	if err != nil {
		return err
	}
	epochs := f.Epochs
	if f.Quick {
		epochs = min(epochs, 5)
	}
	nn.Seed(f.Seed)
	model := nn.NewLinear(dev, len(trueW), 1)
	if f.Load != "" {
		if err := run.LoadModel(f.Load, model, "linear model (a Linear(3, 1))"); err != nil {
			return err
		}
	}
	opt := optim.NewSGD(nn.Parameters(model), lr)
	loader := data.NewLoader(synthetic(n, f.Seed), dev, data.LoaderOptions{
		BatchSize: 32, Shuffle: true, Seed: f.Seed, TargetType: tensor.Float32})
	stop := run.Interrupt()
	start := time.Now()
	var losses []float64
	done := 0
	for epoch := 1; epoch <= epochs && !stop.Load(); epoch++ {
		p := run.NewProgress(os.Stdout, fmt.Sprintf("epoch %d/%d", epoch, epochs), n)
		for b := range loader.Batches(epoch) {
			opt.ZeroGrad()
			loss := nn.MSELoss(model.Forward(autograd.Const(b.Input)), autograd.Const(b.Target))
			loss.Backward()
			opt.Step()
			p.Step(len(b.Indices), loss.Value(), nil)
			if stop.Load() {
				break
			}
		}
		p.Finish("")
		losses = append(losses, p.MeanLoss())
		done = epoch
	}
	wall := time.Since(start)

	w, err := model.Weight.Data()
	if err != nil {
		return err
	}
	b, err := model.Bias.Item()
	if err != nil {
		return err
	}
	werr := 0.0
	for i := range trueW {
		werr = max(werr, math.Abs(float64(w[i]-trueW[i])))
	}
	berr := math.Abs(float64(b - trueB))
	fmt.Printf("learned w = %.4f (true %v), b = %.4f (true %v)\n", w, trueW, b, trueB)
	if f.Save != "" {
		if err := nn.Save(f.Save, model); err != nil {
			return err
		}
		fmt.Println("saved", f.Save)
	}
	if f.Plot != "" {
		if err := run.Plot(f.Plot, "linreg", []run.Curve{{Name: "train MSE", Values: losses}}, nil); err != nil {
			return err
		}
	}
	run.Summary(os.Stdout, dev, done, wall, fmt.Sprintf("weight_error=%.2e bias_error=%.2e", werr, berr))
	if f.Quick {
		return run.AtMost("largest weight or bias error", max(werr, berr), 1e-2)
	}
	return nil
}
