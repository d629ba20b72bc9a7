// Command logreg trains logistic regression, a linear layer and a sigmoid
// with the binary cross-entropy, to tell the MNIST digits 0 and 1 apart.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

func main() {
	fs := flag.NewFlagSet("logreg", flag.ContinueOnError)
	f := run.Register(fs, 3)
	lr := fs.Float64("lr", 0.1, "SGD learning rate")
	run.Main("logreg", fs, func() error { return train(f, *lr) })
}

// zeroOrOne keeps the images of the digits 0 and 1.
func zeroOrOne(target []float32) bool { return target[0] == 0 || target[0] == 1 }

func load(f *run.Flags) (train, test *data.Memory, err error) {
	dir := f.Data
	if dir == "" {
		if dir, err = data.FindMNIST(); err != nil {
			return nil, nil, run.DataError(f.Data, err)
		}
	}
	if train, err = data.MNIST(dir, true); err != nil {
		return nil, nil, run.DataError(f.Data, err)
	}
	if test, err = data.MNIST(dir, false); err != nil {
		return nil, nil, run.DataError(f.Data, err)
	}
	return train.Filter(zeroOrOne), test.Filter(zeroOrOne), nil
}

func train(f *run.Flags, lr float64) error {
	trainSet, testSet, err := load(f)
	if err != nil {
		return err
	}
	dev, err := run.OpenDevice(f.Device, os.Stdout)
	if err != nil {
		return err
	}
	epochs := f.Epochs
	if f.Quick {
		epochs = min(epochs, 1)
	}
	nn.Seed(f.Seed)
	model := nn.NewLinear(dev, 28*28, 1)
	if f.Load != "" {
		if err := run.LoadModel(f.Load, model, "logistic regression (a Linear(784, 1))"); err != nil {
			return err
		}
	}
	fmt.Printf("digits 0 and 1: %d training and %d test images\n", trainSet.Len(), testSet.Len())
	opts := data.LoaderOptions{BatchSize: 64, Shuffle: true, Seed: f.Seed, Prefetch: 2, TargetType: tensor.Float32}
	trainLoader := data.NewLoader(trainSet, dev, opts)
	testLoader := data.NewLoader(testSet, dev, data.LoaderOptions{BatchSize: 500, TargetType: tensor.Float32})
	opt := optim.NewSGD(nn.Parameters(model), lr)
	// prob maps images [N, 1, 28, 28] to P(digit = 1) [N, 1].
	prob := func(x *tensor.Tensor) *autograd.Var {
		return model.Forward(autograd.Const(x).Flatten(1, -1)).Sigmoid()
	}
	stop := run.Interrupt()
	start := time.Now()
	var losses, accs []float64
	done := 0
	for epoch := 1; epoch <= epochs && !stop.Load(); epoch++ {
		p := run.NewProgress(os.Stdout, fmt.Sprintf("epoch %d/%d", epoch, epochs), trainSet.Len())
		for b := range trainLoader.Batches(epoch) {
			opt.ZeroGrad()
			target := autograd.Const(b.Target.Reshape(-1, 1))
			loss := nn.BCELoss(prob(b.Input), target)
			loss.Backward()
			opt.Step()
			p.Step(len(b.Indices), loss.Value(), nil)
			if stop.Load() {
				break
			}
		}
		acc, err := accuracy(prob, testLoader)
		if err != nil {
			return err
		}
		p.Finish(fmt.Sprintf("test accuracy %.2f%%", 100*acc))
		losses, accs = append(losses, p.MeanLoss()), append(accs, acc)
		done = epoch
	}
	wall := time.Since(start)
	acc, err := accuracy(prob, testLoader)
	if err != nil {
		return err
	}
	if f.Save != "" {
		if err := nn.Save(f.Save, model); err != nil {
			return err
		}
		fmt.Println("saved", f.Save)
	}
	if f.Plot != "" && len(losses) > 0 {
		if err := run.Plot(f.Plot, "logistic regression, 0 vs 1",
			[]run.Curve{{Name: "train BCE", Values: losses}}, []run.Curve{{Name: "test accuracy", Values: accs}}); err != nil {
			return err
		}
	}
	run.Summary(os.Stdout, dev, done, wall, fmt.Sprintf("test_accuracy=%.2f%%", 100*acc))
	if f.Quick {
		return run.AtLeast("test accuracy", acc, 0.99)
	}
	return nil
}

// accuracy thresholds the predicted probability at 0.5.
func accuracy(prob func(*tensor.Tensor) *autograd.Var, loader *data.Loader) (float64, error) {
	return run.Accuracy(loader, func(b data.Batch) *tensor.Tensor {
		return prob(b.Input).Value().GtScalar(0.5).Reshape(-1).Eq(b.Target).Sum()
	})
}
