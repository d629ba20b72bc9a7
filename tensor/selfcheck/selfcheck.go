// Package selfcheck runs every primitive of a device on fixed inputs and
// compares the results with the CPU's, so that a user can see whether a
// GPU driver computes what wgtensor expects.
package selfcheck

import (
	"fmt"
	"math"
	"time"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// Result is the outcome of one check.
type Result struct {
	Op      string
	Err     error   // nil when the device matched the CPU
	MaxDiff float64 // largest difference from the CPU, relative to its scale
	Elapsed time.Duration
}

// check computes one op from inputs made on dev.
type check struct {
	op  string
	tol float64
	f   func(dev device.Device) *tensor.Tensor
}

func randn(dev device.Device, seed uint64, shape ...int) *tensor.Tensor {
	return tensor.Randn(dev, tensor.NewRNG(seed), shape...)
}

func positive(dev device.Device, seed uint64, shape ...int) *tensor.Tensor {
	return tensor.Uniform(dev, tensor.NewRNG(seed), 0.1, 3, shape...)
}

// small returns whole numbers 1 to 4, so that comparisons meet ties.
func small(dev device.Device, seed uint64, shape ...int) *tensor.Tensor {
	return tensor.RandInt(dev, tensor.NewRNG(seed), 1, 5, shape...).AsType(tensor.Float32)
}

func labels(dev device.Device, seed uint64, hi int, shape ...int) *tensor.Tensor {
	return tensor.RandInt(dev, tensor.NewRNG(seed), 0, hi, shape...)
}

var conv = tensor.Conv2DOptions{Stride: [2]int{2, 1}, Padding: [2]int{1, 1}, Dilation: [2]int{1, 2}, Groups: 2}
var pool = tensor.Pool2DOptions{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}

func checks() []check {
	unary := []struct {
		name string
		f    func(*tensor.Tensor) *tensor.Tensor
		pos  bool
	}{
		{"Neg", (*tensor.Tensor).Neg, false}, {"Abs", (*tensor.Tensor).Abs, false}, {"Sign", (*tensor.Tensor).Sign, false},
		{"Square", (*tensor.Tensor).Square, false}, {"Exp", (*tensor.Tensor).Exp, false}, {"Log", (*tensor.Tensor).Log, true},
		{"Sqrt", (*tensor.Tensor).Sqrt, true}, {"Rsqrt", (*tensor.Tensor).Rsqrt, true}, {"Recip", (*tensor.Tensor).Recip, true},
		{"Sin", (*tensor.Tensor).Sin, false}, {"Cos", (*tensor.Tensor).Cos, false}, {"Tanh", (*tensor.Tensor).Tanh, false},
		{"Sigmoid", (*tensor.Tensor).Sigmoid, false}, {"ReLU", (*tensor.Tensor).ReLU, false}, {"GELU", (*tensor.Tensor).GELU, false},
		{"GELUGrad", (*tensor.Tensor).GELUGrad, false},
		{"Erf", (*tensor.Tensor).Erf, false},
	}
	binary := []struct {
		name string
		f    func(a, b *tensor.Tensor) *tensor.Tensor
	}{
		{"Add", (*tensor.Tensor).Add}, {"Sub", (*tensor.Tensor).Sub}, {"Mul", (*tensor.Tensor).Mul},
		{"Div", (*tensor.Tensor).Div}, {"Pow", (*tensor.Tensor).Pow}, {"Maximum", (*tensor.Tensor).Maximum},
		{"Minimum", (*tensor.Tensor).Minimum}, {"Eq", (*tensor.Tensor).Eq}, {"Ne", (*tensor.Tensor).Ne},
		{"Lt", (*tensor.Tensor).Lt}, {"Le", (*tensor.Tensor).Le}, {"Gt", (*tensor.Tensor).Gt}, {"Ge", (*tensor.Tensor).Ge},
		{"TanhGrad", (*tensor.Tensor).TanhGrad}, {"SigmoidGrad", (*tensor.Tensor).SigmoidGrad},
	}
	var cs []check
	for _, u := range unary {
		cs = append(cs, check{u.name, 2e-5, func(d device.Device) *tensor.Tensor {
			x := randn(d, 1, 17, 33)
			if u.pos {
				x = positive(d, 1, 17, 33)
			}
			return u.f(x.T())
		}})
	}
	for _, b := range binary {
		cs = append(cs, check{b.name, 2e-5, func(d device.Device) *tensor.Tensor {
			return b.f(small(d, 2, 17, 1), small(d, 3, 1, 33))
		}})
	}
	return append(cs,
		check{"BinaryScalar", 1e-6, func(d device.Device) *tensor.Tensor { return randn(d, 4, 1000).MulScalar(3).RSubScalar(1) }},
		check{"Where", 0, func(d device.Device) *tensor.Tensor {
			x := randn(d, 5, 17, 33)
			return tensor.Where(x.GtScalar(0), x, randn(d, 6, 33))
		}},
		check{"Fill", 0, func(d device.Device) *tensor.Tensor { return tensor.Full(d, 1.5, 1000) }},
		check{"Copy", 0, func(d device.Device) *tensor.Tensor { return randn(d, 7, 3, 4, 5).Permute(2, 0, 1).Contiguous() }},
		check{"Cast", 0, func(d device.Device) *tensor.Tensor { return randn(d, 8, 100).MulScalar(10).AsType(tensor.Int32) }},
		check{"Concat", 0, func(d device.Device) *tensor.Tensor {
			return tensor.Concat([]*tensor.Tensor{randn(d, 9, 3, 5), randn(d, 10, 3, 2)}, 1)
		}},
		check{"Sum", 1e-5, func(d device.Device) *tensor.Tensor { return randn(d, 11, 17, 1000).Sum(1) }},
		check{"Mean", 1e-5, func(d device.Device) *tensor.Tensor { return randn(d, 12, 1000, 17).Mean(0) }},
		check{"Max", 0, func(d device.Device) *tensor.Tensor { return randn(d, 13, 17, 33).Max(0) }},
		check{"Min", 0, func(d device.Device) *tensor.Tensor { return randn(d, 14, 17, 33).Min(1) }},
		check{"ArgMax", 0, func(d device.Device) *tensor.Tensor { return randn(d, 15, 17, 300).ArgMax(1) }},
		check{"ArgMin", 0, func(d device.Device) *tensor.Tensor { return randn(d, 16, 17, 300).ArgMin(0) }},
		check{"MatMul", 1e-4, func(d device.Device) *tensor.Tensor { return randn(d, 17, 3, 65, 130).MatMul(randn(d, 18, 130, 67)) }},
		check{"Softmax", 2e-5, func(d device.Device) *tensor.Tensor { return randn(d, 19, 17, 1000).MulScalar(30).Softmax(-1) }},
		check{"LogSoftmax", 2e-5, func(d device.Device) *tensor.Tensor { return randn(d, 20, 17, 1000).MulScalar(30).LogSoftmax(-1) }},
		check{"Conv2D", 1e-4, func(d device.Device) *tensor.Tensor {
			return tensor.Conv2D(randn(d, 21, 2, 4, 9, 11), randn(d, 22, 6, 2, 3, 3), conv)
		}},
		check{"Conv2DInputGrad", 1e-4, func(d device.Device) *tensor.Tensor {
			return tensor.Conv2DInputGrad(randn(d, 23, 2, 6, 5, 9), randn(d, 22, 6, 2, 3, 3), []int{2, 4, 9, 11}, conv)
		}},
		check{"Conv2DWeightGrad", 1e-4, func(d device.Device) *tensor.Tensor {
			return tensor.Conv2DWeightGrad(randn(d, 21, 2, 4, 9, 11), randn(d, 23, 2, 6, 5, 9), []int{6, 2, 3, 3}, conv)
		}},
		check{"MaxPool2D", 0, func(d device.Device) *tensor.Tensor {
			y, _ := tensor.MaxPool2D(randn(d, 24, 2, 3, 9, 8), pool)
			return y
		}},
		check{"MaxPool2DGrad", 1e-6, func(d device.Device) *tensor.Tensor {
			_, idx := tensor.MaxPool2D(randn(d, 24, 2, 3, 9, 8), pool)
			return tensor.MaxPool2DGrad(randn(d, 25, 2, 3, 5, 4), idx, []int{2, 3, 9, 8}, pool)
		}},
		check{"AvgPool2D", 1e-6, func(d device.Device) *tensor.Tensor { return tensor.AvgPool2D(randn(d, 26, 2, 3, 9, 8), pool) }},
		check{"AvgPool2DGrad", 1e-6, func(d device.Device) *tensor.Tensor {
			return tensor.AvgPool2DGrad(randn(d, 27, 2, 3, 5, 4), []int{2, 3, 9, 8}, pool)
		}},
		check{"IndexSelect", 0, func(d device.Device) *tensor.Tensor { return randn(d, 28, 10, 7).IndexSelect(0, labels(d, 29, 10, 33)) }},
		check{"IndexAdd", 1e-5, func(d device.Device) *tensor.Tensor {
			return randn(d, 30, 10, 7).IndexAdd(0, labels(d, 31, 10, 33), randn(d, 32, 33, 7))
		}},
		check{"Gather", 0, func(d device.Device) *tensor.Tensor { return randn(d, 33, 17, 10).Gather(1, labels(d, 34, 10, 17, 1)) }},
		check{"ScatterAdd", 1e-5, func(d device.Device) *tensor.Tensor {
			return randn(d, 35, 17, 10).ScatterAdd(1, labels(d, 36, 10, 17, 3), randn(d, 37, 17, 3))
		}},
		check{"OneHot", 0, func(d device.Device) *tensor.Tensor { return tensor.OneHot(labels(d, 38, 10, 33), 10) }},
	)
}

// Run checks every primitive on dev against the CPU and returns one result
// per op.
func Run(dev device.Device) []Result {
	var results []Result
	for _, c := range checks() {
		start := time.Now()
		res := Result{Op: c.op}
		want, err := values(c.f(device.CPU()))
		if err == nil {
			var got []float32
			got, err = values(c.f(dev))
			if err == nil {
				res.MaxDiff, err = compare(got, want, c.tol)
			}
		}
		res.Err = err
		res.Elapsed = time.Since(start)
		results = append(results, res)
	}
	return results
}

func values(t *tensor.Tensor) (v []float32, err error) {
	if err := tensor.Maybe(func() { v, err = t.Data() }); err != nil {
		return nil, err
	}
	return v, err
}

// compare returns the largest difference between got and want relative to
// the scale of want, and an error when it exceeds tol.
func compare(got, want []float32, tol float64) (float64, error) {
	if len(got) != len(want) {
		return math.Inf(1), fmt.Errorf("got %d values, want %d", len(got), len(want))
	}
	scale := 1.0
	for _, w := range want {
		scale = max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, -1
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) && math.IsNaN(w) || g == w {
			continue
		}
		d := math.Abs(g-w) / scale
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	if at >= 0 && worst > tol {
		return worst, fmt.Errorf("element %d: got %v, want %v", at, got[at], want[at])
	}
	return worst, nil
}
