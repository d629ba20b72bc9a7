// Command mnist trains a classifier of handwritten digits (MNIST) or
// clothes (Fashion-MNIST): a multi-layer perceptron (-model=mlp) or a small
// convolutional network (-model=cnn, the default), with cross-entropy and
// Adam, then reports the test accuracy.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

func main() {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	f := run.Register(fs, 3)
	cfg := config{Flags: f, fs: fs}
	fs.StringVar(&cfg.model, "model", "cnn", "mlp or cnn")
	fs.StringVar(&cfg.dataset, "dataset", "mnist", "mnist or fashion")
	fs.IntVar(&cfg.batch, "batch", 64, "batch size")
	fs.Float64Var(&cfg.lr, "lr", 1e-3, "Adam's initial learning rate (annealed along a cosine over the epochs)")
	fs.StringVar(&cfg.autocast, "autocast", "float32", "compute products and convolutions in `TYPE`: float32 (off), float16 (with loss scaling) or bfloat16")
	fs.IntVar(&cfg.profile, "profile", 0, "time `N` training steps kernel by kernel (after 5 warm-up steps) on the GPU, print the table and stop")
	run.Main("mnist", fs, func() error { return train(cfg) })
}

type config struct {
	*run.Flags
	fs             *flag.FlagSet
	model, dataset string
	autocast       string
	batch          int
	lr             float64
	profile        int
}

// classifier is a model mapping images [N, 1, 28, 28] to logits [N, 10].
type classifier interface {
	Forward(x *autograd.Var) *autograd.Var
}

// MLP is a two-hidden-layer perceptron with dropout.
type MLP struct {
	Net *nn.Sequential `nn:",inline"`
}

func newMLP(dev device.Device) *MLP {
	return &MLP{Net: nn.NewSequential(
		nn.NewFlatten(),
		nn.NewLinear(dev, 28*28, 512), nn.ReLU{}, nn.NewDropout(0.2),
		nn.NewLinear(dev, 512, 256), nn.ReLU{}, nn.NewDropout(0.2),
		nn.NewLinear(dev, 256, 10),
	)}
}

// Forward maps images to logits.
func (m *MLP) Forward(x *autograd.Var) *autograd.Var { return m.Net.Forward(x) }

// CNN is two convolution blocks (ReLU, 2×2 max pooling) and two linear
// layers.
type CNN struct {
	Conv1, Conv2 *nn.Conv2d
	FC1, FC2     *nn.Linear
}

func newCNN(dev device.Device) *CNN {
	same := tensor.Conv2DOptions{Padding: [2]int{1, 1}}
	return &CNN{
		Conv1: nn.NewConv2d(dev, 1, 32, 3, 3, same),
		Conv2: nn.NewConv2d(dev, 32, 64, 3, 3, same),
		FC1:   nn.NewLinear(dev, 64*7*7, 128),
		FC2:   nn.NewLinear(dev, 128, 10),
	}
}

// Forward maps images to logits.
func (m *CNN) Forward(x *autograd.Var) *autograd.Var {
	pool := tensor.Pool2DOptions{Kernel: [2]int{2, 2}}
	x = autograd.MaxPool2D(m.Conv1.Forward(x).ReLU(), pool)
	x = autograd.MaxPool2D(m.Conv2.Forward(x).ReLU(), pool)
	return m.FC2.Forward(m.FC1.Forward(x.Flatten(1, -1)).ReLU())
}

// datasets loads the training and test sets and their normalisation.
func datasets(cfg config) (train, test *data.Memory, mean, std float64, err error) {
	dir := cfg.Data
	load := data.MNIST
	mean, std = 0.1307, 0.3081
	switch cfg.dataset {
	case "mnist":
		if dir == "" {
			dir, err = data.FindMNIST()
		}
	case "fashion":
		load = data.FashionMNIST
		mean, std = 0.2860, 0.3530
		if dir == "" {
			dir, err = data.FindFashionMNIST()
		}
	default:
		return nil, nil, 0, 0, run.Usagef("unknown -dataset %q: want mnist or fashion", cfg.dataset)
	}
	if err != nil {
		return nil, nil, 0, 0, run.DataError(cfg.Data, err)
	}
	if train, err = load(dir, true); err != nil {
		return nil, nil, 0, 0, run.DataError(cfg.Data, err)
	}
	if test, err = load(dir, false); err != nil {
		return nil, nil, 0, 0, run.DataError(cfg.Data, err)
	}
	return train, test, mean, std, nil
}

func newModel(name string, dev device.Device) (classifier, error) {
	switch name {
	case "mlp":
		return newMLP(dev), nil
	case "cnn":
		return newCNN(dev), nil
	}
	return nil, run.Usagef("unknown -model %q: want mlp or cnn", name)
}

// quickThreshold is the test accuracy a -quick run must reach.
func quickThreshold(cfg config) float64 {
	switch {
	case cfg.dataset == "fashion":
		return 0.75
	case cfg.model == "cnn":
		return 0.93
	}
	return 0.90
}

func train(cfg config) error {
	if cfg.batch <= 0 {
		return run.Usagef("-batch must be positive, got %d", cfg.batch)
	}
	if _, err := newModel(cfg.model, device.CPU()); err != nil {
		return err
	}
	castTo, ok := map[string]tensor.DType{"float32": tensor.Float32, "float16": tensor.Float16, "bfloat16": tensor.BFloat16}[cfg.autocast]
	if !ok {
		return run.Usagef("unknown -autocast %q: want float32, float16 or bfloat16", cfg.autocast)
	}
	// forward runs f under autocast to castTo (no-op for float32).
	forward := func(f func()) { autograd.Autocast(castTo, f) }
	trainSet, testSet, mean, std, err := datasets(cfg)
	if err != nil {
		return err
	}
	dev, err := run.OpenDevice(cfg.Device, os.Stdout)
	if err != nil {
		return err
	}
	epochs := cfg.Epochs
	if cfg.model == "mlp" && !run.IsSet(cfg.fs, "epochs") {
		epochs = 10 // the MLP needs more passes than the CNN's default 3
	}
	if cfg.Quick {
		// A short run for CI: one epoch on the first 10,000 training images.
		epochs = min(epochs, 1)
		trainSet = trainSet.Subset(indices(10000))
	}
	nn.Seed(cfg.Seed)
	model, _ := newModel(cfg.model, dev)
	if cfg.Load != "" {
		if err := run.LoadModel(cfg.Load, model, cfg.model+" model"); err != nil {
			return err
		}
	}
	fmt.Printf("%s on %s: %d parameters, %d training and %d test images\n",
		cfg.model, cfg.dataset, nn.NumParameters(model), trainSet.Len(), testSet.Len())

	opts := data.LoaderOptions{BatchSize: cfg.batch, Shuffle: true, Seed: cfg.Seed, Prefetch: 2, Mean: mean, Std: std}
	trainLoader := data.NewLoader(trainSet, dev, opts)
	testLoader := data.NewLoader(testSet, dev, data.LoaderOptions{BatchSize: 500, Prefetch: 2, Mean: mean, Std: std})
	opt := optim.NewAdam(nn.Parameters(model), cfg.lr)
	var scaler *optim.GradScaler // float16's range needs the loss scaled
	if castTo == tensor.Float16 {
		scaler = optim.NewGradScaler(65536)
	}
	// The learning rate follows a cosine from -lr down to nearly zero over
	// the run, stepped once per epoch, so the last epochs settle.
	schedule := optim.NewCosineAnnealingLR(opt, max(epochs, 1), cfg.lr/100)
	stop := run.Interrupt()

	var losses, trainAcc, testAcc []float64
	start := time.Now()
	done := 0
	if cfg.profile < 0 {
		return run.Usagef("-profile %d: want a count of steps", cfg.profile)
	}
	if _, ok := dev.(device.Profiler); cfg.profile > 0 && !ok {
		return run.Usagef("-profile: %s cannot time its kernels; use -device=gpu", dev.Name())
	}
	const warmUp = 5
	steps := 0
	for epoch := 1; epoch <= epochs && !stop.Load(); epoch++ {
		nn.Train(model)
		p := run.NewProgress(os.Stdout, fmt.Sprintf("epoch %d/%d", epoch, epochs), trainSet.Len())
		for b := range trainLoader.Batches(epoch) {
			if cfg.profile > 0 && steps == warmUp {
				if err := device.StartProfile(dev); err != nil {
					return err
				}
			}
			if cfg.profile > 0 && steps == warmUp+cfg.profile {
				prof, err := device.StopProfile(dev)
				if err != nil {
					return err
				}
				fmt.Printf("\n%d training steps (batch %d):\n%s", cfg.profile, cfg.batch, prof)
				return nil
			}
			steps++
			opt.ZeroGrad()
			var logits, loss *autograd.Var
			forward(func() {
				logits = model.Forward(autograd.Const(b.Input))
				loss = nn.CrossEntropyLoss(logits, b.Target)
			})
			if scaler != nil {
				scaler.Scale(loss).Backward()
				if _, err := scaler.Step(opt); err != nil {
					return err
				}
				scaler.Update()
			} else {
				loss.Backward()
				opt.Step()
			}
			p.Step(len(b.Indices), loss.Value(), logits.ArgMax(1).Eq(b.Target).Sum())
			if stop.Load() {
				break
			}
		}
		acc, err := accuracy(model, testLoader, forward)
		if err != nil {
			return err
		}
		p.Finish(fmt.Sprintf("test accuracy %.2f%%  (lr %.2g)", 100*acc, opt.LR()))
		losses = append(losses, p.MeanLoss())
		trainAcc = append(trainAcc, p.Accuracy())
		schedule.Step()
		testAcc = append(testAcc, acc)
		done = epoch
	}
	wall := time.Since(start)
	acc := 0.0
	if len(testAcc) > 0 {
		acc = testAcc[len(testAcc)-1]
	} else if acc, err = accuracy(model, testLoader, forward); err != nil {
		return err
	}
	if cfg.Save != "" {
		if err := nn.Save(cfg.Save, model); err != nil {
			return err
		}
		fmt.Println("saved", cfg.Save)
	}
	if cfg.Plot != "" && len(losses) > 0 {
		if err := run.Plot(cfg.Plot, cfg.model+" on "+cfg.dataset,
			[]run.Curve{{Name: "train loss", Values: losses}},
			[]run.Curve{{Name: "train accuracy", Values: trainAcc}, {Name: "test accuracy", Values: testAcc}}); err != nil {
			return err
		}
		fmt.Println("plotted", cfg.Plot)
	}
	run.Summary(os.Stdout, dev, done, wall, fmt.Sprintf("model=%s dataset=%s autocast=%s test_accuracy=%.2f%%", cfg.model, cfg.dataset, cfg.autocast, 100*acc))
	if cfg.Quick {
		return run.AtLeast("test accuracy", acc, quickThreshold(cfg))
	}
	return nil
}

// accuracy is the fraction of the loader's examples the model classifies
// correctly, its forward pass run through forward (the autocast scope).
func accuracy(model classifier, loader *data.Loader, forward func(func())) (float64, error) {
	nn.Eval(model)
	defer nn.Train(model)
	return run.Accuracy(loader, func(b data.Batch) *tensor.Tensor {
		var logits *autograd.Var
		forward(func() { logits = model.Forward(autograd.Const(b.Input)) })
		return logits.ArgMax(1).Eq(b.Target).Sum()
	})
}

func indices(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
