package autograd

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// CheckOptions tunes GradCheck. Zero values take the defaults, which suit
// float32 arithmetic: Eps 1e-3 (scaled by max(1, |x|)), AbsTol 5e-3,
// RelTol 2e-2.
type CheckOptions struct {
	Eps    float64
	AbsTol float64
	RelTol float64
	Seed   uint64 // seeds the random projection of the output
}

// GradError reports the element whose analytic gradient is furthest from
// the finite-difference estimate.
type GradError struct {
	Op       string // the name given to GradCheck
	Input    int    // which input
	Shape    []int  // the input's shape
	Index    []int  // the element's index
	Analytic float64
	Numeric  float64
}

func (e *GradError) Error() string {
	return fmt.Sprintf("autograd: GradCheck %s: input %d of shape %v, element %v: analytic gradient %.6g, finite differences %.6g",
		e.Op, e.Input, e.Shape, e.Index, e.Analytic, e.Numeric)
}

// GradCheck compares the gradients that Backward computes for f with
// central finite differences, like torch.autograd.gradcheck. f maps Vars
// made from inputs (float32 inputs require gradients, int32 ones are
// constants) to an output; the check differentiates the sum of the output
// times a fixed random tensor, so every output element counts. It returns
// a *GradError for the worst element outside tolerance, or an error from
// the computation. It evaluates f twice per input element: keep the inputs
// small.
func GradCheck(op string, f func(in []*Var) *Var, inputs []*tensor.Tensor, opt CheckOptions) error {
	if opt.Eps == 0 {
		opt.Eps = 1e-3
	}
	if opt.AbsTol == 0 {
		opt.AbsTol = 5e-3
	}
	if opt.RelTol == 0 {
		opt.RelTol = 2e-2
	}
	vars := make([]*Var, len(inputs))
	for i, t := range inputs {
		vars[i] = New(t, t.DType() == tensor.Float32)
	}
	out := f(vars)
	if err := out.Err(); err != nil {
		return fmt.Errorf("autograd: GradCheck %s: %w", op, err)
	}
	dev := out.Device()
	proj := tensor.Randn(dev, tensor.NewRNG(opt.Seed+1), out.Shape()...)
	projHost, err := proj.Data()
	if err != nil {
		return err
	}
	out.BackwardWith(proj)

	// loss evaluates sum(f(inputs) * proj) in float64 without recording.
	loss := func(in []*tensor.Tensor) (float64, error) {
		var y *Var
		NoGrad(func() {
			vs := make([]*Var, len(in))
			for i, t := range in {
				vs[i] = Const(t)
			}
			y = f(vs)
		})
		vals, err := y.Data()
		if err != nil {
			return 0, err
		}
		s := 0.0
		for i, v := range vals {
			s += float64(v) * float64(projHost[i])
		}
		return s, nil
	}

	var worst *GradError
	worstExcess := 0.0
	for i, t := range inputs {
		if t.DType() != tensor.Float32 {
			continue
		}
		analytic := make([]float32, t.Numel())
		if g := vars[i].Grad(); g != nil {
			if analytic, err = g.Data(); err != nil {
				return err
			}
		}
		host, err := t.Data()
		if err != nil {
			return err
		}
		in := append([]*tensor.Tensor(nil), inputs...)
		for j := range host {
			x := host[j]
			eps := opt.Eps * math.Max(1, math.Abs(float64(x)))
			lp, lm, err := evalPair(loss, in, i, host, j, float32(float64(x)+eps), float32(float64(x)-eps), t.Shape(), dev)
			if err != nil {
				return err
			}
			host[j] = x
			// Divide by the step the float32 inputs actually took.
			step := float64(float32(float64(x)+eps)) - float64(float32(float64(x)-eps))
			numeric := (lp - lm) / step
			a := float64(analytic[j])
			excess := math.Abs(a-numeric) - (opt.AbsTol + opt.RelTol*math.Abs(numeric))
			if excess > worstExcess || math.IsNaN(a) {
				worstExcess = excess
				worst = &GradError{Op: op, Input: i, Shape: t.Shape(), Index: unravel(j, t.Shape()), Analytic: a, Numeric: numeric}
				if math.IsNaN(a) {
					worstExcess = math.Inf(1)
				}
			}
		}
	}
	if worst != nil {
		return worst
	}
	return nil
}

// evalPair evaluates loss with element j of input i set to plus, then minus.
func evalPair(loss func([]*tensor.Tensor) (float64, error), in []*tensor.Tensor, i int, host []float32, j int, plus, minus float32, shape []int, dev device.Device) (float64, float64, error) {
	var out [2]float64
	for k, v := range []float32{plus, minus} {
		host[j] = v
		in[i] = tensor.New(dev, host, shape...)
		l, err := loss(in)
		if err != nil {
			return 0, 0, err
		}
		out[k] = l
	}
	return out[0], out[1], nil
}

// unravel turns a row-major linear index into a multi-index.
func unravel(j int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = j % shape[d]
			j /= shape[d]
		}
	}
	return idx
}
