package autograd

import (
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// Backward computes the gradient of v, which must hold a single element,
// with respect to every leaf that requires one, adding it to the leaf's
// Grad. The graph behind v is released.
func (v *Var) Backward() {
	if n := v.val.Numel(); n != 1 {
		panicf("Backward", "output of shape %v has %d elements; use BackwardWith for a non-scalar output", v.val.Shape(), n)
	}
	v.BackwardWith(tensor.OnesLike(v.val))
}

// BackwardWith propagates the gradient g of some scalar with respect to v,
// which has v's shape, back to the leaves (a vector-Jacobian product).
func (v *Var) BackwardWith(g *tensor.Tensor) {
	if !slices.Equal(g.Shape(), v.val.Shape()) {
		panicf("Backward", "gradient of shape %v for an output of shape %v", g.Shape(), v.val.Shape())
	}
	if !v.requiresGrad {
		panicf("Backward", "the output does not require a gradient: no input of its graph was a Param")
	}
	if v.released {
		panicf("Backward", "the graph was already released by an earlier Backward; compute the output again")
	}
	order := topoOrder(v)
	grads := map[*Var]*gradSum{v: {dense: g}}
	for i := len(order) - 1; i >= 0; i-- {
		u := order[i]
		sum := grads[u]
		delete(grads, u)
		if sum == nil {
			continue
		}
		gu, owned := sum.total(u.val.Shape())
		if u.released {
			panicf("Backward", "part of the graph was already released by an earlier Backward; compute the output again")
		}
		if u.node == nil {
			u.accumulate(gu)
			continue
		}
		n := u.node
		u.node, u.released = nil, true // release the graph as we go
		if n.slice != nil {
			in := n.inputs[0]
			if grads[in] == nil {
				grads[in] = &gradSum{}
			}
			grads[in].addSlice(*n.slice, gu)
			continue
		}
		ins := n.backward(gu)
		if owned && !sharesMemory(gu, ins) {
			gu.Release()
		}
		for k, in := range n.inputs {
			if !in.requiresGrad || ins[k] == nil {
				continue
			}
			checkAnomaly(n.op, true, k, ins[k])
			if dt := in.val.DType(); dt.IsFloat() && ins[k].DType() != dt {
				// A gradient has its input's type, as in PyTorch (masks
				// of comparisons make the terms of Maximum's float32).
				ins[k] = ins[k].AsType(dt)
			}
			if grads[in] == nil {
				grads[in] = &gradSum{}
			}
			grads[in].add(ins[k])
		}
	}
}

// gradSum collects the gradient of one Var while Backward runs: dense
// terms, added as they come, and slices along an axis (from Narrow and
// Select), placed into one tensor when the Var is reached. An RNN that
// selects each time step of a sequence thus gets its gradient in one
// concatenation rather than as one zero-padded tensor per step.
//
// A partial sum the gradSum made itself (owned) is referenced nowhere
// else, so adding the next term releases it at once instead of leaving it
// to the garbage collector, and so does Backward once the Var's op has
// used the total (unless the op's gradients view it, as Add's are): the
// weight gradient of an RNN's 50 steps then cycles through one buffer
// where it took 50, and the step collects a third less often (10–11%
// faster).
type gradSum struct {
	dense  *tensor.Tensor
	owned  bool
	slices []placed
}

type placed struct {
	slicePlace
	g *tensor.Tensor
}

func (s *gradSum) add(g *tensor.Tensor) {
	if s.dense == nil {
		s.dense = g
		return
	}
	sum := s.dense.Add(g)
	if s.owned {
		s.dense.Release()
	}
	s.dense, s.owned = sum, true
}

func (s *gradSum) addSlice(at slicePlace, g *tensor.Tensor) {
	if at.removed {
		g = g.Unsqueeze(at.axis)
	}
	s.slices = append(s.slices, placed{at, g})
}

// total combines the terms into the gradient of a Var of the given shape,
// and reports whether the gradSum made that tensor (owned: no one else
// holds it).
func (s *gradSum) total(shape []int) (*tensor.Tensor, bool) {
	if len(s.slices) == 0 {
		return s.dense, s.owned
	}
	g, owned := s.placeSlices(shape)
	if s.dense != nil {
		sum := g.Add(s.dense)
		if owned {
			g.Release()
		}
		if s.owned {
			s.dense.Release()
		}
		g, owned = sum, true
	}
	return g, owned
}

// sharesMemory reports whether any of ts views g's memory.
func sharesMemory(g *tensor.Tensor, ts []*tensor.Tensor) bool {
	id := g.MemoryID()
	for _, t := range ts {
		if t != nil && t.MemoryID() == id {
			return true
		}
	}
	return false
}

// placeSlices assembles the slices into a tensor of the given shape:
// slices along one axis that do not overlap are concatenated in order with
// zeros in the gaps; any other mix is padded and summed. It reports
// whether the result is a tensor it made (not one of the slices).
func (s *gradSum) placeSlices(shape []int) (*tensor.Tensor, bool) {
	axis := s.slices[0].axis
	sorted := slices.Clone(s.slices)
	slices.SortFunc(sorted, func(a, b placed) int { return a.start - b.start })
	disjoint := true
	end := 0
	for _, p := range sorted {
		if p.axis != axis || p.start < end {
			disjoint = false
			break
		}
		end = p.start + p.g.Size(axis)
	}
	if !disjoint {
		var g *tensor.Tensor
		for _, p := range s.slices {
			padded := padAxis(p.g, p.axis, p.start, shape[p.axis])
			if g == nil {
				g = padded
			} else {
				g = g.Add(padded)
			}
		}
		return g, g != s.slices[0].g
	}
	var parts []*tensor.Tensor
	pos := 0
	gap := func(to int) {
		if to > pos {
			gs := slices.Clone(shape)
			gs[axis] = to - pos
			parts = append(parts, tensor.FullOf(sorted[0].g.Device(), sorted[0].g.DType(), 0, gs...))
		}
	}
	for _, p := range sorted {
		gap(p.start)
		parts = append(parts, p.g)
		pos = p.start + p.g.Size(axis)
	}
	gap(shape[axis])
	if len(parts) == 1 {
		return parts[0], false
	}
	return tensor.Concat(parts, axis), true
}

// accumulate adds g to a leaf's gradient.
func (v *Var) accumulate(g *tensor.Tensor) {
	if v.grad == nil {
		v.grad = g
		return
	}
	v.grad = v.grad.Add(g)
}

// topoOrder lists the Vars that v's gradient reaches, every Var after the
// inputs it was computed from. It walks iteratively, so deep graphs (long
// RNN unrolls) cannot overflow the stack.
func topoOrder(v *Var) []*Var {
	var order []*Var
	seen := map[*Var]bool{v: true}
	type frame struct {
		v    *Var
		next int
	}
	stack := []frame{{v: v}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.v.node == nil || top.next == len(top.v.node.inputs) {
			order = append(order, top.v)
			stack = stack[:len(stack)-1]
			continue
		}
		in := top.v.node.inputs[top.next]
		top.next++
		if in.requiresGrad && !seen[in] {
			seen[in] = true
			stack = append(stack, frame{v: in})
		}
	}
	return order
}
