package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// fuseBatchNorm folds each BatchNormalization that follows a Conv with
// constant weights into that Conv, as inference runtimes do: BN computes
// y·a + b per channel, with a = scale/√(var+ε) and b = bias − mean·a, so
// conv(x, W) + B followed by it is conv(x, W·a) + (B·a + b). It applies
// when the Conv's output feeds nothing else and is no graph output.
func (m *Model) fuseBatchNorm() error {
	uses := m.uses()
	producer := m.producers()
	var kept []*node
	fused := map[*node]bool{}
	for _, bn := range m.nodes {
		if bn.op != "BatchNormalization" {
			continue
		}
		conv := producer[bn.inputs[0]]
		if conv == nil || conv.op != "Conv" || uses[bn.inputs[0]] != 1 || !m.allConst(bn.inputs[1:5]) || !m.allConst(conv.inputs[1:]) {
			continue
		}
		w, err := m.consts[conv.inputs[1]].device(m.dev)
		if err != nil {
			return err
		}
		var p [4]*tensor.Tensor // scale, bias, mean, var
		for i := range p {
			if p[i], err = m.consts[bn.inputs[1+i]].device(m.dev); err != nil {
				return err
			}
		}
		o := w.Size(0)
		if w.Dim() < 3 || slices.ContainsFunc(p[:], func(t *tensor.Tensor) bool { return t.Numel() != o }) {
			continue // let the nodes report what does not fit
		}
		a := p[0].Mul(p[3].AddScalar(bn.attrFloat("epsilon", 1e-5)).Rsqrt())
		if err := m.scaleConv(conv, a, p[1].Sub(p[2].Mul(a)), bn.name); err != nil {
			return err
		}
		conv.outputs = []string{bn.outputs[0]}
		fused[bn] = true
	}
	for _, n := range m.nodes {
		if !fused[n] {
			kept = append(kept, n)
		}
	}
	m.nodes = kept
	m.fusedBatchNorms = len(fused)
	return nil
}

// scaleConv makes conv, whose weight and bias are constants, compute
// conv(x, W·a) + (B·a + b) with the per-output-channel a and b ([O], nil
// for 1 and 0), folding into it the node named by that computed the
// scaling.
func (m *Model) scaleConv(conv *node, a, b *tensor.Tensor, by string) error {
	w, err := m.consts[conv.inputs[1]].device(m.dev)
	if err != nil {
		return err
	}
	o := w.Size(0)
	bias := tensor.Zeros(m.dev, o)
	if len(conv.inputs) > 2 && conv.inputs[2] != "" {
		if bias, err = m.consts[conv.inputs[2]].device(m.dev); err != nil {
			return err
		}
	}
	if a != nil {
		wShape := make([]int, w.Dim())
		for i := range wShape {
			wShape[i] = 1
		}
		wShape[0] = o
		w, bias = w.Mul(a.Reshape(wShape...)), bias.Mul(a)
	}
	if b != nil {
		bias = bias.Add(b)
	}
	wName, bName := m.unusedName(by+"/folded_weight"), m.unusedName(by+"/folded_bias")
	for _, t := range []*tensor.Tensor{w, bias} {
		if err := t.Err(); err != nil {
			return fmt.Errorf("onnx: folding node %q into node %q: %w", by, conv.name, err)
		}
	}
	m.consts[wName], m.consts[bName] = deviceValue(tFloat, w), deviceValue(tFloat, bias)
	conv.inputs = append([]string{conv.inputs[0], wName, bName}, conv.inputs[min(3, len(conv.inputs)):]...)
	return nil
}

// foldConvAffine folds into each Conv with constant weights the Mul, Div,
// Add and Sub by constants that follow it, when a constant is one value or
// one per output channel (shape [1, O, 1, 1] or [O, 1, 1]): exporters
// leave such affine steps after a convolution (PP-OCR's learnable affine
// blocks), and each would be a pass over the output. The Conv's output must
// feed only that node and be no graph output.
func (m *Model) foldConvAffine() error {
	// The graph's uses hold throughout: a folded node only read the value
	// its Conv now replaces.
	consumer := m.soleConsumers()
	dropped := map[*node]bool{}
	for _, conv := range m.nodes {
		if conv.op != "Conv" || len(conv.outputs) != 1 || !m.allConst(conv.inputs[1:]) {
			continue
		}
		for {
			n := consumer[conv.outputs[0]]
			if n == nil || dropped[n] {
				break
			}
			out := conv.outputs[0]
			a, b, ok := m.affineOf(n, out, conv)
			if !ok {
				break
			}
			if err := m.scaleConv(conv, a, b, n.name); err != nil {
				return err
			}
			conv.outputs = []string{n.outputs[0]}
			dropped[n] = true
			m.foldedAffines++
		}
	}
	m.nodes = slices.DeleteFunc(m.nodes, func(n *node) bool { return dropped[n] })
	return nil
}

// soleConsumers maps each value that exactly one node input reads, and no
// graph output names, to that node.
func (m *Model) soleConsumers() map[string]*node {
	uses := m.uses()
	consumer := map[string]*node{}
	for _, n := range m.nodes {
		for _, in := range n.inputs {
			if uses[in] == 1 {
				consumer[in] = n
			}
		}
	}
	return consumer
}

// replaceNodes drops the nodes of dropped from the order and puts each
// node of at in the place of its key.
func (m *Model) replaceNodes(at map[*node]*node, dropped map[*node]bool) {
	var kept []*node
	for _, n := range m.nodes {
		if r, ok := at[n]; ok {
			kept = append(kept, r)
		} else if !dropped[n] {
			kept = append(kept, n)
		}
	}
	m.nodes = kept
}

// affineOf returns n as a per-channel y·a + b of the output y of conv
// (a or b nil when n has none), when n is a Mul, Div, Add or Sub of y by a
// constant that fits (see foldConvAffine).
func (m *Model) affineOf(n *node, y string, conv *node) (a, b *tensor.Tensor, ok bool) {
	if len(n.inputs) != 2 || len(n.outputs) != 1 {
		return nil, nil, false
	}
	other, first := n.inputs[1], true
	if n.inputs[1] == y {
		other, first = n.inputs[0], false
	}
	if n.inputs[0] != y && n.inputs[1] != y || other == y {
		return nil, nil, false
	}
	w, err := m.consts[conv.inputs[1]].device(m.dev)
	if err != nil {
		return nil, nil, false
	}
	c, ok := m.channelConst(other, w.Size(0), w.Dim())
	if !ok {
		return nil, nil, false
	}
	switch {
	case n.op == "Mul":
		return c, nil, true
	case n.op == "Add":
		return nil, c, true
	case n.op == "Div" && first:
		return c.Recip(), nil, true
	case n.op == "Sub" && first:
		return nil, c.Neg(), true
	}
	return nil, nil, false
}

// channelConst returns the float constant name as o values, one per output
// channel of a convolution whose output has the given rank, when it is
// one value or broadcasts along the channel axis only.
func (m *Model) channelConst(name string, o, rank int) (*tensor.Tensor, bool) {
	v, ok := m.consts[name]
	if !ok || v.typ != tFloat || len(v.shape) > rank {
		return nil, false
	}
	for i, d := range v.shape {
		axis := rank - len(v.shape) + i
		if d != 1 && (axis != 1 || d != o) {
			return nil, false
		}
	}
	f, err := v.values()
	if err != nil {
		return nil, false
	}
	c := make([]float32, o)
	for i := range c {
		c[i] = float32(f[i%len(f)])
	}
	return tensor.New(m.dev, c, o), true
}

// rewriteHardSwish replaces the hard swish that exporters spell out,
// y·clip(y + 3, 0, 6) / 6, by one HardSwish node, which a Conv before it
// can then take into its epilogue. The intermediate values must feed only
// the next node of the pattern.
func (m *Model) rewriteHardSwish() {
	uses := m.uses()
	producer := m.producers()
	only := func(name, op string) *node {
		if n := producer[name]; n != nil && n.op == op && uses[name] == 1 && len(n.outputs) == 1 {
			return n
		}
		return nil
	}
	dropped, at := map[*node]bool{}, map[*node]*node{}
	for _, div := range m.nodes {
		if div.op != "Div" || len(div.inputs) != 2 || !m.isScalar(div.inputs[1], 6) {
			continue
		}
		mul := only(div.inputs[0], "Mul")
		if mul == nil || len(mul.inputs) != 2 {
			continue
		}
		for i := range 2 {
			y, clip := mul.inputs[1-i], only(mul.inputs[i], "Clip")
			if clip == nil {
				continue
			}
			if lo, hi, ok := m.clampOf(clip); !ok || lo != 0 || hi != 6 {
				continue
			}
			add := only(clip.inputs[0], "Add")
			if add == nil || len(add.inputs) != 2 || !(add.inputs[0] == y && m.isScalar(add.inputs[1], 3) || add.inputs[1] == y && m.isScalar(add.inputs[0], 3)) {
				continue
			}
			hs := &node{dir: div.dir, name: div.name, op: "HardSwish", opset: div.opset, inputs: []string{y},
				outputs: div.outputs, attrs: map[string]*attrProto{}, spec: ops["HardSwish"]}
			dropped[add], dropped[clip], dropped[mul], at[div] = true, true, true, hs
			m.hardSwishes++
			break
		}
	}
	m.replaceNodes(at, dropped)
}

// isScalar reports whether name is a constant of one value, v.
func (m *Model) isScalar(name string, v float64) bool {
	c, ok := m.consts[name]
	if !ok || c.numel() != 1 {
		return false
	}
	f, err := c.values()
	return err == nil && f[0] == v
}

// producers maps each value the nodes compute to its node.
func (m *Model) producers() map[string]*node {
	producer := map[string]*node{}
	for _, n := range m.nodes {
		for _, out := range n.outputs {
			producer[out] = n
		}
	}
	return producer
}

// uses counts the nodes' inputs and the graph outputs that name each value.
func (m *Model) uses() map[string]int {
	uses := map[string]int{}
	for _, n := range m.nodes {
		for _, in := range n.inputs {
			uses[in]++
		}
	}
	for _, o := range m.outputs {
		uses[o.Name]++
	}
	return uses
}

// convEpilogue is what the nodes fused into a Conv add to its
// tensor.ConvEpilogue, the bias aside: a residual, the Conv's input 3, and
// a clamp.
type convEpilogue struct {
	nodes        []string // the fused nodes, for errors: `Add "name"`
	residual     bool
	clamp        bool
	lo, hi       float64
	hardSwish    bool
	affine       bool
	scale, shift float64
}

// fuseConvEpilogues fuses into each Conv the Add of a residual that
// follows it and the Relu or Clip after that (either may be absent), as
// inference runtimes do, so that the convolution's output is biased, added
// to and clamped while it is in cache instead of in three more passes. Each
// intermediate result must feed only the next node and be no graph output,
// and a node is fused into one Conv only (of the two that feed a residual
// Add, the first in the graph's order takes it).
// The fused Conv takes the place of the last node it absorbs, where the
// residual is computed already.
func (m *Model) fuseConvEpilogues() {
	consumer := m.soleConsumers()
	at := map[*node]*node{}     // the Conv that takes a last absorbed node's place
	dropped := map[*node]bool{} // the Convs and the nodes they absorb
	for _, conv := range m.nodes {
		if conv.op != "Conv" || len(conv.outputs) != 1 {
			continue
		}
		e, last, out := &convEpilogue{}, conv, conv.outputs[0]
		residual := ""
		if n := consumer[out]; n != nil && !dropped[n] && n.op == "Add" && len(n.inputs) == 2 && len(n.outputs) == 1 {
			dropped[n] = true
			residual = n.inputs[0]
			if residual == out {
				residual = n.inputs[1]
			}
			e.residual, last, out = true, n, n.outputs[0]
			e.nodes = append(e.nodes, fmt.Sprintf("%s %q", n.op, n.name))
		}
		// take absorbs n, when it is the only reader of out, and
		// reports whether it did.
		take := func(ok func(n *node) bool) bool {
			n := consumer[out]
			if n == nil || dropped[n] || len(n.outputs) != 1 || !ok(n) {
				return false
			}
			dropped[n], last, out = true, n, n.outputs[0]
			e.nodes = append(e.nodes, fmt.Sprintf("%s %q", n.op, n.name))
			return true
		}
		take(func(n *node) bool {
			lo, hi, ok := m.clampOf(n)
			e.clamp, e.lo, e.hi = ok, lo, hi
			return ok
		})
		take(func(n *node) bool {
			e.hardSwish = n.op == "HardSwish"
			return e.hardSwish
		})
		e.scale = 1
		if take(func(n *node) bool { return m.scalarStep(n, out, "Mul", &e.scale) }) {
			e.affine = true
		}
		if take(func(n *node) bool { return m.scalarStep(n, out, "Add", &e.shift) }) {
			e.affine = true
		}
		if last == conv {
			continue
		}
		for len(conv.inputs) < 3 {
			conv.inputs = append(conv.inputs, "")
		}
		if e.residual {
			conv.inputs = append(conv.inputs[:3], residual)
		}
		conv.outputs = []string{last.outputs[0]}
		conv.epilogue = e
		dropped[conv] = true
		at[last] = conv
		m.fusedEpilogues += len(e.nodes)
	}
	m.replaceNodes(at, dropped)
}

// fuseConvChains makes each depthwise Conv one node with the Conv (no
// groups, equal padding on both sides) whose output only it reads:
// MobileNet's 1×1 expansion, or MobileNetV2's first layer (3×3 of stride
// 2); or when there is none with the 1×1 Conv that alone reads its
// output, the projection. The node runs them as one tensor.Conv2DChain,
// which the CPU computes band by band in its caches rather than writing
// the intermediate output (96 channels of 112×112, 4.8 MB, in
// MobileNetV2) out whole and reading it back. Chaining the projection
// after an expansion too measured no faster (the bands grow shorter; after
// MobileNetV2's first layer within the noise), and after a lone depthwise
// Conv a fifth faster; MobileNetV2's first layer chained with its first
// depthwise Conv rather than the projection, the block took 0.85–0.9 of
// the time. The Convs keep their
// epilogues; only the projection's may add a residual. The first Conv of
// a chain becomes its node, at the place of the last, with chain set and
// the inputs of a chain (see convChain).
func (m *Model) fuseConvChains() {
	consumer := m.soleConsumers()
	producer := map[string]*node{}
	for _, n := range m.nodes {
		for _, out := range n.outputs {
			producer[out] = n
		}
	}
	at, dropped := map[*node]*node{}, map[*node]bool{}
	for _, b := range m.nodes {
		if dropped[b] || !m.depthwiseConv(b) {
			continue
		}
		c := &convChain{depthwise: b}
		if a := producer[b.inputs[0]]; a != nil && !dropped[a] && consumer[a.outputs[0]] == b && m.expansionConv(a) &&
			m.consts[a.inputs[1]].shape[0] == m.consts[b.inputs[1]].shape[0] {
			c.expand = a
		} else if p := consumer[b.outputs[0]]; p != nil && !dropped[p] && p.inputs[0] == b.outputs[0] && m.pointwiseConv(p, true) &&
			m.consts[p.inputs[1]].shape[1] == m.consts[b.inputs[1]].shape[0] {
			c.project = p
		} else {
			continue
		}
		links := c.links()
		head, last := links[0], links[len(links)-1]
		inputs := []string{head.inputs[0], "", "", "", "", "", "", ""}
		for i, n := range []*node{c.expand, c.depthwise, c.project} {
			if n != nil {
				copy(inputs[1+2*i:3+2*i], n.inputs[1:])
			}
		}
		if c.project != nil && len(c.project.inputs) > 3 {
			inputs[7] = c.project.inputs[3] // the residual
		}
		outputs := last.outputs
		for _, n := range links {
			dropped[n] = true
		}
		next := *head // the chain's node; head itself stays one of its links
		next.inputs, next.outputs, next.chain = inputs, outputs, c
		at[last] = &next
		m.convChains++
	}
	m.replaceNodes(at, dropped)
}

// fuseConvPools makes each Conv (not in a chain, without a residual) whose
// output only a MaxPool reads, a 2-D one with one output and no dilation,
// one node with it: the node runs them as one tensor.Conv2DMaxPool, which
// the CPU computes band by band in its caches rather than writing the
// convolution's output (ResNet's stem: 64 channels of 112×112, 3.2 MB)
// out whole and reading it back. The Conv's node takes the place of the
// MaxPool, with its output and pool set.
func (m *Model) fuseConvPools() {
	consumer := m.soleConsumers()
	at, dropped := map[*node]*node{}, map[*node]bool{}
	for _, n := range m.nodes {
		if n.op != "Conv" || n.chain != nil || len(n.outputs) != 1 || n.epilogue != nil && n.epilogue.residual || len(n.inputs) < 2 {
			continue
		}
		if w, ok := m.consts[n.inputs[1]]; !ok || len(w.shape) != 4 {
			continue
		}
		p := consumer[n.outputs[0]]
		if p == nil || p.op != "MaxPool" || len(p.outputs) != 1 || p.inputs[0] != n.outputs[0] ||
			len(p.attrInts("kernel_shape", nil)) != 2 || slices.ContainsFunc(p.attrInts("dilations", nil), func(d int) bool { return d != 1 }) {
			continue
		}
		fused := *n
		fused.outputs, fused.pool = p.outputs, p
		dropped[n] = true
		at[p] = &fused
		m.convPools++
	}
	m.replaceNodes(at, dropped)
}

// fuseConvPairs makes each Conv (not fused otherwise, its epilogue at most
// a clamp) whose output only another Conv reads, one of stride 1 with
// padding, one node with it: the node runs them as one tensor.Conv2DPair,
// which the CPU computes storing the first's output straight into the
// padded planes the second reads (ResNet's basic blocks) rather than
// writing it out and copying it again. Both are 2-D, without groups, with
// explicit padding the same on both sides. The first Conv's node takes
// the place of the second, with its inputs (x, then each Conv's weight and
// bias, and the second's residual), the second's outputs, and pair set.
func (m *Model) fuseConvPairs() {
	consumer := m.soleConsumers()
	at, dropped := map[*node]*node{}, map[*node]bool{}
	for _, a := range m.nodes {
		if dropped[a] || at[a] != nil || a.pool != nil || !m.pairableConv(a) || !m.chainable(a, false) {
			continue // (at[a]: the second of a pair already)
		}
		b := consumer[a.outputs[0]]
		if b == nil || dropped[b] || b.pool != nil || b.inputs[0] != a.outputs[0] || !m.pairableConv(b) || !m.chainable(b, true) ||
			!slices.Equal(b.attrInts("strides", []int{1, 1}), []int{1, 1}) || !slices.ContainsFunc(b.attrInts("pads", nil), func(p int) bool { return p > 0 }) {
			continue
		}
		inputs := []string{a.inputs[0], a.inputs[1], "", b.inputs[1], "", ""}
		copy(inputs[2:3], a.inputs[2:])
		copy(inputs[4:6], b.inputs[2:])
		fused := *a
		fused.inputs, fused.outputs, fused.pair = inputs, b.outputs, b
		dropped[a] = true
		at[b] = &fused
		m.convPairs++
	}
	m.replaceNodes(at, dropped)
}

// pairableConv reports whether Conv n may be one of a pair (see
// fuseConvPairs): a 2-D weight, no groups, explicit padding the same on
// both sides.
func (m *Model) pairableConv(n *node) bool {
	if n.op != "Conv" || len(n.inputs) < 2 {
		return false
	}
	w, ok := m.consts[n.inputs[1]]
	pads := n.attrInts("pads", []int{0, 0, 0, 0})
	return ok && len(w.shape) == 4 && n.attrInt("group", 1) == 1 &&
		slices.Contains([]string{"NOTSET", "VALID"}, n.attrString("auto_pad", "NOTSET")) &&
		len(pads) == 4 && pads[0] == pads[2] && pads[1] == pads[3]
}

// depthwiseConv reports whether n is a depthwise Conv that a chain may
// hold (see fuseConvChains): weight [C, 1, kh, kw] and bias constant, C
// groups, its padding explicit and the same on both sides, its epilogue at
// most a clamp.
func (m *Model) depthwiseConv(n *node) bool {
	if !m.chainable(n, false) {
		return false
	}
	w := m.consts[n.inputs[1]]
	pads := n.attrInts("pads", []int{0, 0, 0, 0})
	return len(w.shape) == 4 && w.shape[1] == 1 && n.attrInt("group", 1) == w.shape[0] &&
		slices.Contains([]string{"NOTSET", "VALID"}, n.attrString("auto_pad", "NOTSET")) &&
		len(pads) == 4 && pads[0] == pads[2] && pads[1] == pads[3]
}

// expansionConv reports whether n is a Conv that may come first in a
// chain (see fuseConvChains): 2-D, without groups, its padding explicit
// and the same on both sides. MobileNet's are 1×1; MobileNetV2's first
// layer (3×3 of stride 2) is one too, which the CPU computes band by band
// on its indirect kernel.
func (m *Model) expansionConv(n *node) bool {
	if !m.chainable(n, false) {
		return false
	}
	w := m.consts[n.inputs[1]]
	pads := n.attrInts("pads", []int{0, 0, 0, 0})
	return len(w.shape) == 4 && n.attrInt("group", 1) == 1 &&
		slices.Contains([]string{"NOTSET", "VALID"}, n.attrString("auto_pad", "NOTSET")) &&
		len(pads) == 4 && pads[0] == pads[2] && pads[1] == pads[3]
}

// pointwiseConv reports whether n is a 1×1 Conv of stride 1 without
// padding, groups or dilation that a chain may hold (see fuseConvChains),
// with a residual in its epilogue if residual.
func (m *Model) pointwiseConv(n *node, residual bool) bool {
	if !m.chainable(n, residual) {
		return false
	}
	w := m.consts[n.inputs[1]]
	return len(w.shape) == 4 && w.shape[2] == 1 && w.shape[3] == 1 && n.attrInt("group", 1) == 1 &&
		slices.Equal(n.attrInts("pads", []int{0, 0, 0, 0}), []int{0, 0, 0, 0}) &&
		slices.Equal(n.attrInts("strides", []int{1, 1}), []int{1, 1}) &&
		slices.Equal(n.attrInts("dilations", []int{1, 1}), []int{1, 1})
}

// chainable reports whether Conv n may be a link of a chain: not in one
// already, one output, weight and bias constants, and an epilogue of at
// most a clamp (and a residual if residual).
func (m *Model) chainable(n *node, residual bool) bool {
	if n.op != "Conv" || n.chain != nil || len(n.outputs) != 1 || len(n.inputs) < 2 || n.inputs[1] == "" {
		return false
	}
	e := n.epilogue
	if e != nil && (e.residual && !residual || e.hardSwish || e.affine) || len(n.inputs) > 3 && (e == nil || !e.residual) {
		return false
	}
	for _, in := range n.inputs[1:min(len(n.inputs), 3)] {
		if _, ok := m.consts[in]; in != "" && !ok {
			return false
		}
	}
	return true
}

// scalarStep reports whether n is op (Mul or Add) of y and a constant of
// one value, which it then stores in c.
func (m *Model) scalarStep(n *node, y, op string, c *float64) bool {
	if n.op != op || len(n.inputs) != 2 {
		return false
	}
	other := n.inputs[1]
	if other == y {
		other = n.inputs[0]
	} else if n.inputs[0] != y {
		return false
	}
	v, ok := m.consts[other]
	if !ok || v.typ != tFloat || v.numel() != 1 || len(v.shape) > 4 {
		return false
	}
	f, err := v.values()
	if err != nil {
		return false
	}
	*c = f[0]
	return true
}

// clampOf returns the bounds of n when it is a Relu or a Clip whose bounds
// are known at Load.
func (m *Model) clampOf(n *node) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(-1), math.Inf(1)
	switch {
	case n.op == "Relu":
		return 0, hi, true
	case n.op != "Clip":
		return 0, 0, false
	case n.opset < 11:
		return n.attrFloat("min", lo), n.attrFloat("max", hi), true
	}
	for i, p := range []*float64{&lo, &hi} {
		if i+1 >= len(n.inputs) || n.inputs[i+1] == "" {
			continue
		}
		v, isConst := m.consts[n.inputs[i+1]]
		if !isConst {
			return 0, 0, false
		}
		f, err := v.values()
		if err != nil || len(f) != 1 {
			return 0, 0, false // the node reports it
		}
		*p = f[0]
	}
	return lo, hi, true
}

// unusedName returns name, or name with a number appended, that no value of
// the model has.
func (m *Model) unusedName(name string) string {
	taken := func(s string) bool {
		if _, ok := m.consts[s]; ok {
			return true
		}
		return slices.ContainsFunc(m.nodes, func(n *node) bool { return slices.Contains(n.outputs, s) }) ||
			slices.ContainsFunc(m.inputs, func(v ValueInfo) bool { return v.Name == s })
	}
	for i, s := 1, name; ; i++ {
		if !taken(s) {
			return s
		}
		s = fmt.Sprintf("%s_%d", name, i)
	}
}

// allConst reports whether every named value (omitted ones included) is a
// constant of the model.
func (m *Model) allConst(names []string) bool {
	for _, name := range names {
		if _, ok := m.consts[name]; name != "" && !ok {
			return false
		}
	}
	return true
}

// fuseLayerNorms makes each layer normalization spelt out in primitives
// one LayerNormalization node, as ONNX Runtime's LayerNormFusion does
// (PyTorch exports nn.LayerNorm so below opset 17): over the last axis,
//
//	d = x − ReduceMean(x); y = d / Sqrt(ReduceMean(Pow(d, 2)) + ε) · γ + β
//
// with the Mul and the last Add taking their operands in either order. The
// node then normalizes each row in one op on a device that can (a BERT
// layer's two normalizations were 18 nodes). Every intermediate must feed
// only the next node (d the Pow and the Div) and be no graph output.
func (m *Model) fuseLayerNorms() {
	uses := m.uses()
	producer := m.producers()
	only := func(name, op string, n int) *node {
		if p := producer[name]; p != nil && p.op == op && uses[name] == n && len(p.outputs) == 1 {
			return p
		}
		return nil
	}
	// either returns the node of op that produces one of n's two inputs
	// (used once), and the other input.
	either := func(n *node, op string) (*node, string) {
		if len(n.inputs) != 2 {
			return nil, ""
		}
		for i := range 2 {
			if p := only(n.inputs[i], op, 1); p != nil {
				return p, n.inputs[1-i]
			}
		}
		return nil, ""
	}
	lastMean := func(n *node) bool {
		if n == nil || n.attrInt("keepdims", 1) != 1 {
			return false
		}
		axes := n.attrInts("axes", nil)
		if len(n.inputs) > 1 && n.inputs[1] != "" { // opset 18: axes as an input
			c, ok := m.consts[n.inputs[1]]
			if !ok {
				return false
			}
			var err error
			if axes, err = c.ints(); err != nil {
				return false
			}
		}
		return len(axes) == 1 && axes[0] == -1
	}
	dropped, at := map[*node]bool{}, map[*node]*node{}
	for _, add := range m.nodes {
		if add.op != "Add" {
			continue
		}
		mul, beta := either(add, "Mul")
		if mul == nil {
			continue
		}
		div, gamma := either(mul, "Div")
		if div == nil || len(div.inputs) != 2 {
			continue
		}
		d := div.inputs[0]
		sqrt := only(div.inputs[1], "Sqrt", 1)
		if sqrt == nil {
			continue
		}
		addEps := only(sqrt.inputs[0], "Add", 1)
		if addEps == nil {
			continue
		}
		variance, eps := either(addEps, "ReduceMean") // (mean of squares) + ε
		if c, ok := m.consts[eps]; variance == nil || !ok || c.numel() != 1 || !lastMean(variance) {
			continue
		}
		pow := only(variance.inputs[0], "Pow", 1)
		if pow == nil || len(pow.inputs) != 2 || pow.inputs[0] != d || !m.isScalar(pow.inputs[1], 2) {
			continue
		}
		sub := only(d, "Sub", 2)
		if sub == nil || len(sub.inputs) != 2 {
			continue
		}
		x := sub.inputs[0]
		mean := only(sub.inputs[1], "ReduceMean", 1)
		if !lastMean(mean) || mean.inputs[0] != x {
			continue
		}
		e, err := m.consts[eps].values()
		if err != nil {
			continue
		}
		ln := &node{dir: add.dir, name: add.name, op: "LayerNormalization", opset: 17, inputs: []string{x, gamma, beta},
			outputs: add.outputs, spec: ops["LayerNormalization"], attrs: map[string]*attrProto{
				"axis":    {Name: "axis", Type: onnxpb.AttributeProto_INT, I: -1},
				"epsilon": {Name: "epsilon", Type: onnxpb.AttributeProto_FLOAT, F: float32(e[0])},
			}}
		for _, n := range []*node{mean, sub, pow, variance, addEps, sqrt, div, mul} {
			dropped[n] = true
		}
		at[add] = ln
		m.layerNorms++
	}
	m.replaceNodes(at, dropped)
}
