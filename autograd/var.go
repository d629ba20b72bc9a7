// Package autograd adds reverse-mode automatic differentiation to wgtensor's
// tensors. A Var wraps a tensor; operations on Vars compute the tensor
// result and, when an input requires a gradient, record how to propagate
// gradients back through it. Backward then walks the recorded graph in
// reverse topological order on the tensors' own device, so a model trains on
// the GPU or the CPU without change:
//
//	w := autograd.Param(tensor.Randn(dev, rng, 784, 10))
//	x := autograd.Const(batch)
//	loss := x.MatMul(w).LogSoftmax(-1).Mean()
//	loss.Backward()
//	step := w.Grad() // d loss / d w, on dev
//
// Gradients of leaves accumulate across Backward calls until ZeroGrad, as in
// PyTorch. Backward releases the graph it walked, so memory does not grow
// across training steps. NoGrad runs code without recording anything.
package autograd

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// Var is a tensor that takes part in differentiation.
type Var struct {
	val          *tensor.Tensor
	grad         *tensor.Tensor // accumulated gradient of a leaf
	requiresGrad bool
	node         *node // the op that computed val; nil for leaves
	released     bool  // computed by an op whose graph Backward has released
}

// node records one differentiable op: its inputs and the rule that maps the
// gradient of its output to the gradients of its inputs (nil entries for
// inputs that need none).
type node struct {
	op       string
	inputs   []*Var
	backward func(g *tensor.Tensor) []*tensor.Tensor
	// slice, when set, says the op took a slice of its one input along an
	// axis: Backward then places the gradient into the input's gradient
	// directly instead of padding it with zeros to the input's shape.
	slice *slicePlace
}

// slicePlace locates a slice within its input: start along axis; removed
// says the axis was removed (Select) and must be put back.
type slicePlace struct {
	axis, start int
	removed     bool
}

// Param returns a leaf that requires a gradient: a trainable parameter.
func Param(t *tensor.Tensor) *Var { return &Var{val: t, requiresGrad: true} }

// Const returns a leaf without a gradient: data, labels, constants.
func Const(t *tensor.Tensor) *Var { return &Var{val: t} }

// New returns a leaf that requires a gradient when requiresGrad is set.
func New(t *tensor.Tensor, requiresGrad bool) *Var {
	return &Var{val: t, requiresGrad: requiresGrad}
}

// Value returns the tensor the Var holds.
func (v *Var) Value() *tensor.Tensor { return v.val }

// Grad returns the gradient accumulated into a leaf by Backward, or nil when
// none has been.
func (v *Var) Grad() *tensor.Tensor { return v.grad }

// SetGrad replaces the accumulated gradient (nil clears it), for optimizers
// and gradient clipping.
func (v *Var) SetGrad(g *tensor.Tensor) { v.grad = g }

// ZeroGrad clears the accumulated gradient.
func (v *Var) ZeroGrad() { v.grad = nil }

// RequiresGrad reports whether gradients flow to or through v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// IsLeaf reports whether v was created directly rather than by an op.
func (v *Var) IsLeaf() bool { return v.node == nil && !v.released }

// SetValue replaces the tensor of a leaf, keeping its gradient settings; an
// optimizer uses it to install updated parameters.
func (v *Var) SetValue(t *tensor.Tensor) {
	if !v.IsLeaf() {
		panicf("SetValue", "the Var is not a leaf")
	}
	v.val = t
}

// Detach returns a leaf holding the same tensor, cut from the graph.
func (v *Var) Detach() *Var { return Const(v.val) }

// Shape returns the shape of the value.
func (v *Var) Shape() []int { return v.val.Shape() }

// Dim returns the number of dimensions of the value.
func (v *Var) Dim() int { return v.val.Dim() }

// Size returns the length of one axis of the value.
func (v *Var) Size(axis int) int { return v.val.Size(axis) }

// Device returns the device of the value.
func (v *Var) Device() device.Device { return v.val.Device() }

// Data reads the value back (see tensor.Tensor.Data).
func (v *Var) Data() ([]float32, error) { return v.val.Data() }

// Item reads back the value of a one-element Var.
func (v *Var) Item() (float32, error) { return v.val.Item() }

// Err returns the error carried by the value, if any.
func (v *Var) Err() error { return v.val.Err() }

// String describes the Var and its value.
func (v *Var) String() string {
	op := "leaf"
	if v.node != nil {
		op = v.node.op
	}
	return fmt.Sprintf("Var(%s, requiresGrad=%v, %v)", op, v.requiresGrad, v.val)
}

// Error is the panic value of autograd misuse, like tensor.Error.
type Error = tensor.Error

func panicf(op, format string, args ...any) {
	panic(&Error{Op: op, Msg: fmt.Sprintf(format, args...)})
}

// record returns the result of op: a Var holding out that, when gradients
// are being recorded and an input requires one, remembers backward.
func record(op string, out *tensor.Tensor, backward func(g *tensor.Tensor) []*tensor.Tensor, inputs ...*Var) *Var {
	checkAnomaly(op, false, 0, out)
	v := &Var{val: out}
	if !gradEnabled() {
		return v
	}
	for _, in := range inputs {
		if in.requiresGrad {
			v.requiresGrad = true
			break
		}
	}
	if v.requiresGrad {
		v.node = &node{op: op, inputs: inputs, backward: backward}
	}
	return v
}
