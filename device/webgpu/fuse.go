//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wgtensor/wgtensor/device/backend"
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
	leaf *backend.View
	// prod is set on the node of a product (a deferred MatMul): its value
	// is the product's element, and the expression above it becomes the
	// product kernel's epilogue.
	prod *ewProd
	// own binds the leaf by itself even when another leaf views the
	// buffer the same way (the second operand of x - x).
	own    bool
	scalar *uint32
	fn     *ewFn
	op     string // the user op of an op node (or a product), for labels
	kids   []*ewNode
	t      string // the WGSL type of its value
	nodes  int    // ops in the tree
	// mark is the walk that last visited the node (see ewMarks), and name
	// what fusedKernel's walk called its value.
	mark uint64
	name string
}

// ewMarks numbers the walks over expressions that visit a node shared by
// several parents once: a walk marks what it visited with its number.
// Walks run with their device locked; nodes belong to one device.
var ewMarks atomic.Uint64

// ewProd is a deferred product c = a @ b of a [B, M, K] and b [B, K, N]
// into a dense c [B, M, N], read as they were when MatMul was called, or
// a deferred reduction (red) or convolution (conv). Each is a producer:
// the elementwise ops that read its result become its kernel's epilogue.
type ewProd struct {
	a, b backend.View
	red  *ewReduce // or, when set, a reduction
	conv *ewConv   // or, when set, a convolution
	// holders are the pending values whose expressions hold it.
	holders []*ewPending
}

// ewReduce is a deferred reduction of x's trailing n dimensions into a
// dense result of x's leading ones.
type ewReduce struct {
	op  backend.ReduceOp
	x   backend.View // read as it was when Reduce was called, unless pro is set
	n   int          // the dimensions reduced
	pro *fused       // x's expression, evaluated as the rows load; no epilogue then
}

// ewConv is a deferred convolution (its forward pass) of x by w into a
// dense output, read as they were when Conv2D was called.
type ewConv struct {
	x, w backend.Buffer
	p    backend.Conv2DParams
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
	shape []int
	root  *ewNode
	reads []*gpuBuffer // the distinct buffers its leaves view
	// leaves are the kernel's leaf bindings: its distinct views, and each
	// own leaf (see ewNode.own).
	leaves []ewLeaf
	// prod is the node of the product its expression holds, or nil; taken
	// is set once another pending value took its expression in.
	prod  *ewNode
	taken bool
}

// fusionEnabled reports whether elementwise ops are deferred and fused;
// WGTENSOR_GPU_FUSION=0 dispatches each one as it is called.
func fusionEnabled() bool { return os.Getenv("WGTENSOR_GPU_FUSION") != "0" }

// ewIn is an input of a deferred op: a view, or a scalar's bits.
type ewIn struct {
	view   backend.View
	scalar *uint32
}

// deferLocked records dst = fn(ins...) over shape as dst's pending value,
// or returns false when the op must be dispatched now (fusion off, a
// buffer larger than a binding, views that do not coalesce). A refused
// input refuses the op.
func (g *gpuDevice) deferLocked(op string, dst backend.Buffer, shape []int, fn *ewFn, ins ...ewIn) (bool, error) {
	out := dst.(*gpuBuffer)
	if !g.fuse || backend.Numel(shape) == 0 || out.size > g.bindLimit {
		return false, nil
	}
	// Dimensions of size 1 are dropped: a value of shape [1, m, n] is
	// taken in by an op over [m, n].
	shape, ins = squeeze(shape, ins)
	var strides [][]int
	for _, in := range ins {
		if in.scalar != nil {
			continue
		}
		b := in.view.Buf.(*gpuBuffer)
		if r := b.refused.Load(); r != nil {
			return false, r
		}
		if b.dt.IsHalf() && (fn.ret != "f32" || out.dt.IsHalf()) {
			// A 16-bit leaf is only widened: a copy between 16-bit
			// buffers moves the bits (NaN payloads included) in half.wgsl.
			return false, nil
		}
		if b.size > g.bindLimit {
			return false, nil
		}
		if len(shape) > backend.MaxRank {
			strides = append(strides, in.view.Strides)
		}
	}
	if len(shape) > backend.MaxRank {
		if cshape, _ := backend.Coalesce(shape, strides...); len(cshape) > backend.MaxRank {
			return false, nil
		}
	}
	g.seq++
	rec := &ewRecord{}
	node := &rec.node
	*node = ewNode{fn: fn, op: op, t: wgslType(out.dt), nodes: 1, kids: rec.kids[:0:len(rec.kids)]}
	p := &rec.p
	*p = ewPending{out: out, epoch: g.epoch, seq: g.seq, shape: append(rec.shape[:0:len(rec.shape)], shape...), root: node}
	var taken []*ewPending
	shared := false // a product the inputs hold was computed meanwhile
	// An operand that is another one's value again (x - x) is read from
	// memory a second time, from a binding of its own, so that the shader
	// compiler cannot fold the op (NaN - NaN is NaN): the value is
	// computed first.
	var ownSpace [3]bool
	own := ownSpace[:0]
	if len(ins) > len(ownSpace) {
		own = make([]bool, 0, len(ins))
	}
	own = own[:len(ins)]
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
		if from != nil && from.prod != nil && (from.taken || p.prod != nil) {
			// A product is computed once: taken in a second time, or
			// beside another product, the value holding it is computed
			// and read from memory by everything that took it in.
			if err := g.shareLocked(from); err != nil {
				return false, err
			}
			kid, from = g.inputNode(in, shape)
			shared = true
		}
		if own[i] {
			kid = kid.owned() // a fresh leaf: the buffer is not pending
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
			if from.prod != nil {
				p.prod = from.prod
			}
			p.inherit(from)
		} else if kid.leaf != nil {
			p.addReads(kid.leaf.Buf.(*gpuBuffer))
			p.addLeaves(ewLeaf{*kid.leaf, kid.own})
		}
	}
	if shared {
		p.rescan() // what the computed product's node now reads
	}
	maxLeaves := g.fuseBindings - 1
	switch {
	case p.prod != nil && p.prod.prod.red != nil: // a reduction's epilogue: x and y are bound too
		maxLeaves = g.fuseBindings - 2
	case p.prod != nil: // a product's epilogue: a, b and c are bound too
		maxLeaves = g.fuseBindings - 3
	}
	if len(p.leaves) > maxLeaves || node.nodes > fuseMaxNodes || p.prod != nil && (node.t != "f32" || out.dt.IsHalf()) {
		// Too large to take the inputs' expressions in (or an epilogue
		// that is not float): compute them first and read them as
		// leaves.
		taken, p.reads, p.leaves, p.prod = nil, nil, nil, nil
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
			if own[len(node.kids)] {
				kid = kid.owned()
			}
			if kid.leaf != nil {
				p.addLeaves(ewLeaf{*kid.leaf, kid.own})
			}
			node.kids = append(node.kids, kid)
		}
	}
	for _, t := range taken {
		t.taken = true
		delete(g.roots, t.out)
		// Taken in, it will most likely never want memory: Alloc
		// counts it no more among those that may (SmallOps' 100 chained
		// adds made Alloc collect garbage every 40 iterations).
		g.countRealizedLocked(t.out)
	}
	g.setPendingLocked(p)
	return true, nil
}

// ewRecord is what deferLocked makes for one op, in one allocation: its
// pending value and node, with room for the node's kids and the shape.
type ewRecord struct {
	p     ewPending
	node  ewNode
	kids  [3]*ewNode
	shape [backend.MaxRank]int
}

// rescan finds again what p's expression reads: the leaves, the product
// and any new buffer, after a node of it became a leaf (see shareLocked).
func (p *ewPending) rescan() {
	// The buffers it read stay listed: each lists p as a user until p is
	// computed or dropped, which is when dropPendingLocked removes it.
	p.leaves, p.prod = nil, nil
	seen := map[*ewNode]bool{}
	var walk func(n *ewNode)
	walk = func(n *ewNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		switch {
		case n.prod != nil:
			p.prod = n
			p.addReads(n.prod.reads()...)
		case n.leaf != nil:
			p.addReads(n.leaf.Buf.(*gpuBuffer))
			p.addLeaves(ewLeaf{*n.leaf, n.own})
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(p.root)
}

// setPendingLocked makes p its buffer's pending value, a root, listed as a
// user of the buffers it reads and as a holder of the product it holds.
func (g *gpuDevice) setPendingLocked(p *ewPending) {
	out := p.out
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
	if p.prod != nil {
		p.prod.prod.holders = append(p.prod.prod.holders, p)
	}
	g.releaseHeldLocked(old) // those the new value does not read
	g.roots[out] = true
}

// deferMatMulLocked records c = a @ b as c's pending value (see ewProd),
// or returns false when the product must be computed now.
func (g *gpuDevice) deferMatMulLocked(c backend.Buffer, a, b backend.View) (bool, error) {
	out := c.(*gpuBuffer)
	if !g.fuse {
		return false, nil
	}
	shape, _ := squeeze([]int{a.Shape[0], a.Shape[1], b.Shape[2]}, nil)
	for _, v := range []*backend.View{&a, &b} {
		x := v.Buf.(*gpuBuffer)
		if r := x.refused.Load(); r != nil {
			return false, r
		}
		if through, ok := throughCopy(*v); ok && a.Shape[2] <= maxLoop { // one pass over K
			// It reads the copy's source, as it was; the copy is
			// computed only if something else reads it.
			*v = through
			x.pending.taken = true
			delete(g.roots, x)
			continue
		}
		// The operands are read as they are now.
		if err := g.materializeLocked(x); err != nil {
			return false, err
		}
	}
	if g.oversized([]gpuArg{gpuIn(1, a.Buf), gpuIn(2, b.Buf), gpuOut(3, c)}) {
		return false, nil // split into parts that fit (splitMatMul)
	}
	ab, bb := a.Buf.(*gpuBuffer), b.Buf.(*gpuBuffer)
	node := &ewNode{prod: &ewProd{a: a, b: b}, op: "MatMul", t: "f32", nodes: 1}
	g.seq++
	p := &ewPending{out: out, epoch: g.epoch, seq: g.seq, shape: shape, root: node, prod: node}
	p.addReads(ab, bb)
	g.setPendingLocked(p)
	return true, nil
}

// productIntoLocked records src's pending product or reduction, read
// densely, straight into dst, a contiguous part of another buffer (a
// gradient of one slice of a packed weight or bias, which Concat
// assembles), and reports whether it did: the copy is then not needed. It
// must be src's whole value, held by nothing else.
func (g *gpuDevice) productIntoLocked(dst, src backend.View) (bool, error) {
	b := src.Buf.(*gpuBuffer)
	p := b.pending
	if p == nil || p.root != p.prod || p.taken || len(p.prod.prod.holders) != 1 || src.Offset != 0 || !src.IsContiguous() ||
		!dst.IsContiguous() || dst.Buf.DType() != src.Buf.DType() || src.Numel() != backend.Numel(p.shape) {
		return false, nil
	}
	prod := p.prod.prod
	if prod.conv != nil {
		return false, nil
	}
	op := g.op
	g.op = p.root.op + "+Copy"
	defer func() { g.op = op }()
	if red := prod.red; red != nil {
		if red.x.Buf.DType() != dst.Buf.DType() || g.oversized([]gpuArg{gpuOut(2, dst.Buf)}) {
			return false, nil
		}
		if err := g.recordReduceLocked(red, dst.Buf, dst.Offset, &fused{}); err != nil {
			return true, err
		}
	} else {
		a, bv := batchOf(prod.a).v, batchOf(prod.b).v
		batch, m, n := a.Shape[0], a.Shape[1], bv.Shape[2]
		c := backend.View{Buf: dst.Buf, Offset: dst.Offset, Shape: []int{batch, m, n}, Strides: []int{m * n, n, 1}}
		if g.oversized([]gpuArg{gpuIn(1, prod.a.Buf), gpuIn(2, prod.b.Buf), gpuOut(3, dst.Buf)}) {
			return false, nil
		}
		if err := g.matmulLocked(c, prod.a, prod.b, false, false, &fused{}); err != nil {
			return true, err
		}
	}
	// src keeps its pending value, computed again only if something
	// reads it (a copy of dst's part would be computed whenever another
	// part of dst is written).
	p.taken = true
	delete(g.roots, b)
	return true, nil
}

// throughCopy returns the operand v [B, R, C] of a product as a view of
// the source of the copy that v's buffer is pending as (the contiguous copy
// of a transposed view, as attention splits and merges heads), when v
// reads that buffer densely and the source's dimensions group into batch,
// rows and columns of at most two levels each (see batchedView): the
// product then needs no copy.
func throughCopy(v backend.View) (backend.View, bool) {
	p := v.Buf.(*gpuBuffer).pending
	if p == nil || p.prod != nil || p.root.op != "Copy" || v.Buf.DType().IsHalf() || p.root.fn.body != "v" ||
		len(p.root.kids) != 1 || p.root.kids[0].leaf == nil || v.Offset != 0 || v.Numel() != backend.Numel(p.shape) {
		return backend.View{}, false
	}
	l := *p.root.kids[0].leaf
	if l.Buf.DType() != backend.Float32 {
		return backend.View{}, false
	}
	if v.IsContiguous() {
		return batchedView(l, v.Shape[0], v.Shape[1], v.Shape[2])
	}
	// v is the transpose of a dense [B, C, R] (a weight gradient's xᵀ):
	// read the source as that, with rows and columns swapped.
	t := backend.View{Shape: []int{v.Shape[0], v.Shape[2], v.Shape[1]}, Strides: []int{v.Strides[0], v.Strides[2], v.Strides[1]}}
	if !t.IsContiguous() {
		return backend.View{}, false
	}
	bv, ok := batchedView(l, t.Shape[0], t.Shape[1], t.Shape[2])
	if !ok {
		return backend.View{}, false
	}
	sh, st := bv.Shape, bv.Strides
	bv.Shape = []int{sh[0], sh[1], sh[4], sh[5], sh[2], sh[3]}
	bv.Strides = []int{st[0], st[1], st[4], st[5], st[2], st[3]}
	return bv, true
}

// reads returns the buffers the producer reads.
func (pr *ewProd) reads() []*gpuBuffer {
	red := pr.red
	switch {
	case pr.conv != nil:
		return []*gpuBuffer{pr.conv.x.(*gpuBuffer), pr.conv.w.(*gpuBuffer)}
	case red == nil:
		return []*gpuBuffer{pr.a.Buf.(*gpuBuffer), pr.b.Buf.(*gpuBuffer)}
	case red.pro != nil:
		var bufs []*gpuBuffer
		for _, l := range red.pro.leaves {
			bufs = append(bufs, l.Buf.(*gpuBuffer))
		}
		return bufs
	}
	return []*gpuBuffer{red.x.Buf.(*gpuBuffer)}
}

// deferReduceLocked records the reduction of x's trailing n dimensions
// into dst as dst's pending value (see ewReduce), or returns false when it
// must run now: rows too long for one pass, or operands larger than a
// binding.
func (g *gpuDevice) deferReduceLocked(op backend.ReduceOp, dst backend.Buffer, x backend.View, n int) (bool, error) {
	out, xb := dst.(*gpuBuffer), x.Buf.(*gpuBuffer)
	lead := len(x.Shape) - n
	if !g.fuse || backend.Numel(x.Shape[lead:]) > 256*maxLoop || backend.Numel(x.Shape[:lead]) == 0 ||
		g.oversized([]gpuArg{gpuIn(1, xb), gpuOut(2, dst)}) {
		return false, nil
	}
	if _, _, _, _, ok := splitView(x, n); !ok {
		return false, nil
	}
	if r := xb.refused.Load(); r != nil {
		return false, r
	}
	red := &ewReduce{op: op, x: x, n: n, pro: g.prologueLocked(x)}
	if red.pro == nil {
		// The input is read as it is now.
		if err := g.materializeLocked(xb); err != nil {
			return false, err
		}
	}
	node := &ewNode{prod: &ewProd{red: red}, op: "Reduce" + op.String(), t: wgslType(out.dt), nodes: 1}
	g.seq++
	shape, _ := squeeze(slices.Clone(x.Shape[:lead]), nil)
	p := &ewPending{out: out, epoch: g.epoch, seq: g.seq, shape: shape, root: node, prod: node}
	p.addReads(node.prod.reads()...)
	g.setPendingLocked(p)
	return true, nil
}

// deferConvLocked records the convolution of x by w into dst as dst's
// pending value (see ewConv), or returns false when it must run now:
// operands larger than a binding.
func (g *gpuDevice) deferConvLocked(dst, x, w backend.Buffer, p backend.Conv2DParams) (bool, error) {
	out := dst.(*gpuBuffer)
	if !g.fuse || g.oversized([]gpuArg{gpuIn(1, x), gpuIn(2, w), gpuOut(3, dst)}) || p.N*p.O*p.OH*p.OW == 0 {
		return false, nil
	}
	for _, b := range []*gpuBuffer{x.(*gpuBuffer), w.(*gpuBuffer)} {
		if r := b.refused.Load(); r != nil {
			return false, r
		}
		// The operands are read as they are now.
		if err := g.materializeLocked(b); err != nil {
			return false, err
		}
	}
	node := &ewNode{prod: &ewProd{conv: &ewConv{x: x, w: w, p: p}}, op: "Conv2D", t: "f32", nodes: 1}
	g.seq++
	shape, _ := squeeze([]int{p.N, p.O, p.OH, p.OW}, nil)
	q := &ewPending{out: out, epoch: g.epoch, seq: g.seq, shape: shape, root: node, prod: node}
	q.addReads(node.prod.reads()...)
	g.setPendingLocked(q)
	return true, nil
}

// recordReduceLocked records the kernel of a deferred reduction into dst
// from element yOff on, with the epilogue epi.spec, if any.
func (g *gpuDevice) recordReduceLocked(red *ewReduce, dst backend.Buffer, yOff int, epi *fused) error {
	x := red.x
	if red.pro != nil {
		x = backend.Dense(x.Buf, x.Shape...) // the expression's index space
	}
	outShape, outStrides, redShape, redStrides, _ := splitView(x, red.n)
	scale := float32(math.NaN())
	if nRed := backend.Numel(redShape); nRed > 0 {
		scale = 1 / float32(nRed)
	}
	return g.reduceLocked(red.op, dst, yOff, x, outShape, outStrides, redShape, redStrides, 1, scale, red.pro, epi)
}

// shareLocked computes q, a pending value that holds a product, and turns
// its expression into a leaf that reads the result, so that the values
// that took it in read memory rather than compute the product again.
func (g *gpuDevice) shareLocked(q *ewPending) error {
	prod := q.prod.prod
	if err := g.materializeLocked(q.out); err != nil {
		return err
	}
	leaf := backend.Dense(q.out, q.shape...)
	*q.root = ewNode{leaf: &leaf, t: q.root.t}
	for _, h := range prod.holders {
		if h.out.pending != h {
			continue // computed or dropped
		}
		h.rescan()
		for _, r := range h.reads {
			if r != h.out {
				if r.users == nil {
					r.users = map[*gpuBuffer]bool{}
				}
				r.users[h.out] = true
			}
		}
	}
	return nil
}

// inputNode returns the node of one input: a pending buffer of this epoch
// read densely with the op's shape, or broadcast, contributes its
// expression (from is its pending value, or one standing for it), any
// other buffer is a leaf.
func (g *gpuDevice) inputNode(in ewIn, shape []int) (n *ewNode, from *ewPending) {
	if in.scalar != nil {
		return &ewNode{scalar: in.scalar}, nil
	}
	v := in.view
	b := v.Buf.(*gpuBuffer)
	if b.dt.IsHalf() { // read as stored, rounded: its pending value is computed first
		return leafNode(v, b), nil
	}
	// A value read densely is taken in: with its shape, or with any shape
	// of as many elements when its expression has no leaves to index (a
	// product: [B·M, N] read as [B, M, N]).
	if p := b.pending; p != nil && p.epoch == g.epoch && v.Offset == 0 && v.IsContiguous() && p.epilogueOK() &&
		(slices.Equal(shape, p.shape) || len(p.leaves) == 0 && backend.Numel(shape) == backend.Numel(p.shape)) {
		return p.root, p
	}
	// A constant (an expression of scalars alone, as a fill) is taken in
	// however it is read: a broadcast gradient seed, say.
	if p := b.pending; p != nil && p.epoch == g.epoch && len(p.leaves) == 0 && p.prod == nil {
		return p.root, p
	}
	// A value broadcast (a per-row weight over a row's columns) is taken
	// in with its leaves broadcast the same way.
	if p := b.pending; p != nil && p.epoch == g.epoch && p.prod == nil {
		if dims, ok := broadcastDims(v, p.shape); ok {
			return p.broadcast(v.Shape, dims)
		}
	}
	return leafNode(v, b), nil
}

// leafNode returns a leaf node for the view v of b: the one made for b's
// last such view when v is the same, so that a chain reading one operand
// at every op (a bias, a gradient) makes no node for it per op. Leaf nodes
// are shared, never changed: an own leaf is a copy (owned).
func leafNode(v backend.View, b *gpuBuffer) *ewNode {
	if n := b.leaf; n != nil && sameView(*n.leaf, v) {
		return n
	}
	leaf := v
	n := &ewNode{leaf: &leaf, t: wgslType(b.dt)}
	b.leaf = n
	return n
}

// owned returns a copy of the leaf n bound by itself (see ewNode.own).
func (n *ewNode) owned() *ewNode {
	c := *n
	c.own = true
	return &c
}

// epilogueOK reports whether p's expression can take ops above it: any
// but a float product or reduction whose kernel has no room (a reduction
// with a prologue, or of integers).
func (p *ewPending) epilogueOK() bool {
	if p.prod == nil {
		return true
	}
	red := p.prod.prod.red
	return p.prod.t == "f32" && (red == nil || red.pro == nil)
}

// broadcastDims reports whether v is a broadcast of the dense layout of
// shape: its dimensions of stride 0 (or size 1) aside, the dimensions of
// shape with their contiguous strides, in order. dims maps each of v's
// dimensions to one of shape's, or to -1 for a broadcast one.
func broadcastDims(v backend.View, shape []int) ([]int, bool) {
	if v.Offset != 0 {
		return nil, false
	}
	want := backend.ContiguousStrides(shape)
	dims := make([]int, len(v.Shape))
	k := 0
	for d, n := range v.Shape {
		if n == 1 || v.Strides[d] == 0 {
			dims[d] = -1
			continue
		}
		if k == len(shape) || n != shape[k] || v.Strides[d] != want[k] {
			return nil, false
		}
		dims[d] = k
		k++
	}
	return dims, k == len(shape)
}

// broadcast returns p's expression over the shape of a broadcast of p
// (dims as broadcastDims gives), its leaves broadcast the same way, and
// the pending value standing for it: p's, with those leaves.
func (p *ewPending) broadcast(shape, dims []int) (*ewNode, *ewPending) {
	q := *p
	q.leaves = nil
	copied := map[*ewNode]*ewNode{}
	var walk func(n *ewNode) *ewNode
	walk = func(n *ewNode) *ewNode {
		if c, ok := copied[n]; ok {
			return c
		}
		c := *n
		if n.leaf != nil {
			l := backend.View{Buf: n.leaf.Buf, Offset: n.leaf.Offset, Shape: slices.Clone(shape), Strides: make([]int, len(shape))}
			for d, k := range dims {
				if k >= 0 {
					l.Strides[d] = n.leaf.Strides[k]
				}
			}
			c.leaf = &l
			q.addLeaves(ewLeaf{l, n.own})
		}
		c.kids = make([]*ewNode, len(n.kids))
		for i, kid := range n.kids {
			c.kids[i] = walk(kid)
		}
		copied[n] = &c
		return &c
	}
	q.root = walk(p.root)
	return q.root, &q
}

// squeeze drops the dimensions of size 1 from shape and from the views of
// ins, which are over shape.
func squeeze(shape []int, ins []ewIn) ([]int, []ewIn) {
	if !slices.Contains(shape, 1) {
		return shape, ins
	}
	keep := func(xs []int) []int {
		var out []int
		for d, x := range xs {
			if shape[d] != 1 {
				out = append(out, x)
			}
		}
		return out
	}
	out := make([]ewIn, len(ins))
	for i, in := range ins {
		out[i] = in
		if in.scalar == nil {
			out[i].view.Shape, out[i].view.Strides = keep(in.view.Shape), keep(in.view.Strides)
		}
	}
	return keep(shape), out
}

// ewLeaf is a leaf binding of a pending value's kernel.
type ewLeaf struct {
	view backend.View
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

// inherit adds what from reads and binds to p's, sharing from's lists
// while p has none of its own: lists are never changed in place.
func (p *ewPending) inherit(from *ewPending) {
	if len(p.reads) == 0 && len(p.leaves) == 0 {
		p.reads, p.leaves = slices.Clip(from.reads), slices.Clip(from.leaves)
		return
	}
	p.addReads(from.reads...)
	p.addLeaves(from.leaves...)
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
func (g *gpuDevice) Realize(bufs ...backend.Buffer) {
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
// and gradients), each computed by the threads below its own length. On
// a software adapter, which runs every cluster's code for every thread of
// the kernel (masked where a thread is past the cluster's length), values
// of different shapes share a kernel only when their lengths differ by at
// most softwareClusterSlack elements.
func (g *gpuDevice) computeTogetherLocked(bufs []*gpuBuffer) error {
	type group struct {
		bufs     []*gpuBuffer
		linear   bool      // every value's leaves are dense
		prod     bool      // a value that holds a product
		leaves   ewPending // the union of their leaves
		nodes    int
		min, max int // the values' lengths
	}
	var groups []*group
	for _, b := range bufs {
		p := b.pending
		if p == nil {
			continue
		}
		if p.prod != nil { // a product kernel of its own
			groups = append(groups, &group{bufs: []*gpuBuffer{b}, prod: true})
			continue
		}
		linear, n := p.linear(), backend.Numel(p.shape)
		var in *group
		for _, gr := range groups {
			if gr.prod {
				continue
			}
			if gr.nodes+p.root.nodes > fuseMaxNodes ||
				!(gr.linear && linear || slices.Equal(gr.bufs[0].pending.shape, p.shape) && !gr.linear) {
				continue
			}
			if g.software && max(gr.max, n)-min(gr.min, n) > softwareClusterSlack {
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
			in = &group{linear: linear, min: n, max: n}
			groups = append(groups, in)
		}
		in.bufs = append(in.bufs, b)
		in.leaves.addLeaves(p.leaves...)
		in.nodes += p.root.nodes
		in.min, in.max = min(in.min, n), max(in.max, n)
	}
	for _, gr := range groups {
		if err := g.computeLocked(gr.bufs); err != nil {
			return err
		}
	}
	return nil
}

// softwareClusterSlack is how many elements the lengths of the values a
// software adapter computes in one kernel may differ by: about what a
// dispatch of its own costs (some 50 µs on lavapipe, where an Adam update
// takes 20 ns an element). A kernel of an MNIST CNN's 401,408 weights of
// its first linear layer with the 18,432 of its second convolution and 6
// smaller tensors took 25 ms on lavapipe against 7 ms for the weights
// alone.
const softwareClusterSlack = 4096

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
	if bufs[0].pending.prod != nil {
		return g.productLocked(bufs[0])
	}
	ps := make([]*ewPending, len(bufs))
	var reads []*gpuBuffer
	var labels []string
	for i, b := range bufs {
		ps[i] = b.pending
		g.dropPendingLocked(b, false)
		reads = append(reads, ps[i].reads...)
		labels = append(labels, ps[i].label())
	}
	defer g.releaseHeldLocked(reads)
	op := g.op
	g.op = "fused " + strings.Join(labels, " | ")
	defer func() { g.op = op }()
	k := fusedKernel(ps, 1)
	pl, err := g.pipelineLocked("fused", "main", k.spec)
	if err != nil {
		return fmt.Errorf("%s: %w", g.op, err)
	}
	strides := k.leafStrides()
	shape, n := ps[0].shape, 0
	for _, c := range k.clusters {
		n = max(n, backend.Numel(c))
	}
	if len(k.clusters) > 1 { // linear values of several shapes: one dimension
		shape = []int{n}
		for i := range strides {
			strides[i] = []int{1}
		}
	}
	var pr gpuParams
	pr.ints(n)
	k.params(&pr, shape, strides)
	cn := make([]int, k.spec["C4"].(int)*4)
	for i, c := range k.clusters {
		cn[i] = backend.Numel(c)
	}
	pr.ints(cn...)
	args := k.leafArgs(1)
	for j, b := range bufs {
		args = append(args, gpuOut(uint32(len(k.leaves)+1+j), b))
	}
	if err := g.launchLocked(pl, pr.b, g.threads(n), args...); err != nil {
		var r *refusal
		if errors.As(err, &r) {
			r = r.name(g.op)
			for _, b := range bufs {
				b.refused.Store(r)
			}
			return nil
		}
		return err
	}
	return nil
}

// prologueLocked returns the kernel of x's pending value for a reduction
// to evaluate as it loads x (its prologue), or nil when x is not a pending
// elementwise value read densely, or would not fit. The value stays
// pending for whatever else reads it, no longer a root.
func (g *gpuDevice) prologueLocked(x backend.View) *fused {
	b := x.Buf.(*gpuBuffer)
	p := b.pending
	if p == nil || p.prod != nil || b.dt.IsHalf() || p.epoch != g.epoch || x.Offset != 0 || !x.IsContiguous() ||
		backend.Numel(x.Shape) != backend.Numel(p.shape) || p.root.t != wgslType(b.dt) || len(p.leaves)+2 > g.fuseBindings ||
		g.oversized([]gpuArg{gpuIn(1, b)}) {
		return nil
	}
	k := fusedKernel([]*ewPending{p}, 3) // after x (unbound) and y
	k.shape = p.shape
	// Taken in: computed later only if something else reads it.
	p.taken = true
	delete(g.roots, b)
	return &k
}

// productLocked records the kernel that computes b's pending value: the
// product or reduction it holds, with the expression above it applied as
// it is stored (the epilogue).
func (g *gpuDevice) productLocked(b *gpuBuffer) error {
	p := b.pending
	prod := p.prod.prod
	g.dropPendingLocked(b, false)
	defer g.releaseHeldLocked(p.reads)
	op := g.op
	g.op = p.label()
	defer func() { g.op = op }()
	epi := &fused{} // no epilogue when the product is the value
	if p.root != p.prod {
		first := 4 // after a, b and c
		if prod.red != nil {
			first = 3 // after x and y
		}
		k := fusedKernel([]*ewPending{p}, first)
		epi = &k
	}
	epi.shape = p.shape
	var err error
	switch {
	case prod.conv != nil:
		err = g.recordConvLocked(prod.conv, b, epi)
	case prod.red != nil:
		err = g.recordReduceLocked(prod.red, b, 0, epi)
	default:
		a, bv := batchOf(prod.a).v, batchOf(prod.b).v
		err = g.matmulLocked(backend.Dense(b, a.Shape[0], a.Shape[1], bv.Shape[2]), prod.a, prod.b, false, false, epi)
	}
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			b.refused.Store(r.name(g.op))
			return nil
		}
		return fmt.Errorf("%s: %w", g.op, err)
	}
	return nil
}

// label names the user ops p stands for, in the order they were called,
// for errors and profiles: "Add+ReLU", "MatMul+Add", "Mul×100".
func (p *ewPending) label() string {
	var ops []string
	mark := ewMarks.Add(1)
	var walk func(n *ewNode)
	walk = func(n *ewNode) {
		if n.mark == mark {
			return
		}
		n.mark = mark
		for _, k := range n.kids {
			walk(k)
		}
		if n.op != "" {
			ops = append(ops, n.op)
		}
	}
	walk(p.root)
	return strings.Join(compactOps(ops), "+")
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
			out = append(out, ops[i]+"×"+strconv.Itoa(j-i))
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
	shape    []int // the iteration space of an epilogue
	spec     kernelSpec
	leaves   []backend.View
	scalars  []uint32
	clusters [][]int
	// lineStrides holds, for each leaf loaded at the output's row or
	// column (see rowLeaves), its stride between rows or columns.
	lineStrides map[int]int
}

type fusedLeaf struct {
	K, Binding int
	T          string
}

type fusedFunc struct{ Name, Params, Ret, Body string }

type fusedStep struct{ Name, Call string }

// fusedLoad is the load of leaf K; Dense when the leaf is a contiguous view
// as large as the iteration space, which the linear index then addresses
// directly, without at's divisions (costly on a CPU adapter, which cannot
// vectorise integer division).
type fusedLoad struct {
	K     int
	Dense bool
	Half  string // f16 or bf16: a 16-bit leaf, two elements a word, widened as loaded
	// Row is set, in a product's or a convolution's epilogue, on a leaf
	// whose element depends only on the output's row (a convolution's
	// channel: its bias), and Col, in a product's, on one that depends
	// only on its column (a linear layer's bias): it is loaded at the row
	// or column the kernel stores (cur_row, cur_col), without at's
	// divisions (see rowLeaves).
	Row, Col bool
}

type fusedOut struct {
	K, Binding int
	T, Result  string
	Half       string // f16 or bf16: the output is rounded to that type and stored two to a word
}

// fusedCluster is the work of the values of one shape: the leaves it
// loads, its steps and its outputs, run by the threads below its length.
type fusedCluster struct {
	K     int
	Loads []fusedLoad
	Steps []fusedStep
	Outs  []fusedOut
}

// params writes the kernel's parameters from rank on (fused_fields):
// the iteration space shape, coalesced with the leaves' strides, and the
// leaves' offsets and strides, then the scalars.
func (k *fused) params(pr *gpuParams, shape []int, strides [][]int) {
	cshape, cstrides := backend.Coalesce(shape, strides...)
	for leaf, stride := range k.lineStrides {
		cstrides[leaf] = []int{stride} // read at the row or column, not through at
	}
	pr.ints(len(cshape), 0, 0).array8(cshape)
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
}

// rowLeaves marks the leaves of k, the epilogue of a product or a
// convolution whose output is [n, rows, cols…] (over k.shape, which may
// have dropped dimensions of size 1), whose element depends only on the
// output's row (a convolution's channel: its bias) or, with byCols (a
// product's), only on its column (a linear layer's bias), with a constant
// stride between rows or columns. The kernel loads those at the row or
// column it stores rather than through at, whose divisions llvmpipe
// cannot vectorise (the MNIST CNN's first convolution spent as long on
// its bias as on the convolution). Its parameters then hold each one's
// stride.
func (k *fused) rowLeaves(rows, cols int, byCols bool) {
	clusters, ok := k.spec["Clusters"].([]fusedCluster)
	if !ok || len(clusters) != 1 {
		return
	}
	loads := clusters[0].Loads
	for i, l := range loads {
		if l.Dense || l.Half != "" {
			continue
		}
		strides := k.leaves[l.K].Strides
		stride, row := channelStride(k.shape, strides, rows, cols)
		col := false
		if !row && byCols {
			stride, col = channelStride(k.shape, strides, cols, 1)
		}
		if !row && !col {
			continue
		}
		if k.lineStrides == nil {
			k.lineStrides = map[int]int{}
		}
		loads[i].Row, loads[i].Col = row, col
		k.lineStrides[l.K] = stride
	}
}

// channelStride reports whether a view with strides over shape, the
// elements of [n, o, plane…] with planes of plane elements, reads element
// offset + c·stride for every element of channel c, and returns stride.
// Each dimension of shape covers a range of the linear index: the
// channel's dimensions lie within [plane, plane·o), and must step by
// stride·(their linear step / plane); the others, wholly outside it, by 0.
func channelStride(shape, strides []int, o, plane int) (int, bool) {
	stride, found := 0, false
	lin := 1
	for d := len(shape) - 1; d >= 0; d-- {
		n, step := shape[d], lin
		lin *= n
		if n == 1 {
			continue
		}
		switch {
		case lin <= plane || step >= plane*o: // a position's or an image's
			if strides[d] != 0 {
				return 0, false
			}
		case step >= plane && lin <= plane*o && step%plane == 0: // the channel's
			per := step / plane
			if !found {
				if strides[d]%per != 0 {
					return 0, false
				}
				stride, found = strides[d]/per, true
			}
			if strides[d] != stride*per {
				return 0, false
			}
		default: // across a channel's boundary
			return 0, false
		}
	}
	return stride, true
}

// leafStrides returns the strides of k's leaves.
func (k *fused) leafStrides() [][]int {
	strides := make([][]int, len(k.leaves))
	for i, v := range k.leaves {
		strides[i] = v.Strides
	}
	return strides
}

// leafArgs returns the bindings of k's leaves, from first on: each the
// buffer's contents as they are, even when the buffer has a pending value
// of its own, recorded after them.
func (k *fused) leafArgs(first int) []gpuArg {
	args := make([]gpuArg, len(k.leaves))
	for i, v := range k.leaves {
		args[i] = gpuIn(uint32(first+i), v.Buf)
		args[i].asIs = true
	}
	return args
}

// fusedEpi is the specialisation of matmul.wgsl's epilogue (.Epi): the
// declarations of fused_decls and the one cluster of fused_eval.
type fusedEpi struct {
	Leaves         []fusedLeaf
	Funcs          []fusedFunc
	Off4, NSt, Sc4 int
	Loads          []fusedLoad
	Steps          []fusedStep
	Result         string
}

// epilogue returns k, the kernel of one value, as a product's epilogue.
func (k *fused) epilogue() fusedEpi {
	c := k.spec["Clusters"].([]fusedCluster)[0]
	return fusedEpi{
		Leaves: k.spec["Leaves"].([]fusedLeaf), Funcs: k.spec["Funcs"].([]fusedFunc),
		Off4: k.spec["Off4"].(int), NSt: k.spec["NSt"].(int), Sc4: k.spec["Sc4"].(int),
		Loads: c.Loads, Steps: c.Steps, Result: c.Outs[0].Result,
	}
}

// fusedKernel generates the kernel that computes the pending values ps,
// binding from firstBinding on: one binding per distinct leaf view, one function per distinct op, and a
// cluster per shape with one step per op node (a node that several values
// share is computed once) and one output per value.
func fusedKernel(ps []*ewPending, firstBinding int) fused {
	var k fused
	var leaves []fusedLeaf
	var funcs []fusedFunc
	var clusters []fusedCluster
	var marks []uint64 // each cluster's walk (see ewMarks): a node it marked is named name
	var outs []fusedOut
	fnNames := map[*ewFn]string{}
	steps := 0
	for _, p := range ps {
		ci := slices.IndexFunc(k.clusters, func(c []int) bool { return slices.Equal(c, p.shape) })
		if ci < 0 {
			ci = len(clusters)
			k.clusters = append(k.clusters, p.shape)
			clusters = append(clusters, fusedCluster{K: ci})
			marks = append(marks, ewMarks.Add(1))
		}
		c, mark := &clusters[ci], marks[ci]
		var walk func(n *ewNode) string
		walk = func(n *ewNode) string {
			if n.mark == mark {
				return n.name
			}
			var name string
			switch {
			case n.prod != nil: // an epilogue's product element
				name = "acc"
			case n.leaf != nil:
				i := slices.IndexFunc(k.leaves, func(v backend.View) bool { return sameView(v, *n.leaf) })
				half := ""
				if dt := n.leaf.Buf.DType(); dt.IsHalf() {
					half = halfKind(dt)
				}
				if i < 0 || n.own {
					i = len(k.leaves)
					k.leaves = append(k.leaves, *n.leaf)
					t := n.t
					if half != "" {
						t = "u32"
					}
					leaves = append(leaves, fusedLeaf{K: i, Binding: firstBinding + i, T: t})
				}
				if !slices.ContainsFunc(c.Loads, func(l fusedLoad) bool { return l.K == i }) {
					dense := n.leaf.IsContiguous() && backend.Numel(n.leaf.Shape) == backend.Numel(p.shape)
					c.Loads = append(c.Loads, fusedLoad{K: i, Dense: dense, Half: half})
				}
				name = ewName('l', i)
			case n.scalar != nil:
				name = "scalar(" + strconv.Itoa(len(k.scalars)) + "u)"
				k.scalars = append(k.scalars, *n.scalar)
			default:
				var space [3]string
				args := space[:0] // the kids' names
				for _, kid := range n.kids {
					args = append(args, walk(kid))
				}
				fn, ok := fnNames[n.fn]
				if !ok {
					fn = ewName('f', len(funcs))
					fnNames[n.fn] = fn
					funcs = append(funcs, fusedFunc{Name: fn, Params: n.fn.params, Ret: n.fn.ret, Body: n.fn.body})
				}
				var call strings.Builder
				size := len(fn) + 2*len(args)
				for _, a := range args {
					size += len(a)
				}
				call.Grow(size + 32) // room for a bitcast
				call.WriteString(fn)
				call.WriteByte('(')
				for i, kid := range n.kids {
					if i > 0 {
						call.WriteString(", ")
					}
					if kid.scalar != nil { // bits of the op's operand type
						call.WriteString("bitcast<" + scalarType(n) + ">(" + args[i] + ")")
					} else {
						call.WriteString(args[i])
					}
				}
				call.WriteByte(')')
				name = ewName('t', steps)
				steps++
				c.Steps = append(c.Steps, fusedStep{Name: name, Call: call.String()})
			}
			n.mark, n.name = mark, name
			return name
		}
		out := fusedOut{K: len(outs), T: p.root.t, Result: walk(p.root)}
		if p.out != nil && p.out.dt.IsHalf() {
			out.Half = halfKind(p.out.dt)
		}
		c.Outs = append(c.Outs, out)
		outs = append(outs, out)
	}
	for i := range outs {
		outs[i].Binding = firstBinding + len(leaves) + i
	}
	for _, c := range clusters {
		for i := range c.Outs {
			c.Outs[i].Binding = outs[c.Outs[i].K].Binding
		}
	}
	// The cache key, cheaper to build than printing the spec: what the
	// kernel's text depends on.
	var key strings.Builder
	key.Grow(256 + 16*steps)
	num := func(v int) { key.WriteString(strconv.Itoa(v)) }
	for _, l := range leaves {
		key.WriteString(l.T)
		num(l.Binding)
		key.WriteByte(',')
	}
	for _, f := range funcs {
		for _, part := range [...]string{"|", f.Params, ">", f.Ret, ":", f.Body} {
			key.WriteString(part)
		}
	}
	for _, c := range clusters {
		key.WriteString("|c")
		num(c.K)
		for _, l := range c.Loads {
			key.WriteString(" l")
			num(l.K)
			if l.Dense {
				key.WriteByte('d')
			}
			if l.Row {
				key.WriteByte('r')
			}
			if l.Col {
				key.WriteByte('c')
			}
			key.WriteString(l.Half)
		}
		for _, st := range c.Steps {
			key.WriteByte(';')
			key.WriteString(st.Call)
		}
		for _, o := range c.Outs {
			key.WriteString(" y")
			num(o.K)
			key.WriteString(o.T)
			key.WriteString(o.Half)
			num(o.Binding)
			key.WriteByte('=')
			key.WriteString(o.Result)
		}
	}
	key.WriteByte('|')
	num(len(k.scalars))
	k.spec = kernelSpec{
		specKey:  key.String(),
		"Leaves": leaves, "Funcs": funcs, "Clusters": clusters, "Outs": outs,
		"Off4": max(1, (len(leaves)+3)/4), "Sc4": max(1, (len(k.scalars)+3)/4), "NSt": max(1, len(leaves)),
		"C4": (len(clusters) + 3) / 4,
	}
	return k
}

// ewNames holds the names ewName makes most often: l0…, t0…, f0….
var ewNames = func() (names [3][256]string) {
	for i, p := range "ltf" {
		for j := range names[i] {
			names[i][j] = string(p) + strconv.Itoa(j)
		}
	}
	return names
}()

// ewName returns the name of a generated kernel's leaf ('l'), step ('t')
// or function ('f') i, without allocating below 256.
func ewName(prefix byte, i int) string {
	if k := strings.IndexByte("ltf", prefix); i < len(ewNames[k]) {
		return ewNames[k][i]
	}
	return string(prefix) + strconv.Itoa(i)
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

func sameView(a, b backend.View) bool {
	return a.Buf == b.Buf && a.Offset == b.Offset && slices.Equal(a.Shape, b.Shape) && slices.Equal(a.Strides, b.Strides)
}

// ewFnKey names the function of an op: its family, the op and the types
// it reads.
type ewFnKey struct {
	family byte // 'u' unary, 'b' binary, 'c' cast, 'w' where
	op     int
	a, b   backend.DType
}

// ewFns interns the ops' functions, one *ewFn per key: recording an op
// builds no strings, and a kernel tells its functions apart by pointer.
var ewFns = struct {
	sync.Mutex
	m map[ewFnKey]*ewFn
}{m: map[ewFnKey]*ewFn{}}

// internFn returns the function of k, made by build the first time.
func internFn(k ewFnKey, build func() *ewFn) *ewFn {
	ewFns.Lock()
	defer ewFns.Unlock()
	f := ewFns.m[k]
	if f == nil {
		f = build()
		ewFns.m[k] = f
	}
	return f
}

// unaryFn, binaryFn are the functions of the elementwise ops.
func unaryFn(op backend.UnaryOp, dt backend.DType) *ewFn {
	return internFn(ewFnKey{'u', int(op), dt, dt}, func() *ewFn {
		t := wgslType(dt)
		return &ewFn{params: "v: " + t, ret: t, body: unaryExprFor(op, dt)}
	})
}

func binaryFn(op backend.BinaryOp, dt backend.DType) *ewFn {
	return internFn(ewFnKey{'b', int(op), dt, dt}, func() *ewFn {
		t, ot := wgslType(dt), wgslType(dt)
		if op.IsComparison() {
			ot = "f32"
		}
		return &ewFn{params: "u: " + t + ", v: " + t, ret: ot, body: binaryExprFor(op, dt)}
	})
}

// castFn converts an element of type from to type to, as copy.wgsl does
// (the identity when they are one type).
func castFn(from, to backend.DType) *ewFn {
	return internFn(ewFnKey{'c', 0, from, to}, func() *ewFn {
		t, ot := wgslType(from), wgslType(to)
		body := "v"
		if from != to {
			body = ot + "(v)"
		}
		return &ewFn{params: "v: " + t, ret: ot, body: body}
	})
}

// whereFn is Where's function: a float condition is tested on its bits, as
// where.wgsl does, so that NaN counts as true.
func whereFn(ct, dt backend.DType) *ewFn {
	return internFn(ewFnKey{'w', 0, ct, dt}, func() *ewFn {
		c, t := wgslType(ct), wgslType(dt)
		test := "c != 0"
		if ct == backend.Float32 {
			test = "(bitcast<u32>(c) & 0x7fffffffu) != 0u"
		}
		return &ewFn{params: "c: " + c + ", u: " + t + ", v: " + t, ret: t, body: "select(v, u, " + test + ")"}
	})
}

// scalarBits is a scalar operand's bits in the element type dt.
func scalarBits(s float64, dt backend.DType) *uint32 {
	bits := math.Float32bits(float32(s))
	if dt == backend.Int32 {
		bits = uint32(int32(s))
	}
	return &bits
}
