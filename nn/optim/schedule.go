package optim

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/tensor"
)

// Scheduler changes an optimizer's learning rate as training progresses.
// Call Step once per epoch (or per iteration, as the schedule is meant),
// after the optimizer's Step, as in PyTorch.
type Scheduler interface {
	Step()
}

// schedule is the shared part: the optimizer, its initial learning rate and
// the number of Step calls so far (PyTorch's last_epoch).
type schedule struct {
	opt   Optimizer
	base  float64
	epoch int
}

func newSchedule(opt Optimizer) schedule { return schedule{opt: opt, base: opt.LR()} }

// StepLR multiplies the learning rate by Gamma every StepSize steps, as
// torch.optim.lr_scheduler.StepLR.
type StepLR struct {
	schedule
	StepSize int
	Gamma    float64
}

// NewStepLR returns a StepLR schedule for opt.
func NewStepLR(opt Optimizer, stepSize int, gamma float64) *StepLR {
	if stepSize <= 0 {
		panic(&tensor.Error{Op: "NewStepLR", Msg: fmt.Sprintf("step size %d is not positive", stepSize)})
	}
	return &StepLR{schedule: newSchedule(opt), StepSize: stepSize, Gamma: gamma}
}

// Step advances the schedule.
func (s *StepLR) Step() {
	s.epoch++
	if s.epoch%s.StepSize == 0 {
		s.opt.SetLR(s.opt.LR() * s.Gamma)
	}
}

// CosineAnnealingLR anneals the learning rate from its initial value to
// EtaMin over TMax steps along a cosine, with PyTorch's recursive formula.
type CosineAnnealingLR struct {
	schedule
	TMax   int
	EtaMin float64
}

// NewCosineAnnealingLR returns a cosine schedule for opt.
func NewCosineAnnealingLR(opt Optimizer, tMax int, etaMin float64) *CosineAnnealingLR {
	if tMax <= 0 {
		panic(&tensor.Error{Op: "NewCosineAnnealingLR", Msg: fmt.Sprintf("period %d is not positive", tMax)})
	}
	return &CosineAnnealingLR{schedule: newSchedule(opt), TMax: tMax, EtaMin: etaMin}
}

// Step advances the schedule.
func (s *CosineAnnealingLR) Step() {
	s.epoch++
	t, T := float64(s.epoch), float64(s.TMax)
	lr := s.opt.LR()
	if (s.epoch-1-s.TMax)%(2*s.TMax) == 0 {
		lr += (s.base - s.EtaMin) * (1 - math.Cos(math.Pi/T)) / 2
	} else {
		lr = (1+math.Cos(math.Pi*t/T))/(1+math.Cos(math.Pi*(t-1)/T))*(lr-s.EtaMin) + s.EtaMin
	}
	s.opt.SetLR(lr)
}

// LinearLR scales the learning rate by a factor that goes linearly from
// Start to End over Total steps, as torch.optim.lr_scheduler.LinearLR; with
// Start < End it is a linear warm-up. The factor applies from creation.
type LinearLR struct {
	schedule
	Start, End float64
	Total      int
}

// NewLinearLR returns a linear schedule for opt and applies its first
// factor.
func NewLinearLR(opt Optimizer, start, end float64, total int) *LinearLR {
	if !(start > 0 && start <= 1) || !(end >= 0 && end <= 1) || total <= 0 {
		panic(&tensor.Error{Op: "NewLinearLR", Msg: fmt.Sprintf("factors must be in (0, 1] and [0, 1] and the steps positive, got start %v, end %v, total %d", start, end, total)})
	}
	s := &LinearLR{schedule: newSchedule(opt), Start: start, End: end, Total: total}
	opt.SetLR(opt.LR() * start)
	return s
}

// Step advances the schedule.
func (s *LinearLR) Step() {
	s.epoch++
	if s.epoch > s.Total {
		return
	}
	d := s.End - s.Start
	s.opt.SetLR(s.opt.LR() * (1 + d/(float64(s.Total)*s.Start+float64(s.epoch-1)*d)))
}
