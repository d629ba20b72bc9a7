package onnx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// node is one operator application of the graph.
type node struct {
	dir     string // the model's directory, for external data
	name    string // the node's name, or "#i" for the i-th unnamed node
	op      string
	opset   int
	inputs  []string // "" for an omitted optional input
	outputs []string
	attrs   map[string]*onnxpb.AttributeProto
	spec    *opSpec
	// epilogue is what a Conv computes after its sum, from the nodes
	// fused into it (see fuseConvEpilogues); nil for the others.
	epilogue *convEpilogue
	// chain, for a node that runs a chain of Convs (see fuseConvChains),
	// holds them; nil for the others.
	chain *convChain
	// pool, for a Conv whose output only a MaxPool reads, is that
	// MaxPool, which the node runs after it (see fuseConvPools); nil for
	// the others.
	pool *node
	// pair, for a Conv whose output only another Conv reads, is that
	// Conv, which the node runs after it (see fuseConvPairs); nil for the
	// others.
	pair *node
	// windows is the window geometry windowsOf last read from the
	// attributes, for the arguments in its key (a model's runs are
	// serialized by its lock).
	windows *windowsMemo
}

// opSpec is what the package knows about an operator.
type opSpec struct {
	since    int      // the first opset whose form run implements
	attrs    []string // the attributes run reads; others are refused
	minIn    int      // inputs that must be present
	foldable bool     // deterministic: evaluated at Load when its inputs are constant
	// check refuses attribute values run does not implement; may be nil.
	check func(n *node) error
	run   func(c *call) ([]*value, error)
}

// call is one evaluation of a node: its inputs and the device.
type call struct {
	*node
	dev device.Device
	in  []*value // nil for an omitted optional input
}

func newNode(np *onnxpb.NodeProto, index, opset int, dir string) (*node, error) {
	n := &node{dir: dir, name: np.GetName(), op: np.GetOpType(), opset: opset, inputs: np.GetInput(), outputs: np.GetOutput(),
		attrs: map[string]*onnxpb.AttributeProto{}}
	if n.name == "" {
		n.name = fmt.Sprintf("#%d", index)
	}
	if d := np.GetDomain(); d != "" && d != "ai.onnx" {
		return nil, n.errorf("operators of domain %q are not supported", d)
	}
	spec, ok := ops[n.op]
	if !ok {
		return nil, n.errorf("operator %s is not supported", n.op)
	}
	if opset < spec.since {
		return nil, n.errorf("operator %s before opset %d is not supported", n.op, spec.since)
	}
	n.spec = spec
	for _, a := range np.GetAttribute() {
		if a.GetRefAttrName() != "" {
			return nil, n.errorf("attribute %q refers to a function's attribute, which is not supported", a.GetName())
		}
		if !slices.Contains(spec.attrs, a.GetName()) {
			return nil, n.errorf("attribute %q is not supported", a.GetName())
		}
		n.attrs[a.GetName()] = a
	}
	if len(n.inputs) < spec.minIn {
		return nil, n.errorf("%d inputs, want at least %d", len(n.inputs), spec.minIn)
	}
	for i, in := range n.inputs[:spec.minIn] {
		if in == "" {
			return nil, n.errorf("input %d is omitted but required", i)
		}
	}
	if len(n.outputs) == 0 {
		return nil, n.errorf("no outputs")
	}
	if spec.check != nil {
		if err := spec.check(n); err != nil {
			return nil, n.errorf("%v", err)
		}
	}
	return n, nil
}

// errorf returns an error naming the node, its operator and the opset.
func (n *node) errorf(format string, args ...any) error {
	fused := ""
	if names := n.fusedNames(); len(names) > 0 {
		fused = fmt.Sprintf(", with %s fused into it", strings.Join(names, " and "))
	}
	return fmt.Errorf("onnx: node %q (%s, opset %d%s): %s", n.name, n.op, n.opset, fused, fmt.Sprintf(format, args...))
}

// fusedNames names the nodes fused into n: `Relu "name"`.
func (n *node) fusedNames() []string {
	var names []string
	if n.epilogue != nil {
		names = append(names, n.epilogue.nodes...)
	}
	if n.chain != nil {
		for _, l := range n.chain.links()[1:] {
			names = append(names, fmt.Sprintf("%s %q", l.op, l.name))
			names = append(names, l.fusedNames()...)
		}
	}
	if n.pool != nil {
		names = append(names, fmt.Sprintf("%s %q", n.pool.op, n.pool.name))
	}
	if n.pair != nil {
		names = append(names, fmt.Sprintf("%s %q", n.pair.op, n.pair.name))
		names = append(names, n.pair.fusedNames()...)
	}
	return names
}

// convChain is the Convs a node runs as one tensor.Conv2DChain (see
// fuseConvChains): an optional 1×1 expansion, a depthwise Conv, and an
// optional 1×1 projection (nil when absent). The node's inputs are x,
// each link's weight and bias ("" for those of an absent link), and the
// projection's residual.
type convChain struct {
	expand, depthwise, project *node
}

// links returns the Convs of the chain that are present, in order.
func (c *convChain) links() []*node {
	var links []*node
	for _, n := range []*node{c.expand, c.depthwise, c.project} {
		if n != nil {
			links = append(links, n)
		}
	}
	return links
}

// run evaluates the node with its inputs from env. A panic of the tensor
// package (shapes that do not fit) becomes an error naming the node.
func (n *node) run(dev device.Device, env map[string]*value) (outs []*value, err error) {
	c := &call{node: n, dev: dev, in: make([]*value, len(n.inputs))}
	for i, name := range n.inputs {
		if name != "" {
			c.in[i] = env[name]
		}
	}
	if perr := recoverAll(func() { outs, err = n.spec.run(c) }); perr != nil {
		return nil, n.errorf("%s", strings.TrimPrefix(perr.Error(), "tensor: "))
	}
	if err != nil {
		return nil, n.errorf("%v", err)
	}
	for i, name := range n.outputs {
		if name != "" && (i >= len(outs) || outs[i] == nil) {
			return nil, n.errorf("output %d (%q) is not one that %s produces", i, name, n.op)
		}
	}
	for i, o := range outs {
		if o != nil && o.t != nil {
			if err := o.t.Err(); err != nil {
				return nil, n.errorf("output %d: %v", i, err)
			}
		}
	}
	return outs, nil
}

// recoverAll runs f and returns the panic it raises as an error: the
// tensor package's misuse panics (shapes that do not fit), and, so that no
// model can crash the process, any other (an importer bug, which the
// message says).
func recoverAll(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if te, ok := r.(*tensor.Error); ok {
				err = te
				return
			}
			err = fmt.Errorf("internal error (please report it): %v", r)
		}
	}()
	f()
	return nil
}

// has reports whether the node sets attribute name.
func (n *node) has(name string) bool { _, ok := n.attrs[name]; return ok }

func (n *node) attrInt(name string, def int) int {
	if a, ok := n.attrs[name]; ok {
		return int(a.GetI())
	}
	return def
}

func (n *node) attrFloat(name string, def float64) float64 {
	if a, ok := n.attrs[name]; ok {
		return float64(a.GetF())
	}
	return def
}

func (n *node) attrString(name, def string) string {
	if a, ok := n.attrs[name]; ok {
		return string(a.GetS())
	}
	return def
}

func (n *node) attrInts(name string, def []int) []int {
	a, ok := n.attrs[name]
	if !ok {
		return def
	}
	out := make([]int, len(a.GetInts()))
	for i, v := range a.GetInts() {
		out[i] = int(v)
	}
	return out
}

func (n *node) attrFloats(name string) []float64 {
	a, ok := n.attrs[name]
	if !ok {
		return nil
	}
	out := make([]float64, len(a.GetFloats()))
	for i, v := range a.GetFloats() {
		out[i] = float64(v)
	}
	return out
}

// input returns input i, or nil when it is omitted.
func (c *call) input(i int) *value {
	if i < len(c.in) {
		return c.in[i]
	}
	return nil
}

// tensor returns input i on the device.
func (c *call) tensor(i int) (*tensor.Tensor, error) {
	v := c.input(i)
	if v == nil {
		return nil, fmt.Errorf("input %d is missing", i)
	}
	t, err := v.device(c.dev)
	if err != nil {
		return nil, fmt.Errorf("input %d: %w", i, err)
	}
	return t, nil
}

// intsInput returns the integer values of input i (axes, shapes, pads), or
// nil, false when it is omitted.
func (c *call) intsInput(i int) ([]int, bool, error) {
	v := c.input(i)
	if v == nil {
		return nil, false, nil
	}
	is, err := v.ints()
	if err != nil {
		return nil, false, fmt.Errorf("input %d (%q): %w", i, c.inputs[i], err)
	}
	return is, true, nil
}

// one wraps a single device result.
func one(typ elemType, t *tensor.Tensor) ([]*value, error) {
	return []*value{deviceValue(typ, t)}, nil
}

// attrProto is an attribute of a node.
type attrProto = onnxpb.AttributeProto

// intsAttr makes an INTS attribute.
func intsAttr(name string, vs []int) *attrProto {
	is := make([]int64, len(vs))
	for i, v := range vs {
		is[i] = int64(v)
	}
	return &attrProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: is}
}
