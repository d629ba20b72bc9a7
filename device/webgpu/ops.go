//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/internal/half"
)

// wgslType is the WGSL spelling of an element type.
func wgslType(dt backend.DType) string {
	if dt == backend.Int32 {
		return "i32"
	}
	return "f32"
}

var unaryExpr = map[backend.UnaryOp]string{
	backend.Neg: "-v", backend.Abs: "abs(v)", backend.Square: "v * v", backend.Exp: "exp(v)", backend.Log: "select(log(v), -inf_f32(), v == 0.0)", backend.Sqrt: "sqrt(v)",
	backend.Rsqrt: "1.0 / sqrt(v)", backend.Recip: "1.0 / v", backend.Sin: "sin(v)", backend.Cos: "cos(v)", backend.Tanh: "tanh_stable(v)",
	backend.Sigmoid: "sigmoid_stable(v)", backend.ReLU: "select(0.0, v, v > 0.0 || is_nan(v))", backend.GELU: "gelu(v)",
	backend.GELUGrad: "gelu_grad(v)", backend.Erf: "erf_approx(v)",
}

func unaryExprFor(op backend.UnaryOp, dt backend.DType) string {
	if op == backend.Sign {
		if dt == backend.Int32 {
			return "sign_i32(v)"
		}
		return "select(sign(v), 0.0, is_nan(v))"
	}
	return unaryExpr[op]
}

var binaryExpr = map[backend.BinaryOp]string{
	backend.Add: "u + v", backend.Sub: "u - v", backend.Mul: "u * v", backend.Div: "u / v", backend.Pow: "pow_real(u, v)",
	backend.Eq: "u == v", backend.Ne: "u != v", backend.Lt: "u < v", backend.Le: "u <= v", backend.Gt: "u > v", backend.Ge: "u >= v",
	backend.TanhGrad: "u * (1.0 - v * v)", backend.SigmoidGrad: "u * v * (1.0 - v)",
}

func binaryExprFor(op backend.BinaryOp, dt backend.DType) string {
	switch {
	case op == backend.Maximum && dt == backend.Float32:
		return "max_nan(u, v)"
	case op == backend.Minimum && dt == backend.Float32:
		return "min_nan(u, v)"
	case op == backend.Maximum:
		return "max(u, v)"
	case op == backend.Minimum:
		return "min(u, v)"
	case op == backend.Ne && dt == backend.Float32:
		return "select(0.0, 1.0, any_nan(u, v) || u != v)"
	case op.IsComparison() && dt == backend.Float32:
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

// name returns r naming op, the op refused, unless it names one already
// (an input's refusal).
func (r *refusal) name(op string) *refusal {
	if r.named {
		return r
	}
	return &refusal{err: fmt.Errorf("device: GPU %s: %w", op, r.err), named: true}
}
func (r *refusal) Unwrap() error { return r.err }

// refuse returns a refusal with the formatted message.
func refuse(format string, args ...any) error {
	return &refusal{err: fmt.Errorf(format, args...)}
}

// do runs f with the device locked unless the device has failed. A refusal
// is carried by outs, the buffers the op writes, until an op writes them
// again, and reported by Read and BufferErr; any other error becomes the
// device's sticky fault, reported by the next Sync or Read.
func (g *gpuDevice) do(op string, outs []backend.Buffer, f func() error) {
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
		r = r.name(op)
		for _, b := range outs {
			b.(*gpuBuffer).refused.Store(r)
		}
		return
	}
	g.setFault(fmt.Errorf("%s: %w", op, err))
}

// elementwise records a kernel of the elementwise family over the iteration
// space shape; views are its operands in order (the last one may be a
// strided destination), args its buffer bindings, each addressed through
// one of the views (gpuArg.of) or through the linear index. The views must
// coalesce to at most MaxRank dimensions (see fitLocked).
func (g *gpuDevice) elementwise(p *pipeline, shape []int, views []backend.View, flags, scalar uint32, args ...gpuArg) error {
	return g.elementwiseExtra(p, shape, views, flags, scalar, nil, args...)
}

// elementwiseExtra is elementwise for a kernel whose Params continue after
// ew_params' fields with the 32-bit values extra. Operands larger than one
// binding covers split the work (see splitElementwise).
func (g *gpuDevice) elementwiseExtra(p *pipeline, shape []int, views []backend.View, flags, scalar uint32, extra []uint32, args ...gpuArg) error {
	if backend.Numel(shape) == 0 {
		return nil
	}
	strides := make([][]int, len(views))
	offs := make([]int, len(views))
	for i, v := range views {
		strides[i], offs[i] = v.Strides, v.Offset
	}
	cshape, cstrides := backend.Coalesce(shape, strides...)
	if len(cshape) > backend.MaxRank {
		return refuse("views of shape %v coalesce to %d dimensions, more than %d", shape, len(cshape), backend.MaxRank)
	}
	launch := func(part ewPart, args []gpuArg) error {
		n := backend.Numel(part.shape)
		return g.launchLocked(p, part.params(n, flags, scalar, extra), g.threads(n), args...)
	}
	whole := ewPart{shape: cshape, strides: cstrides, offs: offs}
	if !g.oversized(args) {
		return launch(whole, args)
	}
	return g.splitElementwise(whole, args, launch)
}

// params returns the elementwise kernels' Params (ew_params) for the part
// over n threads, followed by the 32-bit values extra.
func (part ewPart) params(n int, flags, scalar uint32, extra []uint32) []byte {
	var pr gpuParams
	pr.ints(n, len(part.shape)).u32(flags, scalar)
	var offs [4]int
	copy(offs[:], part.offs)
	pr.ints(offs[:]...).array8(part.shape)
	for i := 0; i < 4; i++ {
		if i < len(part.strides) {
			pr.array8(part.strides[i])
		} else {
			pr.array8(nil)
		}
	}
	pr.ints(part.lin).u32(extra...)
	return pr.b
}

// copyLocked records dst = src for views of any rank.
func (g *gpuDevice) copyLocked(dst, src backend.View) error {
	if src.Numel() == 0 {
		return nil
	}
	if src.Buf.DType().IsHalf() || dst.Buf.DType().IsHalf() {
		return g.halfCopyLocked(dst, src)
	}
	t, ot := "u32", "u32"
	if src.Buf.DType() != dst.Buf.DType() {
		t, ot = wgslType(src.Buf.DType()), wgslType(dst.Buf.DType())
	}
	p, err := g.pipelineLocked("copy", "copy", kernelSpec{"T": t, "OT": ot})
	if err != nil {
		return err
	}
	args := []gpuArg{gpuIn(1, src.Buf).of(0), gpuOut(2, dst.Buf).of(1)}
	return eachCopyPart(dst, src, func(d, s backend.View) error {
		return g.elementwise(p, s.Shape, []backend.View{s, d}, 0, 0, args...)
	})
}

// eachCopyPart calls part once for views dst and src of at most MaxRank
// dimensions after coalescing, and otherwise once per index of the
// dimensions beyond the MaxRank largest, which the kernel cannot take.
func eachCopyPart(dst, src backend.View, part func(d, s backend.View) error) error {
	cshape, cstrides := backend.Coalesce(src.Shape, src.Strides, dst.Strides)
	if len(cshape) <= backend.MaxRank {
		return part(dst, src)
	}
	byLength := make([]int, len(cshape))
	for d := range byLength {
		byLength[d] = d
	}
	slices.SortStableFunc(byLength, func(a, b int) int { return cshape[b] - cshape[a] })
	inKernel := byLength[:backend.MaxRank]
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
	s := backend.View{Buf: src.Buf, Shape: shape, Strides: pick(cstrides[0], inner)}
	d := backend.View{Buf: dst.Buf, Shape: shape, Strides: pick(cstrides[1], inner)}
	idx := make([]int, len(outer))
	for {
		s.Offset, d.Offset = src.Offset, dst.Offset
		for i, dim := range outer {
			s.Offset += idx[i] * cstrides[0][dim]
			d.Offset += idx[i] * cstrides[1][dim]
		}
		if err := part(d, s); err != nil {
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
func (g *gpuDevice) fitLocked(shape []int, views []backend.View) (done func(), err error) {
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
	if cshape, _ := backend.Coalesce(shape, strides...); len(cshape) <= backend.MaxRank || backend.Numel(shape) == 0 {
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

// compactLocked returns x when it is contiguous, or else a dense copy of it
// in a scratch buffer, which done gives back once the work reading it is
// recorded.
func (g *gpuDevice) compactLocked(x backend.View) (backend.View, func(), error) {
	if x.IsContiguous() {
		return x, func() {}, nil
	}
	dense, b, err := g.contiguousLocked(x)
	if err != nil {
		return backend.View{}, nil, err
	}
	return dense, func() { g.releaseScratchLocked(b) }, nil
}

// contiguousLocked copies v into a dense scratch buffer of its shape, which
// it returns for releaseScratchLocked once the work reading it is recorded.
func (g *gpuDevice) contiguousLocked(v backend.View) (backend.View, *gpuBuffer, error) {
	b, err := g.scratchLocked(v.Buf.DType(), v.Numel())
	if err != nil {
		return backend.View{}, nil, err
	}
	dense := backend.Dense(b, v.Shape...)
	if err := g.copyLocked(dense, v); err != nil {
		g.releaseScratchLocked(b)
		return backend.View{}, nil, err
	}
	return dense, b, nil
}

func (g *gpuDevice) Fill(dst backend.Buffer, v float64) {
	g.do("Fill", []backend.Buffer{dst}, func() error {
		dt := dst.DType()
		if ok, err := g.deferLocked("Fill", dst, []int{dst.Len()}, castFn(dt, dt), ewIn{scalar: scalarBits(v, dt)}); ok || err != nil {
			return err
		}
		p, err := g.pipelineLocked("copy", "fill", kernelSpec{"T": "u32", "OT": "u32"})
		if err != nil {
			return err
		}
		bits := math.Float32bits(float32(v))
		n := dst.Len()
		switch dt {
		case backend.Int32:
			bits = uint32(int32(v))
		case backend.Float16, backend.BFloat16: // a word holds two
			h := half.Round(float32(v), dt == backend.BFloat16)
			bits, n = uint32(h)|uint32(h)<<16, (n+1)/2
		}
		return g.elementwise(p, []int{n}, []backend.View{backend.Dense(dst, n)}, 0, bits, gpuOut(2, dst))
	})
}

func (g *gpuDevice) Copy(dst, src backend.View) {
	g.do("Copy", []backend.Buffer{dst.Buf}, func() error {
		// A copy into a whole buffer (Contiguous, a cast) is an
		// elementwise op like any other; one into a part of a buffer
		// (Concat, a slice assignment) runs now.
		if dst.Offset == 0 && dst.IsContiguous() && dst.Numel() == dst.Buf.Len() {
			fn := castFn(src.Buf.DType(), dst.Buf.DType())
			if ok, err := g.deferLocked("Copy", dst.Buf, src.Shape, fn, ewIn{view: src}); ok || err != nil {
				return err
			}
		}
		if dst.Buf.DType().IsHalf() || src.Buf.DType().IsHalf() {
			return g.copyLocked(dst, src)
		}
		if ok, err := g.productIntoLocked(dst, src); ok || err != nil {
			return err
		}
		return g.copyLocked(dst, src)
	})
}

func (g *gpuDevice) Unary(op backend.UnaryOp, dst backend.Buffer, x backend.View) {
	g.do(op.String(), []backend.Buffer{dst}, func() error {
		dt := x.Buf.DType()
		if ok, err := g.deferLocked(op.String(), dst, x.Shape, unaryFn(op, dt), ewIn{view: x}); ok || err != nil {
			return err
		}
		p, err := g.pipelineLocked("unary", "main", kernelSpec{"T": wgslType(dt), "Expr": unaryExprFor(op, dt)})
		if err != nil {
			return err
		}
		v := []backend.View{x}
		done, err := g.fitLocked(x.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, x.Shape, v, 0, 0, gpuIn(1, v[0].Buf).of(0), gpuOut(2, dst))
	})
}

func (g *gpuDevice) binaryPipeline(op backend.BinaryOp, dt backend.DType) (*pipeline, error) {
	ot := wgslType(dt)
	if op.IsComparison() {
		ot = "f32"
	}
	return g.pipelineLocked("binary", "main", kernelSpec{"T": wgslType(dt), "OT": ot, "Expr": binaryExprFor(op, dt)})
}

func (g *gpuDevice) Binary(op backend.BinaryOp, dst backend.Buffer, a, b backend.View) {
	g.do(op.String(), []backend.Buffer{dst}, func() error {
		if ok, err := g.deferLocked(op.String(), dst, a.Shape, binaryFn(op, a.Buf.DType()), ewIn{view: a}, ewIn{view: b}); ok || err != nil {
			return err
		}
		p, err := g.binaryPipeline(op, a.Buf.DType())
		if err != nil {
			return err
		}
		v := []backend.View{a, b}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, v, 0, 0, gpuIn(1, v[0].Buf).of(0), gpuIn(2, v[1].Buf).of(1), gpuOut(3, dst))
	})
}

func (g *gpuDevice) BinaryScalar(op backend.BinaryOp, dst backend.Buffer, a backend.View, s float64, scalarFirst bool) {
	g.do(op.String(), []backend.Buffer{dst}, func() error {
		dt := a.Buf.DType()
		ins := []ewIn{{view: a}, {scalar: scalarBits(s, dt)}}
		if scalarFirst {
			ins[0], ins[1] = ins[1], ins[0]
		}
		if ok, err := g.deferLocked(op.String(), dst, a.Shape, binaryFn(op, dt), ins...); ok || err != nil {
			return err
		}
		p, err := g.binaryPipeline(op, dt)
		if err != nil {
			return err
		}
		flags := uint32(1)
		if scalarFirst {
			flags |= 2
		}
		bits := *scalarBits(s, dt)
		v := []backend.View{a}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, []backend.View{v[0], v[0]}, flags, bits, gpuIn(1, v[0].Buf).of(0), gpuIn(2, v[0].Buf).of(1), gpuOut(3, dst))
	})
}

func (g *gpuDevice) Where(dst backend.Buffer, cond, a, b backend.View) {
	g.do("Where", []backend.Buffer{dst}, func() error {
		if ok, err := g.deferLocked("Where", dst, a.Shape, whereFn(cond.Buf.DType(), a.Buf.DType()), ewIn{view: cond}, ewIn{view: a}, ewIn{view: b}); ok || err != nil {
			return err
		}
		p, err := g.pipelineLocked("where", "main", kernelSpec{"CT": wgslType(cond.Buf.DType()), "T": wgslType(a.Buf.DType())})
		if err != nil {
			return err
		}
		v := []backend.View{cond, a, b}
		done, err := g.fitLocked(a.Shape, v)
		if err != nil {
			return err
		}
		defer done()
		return g.elementwise(p, a.Shape, v, 0, 0,
			gpuIn(1, v[0].Buf).of(0), gpuIn(2, v[1].Buf).of(1), gpuIn(3, v[2].Buf).of(2), gpuOut(4, dst))
	})
}

// reduceSpec gives the accumulator type and the expressions of a reduction.
func reduceSpec(op backend.ReduceOp, dt backend.DType) kernelSpec {
	t := wgslType(dt)
	s := kernelSpec{"T": t, "AT": t, "OT": t, "Finish": "acc"}
	switch {
	case op == backend.ReduceSum || op == backend.ReduceMean:
		s["Combine"], s["Identity"] = "a + b", t+"(0)"
		if op == backend.ReduceMean {
			s["Finish"] = "acc * p.scale"
		}
	case op == backend.ReduceMax && dt == backend.Float32:
		s["Combine"], s["Identity"] = "max_nan(a, b)", "-inf_f32()"
	case op == backend.ReduceMin && dt == backend.Float32:
		s["Combine"], s["Identity"] = "min_nan(a, b)", "inf_f32()"
	case op == backend.ReduceMax:
		s["Combine"], s["Identity"] = "max(a, b)", "bitcast<i32>(0x80000000u)"
	case op == backend.ReduceMin:
		s["Combine"], s["Identity"] = "min(a, b)", "2147483647"
	}
	return s
}

// splitView coalesces the leading and the trailing n dimensions of x
// separately. ok is false when either part has more than MaxRank
// dimensions left.
func splitView(x backend.View, n int) (outShape, outStrides, redShape, redStrides []int, ok bool) {
	r := len(x.Shape) - n
	outShape, os := backend.Coalesce(x.Shape[:r], x.Strides[:r])
	redShape, rs := backend.Coalesce(x.Shape[r:], x.Strides[r:])
	if len(outShape) > backend.MaxRank || len(redShape) > backend.MaxRank {
		return nil, nil, nil, nil, false
	}
	return outShape, os[0], redShape, rs[0], true
}

// denseLocked returns x, or a contiguous copy of it in a scratch buffer when
// its leading and trailing n dimensions do not coalesce to MaxRank each;
// done gives the copy back once the work reading it is recorded.
func (g *gpuDevice) denseLocked(x backend.View, n int) (backend.View, func(), error) {
	if _, _, _, _, ok := splitView(x, n); ok {
		return x, func() {}, nil
	}
	return g.compactLocked(x)
}

// maxLoop bounds the iterations of any one loop in one kernel invocation.
// llvmpipe (lavapipe) stops loops that run much longer, and long loops in
// few threads waste a real GPU anyway, so longer work is split across
// workgroups or dispatches.
const maxLoop = 4096

func (g *gpuDevice) Reduce(op backend.ReduceOp, dst backend.Buffer, x backend.View, n int) {
	g.do("Reduce"+op.String(), []backend.Buffer{dst}, func() error {
		if ok, err := g.deferReduceLocked(op, dst, x, n); ok || err != nil {
			return err
		}
		x, done, err := g.denseLocked(x, n)
		if err != nil {
			return err
		}
		defer done()
		outShape, outStrides, redShape, redStrides, _ := splitView(x, n)
		nOut, nRed := backend.Numel(outShape), backend.Numel(redShape)
		if nOut == 0 {
			return nil
		}
		scale := float32(math.NaN())
		if nRed > 0 {
			scale = 1 / float32(nRed)
		}
		split := g.oversized([]gpuArg{gpuIn(1, x.Buf), gpuOut(2, dst)})
		if split {
			dense, done, err := g.compactLocked(x)
			if err != nil {
				return err
			}
			defer done()
			x = dense
		}
		if !split {
			return g.reduceRowsLocked(op, dst, x, outShape, outStrides, redShape, redStrides, scale)
		}
		return g.reduceSplitLocked(op, dst, x, nOut, nRed, scale)
	})
}

// gpuShortRow is the longest row that softmax and the reductions handle
// with one thread per row instead of one workgroup: shorter rows leave
// most of a workgroup idle, and a software adapter pays for every
// workgroup's barriers. Measured on lavapipe, softmax (sum) of 8192 rows:
// of 64, 158–191 ms (46–54 ms) with a workgroup per row, 2.8–4.0 ms
// (2.0–3.9 ms) with a thread per row; of 256, 160–215 ms (51–61 ms)
// against 13–15 ms (9–10 ms); 256 rows of 1000 take the same time either
// way.
const gpuShortRow = 256

// gpuSubgroupRowMax is the longest row (or chunk of one) that the
// reduction's subgroup kernel takes (see reduceLocked).
const gpuSubgroupRowMax = 4096

// reduceRowsLocked reduces each row of x, in one pass when rows are short
// and otherwise in two: chunks of each row into partial results, then the
// partial results of each row.
func (g *gpuDevice) reduceRowsLocked(op backend.ReduceOp, dst backend.Buffer, x backend.View, outShape, outStrides, redShape, redStrides []int, scale float32) error {
	nOut, nRed := backend.Numel(outShape), backend.Numel(redShape)
	if nRed <= 256*maxLoop {
		return g.reduceLocked(op, dst, 0, x, outShape, outStrides, redShape, redStrides, 1, scale, nil, nil)
	}
	chunks := ceilDiv(nRed, 256*maxLoop)
	part, err := g.scratchLocked(x.Buf.DType(), nOut*chunks)
	if err != nil {
		return err
	}
	defer g.releaseScratchLocked(part)
	if err := g.reduceLocked(partialOp(op), part, 0, x, outShape, outStrides, redShape, redStrides, chunks, 1, nil, nil); err != nil {
		return err
	}
	return g.reduceLocked(op, dst, 0, backend.Dense(part, nOut, chunks), []int{nOut}, []int{chunks}, []int{chunks}, []int{1}, 1, scale, nil, nil)
}

// partialOp is the reduction that combines chunks of a row before op
// finishes them.
func partialOp(op backend.ReduceOp) backend.ReduceOp {
	if op == backend.ReduceMean {
		return backend.ReduceSum
	}
	return op
}

// reduceSplitLocked reduces the nOut rows of nRed elements of a dense x (or
// into a dst) larger than one binding covers: each pass reads at most half
// a binding of x, as many whole rows as fit or, for longer rows, chunks of
// one row whose partial results a last pass combines.
func (g *gpuDevice) reduceSplitLocked(op backend.ReduceOp, dst backend.Buffer, x backend.View, nOut, nRed int, scale float32) error {
	limit := g.passElements()
	chunk := max(min(nRed, 256*maxLoop, limit), 1)
	chunks := max(ceilDiv(nRed, chunk), 1)
	rowsOf := func(o0, rows int) backend.View {
		return backend.View{Buf: x.Buf, Shape: []int{rows, nRed}, Strides: []int{nRed, 1}, Offset: x.Offset + o0*nRed}
	}
	if chunks == 1 {
		step := g.passRows(nRed)
		for o0 := 0; o0 < nOut; o0 += step {
			k := min(step, nOut-o0)
			if err := g.reduceLocked(op, dst, o0, rowsOf(o0, k), []int{k}, []int{nRed}, []int{nRed}, []int{1}, 1, scale, nil, nil); err != nil {
				return err
			}
		}
		return nil
	}
	part, err := g.scratchLocked(x.Buf.DType(), nOut*chunks)
	if err != nil {
		return err
	}
	defer g.releaseScratchLocked(part)
	per := max(limit/chunk, 1) // chunks per pass
	for o := 0; o < nOut; o++ {
		for c0 := 0; c0 < chunks; c0 += per {
			c1 := min(c0+per, chunks)
			lo, hi := c0*chunk, min(c1*chunk, nRed)
			piece := backend.View{Buf: x.Buf, Shape: []int{hi - lo}, Strides: []int{1}, Offset: x.Offset + o*nRed + lo}
			if err := g.reduceLocked(partialOp(op), part, o*chunks+c0, piece, []int{1}, []int{nRed}, []int{hi - lo}, []int{1}, c1-c0, 1, nil, nil); err != nil {
				return err
			}
		}
	}
	final := backend.Dense(part, nOut, chunks)
	if g.oversized([]gpuArg{gpuIn(1, part), gpuOut(2, dst)}) {
		return g.reduceSplitLocked(op, dst, final, nOut, chunks, scale)
	}
	return g.reduceLocked(op, dst, 0, final, []int{nOut}, []int{chunks}, []int{chunks}, []int{1}, 1, scale, nil, nil)
}

// reduceLocked records one reduction pass writing outputs from yOff on;
// with chunks > 1 each row is cut into that many pieces, each reduced into
// its own element of dst.
//
// pro, when set, is x's expression, evaluated as rows load (x is not
// bound); epi, when set, is a deferred reduction's (see fuse.go): x is
// read as it is, and epi.spec, if any, is the epilogue applied as the
// results are stored.
func (g *gpuDevice) reduceLocked(op backend.ReduceOp, dst backend.Buffer, yOff int, x backend.View, outShape, outStrides, redShape, redStrides []int, chunks int, scale float32, pro, epi *fused) error {
	nOut, nRed := backend.Numel(outShape), backend.Numel(redShape)
	entry, gr := "rows", g.linearGrid(nOut*chunks)
	if nRed <= gpuShortRow && chunks == 1 {
		entry, gr = "cols", g.threads(nOut)
	}
	spec := reduceSpec(op, x.Buf.DType())
	// The subgroup butterfly replaces the tree's eight barriers, which
	// dominate short rows (4096×512 sums: 1.8 times as fast on lavapipe);
	// on long rows the loads dominate and it measured slower (1×4M: 1.5
	// times as slow), so those keep the tree.
	spec["Subgroups"] = entry == "rows" && g.subgroups && (nRed+chunks-1)/chunks <= gpuSubgroupRowMax
	spec["Pro"], spec["Epi"] = nil, nil
	var fz *fused // the expression whose parameters and leaves the kernel takes
	switch {
	case pro != nil:
		fz = pro
		spec["Pro"] = pro.epilogue()
	case epi != nil && epi.spec != nil:
		fz = epi
		spec["Epi"] = epi.epilogue()
	}
	p, err := g.pipelineLocked("reduce", entry, spec)
	if err != nil {
		return err
	}
	xa, ya, off := gpuIn(1, x.Buf), gpuOut(2, dst), x.Offset
	if epi != nil {
		xa.asIs = true
	}
	if fz != nil { // a fused kernel: nothing is oversized (see Reduce)
		chunk := (nRed + chunks - 1) / chunks
		var pr gpuParams
		pr.ints(nOut, nRed, len(outShape), len(redShape), off).f32(scale).ints(chunk, chunks)
		pr.array8(outShape).array8(outStrides).array8(redShape).array8(redStrides).ints(yOff)
		fz.params(&pr, fz.shape, fz.leafStrides())
		args := append(fz.leafArgs(3), ya)
		if pro == nil {
			args = append(args, xa)
		}
		return g.launchLocked(p, pr.b, gr, args...)
	}
	if g.oversized([]gpuArg{xa, ya}) {
		lo, hi := 0, 0 // an empty reduction reads nothing
		if nRed > 0 {
			lo, hi = span(x.Offset, append(slices.Clone(outShape), redShape...), append(slices.Clone(outStrides), redStrides...))
		}
		var start int
		xa, start = g.window(xa, lo, hi)
		off -= start
		ya, start = g.window(ya, yOff, yOff+nOut*chunks-1)
		yOff -= start
	}
	chunk := (nRed + chunks - 1) / chunks
	var pr gpuParams
	pr.ints(nOut, nRed, len(outShape), len(redShape), off).f32(scale).ints(chunk, chunks)
	pr.array8(outShape).array8(outStrides).array8(redShape).array8(redStrides).ints(yOff)
	return g.launchLocked(p, pr.b, gr, xa, ya)
}

func (g *gpuDevice) ArgReduce(op backend.ReduceOp, dst backend.Buffer, x backend.View) {
	g.do("Arg"+op.String(), []backend.Buffer{dst}, func() error {
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
		if op == backend.ReduceMin {
			cmp = "<"
		}
		n := x.Shape[len(x.Shape)-1]
		p, err := g.pipelineLocked("argreduce", "main", kernelSpec{"T": wgslType(x.Buf.DType()), "Cmp": cmp,
			"Subgroups": g.subgroups && n <= gpuSubgroupRowMax})
		if err != nil {
			return err
		}
		nOut := backend.Numel(outShape)
		xa, ya := gpuIn(1, x.Buf), gpuOut(2, dst)
		if !g.oversized([]gpuArg{xa, ya}) {
			var pr gpuParams
			pr.ints(nOut, n, len(outShape), x.Strides[last], x.Offset, 0, 0, 0)
			pr.array8(outShape).array8(outStrides)
			return g.launchLocked(p, pr.b, g.linearGrid(nOut), xa, ya)
		}
		// Split: passes over as many whole rows of a dense x as fit half
		// a binding.
		x, release, err := g.compactLocked(x)
		if err != nil {
			return err
		}
		defer release()
		xa = gpuIn(1, x.Buf)
		step := g.passRows(n)
		for o0 := 0; o0 < nOut; o0 += step {
			rows := min(step, nOut-o0)
			xw, xs := g.window(xa, x.Offset+o0*n, x.Offset+(o0+rows)*n-1)
			yw, ys := g.window(ya, o0, o0+rows-1)
			var pr gpuParams
			pr.ints(rows, n, 1, 1, x.Offset+o0*n-xs, o0-ys, 0, 0)
			pr.array8([]int{rows}).array8([]int{n})
			if err := g.launchLocked(p, pr.b, g.linearGrid(rows), xw, yw); err != nil {
				return err
			}
		}
		return nil
	})
}

// MatMulHalf reports that MatMul takes float16 and bfloat16 operands,
// widening them as its kernel reads them.
func (g *gpuDevice) MatMulHalf(dt backend.DType) bool { return dt.IsHalf() }

// Conv2DHalf reports that the convolutions take float16 and bfloat16
// inputs, widening them as their kernels read them.
func (g *gpuDevice) Conv2DHalf(dt backend.DType) bool { return dt.IsHalf() }

func (g *gpuDevice) MatMul(dst backend.Buffer, a, b backend.View) {
	g.do("MatMul", []backend.Buffer{dst}, func() error { return g.matMulOpLocked(dst, a, b) })
}

// matMulOpLocked is MatMul with the device locked: dst = a @ b, deferred
// when it can be.
func (g *gpuDevice) matMulOpLocked(dst backend.Buffer, a, b backend.View) error {
	batch, m, n := a.Shape[0], a.Shape[1], b.Shape[2]
	if batch*m*n == 0 {
		return nil
	}
	if ok, err := g.deferMatMulLocked(dst, a, b); ok || err != nil {
		return err
	}
	c := backend.Dense(dst, batch, m, n)
	if !g.oversized([]gpuArg{gpuIn(1, a.Buf), gpuIn(2, b.Buf), gpuOut(3, dst)}) {
		return g.matmulLocked(c, a, b, false, false, nil)
	}
	if a.Buf.DType().IsHalf() {
		return refuse("a product of %v operands larger than one binding (%d bytes) is not supported", a.Buf.DType(), g.bindLimit)
	}
	return g.splitMatMul(c, a, b, false)
}

// splitMatMul records c (+)= a @ b in parts whose operands each fit a
// binding: it halves the dimension (batch, M, N or K) that spans most of
// the largest operand that does not fit, until all do. The K halves after
// the first accumulate.
func (g *gpuDevice) splitMatMul(c, a, b backend.View, accumulate bool) error {
	args := []gpuArg{gpuIn(1, a.Buf), gpuIn(2, b.Buf), gpuOut(3, c.Buf)}
	views := []backend.View{a, b, c}
	worst, over := -1, uint64(0)
	for i, v := range views {
		lo, hi := span(v.Offset, v.Shape, v.Strides)
		if w, _ := g.window(args[i], lo, hi); w.size > g.bindLimit && w.size > over {
			worst, over = i, w.size
		}
	}
	if worst < 0 {
		return g.matmulLocked(c, a, b, accumulate, true, nil)
	}
	v := views[worst]
	d, extent := -1, 0
	for i, pd := range dims3[worst] {
		if e := (v.Shape[i] - 1) * max(v.Strides[i], -v.Strides[i]); v.Shape[i] > 1 && e > extent {
			d, extent = pd, e
		}
	}
	// slice cuts problem dimension pd of an operand whose dimensions are ds.
	slice := func(v backend.View, ds [3]int, pd, from, to int) backend.View {
		for i, x := range ds {
			if x == pd {
				v.Offset += from * v.Strides[i]
				v.Shape = slices.Clone(v.Shape)
				v.Shape[i] = to - from
			}
		}
		return v
	}
	size := [4]int{a.Shape[0], a.Shape[1], b.Shape[2], a.Shape[2]}[d]
	mid := (size + 1) / 2
	if mid > 64 {
		mid = (mid + 63) / 64 * 64 // keeps vec4 alignment along K and N
	}
	for _, r := range [][2]int{{0, mid}, {mid, size}} {
		ap, bp, cp := slice(a, dims3[0], d, r[0], r[1]), slice(b, dims3[1], d, r[0], r[1]), slice(c, dims3[2], d, r[0], r[1])
		if err := g.splitMatMul(cp, ap, bp, accumulate || (d == 3 && r[0] > 0)); err != nil {
			return err
		}
	}
	return nil
}

// batched is a matmul operand [B, R, C] whose index i along dimension d
// is at (i / inner[d])·v.Strides[d] + (i % inner[d])·stride[d]: one level
// when inner[d] is 1, two when the operand reads through a copy
// (batchedView). v.Shape holds the extents.
type batched struct {
	v             backend.View
	inner, stride [3]int
}

// batchOf presents a [B, R, C] operand, or a [B1, B2, R1, R2, C1, C2] one
// from batchedView, as batched.
func batchOf(v backend.View) batched {
	if len(v.Shape) == 3 {
		return batched{v: v, inner: [3]int{1, 1, 1}}
	}
	s, st := v.Shape, v.Strides
	return batched{
		v:      backend.View{Buf: v.Buf, Offset: v.Offset, Shape: []int{s[0] * s[1], s[2] * s[3], s[4] * s[5]}, Strides: []int{st[0], st[2], st[4]}},
		inner:  [3]int{s[1], s[3], s[5]},
		stride: [3]int{st[1], st[3], st[5]},
	}
}

// split reports whether rows or columns have two levels.
func (o batched) split() bool { return o.inner[1] > 1 || o.inner[2] > 1 }

// unit reports whether dimension d runs along memory in groups of 4
// elements that stay within one inner run, so that it loads as vec4s.
func (o batched) unit(d int) bool {
	if o.inner[d] == 1 {
		return o.v.Strides[d] == 1
	}
	return o.stride[d] == 1 && o.inner[d]%4 == 0 && o.v.Strides[d]%4 == 0
}

// mult4 reports whether every stride of dimension d is a multiple of 4
// elements, or d has one element.
func (o batched) mult4(d int) bool {
	return o.v.Shape[d] == 1 || o.v.Strides[d]%4 == 0 && (o.inner[d] == 1 || o.stride[d]%4 == 0)
}

// params writes the operand's inner counts and strides (matmul.wgsl's
// nb2/s_b2 and, for rows and columns, the *_in/*2 fields).
func (o batched) params(pr *gpuParams, d int) { pr.ints(o.inner[d], o.stride[d]) }

// batchedView returns l, a strided view of as many elements as the dense
// [bt, r, c], as a view [B1, B2, R1, R2, C1, C2] of the same elements in
// the same order, or false when its dimensions do not split so: the
// leading, middle and trailing ones must each coalesce into at most two.
func batchedView(l backend.View, bt, r, c int) (backend.View, bool) {
	shape, strides := l.Shape, l.Strides
	j := len(shape)
	for j > 0 && backend.Numel(shape[j:]) < r*c {
		j--
	}
	i := j
	for i < len(shape) && backend.Numel(shape[j:i]) < r {
		i++
	}
	if backend.Numel(shape[j:]) != r*c || backend.Numel(shape[j:i]) != r || backend.Numel(shape[:j]) != bt {
		return backend.View{}, false
	}
	var out backend.View
	out.Buf, out.Offset = l.Buf, l.Offset
	for _, g := range [][2]int{{0, j}, {j, i}, {i, len(shape)}} {
		cs, cst := backend.Coalesce(shape[g[0]:g[1]], strides[g[0]:g[1]])
		switch len(cs) {
		case 0:
			out.Shape, out.Strides = append(out.Shape, 1, 1), append(out.Strides, 0, 0)
		case 1:
			out.Shape, out.Strides = append(out.Shape, cs[0], 1), append(out.Strides, cst[0][0], 0)
		case 2:
			out.Shape, out.Strides = append(out.Shape, cs...), append(out.Strides, cst[0]...)
		default:
			return backend.View{}, false
		}
	}
	return out, true
}

// dims3 names the problem dimensions (B=0, M=1, N=2, K=3) of matmul's
// operands a [B, M, K], b [B, K, N] and c [B, M, N].
var dims3 = [3][3]int{{0, 1, 3}, {0, 3, 2}, {0, 1, 2}}

// matmulLocked records c (+)= a @ b for c with rows of unit stride; with
// window set, each operand is bound from just before its first element.
// A deferred product (see fuse.go) has epi set, reads a and b as they
// are, and applies the epilogue epi.spec, if any, to a dense c.
func (g *gpuDevice) matmulLocked(c, a, b backend.View, accumulate, window bool, epi *fused) error {
	// An operand of a deferred product may read through a copy, with two
	// batch dimensions (see batchedView); the kernel takes the outer
	// batch stride, the inner count and stride.
	ab, bb := batchOf(a), batchOf(b)
	a, b = ab.v, bb.v
	split := ab.split() || bb.split()
	if split && a.Shape[2] > maxLoop {
		return fmt.Errorf("device: a product of two-level operands over K = %d > %d", a.Shape[2], maxLoop)
	}
	batch, m, k, n := a.Shape[0], a.Shape[1], a.Shape[2], b.Shape[2]
	aa, ba, ca := gpuIn(1, a.Buf), gpuIn(2, b.Buf), gpuOut(3, c.Buf)
	var extra []gpuArg
	var epiSpec any
	if epi != nil {
		aa.asIs, ba.asIs = true, true
		if epi.spec != nil {
			epi.rowLeaves(m, n, true)
			epiSpec = epi.epilogue()
			extra = epi.leafArgs(4)
		}
	}
	if window {
		var start int
		for _, o := range []struct {
			arg *gpuArg
			v   *backend.View
		}{{&aa, &a}, {&ba, &b}, {&ca, &c}} {
			lo, hi := span(o.v.Offset, o.v.Shape, o.v.Strides)
			*o.arg, start = g.window(*o.arg, lo, hi)
			o.v.Offset -= start
		}
	}
	// vec4 loads need every vector to start on a multiple of 4
	// elements and to lie inside its row: K chunks are multiples of 4
	// because maxLoop is.
	vecA := ab.unit(2) && k%4 == 0 && a.Offset%4 == 0 && ab.mult4(1) && (ab.mult4(0) || batch == 1)
	vecB := bb.unit(2) && n%4 == 0 && b.Offset%4 == 0 && bb.mult4(1) && (bb.mult4(0) || batch == 1)
	halfA, halfB := a.Buf.DType().IsHalf(), b.Buf.DType().IsHalf() // widened as read
	vecA, vecB = vecA && !halfA, vecB && !halfB
	// The thin kernel where B would be read element by element: a tiled
	// product with B loaded as vectors stays faster.
	thin := m <= thinRows && n >= thinColumns && !vecB
	if thin {
		// Vectors along K, a's rows and b's columns alike.
		vecA = !split && !halfA && !halfB && ab.unit(2) && bb.unit(1) && k%4 == 0 && a.Offset%4 == 0 && b.Offset%4 == 0 &&
			ab.mult4(1) && bb.mult4(2) && (ab.mult4(0) && bb.mult4(0) || batch == 1)
		vecB = vecA
	}
	entry, t := "main", g.matmulTile(batch, m, n, vecA && vecB)
	if thin {
		entry, t = "thin", gemmTile{wx: 256, wy: 1, rm: thinRows, rn: 1} // a column a thread
	}
	if vecA {
		aa = aa.vec4()
	}
	if vecB {
		ba = ba.vec4()
	}
	spec := t.spec(vecA, vecB)
	spec["SgA"] = g.broadcastsA(t)
	spec["Epi"], spec["Split"] = epiSpec, split
	spec["HalfA"], spec["HalfB"] = "", ""
	if halfA {
		spec["HalfA"] = halfKind(a.Buf.DType())
	}
	if halfB {
		spec["HalfB"] = halfKind(b.Buf.DType())
	}
	spec["Thin"] = thin
	p, err := g.pipelineLocked("matmul", entry, spec)
	if err != nil {
		return err
	}
	limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
	if gx, gy := ceilDiv(n, t.cols()), ceilDiv(m, t.rows()); gx > limit || gy > limit {
		return refuse("a %d×%d product needs %d×%d workgroups, over the adapter's maxComputeWorkgroupsPerDimension (%d)",
			m, n, gy, gx, limit)
	}
	// Each dispatch covers at most maxLoop of K, accumulating into
	// c after the first; K = 0 still runs once to write zeros.
	for k0 := 0; k0 == 0 || k0 < k; k0 += maxLoop {
		kc := min(k-k0, maxLoop)
		for base := 0; base < batch; base += limit {
			var pr gpuParams
			pr.ints(m, n, kc, base, a.Offset+k0*a.Strides[2], b.Offset+k0*b.Strides[1], a.Strides[0], a.Strides[1], a.Strides[2],
				b.Strides[0], b.Strides[1], b.Strides[2], gpuBool(accumulate || k0 > 0), c.Offset, c.Strides[0], c.Strides[1])
			for d := range 3 {
				ab.params(&pr, d)
				bb.params(&pr, d)
			}
			if epiSpec != nil {
				pr.ints(gpuBool(k0+kc >= k))
				epi.params(&pr, epi.shape, epi.leafStrides())
			}
			gr := gpuGrid{uint32(ceilDiv(n, t.cols())), uint32(ceilDiv(m, t.rows())), uint32(min(limit, batch-base))}
			if err := g.launchLocked(p, pr.b, gr, append([]gpuArg{aa, ba, ca}, extra...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// A product of at most thinRows rows and at least thinColumns columns
// whose B is not loaded as vectors runs the thin kernel (see matmul.wgsl),
// a column a thread: a GEMM's tiles of 8 rows or more would be mostly
// padding. On lavapipe a vector of 1280 times a transposed 1280×1000
// weight and a bias (MobileNetV2's classifier) took 15.1–15.7 ms as a
// GEMM and 2.7–2.8 ms thin (test programs alternating), 3.5–3.8 ms thin
// without vectors along K; 4×512 times a dense 512×1000 took 1.8 ms as a
// GEMM with vector loads and 4.5 ms thin.
const (
	thinRows    = 4
	thinColumns = 64
)

func (g *gpuDevice) Softmax(dst backend.Buffer, x backend.Buffer, rows, cols int, log bool) {
	g.do("Softmax", []backend.Buffer{dst}, func() error {
		if cols > 256*maxLoop {
			return refuse("rows of %d elements are longer than the GPU kernel handles (%d)", cols, 256*maxLoop)
		}
		entry, grid := "main", g.linearGrid
		if cols <= gpuShortRow {
			entry, grid = "short", g.threads
		}
		xa, ya := gpuIn(1, x), gpuOut(2, dst)
		split := g.oversized([]gpuArg{xa, ya})
		spec := kernelSpec{"Subgroups": g.subgroups && cols <= gpuSubgroupRowMax, "Pro": nil}
		var pro *fused // x's pending expression, evaluated as the kernel reads x
		if !split && rows*cols > 0 {
			pro = g.prologueLocked(backend.Dense(x, rows*cols))
		}
		if pro != nil {
			spec["Pro"] = pro.epilogue()
		}
		p, err := g.pipelineLocked("softmax", entry, spec)
		if err != nil {
			return err
		}
		if pro != nil {
			var pr gpuParams
			pr.ints(rows, cols, gpuBool(log), 0, 0)
			pro.params(&pr, pro.shape, pro.leafStrides())
			return g.launchLocked(p, pr.b, grid(rows), append(pro.leafArgs(3), ya)...)
		}
		step := rows // rows per pass: as many as fit half a binding
		if split {
			step = g.passRows(cols)
		}
		for r0 := 0; r0 < rows; r0 += step {
			n := min(step, rows-r0)
			xw, yw, off := xa, ya, 0
			if split {
				var start int
				xw, start = g.window(xa, r0*cols, (r0+n)*cols-1)
				yw, _ = g.window(ya, r0*cols, (r0+n)*cols-1)
				off = r0*cols - start
			}
			var pr gpuParams
			pr.ints(n, cols, gpuBool(log), off)
			if err := g.launchLocked(p, pr.b, grid(n), xw, yw); err != nil {
				return err
			}
		}
		return nil
	})
}

func gpuBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *gpuDevice) pooling(entry string, total int, p backend.Pool2DParams, args ...gpuArg) {
	var outs []backend.Buffer
	for _, a := range args {
		if a.write {
			outs = append(outs, a.gb)
		}
	}
	g.do("Pool2D."+entry, outs, func() error {
		if entry == "max_forward" && len(args) == 2 { // no indices wanted: they go to scratch
			idx, err := g.scratchLocked(backend.Int32, total)
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
		planes := p.N * p.C
		step := planes // planes per pass: as many as fit half a binding
		if g.oversized(args) {
			perPlane := 1
			for _, a := range args {
				perPlane = max(perPlane, a.gb.n/planes)
			}
			step = g.passRows(perPlane)
		}
		for p0 := 0; p0 == 0 || p0 < planes; p0 += step {
			cnt := min(step, planes-p0)
			bound := slices.Clone(args)
			var offs [4]int // by binding slot 1…4
			if step < planes {
				for i, a := range args {
					per := a.gb.n / planes
					var start int
					bound[i], start = g.window(a, p0*per, (p0+cnt)*per-1)
					offs[a.slot-1] = p0*per - start
				}
			}
			n := total / max(planes, 1) * cnt
			var pr gpuParams
			pr.ints(cnt, 1, p.H, p.W, p.KH, p.KW, p.OH, p.OW, p.StrideH, p.StrideW, p.PadH, p.PadW,
				gpuBool(p.CountIncludePad), n).ints(offs[:]...).ints(0, 0)
			if err := g.launchLocked(pl, pr.b, g.threads(n), bound...); err != nil {
				return err
			}
		}
		return nil
	})
}

func (g *gpuDevice) MaxPool2D(dst, idx, x backend.Buffer, p backend.Pool2DParams) {
	if idx == nil {
		g.pooling("max_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst))
		return
	}
	g.pooling("max_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst), gpuOut(4, idx))
}

func (g *gpuDevice) MaxPool2DGrad(dx, dy, idx backend.Buffer, p backend.Pool2DParams) {
	if p.StrideH == p.KH && p.StrideW == p.KW && p.PadH == 0 && p.PadW == 0 && p.H == p.OH*p.KH && p.W == p.OW*p.KW {
		// The windows tile the input: a thread per window (the MNIST
		// CNN's 2×2 pools 26 → 3.5 ms a step on llvmpipe).
		g.pooling("max_backward_tiled", p.N*p.C*p.OH*p.OW, p, gpuIn(1, dy), gpuIn(2, idx), gpuOut(3, dx))
		return
	}
	g.pooling("max_backward", p.N*p.C*p.H*p.W, p, gpuIn(1, dy), gpuIn(2, idx), gpuOut(3, dx))
}

func (g *gpuDevice) AvgPool2D(dst, x backend.Buffer, p backend.Pool2DParams) {
	g.pooling("avg_forward", p.N*p.C*p.OH*p.OW, p, gpuIn(1, x), gpuOut(3, dst))
}

func (g *gpuDevice) AvgPool2DGrad(dx, dy backend.Buffer, p backend.Pool2DParams) {
	g.pooling("avg_backward", p.N*p.C*p.H*p.W, p, gpuIn(1, dy), gpuOut(3, dx))
}

// index records one of the index kernels; src is read, dst written (or
// accumulated into when atomic).
func (g *gpuDevice) index(entry string, code uint32, atomic bool, dst, src, idx backend.Buffer, sh backend.GatherShape) {
	g.do(indexOpName(code), []backend.Buffer{dst}, func() error {
		if atomic { // dst is read too
			if r := dst.(*gpuBuffer).refused.Load(); r != nil {
				return r
			}
		}
		t := wgslType(src.DType())
		dt := t
		if atomic {
			dt = "atomic<u32>"
			if src.DType() == backend.Int32 {
				dt = "atomic<i32>"
			}
		}
		p, err := g.pipelineLocked("index", entry, kernelSpec{"T": t, "DT": dt, "Atomic": atomic})
		if err != nil {
			return err
		}
		total := sh.Outer * sh.M * sh.Inner
		if total > 0 {
			g.statusUsed = true
		}
		code = g.indexCodeLocked(code, sh)
		status := gpuArg{slot: 4, buf: g.status, size: 16, write: true}
		args := []gpuArg{gpuIn(1, src), gpuIn(2, idx), gpuOut(3, dst), status}
		if !g.oversized(args) {
			var pr gpuParams
			pr.ints(sh.Outer, sh.N, sh.M, sh.Inner, total).u32(code).ints(0, sh.N, 0, 0, 0, 0)
			return g.launchLocked(p, pr.b, g.threads(total), args...)
		}
		// Split: passes over as many outer slices as fit half a binding
		// and, when one slice of the [outer, n, inner] side does not, over
		// ranges of n.
		big, small := 0, 2 // args' positions of the two sides
		if atomic {
			big, small = 2, 0
		}
		perIdx := 0 // a Gather index has the m side's shape; IndexSelect's is [m]
		if entry == "gather" || entry == "scatter_add" {
			perIdx = sh.M * sh.Inner
		}
		per := g.passRows(max(sh.N, sh.M) * sh.Inner) // outer slices per pass
		rows := sh.N
		if sh.N*sh.Inner > g.passElements() {
			rows = g.passRows(sh.Inner)
		}
		for o0 := 0; o0 < sh.Outer; o0 += per {
			cnt := min(per, sh.Outer-o0)
			for lo := 0; lo == 0 || lo < sh.N; lo += rows {
				hi := min(lo+rows, sh.N)
				bound := slices.Clone(args)
				var ns, ms, is int
				bound[big], ns = g.window(args[big], (o0*sh.N+lo)*sh.Inner, ((o0+cnt-1)*sh.N+hi)*sh.Inner-1)
				bound[small], ms = g.window(args[small], o0*sh.M*sh.Inner, (o0+cnt)*sh.M*sh.Inner-1)
				if perIdx > 0 {
					bound[1], is = g.window(args[1], o0*perIdx, (o0+cnt)*perIdx-1)
				}
				var pr gpuParams
				pr.ints(cnt, sh.N, sh.M, sh.Inner, cnt*sh.M*sh.Inner).u32(code)
				pr.ints(lo, hi, o0*sh.N*sh.Inner-ns, o0*sh.M*sh.Inner-ms, o0*perIdx-is, 0)
				if err := g.launchLocked(p, pr.b, g.threads(cnt*sh.M*sh.Inner), bound...); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (g *gpuDevice) IndexSelect(dst, x, idx backend.Buffer, sh backend.GatherShape) {
	g.index("index_select", codeIndexSelect, false, dst, x, idx, sh)
}

func (g *gpuDevice) IndexAdd(dst, idx, src backend.Buffer, sh backend.GatherShape) {
	g.index("index_add", codeIndexAdd, true, dst, src, idx, sh)
}

func (g *gpuDevice) Gather(dst, x, idx backend.Buffer, sh backend.GatherShape) {
	g.index("gather", codeGather, false, dst, x, idx, sh)
}

func (g *gpuDevice) ScatterAdd(dst, idx, src backend.Buffer, sh backend.GatherShape) {
	g.index("scatter_add", codeScatterAdd, true, dst, src, idx, sh)
}
