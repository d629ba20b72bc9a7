package onnx

import (
	"fmt"
	"maps"
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// Option configures Load.
type Option func(*loadConfig)

// loadConfig is what the Options of a Load say.
type loadConfig struct {
	shapes map[string][]int // input name → the shape every run will have
}

// WithInputShape fixes the shape of the input name for every run, as
// ONNX Runtime's free dimension overrides do: Load then infers the shape of
// every value that follows from the fixed inputs and folds the shape
// arithmetic exporters emit (Shape → Gather → Concat → Reshape chains) into
// constants, so that a run computes only the model's real work. A run
// with another shape is an error.
func WithInputShape(name string, dims ...int) Option {
	return func(c *loadConfig) {
		if c.shapes == nil {
			c.shapes = map[string][]int{}
		}
		c.shapes[name] = slices.Clone(dims)
	}
}

// valueShaped lists the operators whose outputs' shapes depend on the
// values, not only the shapes, of some of their inputs (a Reshape's target
// shape, a Slice's bounds, ...), and those inputs. Every other operator's
// output shapes follow from its inputs' shapes and its attributes; an
// operator registered later whose shapes depend on values must be listed.
var valueShaped = map[string][]int{
	"ConstantOfShape": {0}, "Expand": {1}, "Pad": {1, 3}, "Range": {0, 1, 2},
	"ReduceMax": {1}, "ReduceMean": {1}, "ReduceMin": {1}, "ReduceSum": {1},
	"Reshape": {1}, "Resize": {1, 2, 3}, "Slice": {1, 2, 3, 4}, "Split": {1},
	"Squeeze": {1}, "Tile": {1}, "Unsqueeze": {1}, "Upsample": {1},
}

// specialize fixes the input shapes that c gives and, when every input's
// shape is then fixed (by c or by the model), runs the model once on zeros
// of those shapes to learn the shape of every value. Each Shape and Size
// node whose input's shape follows from the inputs' shapes alone (not from
// their values) becomes a constant, and fold evaluates what depends only on
// constants; this repeats until nothing more folds, since a Reshape whose
// target shape has become constant has a fixed output shape in turn. A
// model that fails on zeros (its shapes depend on its inputs' values) is
// left as it is.
func (m *Model) specialize(c loadConfig) error {
	for name, dims := range c.shapes {
		i := slices.IndexFunc(m.inputs, func(v ValueInfo) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("onnx: WithInputShape: the model has no input %q (its inputs: %s)", name, inputNames(m.inputs))
		}
		fixed, err := fixShape(m.inputs[i].Shape, dims)
		if err == nil {
			err = checkElements(dims...)
		}
		if err != nil {
			return fmt.Errorf("onnx: WithInputShape: input %q: %w", name, err)
		}
		m.inputs[i].Shape = fixed
	}
	probe := map[string]*tensor.Tensor{}
	defer func() {
		for _, t := range probe {
			t.Release()
		}
	}()
	fixedInputs := map[string]bool{}
	for _, in := range m.inputs {
		dims, ok := staticDims(in.Shape)
		if !ok || checkElements(dims...) != nil {
			return nil // a free dimension: shapes are known at each run only
		}
		probe[in.Name] = tensor.Zeros(m.dev, dims...).AsType(elemTypeNamed(in.DType).deviceType())
		fixedInputs[in.Name] = true
	}
	for {
		env := m.constEnv(len(probe) + len(m.nodes))
		if err := m.evaluate(env, probe, nil, nil); err != nil {
			return nil
		}
		fixed := maps.Clone(fixedInputs)
		for name := range m.consts {
			fixed[name] = true
		}
		folded := false
		var rest []*node
		for _, n := range m.nodes {
			if (n.op == "Shape" || n.op == "Size") && fixed[n.inputs[0]] {
				outs, err := n.run(m.dev, env)
				if err != nil {
					return err
				}
				m.consts[n.outputs[0]], fixed[n.outputs[0]] = outs[0], true
				m.foldedShapes++
				folded = true
				continue
			}
			rest = append(rest, n)
			if shapeFixed(n, fixed, m.consts) {
				for _, out := range n.outputs {
					fixed[out] = true
				}
			}
		}
		m.nodes = rest
		if !folded {
			return nil
		}
		if err := m.fold(); err != nil {
			return err
		}
	}
}

// staticDims returns the sizes of a shape whose dimensions are all fixed.
func staticDims(shape []Dim) ([]int, bool) {
	if shape == nil {
		return nil, false
	}
	dims := make([]int, len(shape))
	for i, d := range shape {
		if d.Size < 0 {
			return nil, false
		}
		dims[i] = d.Size
	}
	return dims, true
}

// shapeFixed reports whether n's output shapes follow from the fixed shapes
// of its inputs and the values of the constants.
func shapeFixed(n *node, fixed map[string]bool, consts map[string]*value) bool {
	for _, in := range n.inputs {
		if in != "" && !fixed[in] {
			return false
		}
	}
	for _, i := range valueShaped[n.op] {
		if i < len(n.inputs) && n.inputs[i] != "" {
			if _, ok := consts[n.inputs[i]]; !ok {
				return false
			}
		}
	}
	return true
}

// fixShape returns the model's description of an input with the
// dimensions dims, which must agree with it.
func fixShape(shape []Dim, dims []int) ([]Dim, error) {
	if shape != nil && len(shape) != len(dims) {
		return nil, fmt.Errorf("%d dimensions %v for the model's %s", len(dims), dims, shapeString(shape))
	}
	fixed := make([]Dim, len(dims))
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in %v", dims)
		}
		if shape != nil && shape[i].Size >= 0 && shape[i].Size != d {
			return nil, fmt.Errorf("dimension %d of %v differs from the model's %s", i, dims, shapeString(shape))
		}
		fixed[i] = Dim{Size: d}
	}
	return fixed, nil
}
