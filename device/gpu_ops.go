//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package device

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// wgslType is the WGSL spelling of an element type.
func wgslType(dt DType) string {
	if dt == Int32 {
		return "i32"
	}
	return "f32"
}

var unaryExpr = map[UnaryOp]string{
	Neg: "-v", Abs: "abs(v)", Square: "v * v", Exp: "exp(v)", Log: "log(v)", Sqrt: "sqrt(v)",
	Rsqrt: "1.0 / sqrt(v)", Recip: "1.0 / v", Sin: "sin(v)", Cos: "cos(v)", Tanh: "tanh_stable(v)",
	Sigmoid: "sigmoid_stable(v)", ReLU: "select(0.0, v, v > 0.0 || is_nan(v))", GELU: "gelu(v)",
	GELUGrad: "gelu_grad(v)", Erf: "erf_approx(v)",
}

func unaryExprFor(op UnaryOp, dt DType) string {
	if op == Sign {
		if dt == Int32 {
			return "sign_i32(v)"
		}
		return "select(sign(v), 0.0, is_nan(v))"
	}
	return unaryExpr[op]
}

var binaryExpr = map[BinaryOp]string{
	Add: "u + v", Sub: "u - v", Mul: "u * v", Div: "u / v", Pow: "pow_real(u, v)",
	Eq: "u == v", Ne: "u != v", Lt: "u < v", Le: "u <= v", Gt: "u > v", Ge: "u >= v",
}

func binaryExprFor(op BinaryOp, dt DType) string {
	switch {
	case op == Maximum && dt == Float32:
		return "max_nan(u, v)"
	case op == Minimum && dt == Float32:
		return "min_nan(u, v)"
	case op == Maximum:
		return "max(u, v)"
	case op == Minimum:
		return "min(u, v)"
	case op == Ne && dt == Float32:
		return "select(0.0, 1.0, any_nan(u, v) || u != v)"
	case op.IsComparison() && dt == Float32:
		return "select(0.0, 1.0, !any_nan(u, v) && " + binaryExpr[op] + ")"
	case op.IsComparison():
		return "select(0.0, 1.0, " + binaryExpr[op] + ")"
	}
	return binaryExpr[op]
}

// refusal is the error of an op that the GPU backend declines before
// recording any of it (a kernel limit, scratch memory it could not get, an
// input that was itself refused). The op's outputs carry it, and so does
// every result computed from them, but the device goes on working: only
// errors the driver reports are faults, which are sticky.
type refusal struct {
	err   error
	named bool // err names the op (it does once do has seen it)
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse returns a refusal with the formatted message.
func refuse(format string, args ...any) error {
	return &refusal{err: fmt.Errorf(format, args...)}
}

// do runs f with the device locked unless the device has failed. A refusal
// is carried by outs, the buffers the op writes, until an op writes them
// again, and reported by Read and BufferErr; any other error becomes the
// device's sticky fault, reported by the next Sync or Read.
func (g *gpuDevice) do(op string, outs []Buffer, f func() error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.faulted() != nil {
		return
	}
	g.op = op
	if p := g.prof; p != nil {
		start, elsewhere := time.Now(), p.submit+p.wait
		defer func() { p.record += time.Since(start) - (p.submit + p.wait - elsewhere) }()
	}
	err := f()
	if err == nil {
		for _, b := range outs {
			b.(*gpuBuffer).refused.Store(nil)
		}
		return
	}
	var r *refusal
	if errors.As(err, &r) {
		if !r.named { // an input's refusal is named already
			r = &refusal{err: fmt.Errorf("device: GPU %s: %w", op, r.err), named: true}
		}
		for _, b := range outs {
			b.(*gpuBuffer).refused.Store(r)
		}
		return
	}
	g.setFault(fmt.Errorf("%s: %w", op, err))
}

// elementwise records a kernel of the elementwise family over the iteration
// space shape; views are its operands in order (the last one may be a
// strided destination), args its buffer bindings. The views must coalesce
// to at most MaxRank dimensions (see fitLocked).
func (g *gpuDevice) elementwise(p *pipeline, shape []int, views []View, flags, scalar uint32, args ...gpuArg) error {
	return g.elementwiseExtra(p, shape, views, flags, scalar, nil, args...)
}

// elementwiseExtra is elementwise for a kernel whose Params continue after
// ew_params' fields with the 32-bit values extra.
func (g *gpuDevice) elementwiseExtra(p *pipeline, shape []int, views []View, flags, scalar uint32, extra []uint32, args ...gpuArg) error {
	n := Numel(shape)
	if n == 0 {
		return nil
	}
	strides := make([][]int, len(views))
	for i, v := range views {
		strides[i] = v.Strides
	}
	cshape, cstrides := Coalesce(shape, strides...)
	if len(cshape) > MaxRank {
		return refuse("views of shape %v coalesce to %d dimensions, more than %d", shape, len(cshape), MaxRank)
	}
	var pr gpuParams
	pr.ints(n, len(cshape)).u32(flags, scalar)
	var offs [4]int
	for i, v := range views {
		offs[i] = v.Offset
	}
	pr.ints(offs[:]...).array8(cshape)
	for i := 0; i < 4; i++ {
		if i < len(cstrides) {
			pr.array8(cstrides[i])
		} else {
			pr.array8(nil)
		}
	}
	pr.u32(extra...)
	return g.launchLocked(p, pr.b, g.threads(n), args...)
}

// copyLocked records dst = src for views of any rank: when they coalesce to
// more than MaxRank dimensions, the kernel takes the MaxRank largest and
// the host loops over the others, one dispatch per index of theirs.
func (g *gpuDevice) copyLocked(dst, src View) error {
	if src.Numel() == 0 {
		return nil
	}
	t, ot := "u32", "u32"
	if src.Buf.DType() != dst.Buf.DType() {
		t, ot = wgslType(src.Buf.DType()), wgslType(dst.Buf.DType())
	}
	p, err := g.pipelineLocked("copy", "copy", kernelSpec{"T": t, "OT": ot})
	if err != nil {
		return err
	}
	args := []gpuArg{gpuIn(1, src.Buf), gpuOut(2, dst.Buf)}
	cshape, cstrides := Coalesce(src.Shape, src.Strides, dst.Strides)
	if len(cshape) <= MaxRank {
		return g.elementwise(p, src.Shape, []View{src, dst}, 0, 0, args...)
	}
	byLength := make([]int, len(cshape))
	for d := range byLength {
		byLength[d] = d
	}
	slices.SortStableFunc(byLength, func(a, b int) int { return cshape[b] - cshape[a] })
	inKernel := byLength[:MaxRank]
	slices.Sort(inKernel)
	var inner, outer []int // dimensions in the kernel and on the host
	for d := range cshape {
		if slices.Contains(inKernel, d) {
			inner = append(inner, d)
		} else {
			outer = append(outer, d)
		}
	}
	pick := func(xs []int, dims []int) []int {
		out := make([]int, len(dims))
		for i, d := range dims {
			out[i] = xs[d]
		}
		return out
	}
	shape := pick(cshape, inner)
	s := View{Buf: src.Buf, Shape: shape, Strides: pick(cstrides[0], inner)}
	d := View{Buf: dst.Buf, Shape: shape, Strides: pick(cstrides[1], inner)}
	idx := make([]int, len(outer))
	for {
		s.Offset, d.Offset = src.Offset, dst.Offset
		for i, dim := range outer {
			s.Offset += idx[i] * cstrides[0][dim]
			d.Offset += idx[i] * cstrides[1][dim]
		}
		if err := g.elementwise(p, shape, []View{s, d}, 0, 0, args...); err != nil {
			return err
		}
		i := len(idx) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < cshape[outer[i]] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

// fitLocked makes views, the operands of an elementwise kernel over shape,
// indexable by it: when together they coalesce to more than MaxRank
// dimensions, it copies each one that is not contiguous into a dense
// scratch buffer and puts that in its place. done gives the scratch buffers
// back; call it once the work reading them is recorded.
func (g *gpuDevice) fitLocked(shape []int, views []View) (done func(), err error) {
	var scratch []*gpuBuffer
	done = func() {
		for _, b := range scratch {
			g.releaseScratchLocked(b)
		}
	}
	strides := make([][]int, len(views))
	for i, v := range views {
		strides[i] = v.Strides
	}
	if cshape, _ := Coalesce(shape, strides...); len(cshape) <= MaxRank || Numel(shape) == 0 {
		return done, nil
	}
	for i, v := range views {
		if v.IsContiguous() {
			continue
		}
		dense, b, err := g.contiguousLocked(v)
		if err != nil {
			done()
			return nil, err
		}
		scratch = append(scratch, b)
		views[i] = dense
	}
	return done, nil
}

// contiguousLocked copies v into a dense scratch buffer of its shape, which
// it returns for releaseScratchLocked once the work reading it is recorded.
func (g *gpuDevice) contiguousLocked(v View) (View, *gpuBuffer, error) {
	b, err := g.scratchLocked(v.Buf.DType(), v.Numel())
	if err != nil {
		return View{}, nil, err
	}
	dense := Dense(b, v.Shape...)
	if err := g.copyLocked(dense, v); err != nil {
		g.releaseScratchLocked(b)
		return View{}, nil, err
	}
	return dense, b, nil
}

func (g *gpuDevice) Fill(dst Buffer, v float64) {
	g.do("Fill", []Buffer{dst}, func() error {
		p, err := g.pipelineLocked("copy", "fill", kernelSpec{"T": "u32", "OT": "u32"})
		if err != nil {
			return err
		}
		bits := math.Float32bits(float32(v))
		if dst.DType() == Int32 {
			bits = uint32(int32(v))
		}
		n := dst.Len()
		return g.elementwise(p, []int{n}, []View{Dense(dst, n)}, 0, bits, gpuOut(2, dst))
	})
}

func (g *gpuDevice) Copy(dst, src View) {
	g.do("Copy", []Buffer{dst.Buf}, func() error { return g.copyLocked(dst, src) })
}

func (g *gpuDevice) Unary(op UnaryOp, dst Buffer, x View) {
	g.do(op.String(), []Buffer{dst}, func() error {
		dt := x.Buf.DType()
		p, err := g.pipelineLocked("unary", "main", kernelSpec{"T": wgslType(dt), "Expr": unaryExprFor(op, dt)})
		if err != nil {
			return err
		}
		v := []View{x}
		done, err := g.fitLocked(x.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, x.Shape, v, 0, 0, gpuIn(1, v[0].Buf), gpuOut(2, dst))
	})
}

func (g *gpuDevice) binaryPipeline(op BinaryOp, dt DType) (*pipeline, error) {
	ot := wgslType(dt)
	if op.IsComparison() {
		ot = "f32"
	}
	return g.pipelineLocked("binary", "main", kernelSpec{"T": wgslType(dt), "OT": ot, "Expr": binaryExprFor(op, dt)})
}

func (g *gpuDevice) Binary(op BinaryOp, dst Buffer, a, b View) {
	g.do(op.String(), []Buffer{dst}, func() error {
		p, err := g.binaryPipeline(op, a.Buf.DType())
		if err != nil {
			return err
		}
		v := []View{a, b}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, v, 0, 0, gpuIn(1, v[0].Buf), gpuIn(2, v[1].Buf), gpuOut(3, dst))
	})
}

func (g *gpuDevice) BinaryScalar(op BinaryOp, dst Buffer, a View, s float64, scalarFirst bool) {
	g.do(op.String(), []Buffer{dst}, func() error {
		dt := a.Buf.DType()
		p, err := g.binaryPipeline(op, dt)
		if err != nil {
			return err
		}
		flags := uint32(1)
		if scalarFirst {
			flags |= 2
		}
		bits := math.Float32bits(float32(s))
		if dt == Int32 {
			bits = uint32(int32(s))
		}
		v := []View{a}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, []View{v[0], v[0]}, flags, bits, gpuIn(1, v[0].Buf), gpuIn(2, v[0].Buf), gpuOut(3, dst))
	})
}

func (g *gpuDevice) Where(dst Buffer, cond, a, b View) {
	g.do("Where", []Buffer{dst}, func() error {
		p, err := g.pipelineLocked("where", "main", kernelSpec{"CT": wgslType(cond.Buf.DType()), "T": wgslType(a.Buf.DType())})
		if err != nil {
			return err
		}
		v := []View{cond, a, b}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, v, 0, 0,
			gpuIn(1, v[0].Buf), gpuIn(2, v[1].Buf), gpuIn(3, v[2].Buf), gpuOut(4, dst))
	})
}

// reduceSpec gives the accumulator type and the expressions of a reduction.
func reduceSpec(op ReduceOp, dt DType) kernelSpec {
	t := wgslType(dt)
	s := kernelSpec{"T": t, "AT": t, "OT": t, "Finish": "acc"}
	switch {
	case op == ReduceSum || op == ReduceMean:
		s["Combine"], s["Identity"] = "a + b", t+"(0)"
		if op == ReduceMean {
			s["Finish"] = "acc * p.scale"
		}
	case op == ReduceMax && dt == Float32:
		s["Combine"], s["Identity"] = "max_nan(a, b)", "-inf_f32()"
	case op == ReduceMin && dt == Float32:
		s["Combine"], s["Identity"] = "min_nan(a, b)", "inf_f32()"
	case op == ReduceMax:
		s["Combine"], s["Identity"] = "max(a, b)", "bitcast<i32>(0x80000000u)"
	case op == ReduceMin:
		s["Combine"], s["Identity"] = "min(a, b)", "2147483647"
	}
	return s
}

// splitView coalesces the leading and the trailing n dimensions of x
// separately. ok is false when either part has more than MaxRank
// dimensions left.
func splitView(x View, n int) (outShape, outStrides, redShape, redStrides []int, ok bool) {
	r := len(x.Shape) - n
	outShape, os := Coalesce(x.Shape[:r], x.Strides[:r])
	redShape, rs := Coalesce(x.Shape[r:], x.Strides[r:])
	if len(outShape) > MaxRank || len(redShape) > MaxRank {
		return nil, nil, nil, nil, false
	}
	return outShape, os[0], redShape, rs[0], true
}

// denseLocked returns x, or a contiguous copy of it in a scratch buffer when
// its leading and trailing n dimensions do not coalesce to MaxRank each;
// done gives the copy back once the work reading it is recorded.
func (g *gpuDevice) denseLocked(x View, n int) (View, func(), error) {
	if _, _, _, _, ok := splitView(x, n); ok {
		return x, func() {}, nil
	}
	d, b, err := g.contiguousLocked(x)
	if err != nil {
		return View{}, nil, err
	}
	return d, func() { g.releaseScratchLocked(b) }, nil
}

// maxLoop bounds the iterations of any one loop in one kernel invocation.
// llvmpipe (lavapipe) stops loops that run much longer, and long loops in
// few threads waste a real GPU anyway, so longer work is split across
// workgroups or dispatches.
const maxLoop = 4096

func (g *gpuDevice) Reduce(op ReduceOp, dst Buffer, x View, n int) {
	g.do("Reduce"+op.String(), []Buffer{dst}, func() error {
		x, done, err := g.denseLocked(x, n)
		if err != nil {
			return err
		}
		defer done()
		outShape, outStrides, redShape, redStrides, _ := splitView(x, n)
		nOut, nRed := Numel(outShape), Numel(redShape)
		if nOut == 0 {
			return nil
		}
		scale := float32(math.NaN())
		if nRed > 0 {
			scale = 1 / float32(nRed)
		}
		if nRed <= 256*maxLoop {
			return g.reduceLocked(op, dst, x, outShape, outStrides, redShape, redStrides, 1, scale)
		}
		// Two passes: chunks of each row into partial results, then the
		// partial results of each row.
		chunks := (nRed + 256*maxLoop - 1) / (256 * maxLoop)
		part, err := g.scratchLocked(x.Buf.DType(), nOut*chunks)
		if err != nil {
			return err
		}
		defer g.releaseScratchLocked(part)
		first := op
		if op == ReduceMean {
			first = ReduceSum
		}
		if err := g.reduceLocked(first, part, x, outShape, outStrides, redShape, redStrides, chunks, 1); err != nil {
			return err
		}
		return g.reduceLocked(op, dst, Dense(part, nOut, chunks), []int{nOut}, []int{chunks}, []int{chunks}, []int{1}, 1, scale)
	})
}

// gpuSubgroupRowMax is the longest row (or chunk of one) that the
// reduction's subgroup kernel takes (see reduceLocked).
const gpuSubgroupRowMax = 4096

// reduceLocked records one reduction pass; with chunks > 1 each row is cut
// into that many pieces, each reduced into its own element of dst.
func (g *gpuDevice) reduceLocked(op ReduceOp, dst Buffer, x View, outShape, outStrides, redShape, redStrides []int, chunks int, scale float32) error {
	nOut, nRed := Numel(outShape), Numel(redShape)
	entry, gr := "rows", g.linearGrid(nOut*chunks)
	if nRed < 64 {
		entry, gr = "cols", g.threads(nOut)
	}
	spec := reduceSpec(op, x.Buf.DType())
	// The subgroup butterfly replaces the tree's eight barriers, which
	// dominate short rows (4096×512 sums: 1.8 times as fast on lavapipe);
	// on long rows the loads dominate and it measured slower (1×4M: 1.5
	// times as slow), so those keep the tree.
	spec["Subgroups"] = entry == "rows" && g.subgroups && (nRed+chunks-1)/chunks <= gpuSubgroupRowMax
	p, err := g.pipelineLocked("reduce", entry, spec)
	if err != nil {
		return err
	}
	chunk := (nRed + chunks - 1) / chunks
	var pr gpuParams
	pr.ints(nOut, nRed, len(outShape), len(redShape), x.Offset).f32(scale).ints(chunk, chunks)
	pr.array8(outShape).array8(outStrides).array8(redShape).array8(redStrides)
	return g.launchLocked(p, pr.b, gr, gpuIn(1, x.Buf), gpuOut(2, dst))
}

func (g *gpuDevice) ArgReduce(op ReduceOp, dst Buffer, x View) {
	g.do("Arg"+op.String(), []Buffer{dst}, func() error {
		if x.Shape[len(x.Shape)-1] > 256*maxLoop {
			return refuse("rows of %d elements are longer than the GPU kernel handles (%d)", x.Shape[len(x.Shape)-1], 256*maxLoop)
		}
		x, done, err := g.denseLocked(x, 1)
		if err != nil {
			return err
		}
		defer done()
		outShape, outStrides, _, _, _ := splitView(x, 1)
		last := len(x.Shape) - 1
		cmp := ">"
		if op == ReduceMin {
			cmp = "<"
		}
		n := x.Shape[len(x.Shape)-1]
		p, err := g.pipelineLocked("argreduce", "main", kernelSpec{"T": wgslType(x.Buf.DType()), "Cmp": cmp,
			"Subgroups": g.subgroups && n <= gpuSubgroupRowMax})
		if err != nil {
			return err
		}
		nOut := Numel(outShape)
		var pr gpuParams
		pr.ints(nOut, x.Shape[last], len(outShape), x.Strides[last], x.Offset, 0, 0, 0)
		pr.array8(outShape).array8(outStrides)
		return g.launchLocked(p, pr.b, g.linearGrid(nOut), gpuIn(1, x.Buf), gpuOut(2, dst))
	})
}

func (g *gpuDevice) MatMul(dst Buffer, a, b View) {
	g.do("MatMul", []Buffer{dst}, func() error {
		batch, m, k, n := a.Shape[0], a.Shape[1], a.Shape[2], b.Shape[2]
		if batch*m*n == 0 {
			return nil
		}
		t := g.matmulTile(batch, m, n)
		// vec4 loads need every vector to start on a multiple of 4
		// elements and to lie inside its row: K chunks are multiples of 4
		// because maxLoop is.
		vecA := a.Strides[2] == 1 && k%4 == 0 && a.Offset%4 == 0 && a.Strides[1]%4 == 0 && (a.Strides[0]%4 == 0 || batch == 1)
		vecB := b.Strides[2] == 1 && n%4 == 0 && b.Offset%4 == 0 && b.Strides[1]%4 == 0 && (b.Strides[0]%4 == 0 || batch == 1)
		p, err := g.pipelineLocked("matmul", "main", t.spec(vecA, vecB))
		if err != nil {
			return err
		}
		limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
		if gx, gy := ceilDiv(n, t.cols()), ceilDiv(m, t.rows()); gx > limit || gy > limit {
			return refuse("a %d×%d product needs %d×%d workgroups, over the adapter's maxComputeWorkgroupsPerDimension (%d)",
				m, n, gy, gx, limit)
		}
		// Each dispatch covers at most maxLoop of K, accumulating into
		// dst after the first; K = 0 still runs once to write zeros.
		for k0 := 0; k0 == 0 || k0 < k; k0 += maxLoop {
			kc := min(k-k0, maxLoop)
			for base := 0; base < batch; base += limit {
				var pr gpuParams
				pr.ints(m, n, kc, base, a.Offset+k0*a.Strides[2], b.Offset+k0*b.Strides[1], a.Strides[0], a.Strides[1], a.Strides[2],
					b.Strides[0], b.Strides[1], b.Strides[2], gpuBool(k0 > 0))
				gr := gpuGrid{uint32(ceilDiv(n, t.cols())), uint32(ceilDiv(m, t.rows())), uint32(min(limit, batch-base))}
				if err := g.launchLocked(p, pr.b, gr, gpuVecIn(1, a.Buf, vecA), gpuVecIn(2, b.Buf, vecB), gpuOut(3, dst)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (g *gpuDevice) Softmax(dst Buffer, x Buffer, rows, cols int, log bool) {
	g.do("Softmax", []Buffer{dst}, func() error {
		if cols > 256*maxLoop {
			return refuse("rows of %d elements are longer than the GPU kernel handles (%d)", cols, 256*maxLoop)
		}
		p, err := g.pipelineLocked("softmax", "main", kernelSpec{"Subgroups": g.subgroups && cols <= gpuSubgroupRowMax})
		if err != nil {
			return err
		}
		var pr gpuParams
		pr.ints(rows, cols, gpuBool(log), 0)
		return g.launchLocked(p, pr.b, g.linearGrid(rows), gpuIn(1, x), gpuOut(2, dst))
	})
}

func gpuBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *gpuDevice) pooling(entry string, total int, p Pool2DParams, args ...gpuArg) {
	var outs []Buffer
	for _, a := range args {
		if a.write {
			outs = append(outs, a.gb)
		}
	}
	g.do("Pool2D."+entry, outs, func() error {
		if entry == "max_forward" && len(args) == 2 { // no indices wanted: they go to scratch
			idx, err := g.scratchLocked(Int32, total)
			if err != nil {
				return err
			}
			defer g.releaseScratchLocked(idx)
			args = append(args, gpuOut(4, idx))
		}
		pl, err := g.pipelineLocked("pool2d", entry, kernelSpec{})
		if err != nil {
			return err
		}
		var pr gpuParams
		pr.ints(p.N, p.C, p.H, p.W, p.KH, p.KW, p.OH, p.OW, p.StrideH, p.StrideW, p.PadH, p.PadW,
			gpuBool(p.CountIncludePad), total, 0, 0)
		return g.launchLocked(pl, pr.b, g.threads(total), args...)
	})
}

func (g *gpuDevice) MaxPool2D(dst, idx, x Buffer, p Pool2DParams) {
	if idx == nil {
		g.pooling("max_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst))
		return
	}
	g.pooling("max_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst), gpuOut(4, idx))
}

func (g *gpuDevice) MaxPool2DGrad(dx, dy, idx Buffer, p Pool2DParams) {
	g.pooling("max_backward", p.N*p.C*p.H*p.W, p, gpuIn(1, dy), gpuIn(2, idx), gpuOut(3, dx))
}

func (g *gpuDevice) AvgPool2D(dst, x Buffer, p Pool2DParams) {
	g.pooling("avg_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst))
}

func (g *gpuDevice) AvgPool2DGrad(dx, dy Buffer, p Pool2DParams) {
	g.pooling("avg_backward", p.N*p.C*p.H*p.W, p, gpuIn(1, dy), gpuOut(3, dx))
}

// index records one of the index kernels; src is read, dst written (or
// accumulated into when atomic).
func (g *gpuDevice) index(entry string, code uint32, atomic bool, dst, src, idx Buffer, sh GatherShape) {
	g.do(indexOpName(code), []Buffer{dst}, func() error {
		if atomic { // dst is read too
			if r := dst.(*gpuBuffer).refused.Load(); r != nil {
				return r
			}
		}
		t := wgslType(src.DType())
		dt := t
		if atomic {
			dt = "atomic<u32>"
			if src.DType() == Int32 {
				dt = "atomic<i32>"
			}
		}
		p, err := g.pipelineLocked("index", entry, kernelSpec{"T": t, "DT": dt, "Atomic": atomic})
		if err != nil {
			return err
		}
		total := sh.Outer * sh.M * sh.Inner
		var pr gpuParams
		pr.ints(sh.Outer, sh.N, sh.M, sh.Inner, total).u32(g.indexCodeLocked(code, sh), 0, 0)
		status := gpuArg{slot: 4, buf: g.status, size: 16, write: true}
		if err := g.launchLocked(p, pr.b, g.threads(total), gpuIn(1, src), gpuIn(2, idx), gpuOut(3, dst), status); err != nil {
			return err
		}
		if total > 0 {
			g.statusUsed = true
		}
		return nil
	})
}

func (g *gpuDevice) IndexSelect(dst, x, idx Buffer, sh GatherShape) {
	g.index("index_select", codeIndexSelect, false, dst, x, idx, sh)
}

func (g *gpuDevice) IndexAdd(dst, idx, src Buffer, sh GatherShape) {
	g.index("index_add", codeIndexAdd, true, dst, src, idx, sh)
}

func (g *gpuDevice) Gather(dst, x, idx Buffer, sh GatherShape) {
	g.index("gather", codeGather, false, dst, x, idx, sh)
}

func (g *gpuDevice) ScatterAdd(dst, idx, src Buffer, sh GatherShape) {
	g.index("scatter_add", codeScatterAdd, true, dst, src, idx, sh)
}
