// Package optim holds optimizers, learning-rate schedules and gradient
// clipping for the parameters of nn modules (autograd Vars). Every update
// runs as tensor ops on the parameters' device; nothing is read back.
//
//	opt := optim.NewAdam(nn.Parameters(model), 1e-3)
//	for ... {
//		opt.ZeroGrad()
//		loss := nn.CrossEntropyLoss(model.Forward(x), y)
//		loss.Backward()
//		opt.Step()
//	}
package optim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step updates every parameter that has a gradient.
	Step()
	// ZeroGrad clears the parameters' gradients.
	ZeroGrad()
	// LR returns the learning rate.
	LR() float64
	// SetLR sets the learning rate, as a scheduler does.
	SetLR(lr float64)
	// State returns the optimizer's state (step count, moment estimates)
	// by name, for checkpoints.
	State() map[string]*tensor.Tensor
	// LoadState restores what State returned.
	LoadState(state map[string]*tensor.Tensor) error
}

// base holds what every optimizer shares: the parameters, the learning rate,
// the number of steps taken and per-parameter state tensors by name.
type base struct {
	params []*autograd.Var
	lr     float64
	steps  int
	slots  []map[string]*tensor.Tensor // per parameter
}

func newBase(params []*autograd.Var, lr float64) base {
	if lr < 0 {
		panic(&tensor.Error{Op: "optim", Msg: fmt.Sprintf("negative learning rate %v", lr)})
	}
	slots := make([]map[string]*tensor.Tensor, len(params))
	for i := range slots {
		slots[i] = map[string]*tensor.Tensor{}
	}
	return base{params: params, lr: lr, slots: slots}
}

// realize computes the parameters' new values and their state together: on
// a device that fuses elementwise ops, a few kernels write them all instead
// of one kernel each when each is next needed. Every Step ends with it.
func (b *base) realize() {
	var ts []*tensor.Tensor
	for i, p := range b.params {
		ts = append(ts, p.Value())
		for _, name := range slices.Sorted(maps.Keys(b.slots[i])) {
			ts = append(ts, b.slots[i][name])
		}
	}
	tensor.Realize(ts...)
}

func (b *base) ZeroGrad() {
	for _, p := range b.params {
		p.ZeroGrad()
	}
}

func (b *base) LR() float64      { return b.lr }
func (b *base) SetLR(lr float64) { b.lr = lr }

// slot returns parameter i's state tensor name, creating it with zeros like
// the parameter on first use.
func (b *base) slot(i int, name string) *tensor.Tensor {
	if t, ok := b.slots[i][name]; ok {
		return t
	}
	t := tensor.ZerosLike(b.value(i))
	b.slots[i][name] = t
	return t
}

// State names each state tensor "<param index>.<slot>", plus "step".
func (b *base) State() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	if len(b.params) > 0 {
		out["step"] = tensor.New(b.params[0].Device(), []int32{int32(b.steps)}, []int{}...)
	}
	for i, slots := range b.slots {
		for name, t := range slots {
			out[strconv.Itoa(i)+"."+name] = t
		}
	}
	return out
}

// LoadState restores the state, checking that each tensor fits its
// parameter; nothing changes when it returns an error.
func (b *base) LoadState(state map[string]*tensor.Tensor) error {
	slots := make([]map[string]*tensor.Tensor, len(b.params))
	for i := range slots {
		slots[i] = map[string]*tensor.Tensor{}
	}
	steps := 0
	for name, t := range state {
		if name == "step" {
			v, err := t.Ints()
			if err != nil || len(v) != 1 {
				return fmt.Errorf("optim: state %q: want one int32 step count", name)
			}
			steps = int(v[0])
			continue
		}
		var i int
		var slot string
		if _, err := fmt.Sscanf(name, "%d.%s", &i, &slot); err != nil || i < 0 || i >= len(b.params) {
			return fmt.Errorf("optim: state %q does not name a slot of one of %d parameters", name, len(b.params))
		}
		want := b.params[i].Value().Shape()
		if got := t.Shape(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("optim: state %q has shape %v, parameter %d has %v", name, got, i, want)
		}
		slots[i][slot] = t.To(b.params[i].Device())
	}
	b.slots, b.steps = slots, steps
	return nil
}

// value returns parameter i's value to update: for a 16-bit parameter its
// float32 master copy (slot "master"), made from the parameter on first
// use, so that updates too small for 16 bits accumulate.
func (b *base) value(i int) *tensor.Tensor {
	p := b.params[i].Value()
	if !p.DType().IsHalf() {
		return p
	}
	m, ok := b.slots[i]["master"]
	if !ok {
		m = p.AsType(tensor.Float32)
		b.slots[i]["master"] = m
	}
	return m
}

// grad returns parameter i's gradient, in float32 for a 16-bit parameter
// (whose update is computed on its master copy), or nil.
func (b *base) grad(i int) *tensor.Tensor {
	g := b.params[i].Grad()
	if g != nil && g.DType().IsHalf() {
		g = g.AsType(tensor.Float32)
	}
	return g
}

// update replaces the value of parameter i; a 16-bit parameter keeps v as
// its master copy and takes v rounded.
func (b *base) update(i int, v *tensor.Tensor) {
	p := b.params[i]
	if dt := p.Value().DType(); dt.IsHalf() {
		b.slots[i]["master"] = v
		v = v.AsType(dt)
	}
	p.SetValue(v)
}

// Params returns the parameters the optimizer updates.
func (b *base) Params() []*autograd.Var { return b.params }
