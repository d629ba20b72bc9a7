package optim

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// GradScaler is dynamic loss scaling for float16 training, as
// torch.amp.GradScaler: Scale multiplies the loss before Backward so that
// small gradients do not flush to zero in float16; Step divides the
// gradients back (into float32) and runs the optimizer unless one of them
// overflowed to Inf or NaN, in which case the step is skipped; Update
// halves the scale after a skipped step and doubles it after
// GrowthInterval steps in a row without one.
//
//	loss := scaler.Scale(nn.CrossEntropyLoss(logits, labels))
//	loss.Backward()
//	if _, err := scaler.Step(opt); err != nil { ... }
//	scaler.Update()
type GradScaler struct {
	Growth         float64 // factor after GrowthInterval good steps (2)
	Backoff        float64 // factor after a skipped step (0.5)
	GrowthInterval int     // good steps before the scale grows (2000)

	scale   float64
	good    int  // steps in a row without overflow
	skipped bool // the last Step found Inf or NaN
	stepped bool // Step ran since the last Update
}

// NewGradScaler returns a scaler starting at initScale (PyTorch's default
// is 65536) with PyTorch's default growth, backoff and interval.
func NewGradScaler(initScale float64) *GradScaler {
	if !(initScale > 0) || math.IsInf(initScale, 0) {
		panic(&tensor.Error{Op: "GradScaler", Msg: fmt.Sprintf("initial scale %v is not a positive finite number", initScale)})
	}
	return &GradScaler{Growth: 2, Backoff: 0.5, GrowthInterval: 2000, scale: initScale}
}

// Scale returns the loss multiplied by the current scale.
func (s *GradScaler) Scale(loss *autograd.Var) *autograd.Var { return loss.MulScalar(s.scale) }

// Factor returns the current scale.
func (s *GradScaler) Factor() float64 { return s.scale }

// Step divides the gradients of opt's parameters by the scale, as float32,
// and runs opt.Step unless one of them holds Inf or NaN; it reports whether
// the step ran. Finding out waits for the device and reads one number.
// opt must be one of this package's optimizers (it needs their
// parameters).
func (s *GradScaler) Step(opt Optimizer) (bool, error) {
	po, ok := opt.(interface{ Params() []*autograd.Var })
	if !ok {
		return false, fmt.Errorf("optim: GradScaler.Step: %T does not list its parameters (no Params method)", opt)
	}
	inv := 1 / s.scale
	var bad *tensor.Tensor // 0 when every gradient is finite, NaN otherwise
	for _, p := range po.Params() {
		g := p.Grad()
		if g == nil {
			continue
		}
		g = g.AsType(tensor.Float32).MulScalar(inv)
		p.SetGrad(g)
		term := g.MulScalar(0).Sum() // Inf·0 and NaN·0 are NaN
		if bad == nil {
			bad = term
		} else {
			bad = bad.Add(term)
		}
	}
	s.stepped = true
	s.skipped = false
	if bad != nil {
		v, err := bad.Item()
		if err != nil {
			return false, fmt.Errorf("optim: GradScaler.Step: %w", err)
		}
		s.skipped = math.IsNaN(float64(v))
	}
	if s.skipped {
		return false, nil
	}
	opt.Step()
	return true, nil
}

// Update adjusts the scale after a Step: Backoff times it after a skipped
// step, Growth times it after GrowthInterval good steps in a row.
func (s *GradScaler) Update() {
	if !s.stepped {
		return
	}
	s.stepped = false
	if s.skipped {
		s.scale *= s.Backoff
		s.good = 0
		return
	}
	if s.good++; s.good >= s.GrowthInterval {
		s.scale *= s.Growth
		s.good = 0
	}
}
