package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// recurrentLayer holds the weights of one layer of a recurrent network, with
// the gates stacked along the first axis in PyTorch's order.
type recurrentLayer struct {
	WeightIH *autograd.Var // [gates*hidden, input]
	WeightHH *autograd.Var // [gates*hidden, hidden]
	BiasIH   *autograd.Var // [gates*hidden]
	BiasHH   *autograd.Var // [gates*hidden]
}

// recurrent is what RNN, LSTM and GRU share: stacked layers, batch-first
// inputs [batch, time, features].
type recurrent struct {
	Layers []recurrentLayer
	Hidden int
}

func newRecurrent(dev device.Device, gates, input, hidden, layers int) recurrent {
	if input <= 0 || hidden <= 0 || layers <= 0 {
		panicf("recurrent layer", "input %d, hidden %d and layers %d must be positive", input, hidden, layers)
	}
	// PyTorch draws every weight and bias from U(-1/√hidden, 1/√hidden).
	k := 1 / math.Sqrt(float64(hidden))
	r := recurrent{Hidden: hidden}
	for l := range layers {
		in := input
		if l > 0 {
			in = hidden
		}
		r.Layers = append(r.Layers, recurrentLayer{
			WeightIH: autograd.Param(UniformInit(dev, -k, k, gates*hidden, in)),
			WeightHH: autograd.Param(UniformInit(dev, -k, k, gates*hidden, hidden)),
			BiasIH:   autograd.Param(UniformInit(dev, -k, k, gates*hidden)),
			BiasHH:   autograd.Param(UniformInit(dev, -k, k, gates*hidden)),
		})
	}
	return r
}

// State names the weights as PyTorch does: weight_ih_l0, bias_hh_l1, ...
func (r *recurrent) State() ([]NamedParam, []NamedBuffer) {
	var ps []NamedParam
	for l, layer := range r.Layers {
		ps = append(ps,
			NamedParam{fmt.Sprintf("weight_ih_l%d", l), layer.WeightIH},
			NamedParam{fmt.Sprintf("weight_hh_l%d", l), layer.WeightHH},
			NamedParam{fmt.Sprintf("bias_ih_l%d", l), layer.BiasIH},
			NamedParam{fmt.Sprintf("bias_hh_l%d", l), layer.BiasHH},
		)
	}
	return ps, nil
}

// check panics unless x is [batch, time, features] and a given state is
// [layers, batch, hidden].
func (r *recurrent) check(op string, x *autograd.Var, states ...*autograd.Var) {
	in := r.Layers[0].WeightIH.Size(1)
	if x.Dim() != 3 || x.Size(2) != in {
		panicf(op, "input of shape %v, want [batch, time, %d]", x.Shape(), in)
	}
	for _, s := range states {
		want := []int{len(r.Layers), x.Size(0), r.Hidden}
		if s != nil && !slices.Equal(s.Shape(), want) {
			panicf(op, "state of shape %v, want %v", s.Shape(), want)
		}
	}
}

// initial returns layer l's slice of a state [layers, batch, hidden], or
// zeros when none was given.
func (r *recurrent) initial(s *autograd.Var, l, batch int, dev device.Device) *autograd.Var {
	if s == nil {
		return autograd.Const(tensor.Zeros(dev, batch, r.Hidden))
	}
	return s.Select(0, l)
}

// run feeds x [batch, time, in] through every layer; step advances one
// layer's state (h, and c for the LSTM) given the input projection of one
// time step. It returns the last layer's outputs and each layer's final
// states.
// run runs the layers over x from the initial states init, one step of
// the recurrence at a time. With foldBias the step receives x_t·W_ih^T +
// b_ih + b_hh and must not add BiasHH itself: for cells that add both
// biases to the same sum (RNN, LSTM) that moves 2·steps small additions
// and bias-gradient reductions into one.
func (r *recurrent) run(x *autograd.Var, init []*autograd.Var, foldBias bool,
	step func(layer recurrentLayer, xt *autograd.Var, state []*autograd.Var) []*autograd.Var,
) (*autograd.Var, [][]*autograd.Var) {
	batch, steps := x.Size(0), x.Size(1)
	finals := make([][]*autograd.Var, len(r.Layers))
	for l, layer := range r.Layers {
		// Project every time step's input at once: one large matmul
		// instead of one per step.
		bias := layer.BiasIH
		if foldBias {
			bias = bias.Add(layer.BiasHH)
		}
		proj := x.MatMul(layer.WeightIH.T()).Add(bias)
		state := make([]*autograd.Var, len(init))
		for i, s := range init {
			state[i] = r.initial(s, l, batch, x.Device())
		}
		outs := make([]*autograd.Var, steps)
		for t := range steps {
			state = step(layer, proj.Select(1, t), state)
			outs[t] = state[0]
		}
		finals[l] = state
		x = autograd.Stack(outs, 1)
	}
	return x, finals
}

// stackFinal gathers each layer's final state i into [layers, batch, hidden].
func stackFinal(finals [][]*autograd.Var, i int) *autograd.Var {
	vs := make([]*autograd.Var, len(finals))
	for l, f := range finals {
		vs[l] = f[i]
	}
	return autograd.Stack(vs, 0)
}

// RNN is an Elman network with tanh, h_t = tanh(W_ih x_t + b_ih + W_hh
// h_{t-1} + b_hh), as torch.nn.RNN with batch_first=True.
type RNN struct{ recurrent }

// NewRNN returns an RNN of the given sizes.
func NewRNN(dev device.Device, input, hidden, layers int) *RNN {
	return &RNN{newRecurrent(dev, 1, input, hidden, layers)}
}

// Forward runs x [batch, time, input] from h0 [layers, batch, hidden] (zeros
// when nil) and returns the outputs [batch, time, hidden] and the final
// state [layers, batch, hidden].
func (r *RNN) Forward(x, h0 *autograd.Var) (out, hN *autograd.Var) {
	r.check("RNN", x, h0)
	out, finals := r.run(x, []*autograd.Var{h0}, true, func(l recurrentLayer, xt *autograd.Var, s []*autograd.Var) []*autograd.Var {
		return []*autograd.Var{xt.Add(s[0].MatMul(l.WeightHH.T())).Tanh()}
	})
	return out, stackFinal(finals, 0)
}

// LSTM is a long short-term memory network, as torch.nn.LSTM with
// batch_first=True; the gates are stacked in PyTorch's order i, f, g, o.
type LSTM struct{ recurrent }

// NewLSTM returns an LSTM of the given sizes.
func NewLSTM(dev device.Device, input, hidden, layers int) *LSTM {
	return &LSTM{newRecurrent(dev, 4, input, hidden, layers)}
}

// Forward runs x [batch, time, input] from the states h0 and c0 [layers,
// batch, hidden] (zeros when nil) and returns the outputs and the final h
// and c.
func (m *LSTM) Forward(x, h0, c0 *autograd.Var) (out, hN, cN *autograd.Var) {
	m.check("LSTM", x, h0, c0)
	out, finals := m.run(x, []*autograd.Var{h0, c0}, true, func(l recurrentLayer, xt *autograd.Var, s []*autograd.Var) []*autograd.Var {
		gates := xt.Add(s[0].MatMul(l.WeightHH.T())).Chunk(4, 1)
		i, f, g, o := gates[0].Sigmoid(), gates[1].Sigmoid(), gates[2].Tanh(), gates[3].Sigmoid()
		c := f.Mul(s[1]).Add(i.Mul(g))
		return []*autograd.Var{o.Mul(c.Tanh()), c}
	})
	return out, stackFinal(finals, 0), stackFinal(finals, 1)
}

// GRU is a gated recurrent unit network, as torch.nn.GRU with
// batch_first=True; the gates are stacked in PyTorch's order r, z, n.
type GRU struct{ recurrent }

// NewGRU returns a GRU of the given sizes.
func NewGRU(dev device.Device, input, hidden, layers int) *GRU {
	return &GRU{newRecurrent(dev, 3, input, hidden, layers)}
}

// Forward runs x [batch, time, input] from h0 [layers, batch, hidden] (zeros
// when nil) and returns the outputs and the final state.
func (m *GRU) Forward(x, h0 *autograd.Var) (out, hN *autograd.Var) {
	m.check("GRU", x, h0)
	out, finals := m.run(x, []*autograd.Var{h0}, false, func(l recurrentLayer, xt *autograd.Var, s []*autograd.Var) []*autograd.Var {
		xg := xt.Chunk(3, 1)
		hg := s[0].MatMul(l.WeightHH.T()).Add(l.BiasHH).Chunk(3, 1)
		r := xg[0].Add(hg[0]).Sigmoid()
		z := xg[1].Add(hg[1]).Sigmoid()
		n := xg[2].Add(r.Mul(hg[2])).Tanh()
		// h' = (1 - z) n + z h = n + z (h - n)
		return []*autograd.Var{n.Add(z.Mul(s[0].Sub(n)))}
	})
	return out, stackFinal(finals, 0)
}
