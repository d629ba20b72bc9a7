package onnx

import (
	"fmt"
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// fuseBatchNorm folds each BatchNormalization that follows a Conv with
// constant weights into that Conv, as inference runtimes do: BN computes
// y·a + b per channel, with a = scale/√(var+ε) and b = bias − mean·a, so
// conv(x, W) + B followed by it is conv(x, W·a) + (B·a + b). It applies
// when the Conv's output feeds nothing else and is no graph output.
func (m *Model) fuseBatchNorm() error {
	uses := map[string]int{}
	for _, n := range m.nodes {
		for _, in := range n.inputs {
			uses[in]++
		}
	}
	for _, o := range m.outputs {
		uses[o.Name]++
	}
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
