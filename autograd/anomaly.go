package autograd

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/tensor"
)

// anomaly holds the goroutines inside DetectAnomaly.
var anomaly scopes

// AnomalyError names the first op whose result, or whose gradient for one
// of its inputs, held NaN or Inf inside DetectAnomaly.
type AnomalyError struct {
	Op       string // the op, as in its error messages: "Log", "MatMul"
	Backward bool   // the gradient rule produced it, not the forward op
	Input    int    // for Backward, the input whose gradient it was
	Shape    []int  // the shape of the offending tensor
	NaN, Inf int    // how many of its elements are NaN and ±Inf
}

func (e *AnomalyError) Error() string {
	where := fmt.Sprintf("%s produced", e.Op)
	if e.Backward {
		where = fmt.Sprintf("the backward of %s produced, in the gradient of input %d,", e.Op, e.Input)
	}
	return fmt.Sprintf("autograd: anomaly: %s %d NaN and %d infinite values (shape %v)", where, e.NaN, e.Inf, e.Shape)
}

// DetectAnomaly runs f with anomaly detection in the calling goroutine, as
// torch.autograd.detect_anomaly does for a thread: the result of every
// differentiable op, and in Backward every gradient an op's rule returns,
// is read back and checked for NaN and Inf. The first op that produces one
// stops f, and DetectAnomaly returns an *AnomalyError naming it; it
// returns nil when f finishes. Reading every result back is slow: use it
// to find where a model breaks, not to train. Ops outside autograd (plain
// tensor arithmetic) are not checked, and nor are other goroutines.
func DetectAnomaly(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(*AnomalyError)
			if !ok {
				panic(r)
			}
			err = a
		}
	}()
	anomaly.run(f)
	return nil
}

// checkAnomaly panics with an *AnomalyError when anomaly detection is on in
// this goroutine and t holds NaN or Inf. Tensors that carry an error, or
// hold integers, are not checked.
func checkAnomaly(op string, backward bool, input int, t *tensor.Tensor) {
	if t == nil || !anomaly.active() || t.Err() != nil || t.DType() != tensor.Float32 {
		return
	}
	data, err := t.Data()
	if err != nil {
		return
	}
	e := &AnomalyError{Op: op, Backward: backward, Input: input, Shape: t.Shape()}
	for _, v := range data {
		switch {
		case v != v:
			e.NaN++
		case math.IsInf(float64(v), 0):
			e.Inf++
		}
	}
	if e.NaN+e.Inf > 0 {
		panic(e)
	}
}
