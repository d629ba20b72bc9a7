//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package device

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// Elementwise fusion. Unary, Binary, BinaryScalar and Where do not dispatch a
// kernel: they leave an expression on their output buffer (its pending
// value), and an op that reads such a buffer densely, with the same shape,
// takes the expression into its own. The expression becomes one generated
// kernel (fused.wgsl) when its value is needed: when any other kernel binds
// the buffer, when it is read back, at Sync, or when a buffer it reads is
// about to be written. So a chain of elementwise ops, with
// broadcasting and strided views at its leaves, costs one dispatch and one
// pass over memory, and a result nobody reads is never computed.
//
// Invariants: the leaves of a pending expression are buffers whose contents
// the expression needs as they are now; each such buffer lists the pending
// buffers that read it (users), and any write to it (a kernel, a host
// write) first computes them. Freeing it computes nothing: its memory is
// held out of the pool until its users are computed or dropped.

// fuseMaxNodes bounds the ops of one generated kernel; its storage
// bindings (leaves and outputs) are bounded by the device's fuseBindings.
const fuseMaxNodes = 128

// ewNode is a node of a pending expression: a leaf (a view of a buffer
// over the iteration space), a scalar parameter, or an op on kid nodes.
type ewNode struct {
	leaf *View
	// own binds the leaf by itself even when another leaf views the
	// buffer the same way (the second operand of x - x).
	own    bool
	scalar *uint32
	fn     *ewFn
	kids   []*ewNode
	t      string // the WGSL type of its value
	nodes  int    // ops in the tree
}

// ewFn is an op of an expression: a WGSL function of its kids' values.
type ewFn struct {
	params, ret, body string
}

// ewPending is a buffer's pending value: root evaluated over shape.
type ewPending struct {
	out   *gpuBuffer // the buffer it is the value of
	epoch int        // the device's epoch when it was recorded
	seq   int64      // the order it was recorded in
	ops   []string   // the user ops it stands for, for errors and profiles
	shape []int
	root  *ewNode
	reads []*gpuBuffer // the distinct buffers its leaves view
	// leaves are the kernel's leaf bindings: its distinct views, and each
	// own leaf (see ewNode.own).
	leaves []ewLeaf
}

// fusionEnabled reports whether elementwise ops are deferred and fused;
// WGTENSOR_GPU_FUSION=0 dispatches each one as it is called.
func fusionEnabled() bool { return os.Getenv("WGTENSOR_GPU_FUSION") != "0" }

// ewIn is an input of a deferred op: a view, or a scalar's bits.
type ewIn struct {
	view   View
	scalar *uint32
}

// deferLocked records dst = fn(ins...) over shape as dst's pending value,
// or returns false when the op must be dispatched now (fusion off, a
// buffer larger than a binding, views that do not coalesce). A refused
// input refuses the op.
func (g *gpuDevice) deferLocked(op string, dst Buffer, shape []int, fn *ewFn, ins ...ewIn) (bool, error) {
	out := dst.(*gpuBuffer)
	if !g.fuse || Numel(shape) == 0 || out.size > g.bindLimit {
		return false, nil
	}
	var strides [][]int
	for _, in := range ins {
		if in.scalar != nil {
			continue
		}
		b := in.view.Buf.(*gpuBuffer)
		if r := b.refused.Load(); r != nil {
			return false, r
		}
		if b.size > g.bindLimit {
			return false, nil
		}
		strides = append(strides, in.view.Strides)
	}
	if cshape, _ := Coalesce(shape, strides...); len(cshape) > MaxRank {
		return false, nil
	}
	node := &ewNode{fn: fn, t: wgslType(out.dt), nodes: 1}
	g.seq++
	p := &ewPending{out: out, epoch: g.epoch, seq: g.seq, shape: slices.Clone(shape), root: node}
	var taken []*ewPending
	// An operand that is another one's value again (x - x) is read from
	// memory a second time, from a binding of its own, so that the shader
	// compiler cannot fold the op (NaN - NaN is NaN): the value is
	// computed first.
	own := make([]bool, len(ins))
	for i := range ins {
		for j := range i {
			if ins[i].scalar == nil && ins[j].scalar == nil && sameView(ins[i].view, ins[j].view) {
				own[i] = true
				if err := g.materializeLocked(ins[i].view.Buf.(*gpuBuffer)); err != nil {
					return false, err
				}
			}
		}
	}
	for i, in := range ins {
		kid, from := g.inputNode(in, shape)
		if own[i] {
			kid.own = true // a fresh leaf: the buffer is not pending
		}
		if kid.leaf != nil { // a pending value read another way is computed first
			if err := g.materializeLocked(kid.leaf.Buf.(*gpuBuffer)); err != nil {
				return false, err
			}
		}
		node.kids = append(node.kids, kid)
		node.nodes += kid.nodes
		if from != nil {
			taken = append(taken, from)
			p.ops = append(p.ops, from.ops...)
			p.addReads(from.reads...)
			p.addLeaves(from.leaves...)
		} else if kid.leaf != nil {
			p.addReads(kid.leaf.Buf.(*gpuBuffer))
			p.addLeaves(ewLeaf{*kid.leaf, kid.own})
		}
	}
	p.ops = append(p.ops, op)
	if len(p.leaves) >= g.fuseBindings || node.nodes > fuseMaxNodes {
		// Too large to take the inputs' expressions in: compute them
		// first and read them as leaves.
		taken, p.ops, p.reads, p.leaves = nil, []string{op}, nil, nil
		node.kids, node.nodes = node.kids[:0], 1
		for _, in := range ins {
			if in.scalar == nil {
				b := in.view.Buf.(*gpuBuffer)
				if err := g.materializeLocked(b); err != nil {
					return false, err
				}
				p.addReads(b)
			}
			kid, _ := g.inputNode(in, shape)
			kid.own = own[len(node.kids)]
			if kid.leaf != nil {
				p.addLeaves(ewLeaf{*kid.leaf, kid.own})
			}
			node.kids = append(node.kids, kid)
		}
	}
	for _, t := range taken {
		delete(g.roots, t.out)
	}
	var old []*gpuBuffer
	if out.pending != nil {
		old = out.pending.reads
	}
	g.dropPendingLocked(out, false)
	out.pending = p
	for _, b := range p.reads {
		if b != out {
			if b.users == nil {
				b.users = map[*gpuBuffer]bool{}
			}
			b.users[out] = true
		}
	}
	g.releaseHeldLocked(old) // those the new value does not read
	g.roots[out] = true
	return true, nil
}

// inputNode returns the node of one input: a pending buffer of this epoch
// read densely with the op's shape contributes its expression (from is
// its pending value), any other buffer is a leaf.
func (g *gpuDevice) inputNode(in ewIn, shape []int) (n *ewNode, from *ewPending) {
	if in.scalar != nil {
		return &ewNode{scalar: in.scalar}, nil
	}
	v := in.view
	b := v.Buf.(*gpuBuffer)
	if p := b.pending; p != nil && p.epoch == g.epoch && v.Offset == 0 && v.IsContiguous() && slices.Equal(v.Shape, p.shape) {
		return p.root, p
	}
	leaf := v
	return &ewNode{leaf: &leaf, t: wgslType(b.dt)}, nil
}

// ewLeaf is a leaf binding of a pending value's kernel.
type ewLeaf struct {
	view View
	own  bool
}

// addLeaves adds leaves to p's: each own one, and the others whose view is
// new.
func (p *ewPending) addLeaves(leaves ...ewLeaf) {
	for _, l := range leaves {
		if l.own || !slices.ContainsFunc(p.leaves, func(m ewLeaf) bool { return !m.own && sameView(l.view, m.view) }) {
			p.leaves = append(p.leaves, l)
		}
	}
}

// addReads adds buffers to the ones p reads.
func (p *ewPending) addReads(bufs ...*gpuBuffer) {
	for _, b := range bufs {
		if !slices.Contains(p.reads, b) {
			p.reads = append(p.reads, b)
		}
	}
}

// dropPendingLocked forgets b's pending value; with release, the freed
// buffers it was the last to read go back to the pool (without, the caller
// releases them with releaseHeldLocked once the kernel reading them is
// recorded).
func (g *gpuDevice) dropPendingLocked(b *gpuBuffer, release bool) {
	p := b.pending
	if p == nil {
		return
	}
	b.pending = nil
	delete(g.roots, b)
	for _, r := range p.reads {
		delete(r.users, b)
	}
	if release {
		g.releaseHeldLocked(p.reads)
	}
}

// releaseHeldLocked returns to the pool the freed buffers among bufs that
// no pending value reads any more.
func (g *gpuDevice) releaseHeldLocked(bufs []*gpuBuffer) {
	for _, r := range bufs {
		if r.held && len(r.users) == 0 {
			r.held = false
			g.poolLocked(r)
		}
	}
}

// computeUsersLocked computes the pending values that read b, before b is
// written or freed.
func (g *gpuDevice) computeUsersLocked(b *gpuBuffer) error {
	for len(b.users) > 0 {
		for u := range b.users {
			if err := g.materializeLocked(u); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// materializeAllLocked computes the pending values that no other pending
// value contains: the results of the chains recorded so far, the values on
// the way being computed only if something needs them later (most are
// temporaries that the tensors' cleanups free), from leaves that stay as
// they are until then. It starts a new epoch: a pending value from an
// earlier one is computed before an op uses it rather than taken into the
// op's expression, so that values carried from step to step (an
// optimizer's moments) do not grow ever longer expressions.
func (g *gpuDevice) materializeAllLocked() error {
	g.epoch++
	roots := make([]*gpuBuffer, 0, len(g.roots))
	for b := range g.roots {
		roots = append(roots, b)
	}
	slices.SortFunc(roots, func(a, b *gpuBuffer) int { return int(a.pending.seq - b.pending.seq) })
	return g.computeTogetherLocked(roots)
}

// Realize computes the pending values of bufs now, those of one shape
// together: one kernel writes several results when its bindings allow
// (an optimizer's new parameter and moments), instead of one kernel each
// when each is needed.
func (g *gpuDevice) Realize(bufs ...Buffer) {
	g.do("Realize", nil, func() error {
		own := make([]*gpuBuffer, 0, len(bufs))
		for _, b := range bufs {
			if gb, ok := b.(*gpuBuffer); ok && !slices.Contains(own, gb) {
				own = append(own, gb)
			}
		}
		return g.computeTogetherLocked(own)
	})
}

// computeTogetherLocked computes the pending values of bufs (in order;
// those without one are skipped) in as few kernels as the fusion limits
// allow: values of one shape share a kernel, and so do values of any
// shapes whose leaves are all dense (an optimizer's parameters, moments
// and gradients), each computed by the threads below its own length.
func (g *gpuDevice) computeTogetherLocked(bufs []*gpuBuffer) error {
	type group struct {
		bufs   []*gpuBuffer
		linear bool      // every value's leaves are dense
		leaves ewPending // the union of their leaves
		nodes  int
	}
	var groups []*group
	for _, b := range bufs {
		p := b.pending
		if p == nil {
			continue
		}
		linear := p.linear()
		var in *group
		for _, gr := range groups {
			if gr.nodes+p.root.nodes > fuseMaxNodes ||
				!(gr.linear && linear || slices.Equal(gr.bufs[0].pending.shape, p.shape) && !gr.linear) {
				continue
			}
			merged := ewPending{leaves: slices.Clone(gr.leaves.leaves)}
			merged.addLeaves(p.leaves...)
			if len(merged.leaves)+len(gr.bufs)+1 <= g.fuseBindings {
				in = gr
				break
			}
		}
		if in == nil {
			in = &group{linear: linear}
			groups = append(groups, in)
		}
		in.bufs = append(in.bufs, b)
		in.leaves.addLeaves(p.leaves...)
		in.nodes += p.root.nodes
	}
	for _, gr := range groups {
		if err := g.computeLocked(gr.bufs); err != nil {
			return err
		}
	}
	return nil
}

// linear reports whether every leaf of p is a dense view of its shape, so
// that the linear index addresses it whatever p's shape.
func (p *ewPending) linear() bool {
	for _, l := range p.leaves {
		if l.view.Offset != 0 || !l.view.IsContiguous() {
			return false
		}
	}
	return true
}

// materializeLocked records the kernel that computes b's pending value.
func (g *gpuDevice) materializeLocked(b *gpuBuffer) error {
	if b.pending == nil {
		return nil
	}
	return g.computeLocked([]*gpuBuffer{b})
}

// computeLocked records one kernel that computes the pending values of
// bufs, which fit one kernel's bindings and share one shape or else are
// all linear.
func (g *gpuDevice) computeLocked(bufs []*gpuBuffer) error {
	// A value computed meanwhile (before another that is written was)
	// is done.
	bufs = slices.DeleteFunc(bufs, func(b *gpuBuffer) bool { return b.pending == nil })
	if len(bufs) == 0 {
		return nil
	}
	ps := make([]*ewPending, len(bufs))
	var reads []*gpuBuffer
	var labels []string
	for i, b := range bufs {
		ps[i] = b.pending
		g.dropPendingLocked(b, false)
		reads = append(reads, ps[i].reads...)
		labels = append(labels, strings.Join(compactOps(ps[i].ops), "+"))
	}
	defer g.releaseHeldLocked(reads)
	op := g.op
	g.op = "fused " + strings.Join(labels, " | ")
	defer func() { g.op = op }()
	k := fusedKernel(ps)
	pl, err := g.pipelineLocked("fused", "main", k.spec)
	if err != nil {
		return fmt.Errorf("%s: %w", g.op, err)
	}
	strides := make([][]int, len(k.leaves))
	for i, v := range k.leaves {
		strides[i] = v.Strides
	}
	shape, n := ps[0].shape, 0
	for _, c := range k.clusters {
		n = max(n, Numel(c))
	}
	if len(k.clusters) > 1 { // linear values of several shapes: one dimension
		shape = []int{n}
		for i := range strides {
			strides[i] = []int{1}
		}
	}
	cshape, cstrides := Coalesce(shape, strides...)
	var pr gpuParams
	pr.ints(n, len(cshape), 0, 0).array8(cshape)
	offs := make([]int, k.spec["Off4"].(int)*4)
	for i, v := range k.leaves {
		offs[i] = v.Offset
	}
	pr.ints(offs...)
	for i := range k.spec["NSt"].(int) {
		if i < len(cstrides) {
			pr.array8(cstrides[i])
		} else {
			pr.array8(nil) // a kernel without leaves (a fill)
		}
	}
	sc := make([]uint32, k.spec["Sc4"].(int)*4)
	copy(sc, k.scalars)
	pr.u32(sc...)
	cn := make([]int, k.spec["C4"].(int)*4)
	for i, c := range k.clusters {
		cn[i] = Numel(c)
	}
	pr.ints(cn...)
	args := make([]gpuArg, 0, len(k.leaves)+len(bufs))
	for i, v := range k.leaves {
		// A leaf is the buffer's contents as they are, even when the
		// buffer has a pending value of its own, recorded after it.
		a := gpuIn(uint32(i+1), v.Buf)
		a.asIs = true
		args = append(args, a)
	}
	for j, b := range bufs {
		args = append(args, gpuOut(uint32(len(k.leaves)+1+j), b))
	}
	if err := g.launchLocked(pl, pr.b, g.threads(n), args...); err != nil {
		var r *refusal
		if errors.As(err, &r) {
			for _, b := range bufs {
				b.refused.Store(r)
			}
			return nil
		}
		return err
	}
	return nil
}

// compactOps shortens a list of op names for a label: runs of one op
// become "Op×n".
func compactOps(ops []string) []string {
	var out []string
	for i := 0; i < len(ops); {
		j := i
		for j < len(ops) && ops[j] == ops[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s×%d", ops[i], j-i))
		} else {
			out = append(out, ops[i])
		}
		i = j
	}
	return out
}

// fused is a generated kernel: its specialisation of fused.wgsl, the
// views its leaves bind (in binding order), its scalar parameters and the
// shapes of its clusters.
type fused struct {
	spec     kernelSpec
	leaves   []View
	scalars  []uint32
	clusters [][]int
}

type fusedLeaf struct {
	K, Binding int
	T          string
}

type fusedFunc struct{ Name, Params, Ret, Body string }

type fusedStep struct{ Name, Call string }

type fusedOut struct {
	K, Binding int
	T, Result  string
}

// fusedCluster is the work of the values of one shape: the leaves it
// loads, its steps and its outputs, run by the threads below its length.
type fusedCluster struct {
	K     int
	Loads []int
	Steps []fusedStep
	Outs  []fusedOut
}

// fusedKernel generates the kernel that computes the pending values ps:
// one binding per distinct leaf view, one function per distinct op, and a
// cluster per shape with one step per op node (a node that several values
// share is computed once) and one output per value.
func fusedKernel(ps []*ewPending) fused {
	var k fused
	var leaves []fusedLeaf
	var funcs []fusedFunc
	var clusters []fusedCluster
	var names []map[*ewNode]string // the values each cluster computed
	var outs []fusedOut
	fnNames := map[ewFn]string{}
	steps := 0
	for _, p := range ps {
		ci := slices.IndexFunc(k.clusters, func(c []int) bool { return slices.Equal(c, p.shape) })
		if ci < 0 {
			ci = len(clusters)
			k.clusters = append(k.clusters, p.shape)
			clusters = append(clusters, fusedCluster{K: ci})
			names = append(names, map[*ewNode]string{})
		}
		c, names := &clusters[ci], names[ci]
		var walk func(n *ewNode) string
		walk = func(n *ewNode) string {
			if name, ok := names[n]; ok {
				return name
			}
			var name string
			switch {
			case n.leaf != nil:
				i := slices.IndexFunc(k.leaves, func(v View) bool { return sameView(v, *n.leaf) })
				if i < 0 || n.own {
					i = len(k.leaves)
					k.leaves = append(k.leaves, *n.leaf)
					leaves = append(leaves, fusedLeaf{K: i, Binding: i + 1, T: n.t})
				}
				if !slices.Contains(c.Loads, i) {
					c.Loads = append(c.Loads, i)
				}
				name = fmt.Sprintf("l%d", i)
			case n.scalar != nil:
				name = fmt.Sprintf("scalar(%du)", len(k.scalars))
				k.scalars = append(k.scalars, *n.scalar)
			default:
				args := make([]string, len(n.kids))
				for i, kid := range n.kids {
					args[i] = walk(kid)
					if kid.scalar != nil { // bits of the op's operand type
						args[i] = fmt.Sprintf("bitcast<%s>(%s)", scalarType(n), args[i])
					}
				}
				fn, ok := fnNames[*n.fn]
				if !ok {
					fn = fmt.Sprintf("f%d", len(funcs))
					fnNames[*n.fn] = fn
					funcs = append(funcs, fusedFunc{Name: fn, Params: n.fn.params, Ret: n.fn.ret, Body: n.fn.body})
				}
				name = fmt.Sprintf("t%d", steps)
				steps++
				c.Steps = append(c.Steps, fusedStep{Name: name, Call: fn + "(" + strings.Join(args, ", ") + ")"})
			}
			names[n] = name
			return name
		}
		out := fusedOut{K: len(outs), T: p.root.t, Result: walk(p.root)}
		c.Outs = append(c.Outs, out)
		outs = append(outs, out)
	}
	for i := range outs {
		outs[i].Binding = len(leaves) + 1 + i
	}
	for _, c := range clusters {
		for i := range c.Outs {
			c.Outs[i].Binding = outs[c.Outs[i].K].Binding
		}
	}
	k.spec = kernelSpec{
		"Leaves": leaves, "Funcs": funcs, "Clusters": clusters, "Outs": outs,
		"Off4": max(1, (len(leaves)+3)/4), "Sc4": max(1, (len(k.scalars)+3)/4), "NSt": max(1, len(leaves)),
		"C4": (len(clusters) + 3) / 4,
	}
	return k
}

// scalarType is the WGSL type of the scalar operand of op node n: that of
// its other operand, or of its result when it has no other (a fill).
func scalarType(n *ewNode) string {
	for _, k := range n.kids {
		if k.scalar == nil {
			return k.t
		}
	}
	return n.t
}

func sameView(a, b View) bool {
	return a.Buf == b.Buf && a.Offset == b.Offset && slices.Equal(a.Shape, b.Shape) && slices.Equal(a.Strides, b.Strides)
}

// unaryFn, binaryFn are the functions of the elementwise ops.
func unaryFn(op UnaryOp, dt DType) *ewFn {
	t := wgslType(dt)
	return &ewFn{params: "v: " + t, ret: t, body: unaryExprFor(op, dt)}
}

func binaryFn(op BinaryOp, dt DType) *ewFn {
	t, ot := wgslType(dt), wgslType(dt)
	if op.IsComparison() {
		ot = "f32"
	}
	return &ewFn{params: "u: " + t + ", v: " + t, ret: ot, body: binaryExprFor(op, dt)}
}

// castFn converts an element of type from to type to, as copy.wgsl does
// (the identity when they are one type).
func castFn(from, to DType) *ewFn {
	t, ot := wgslType(from), wgslType(to)
	body := "v"
	if from != to {
		body = ot + "(v)"
	}
	return &ewFn{params: "v: " + t, ret: ot, body: body}
}

// whereFn is Where's function: a float condition is tested on its bits, as
// where.wgsl does, so that NaN counts as true.
func whereFn(ct, dt DType) *ewFn {
	c, t := wgslType(ct), wgslType(dt)
	test := "c != 0"
	if ct == Float32 {
		test = "(bitcast<u32>(c) & 0x7fffffffu) != 0u"
	}
	return &ewFn{params: "c: " + c + ", u: " + t + ", v: " + t, ret: t, body: "select(v, u, " + test + ")"}
}

// scalarBits is a scalar operand's bits in the element type dt.
func scalarBits(s float64, dt DType) *uint32 {
	bits := math.Float32bits(float32(s))
	if dt == Int32 {
		bits = uint32(int32(s))
	}
	return &bits
}
