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
	grads := map[*Var]*tensor.Tensor{v: g}
	for i := len(order) - 1; i >= 0; i-- {
		u := order[i]
		gu := grads[u]
		delete(grads, u)
		if gu == nil {
			continue
		}
		if u.released {
			panicf("Backward", "part of the graph was already released by an earlier Backward; compute the output again")
		}
		if u.node == nil {
			u.accumulate(gu)
			continue
		}
		n := u.node
		u.node, u.released = nil, true // release the graph as we go
		ins := n.backward(gu)
		for k, in := range n.inputs {
			if !in.requiresGrad || ins[k] == nil {
				continue
			}
			if prev := grads[in]; prev != nil {
				grads[in] = prev.Add(ins[k])
			} else {
				grads[in] = ins[k]
			}
		}
	}
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
