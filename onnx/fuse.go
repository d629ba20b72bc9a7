package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// fuseBatchNorm folds each BatchNormalization that follows a Conv with
// constant weights into that Conv, as inference runtimes do: BN computes
// y·a + b per channel, with a = scale/√(var+ε) and b = bias − mean·a, so
// conv(x, W) + B followed by it is conv(x, W·a) + (B·a + b). It applies
// when the Conv's output feeds nothing else and is no graph output.
func (m *Model) fuseBatchNorm() error {
	uses := m.uses()
	producer := map[string]*node{}
	for _, n := range m.nodes {
		for _, out := range n.outputs {
			producer[out] = n
		}
	}
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
		b := p[1].Sub(p[2].Mul(a))
		wShape := make([]int, w.Dim())
		for i := range wShape {
			wShape[i] = 1
		}
		wShape[0] = o
		if len(conv.inputs) > 2 && conv.inputs[2] != "" {
			bias, err := m.consts[conv.inputs[2]].device(m.dev)
			if err != nil {
				return err
			}
			b = bias.Mul(a).Add(b)
		}
		wName, bName := m.unusedName(bn.name+"/folded_weight"), m.unusedName(bn.name+"/folded_bias")
		m.consts[wName] = deviceValue(tFloat, w.Mul(a.Reshape(wShape...)))
		m.consts[bName] = deviceValue(tFloat, b)
		for _, t := range []*tensor.Tensor{m.consts[wName].t, m.consts[bName].t} {
			if err := t.Err(); err != nil {
				return fmt.Errorf("onnx: folding node %q into node %q: %w", bn.name, conv.name, err)
			}
		}
		conv.inputs = []string{conv.inputs[0], wName, bName}
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
	nodes    []string // the fused nodes, for errors: `Add "name"`
	residual bool
	clamp    bool
	lo, hi   float64
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
	uses := m.uses()
	consumer := map[string]*node{}
	for _, n := range m.nodes {
		for _, in := range n.inputs {
			if uses[in] == 1 {
				consumer[in] = n
			}
		}
	}
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
		if n := consumer[out]; n != nil && !dropped[n] && len(n.outputs) == 1 {
			if lo, hi, ok := m.clampOf(n); ok {
				dropped[n] = true
				e.clamp, e.lo, e.hi, last = true, lo, hi, n
				e.nodes = append(e.nodes, fmt.Sprintf("%s %q", n.op, n.name))
			}
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
	var kept []*node
	for _, n := range m.nodes {
		if c, ok := at[n]; ok {
			kept = append(kept, c)
		} else if !dropped[n] {
			kept = append(kept, n)
		}
	}
	m.nodes = kept
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
