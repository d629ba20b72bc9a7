package cpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// Operation costs, in rough multiples of an addition, used to decide when a
// loop is worth running on several goroutines.
const (
	cpuCostCheap = 1
	cpuCostMath  = 16
)

// Copy copies src into dst, converting the elements when the types differ.
func (d *cpuDevice) Copy(dst, src backend.View) {
	d.dispatch()
	switch {
	case dst.Buf.DType() == src.Buf.DType() && dst.Buf.DType().IsHalf():
		cpuCopyView[uint16, uint16](dst, src)
	case dst.Buf.DType().IsHalf() || src.Buf.DType().IsHalf():
		cpuCopyHalfView(dst, src)
	case dst.Buf.DType() == backend.Float32 && src.Buf.DType() == backend.Float32:
		cpuCopyView[float32, float32](dst, src)
	case dst.Buf.DType() == backend.Float32:
		cpuCopyView[float32, int32](dst, src)
	case src.Buf.DType() == backend.Float32:
		cpuCopyView[int32, float32](dst, src)
	default:
		cpuCopyView[int32, int32](dst, src)
	}
}

// cpuCopyView copies the view src of S elements into the view dst of D elements.
func cpuCopyView[D, S cpuElem | uint16](dst, src backend.View) {
	n := src.Numel()
	if n == 0 {
		return
	}
	dd, sd := cpuElems[D](dst.Buf), cpuElems[S](src.Buf)
	l := newCPULoop(src.Shape, [][]int{dst.Strides, src.Strides}, []int{dst.Offset, src.Offset})
	ds, ss := l.inner(0), l.inner(1)
	if d32, ok := any(dd).([]float32); ok && cpuCopyBlocks(d32, any(sd), l) {
		return
	}
	l.each(n, cpuCostCheap, func() func([]int, int) {
		return func(off []int, n int) { cpuCopyRun(dd, off[0], ds, sd, off[1], ss, n) }
	})
}

// cpuCopyBlocks copies the float32 loop l, from src to dst, as blocks of
// short rows when both step along its two innermost dimensions by a row
// stride and 1 (a transposed view of attention heads: rows of 32 floats,
// 256 apart), a kernel.CopyRows each, and reports whether it did: such
// rows visited one at a time cost more to visit than to copy (BERT's
// copy of its heads back 44 → 19 µs, its scaling of the queries, a
// division over such a view, 33 → 10 µs).
func cpuCopyBlocks(dst []float32, src any, l *cpuLoop) bool {
	s32, ok := src.([]float32)
	nd := len(l.shape)
	if !ok || nd < 2 || l.inner(0) != 1 || l.inner(1) != 1 || l.shape[nd-1] >= cpuShortRun {
		return false
	}
	rows, cols := l.shape[nd-2], l.shape[nd-1]
	ldd, lds := l.strides[0][nd-2], l.strides[1][nd-2]
	if ldd < cols || lds < cols {
		return false
	}
	block := rows * cols
	cpuParallel(backend.Numel(l.shape)/block, block*cpuCostCheap, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			od, os := l.offset(0, b*block), l.offset(1, b*block)
			if kernel.CopyRows(dst[od:], s32[os:], cols, rows, ldd, lds) {
				continue
			}
			for r := range rows {
				copy(dst[od+r*ldd:od+r*ldd+cols], s32[os+r*lds:os+r*lds+cols])
			}
		}
	})
	return true
}

// cpuDensify copies the float32 view v into the dense dst when it is a
// block of short rows (see cpuCopyBlocks), and reports whether it did.
func cpuDensify(dst []float32, v backend.View) bool {
	nd := len(v.Shape)
	// Coalescing keeps the innermost stride and only lengthens the
	// innermost run: views failing these fail cpuCopyBlocks, checked
	// before building its loop (the op's own loop follows).
	if nd < 2 || v.Strides[nd-1] != 1 || v.Shape[nd-1] >= cpuShortRun ||
		v.Buf.DType() != backend.Float32 || v.IsContiguous() || cpuUniform(v) {
		return false
	}
	return cpuCopyBlocks(dst, cpuFloats(v.Buf), cpuDenseLoop(v.Shape, v))
}

// cpuAliases reports whether v's buffer is dst's memory: an op writing dst
// in place of one of its operands cannot copy another into dst first.
func cpuAliases(dst []float32, v backend.View) bool {
	b, ok := v.Buf.(*cpuBuffer)
	return ok && len(b.f) > 0 && len(dst) > 0 && unsafe.SliceData(b.f) == unsafe.SliceData(dst)
}

// cpuDenseOf is a dense view of shape over the float32 elements d, which
// an elementwise op may read while it writes them.
func cpuDenseOf(d []float32, shape []int) backend.View {
	return backend.Dense(&cpuBuffer{dt: backend.Float32, f: d, n: len(d)}, shape...)
}

// cpuShortRun is the row length below which a strided copy goes by
// blocks of rows (see cpuCopyBlocks).
const cpuShortRun = 256

// cpuCopyRun copies n elements of src, from offset so at steps of ss, into dst
// from offset do at steps of ds.
func cpuCopyRun[D, S cpuElem | uint16](dst []D, do, ds int, src []S, so, ss, n int) {
	if ds == 1 && ss == 1 {
		d, s := dst[do:do+n], src[so:so+n]
		for i, v := range s {
			d[i] = D(v)
		}
		return
	}
	for range n {
		dst[do] = D(src[so])
		do += ds
		so += ss
	}
}

// Unary applies op to every element of x.
func (d *cpuDevice) Unary(op backend.UnaryOp, dst backend.Buffer, x backend.View) {
	d.dispatch()
	if x.Buf.DType() == backend.Int32 {
		if !op.IntOK() {
			panic(fmt.Sprintf("device: Unary: %v is not defined for int32", op))
		}
		cpuMapView(cpuInts(dst), x, cpuCostCheap, op, cpuUnaryInt)
		return
	}
	cost := cpuCostMath
	if op.IntOK() || op == backend.Recip || op == backend.ReLU {
		cost = cpuCostCheap
	}
	cpuMapView(cpuFloats(dst), x, cost, op, cpuUnaryFloat)
}

// cpuMapView runs kern over the elements of x and the dense dst, handing it
// contiguous pieces of both.
func cpuMapView[D, S cpuElem](dst []D, x backend.View, cost int, op backend.UnaryOp, kern func(op backend.UnaryOp, d []D, s []S)) {
	n := x.Numel()
	if n == 0 {
		return
	}
	xd := cpuElems[S](x.Buf)
	if x.IsContiguous() {
		src := xd[x.Offset : x.Offset+n]
		if cpuChunks(n, cost) == 1 {
			kern(op, dst[:n], src) // no closure to allocate for a small loop
			return
		}
		cpuParallel(n, cost, func(lo, hi int) { kern(op, dst[lo:hi], src[lo:hi]) })
		return
	}
	if d32, ok := any(dst).([]float32); ok && !cpuAliases(d32, x) && cpuDensify(d32[:n], x) {
		// A transposed view whose rows are short: copied into dst by
		// blocks first, then mapped in place.
		cpuMapView(dst, cpuDenseOf(d32[:n], x.Shape), cost, op, kern)
		return
	}
	l := cpuDenseLoop(x.Shape, x)
	xs := l.inner(1)
	l.each(n, cost, func() func([]int, int) {
		var buf [cpuBlock]S
		return func(off []int, n int) {
			cpuBlocks(n, xs == 1, func(i, m int) {
				kern(op, dst[off[0]+i:off[0]+i+m], cpuOperand(xd, off[1]+i*xs, xs, m, &buf))
			})
		}
	})
}

// cpuUnaryInt applies an op defined on int32 to each element of x.
func cpuUnaryInt(op backend.UnaryOp, dst, x []int32) {
	x = x[:len(dst)]
	switch op {
	case backend.Neg:
		for i, v := range x {
			dst[i] = -v
		}
	case backend.Abs:
		for i, v := range x {
			dst[i] = max(v, -v)
		}
	case backend.Sign:
		for i, v := range x {
			dst[i] = cpuSign(v)
		}
	case backend.Square:
		for i, v := range x {
			dst[i] = v * v
		}
	}
}

// cpuSign returns 1, -1 or 0 by the sign of v, and 0 for NaN, as PyTorch does.
func cpuSign[T cpuElem](v T) T {
	var s T
	if v > 0 {
		s++
	}
	if v < 0 {
		s--
	}
	return s
}

// cpuUnaryFloat applies op to each element of x.
func cpuUnaryFloat(op backend.UnaryOp, dst, x []float32) {
	x = x[:len(dst)]
	switch op {
	case backend.Neg:
		for i, v := range x {
			dst[i] = -v
		}
	case backend.Abs:
		for i, v := range x {
			dst[i] = math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		}
	case backend.Sign:
		for i, v := range x {
			dst[i] = cpuSign(v)
		}
	case backend.Square:
		for i, v := range x {
			dst[i] = v * v
		}
	case backend.Recip:
		for i, v := range x {
			dst[i] = 1 / v
		}
	case backend.ReLU:
		kernel.ReLU(dst, x)
	case backend.Exp:
		kernel.Exp(dst, x)
	case backend.Tanh:
		kernel.Tanh(dst, x)
	case backend.Sigmoid:
		kernel.Sigmoid(dst, x)
	case backend.Sqrt:
		kernel.Sqrt(dst, x)
	case backend.Erf:
		kernel.Erf(dst, x)
	default:
		cpuMapFloat64(dst, x, cpuUnaryMath[op])
	}
}

// cpuUnaryMath holds the unary ops computed in float64.
var cpuUnaryMath = [...]func(float64) float64{
	backend.Log:      math.Log,
	backend.Rsqrt:    func(x float64) float64 { return 1 / math.Sqrt(x) },
	backend.Sin:      math.Sin,
	backend.Cos:      math.Cos,
	backend.GELU:     cpuGELU,
	backend.GELUGrad: cpuGELUGrad,
}

// cpuMapFloat64 sets dst[i] = f(x[i]) computed in float64.
func cpuMapFloat64(dst, x []float32, f func(float64) float64) {
	for i, v := range x {
		dst[i] = float32(f(float64(v)))
	}
}

// cpuGELU is x·Φ(x) with Φ the standard normal distribution function.
func cpuGELU(x float64) float64 {
	return x * cpuNormalCDF(x)
}

// cpuGELUGrad is the derivative of gelu, Φ(x) + x·φ(x).
func cpuGELUGrad(x float64) float64 {
	return cpuNormalCDF(x) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
}

// cpuNormalCDF is Φ(x), written with erfc to stay accurate for negative x.
func cpuNormalCDF(x float64) float64 {
	return 0.5 * math.Erfc(-x/math.Sqrt2)
}

// Binary applies op to pairs of elements of a and b.
func (d *cpuDevice) Binary(op backend.BinaryOp, dst backend.Buffer, a, b backend.View) {
	d.dispatch()
	cpuBinary(op, dst, a, b)
}

// BinaryScalar applies op to the elements of a and the scalar s, converted
// to a's type, as op(a, s) or, when scalarFirst is set, op(s, a).
func (d *cpuDevice) BinaryScalar(op backend.BinaryOp, dst backend.Buffer, a backend.View, s float64, scalarFirst bool) {
	d.dispatch()
	sb := &cpuBuffer{dt: a.Buf.DType(), n: 1}
	if sb.dt == backend.Float32 {
		sb.f = []float32{float32(s)}
	} else {
		sb.i = []int32{int32(s)}
	}
	sv := backend.View{Buf: sb, Shape: a.Shape, Strides: make([]int, len(a.Shape))}
	if scalarFirst {
		cpuBinary(op, dst, sv, a)
	} else {
		cpuBinary(op, dst, a, sv)
	}
}

// cpuBinary runs op on the views a and b of one type.
func cpuBinary(op backend.BinaryOp, dst backend.Buffer, a, b backend.View) {
	isFloat := a.Buf.DType() == backend.Float32
	switch {
	case op.IsComparison() && isFloat:
		cpuZipViews(cpuFloats(dst), a, b, cpuCostCheap, op, cpuCompareFloat)
	case op.IsComparison():
		cpuZipViews(cpuFloats(dst), a, b, cpuCostCheap, op, cpuCompare[int32])
	case isFloat:
		cost := cpuCostCheap
		if op == backend.Pow {
			cost = cpuCostMath
		}
		cpuZipViews(cpuFloats(dst), a, b, cost, op, cpuBinaryFloat)
	default:
		if op == backend.Pow {
			panic("device: Binary: Pow is not defined for int32")
		}
		cpuZipViews(cpuInts(dst), a, b, cpuCostCheap, op, cpuBinaryInt)
	}
}

// cpuZipViews runs kern over the elements of a and b and the dense dst, handing
// it contiguous pieces of all three.
func cpuZipViews[D, S cpuElem](dst []D, a, b backend.View, cost int, op backend.BinaryOp, kern func(op backend.BinaryOp, d []D, x, y []S)) {
	n := a.Numel()
	if n == 0 {
		return
	}
	ad, bd := cpuElems[S](a.Buf), cpuElems[S](b.Buf)
	// Fast paths for the common layouts: both operands dense, or one dense
	// and the other a single broadcast value.
	switch {
	case a.IsContiguous() && b.IsContiguous():
		x, y := ad[a.Offset:a.Offset+n], bd[b.Offset:b.Offset+n]
		if cpuChunks(n, cost) == 1 {
			kern(op, dst[:n], x, y) // no closure to allocate for a small loop
			return
		}
		cpuParallel(n, cost, func(lo, hi int) { kern(op, dst[lo:hi], x[lo:hi], y[lo:hi]) })
		return
	case a.IsContiguous() && cpuUniform(b):
		x, v := ad[a.Offset:a.Offset+n], bd[b.Offset]
		cpuRange(n, cost, func(lo, hi int) {
			var buf [cpuBlock]S
			cpuZipScalar(dst[lo:hi], x[lo:hi], v, &buf, func(d []D, x, y []S) { kern(op, d, x, y) })
		})
		return
	case b.IsContiguous() && cpuUniform(a):
		y, v := bd[b.Offset:b.Offset+n], ad[a.Offset]
		cpuRange(n, cost, func(lo, hi int) {
			var buf [cpuBlock]S
			cpuZipScalar(dst[lo:hi], y[lo:hi], v, &buf, func(d []D, y, x []S) { kern(op, d, x, y) })
		})
		return
	}
	// A transposed view whose rows are short, beside a dense or uniform
	// operand: copied into dst by blocks first, then combined in place.
	if d32, ok := any(dst).([]float32); ok && !cpuAliases(d32, a) && !cpuAliases(d32, b) {
		if (b.IsContiguous() || cpuUniform(b)) && cpuDensify(d32[:n], a) {
			cpuZipViews(dst, cpuDenseOf(d32[:n], a.Shape), b, cost, op, kern)
			return
		}
		if (a.IsContiguous() || cpuUniform(a)) && cpuDensify(d32[:n], b) {
			cpuZipViews(dst, a, cpuDenseOf(d32[:n], b.Shape), cost, op, kern)
			return
		}
	}
	l := cpuDenseLoop(a.Shape, a, b)
	as, bs := l.inner(1), l.inner(2)
	l.each(n, cost, func() func([]int, int) {
		var bufA, bufB cpuOperandBuf[S]
		return func(off []int, n int) {
			cpuBlocks(n, as == 1 && bs == 1, func(i, m int) {
				kern(op, dst[off[0]+i:off[0]+i+m],
					bufA.operand(ad, off[1]+i*as, as, m),
					bufB.operand(bd, off[2]+i*bs, bs, m))
			})
		}
	})
}

// cpuUniform reports whether every element of v is the same one (all
// strides zero).
func cpuUniform(v backend.View) bool {
	for _, s := range v.Strides {
		if s != 0 {
			return false
		}
	}
	return true
}

// cpuZipScalar runs kern(dst, x, [v v v ...]) block by block, with v
// repeated in buf.
func cpuZipScalar[D, S cpuElem](dst []D, x []S, v S, buf *[cpuBlock]S, kern func(d []D, x, y []S)) {
	fill := min(len(x), cpuBlock)
	for i := range fill {
		buf[i] = v
	}
	for i := 0; i < len(x); i += cpuBlock {
		m := min(cpuBlock, len(x)-i)
		kern(dst[i:i+m], x[i:i+m], buf[:m])
	}
}

// cpuBinaryFloat applies a float32 op to pairs of elements of x and y.
func cpuBinaryFloat(op backend.BinaryOp, dst, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	if vop, ok := cpuVectorOp(op); ok {
		done := kernel.Arith(vop, dst, x, y)
		dst, x, y = dst[done:], x[done:], y[done:]
	}
	switch op {
	case backend.Div:
		for i := range dst {
			dst[i] = x[i] / y[i]
		}
	case backend.Pow:
		for i := range dst {
			dst[i] = float32(math.Pow(float64(x[i]), float64(y[i])))
		}
	case backend.TanhGrad:
		for i, v := range y {
			dst[i] = x[i] * (1 - v*v)
		}
	case backend.SigmoidGrad:
		for i, v := range y {
			dst[i] = x[i] * v * (1 - v)
		}
	default:
		cpuArithmetic(op, dst, x, y)
	}
}

// cpuVectorOp returns the kernel.Arith operation of op, if it has one.
func cpuVectorOp(op backend.BinaryOp) (kernel.ArithOp, bool) {
	switch op {
	case backend.Add:
		return kernel.AddOp, true
	case backend.Sub:
		return kernel.SubOp, true
	case backend.Mul:
		return kernel.MulOp, true
	case backend.Div:
		return kernel.DivOp, true
	case backend.Maximum:
		return kernel.MaxOp, true
	case backend.Minimum:
		return kernel.MinOp, true
	}
	return 0, false
}

// cpuBinaryInt applies an int32 op to pairs of elements of x and y. Division
// truncates toward zero, and division by zero yields 0.
func cpuBinaryInt(op backend.BinaryOp, dst, x, y []int32) {
	x, y = x[:len(dst)], y[:len(dst)]
	if op != backend.Div {
		cpuArithmetic(op, dst, x, y)
		return
	}
	for i := range dst {
		if y[i] == 0 {
			dst[i] = 0
		} else {
			dst[i] = x[i] / y[i]
		}
	}
}

// cpuArithmetic applies Add, Sub, Mul, Maximum or Minimum to pairs of elements
// of x and y; integer results wrap around. Maximum and Minimum return NaN
// when either element is NaN.
func cpuArithmetic[T cpuElem](op backend.BinaryOp, dst, x, y []T) {
	x, y = x[:len(dst)], y[:len(dst)]
	switch op {
	case backend.Add:
		for i := range dst {
			dst[i] = x[i] + y[i]
		}
	case backend.Sub:
		for i := range dst {
			dst[i] = x[i] - y[i]
		}
	case backend.Mul:
		for i := range dst {
			dst[i] = x[i] * y[i]
		}
	case backend.Maximum:
		for i := range dst {
			u, v := x[i], y[i]
			if v > u || v != v {
				u = v
			}
			dst[i] = u
		}
	case backend.Minimum:
		for i := range dst {
			u, v := x[i], y[i]
			if v < u || v != v {
				u = v
			}
			dst[i] = u
		}
	default:
		panic(fmt.Sprintf("device: Binary: unsupported op %v", op))
	}
}

// cpuCompareFloat is cpuCompare for float32, vectorised where it can be.
func cpuCompareFloat(op backend.BinaryOp, dst, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	done := kernel.Arith(cpuCompareOps[op-backend.Eq], dst, x, y)
	cpuCompare(op, dst[done:], x[done:], y[done:])
}

// cpuCompareOps maps the comparisons, from Eq on, to kernel.Arith's.
var cpuCompareOps = [...]kernel.ArithOp{
	backend.Eq - backend.Eq: kernel.EqOp, backend.Ne - backend.Eq: kernel.NeOp, backend.Lt - backend.Eq: kernel.LtOp,
	backend.Le - backend.Eq: kernel.LeOp, backend.Gt - backend.Eq: kernel.GtOp, backend.Ge - backend.Eq: kernel.GeOp,
}

// cpuCompare writes 1 where the comparison op holds between x[i] and y[i], and
// 0 elsewhere.
func cpuCompare[T cpuElem](op backend.BinaryOp, dst []float32, x, y []T) {
	x, y = x[:len(dst)], y[:len(dst)]
	switch op {
	case backend.Eq:
		for i := range dst {
			dst[i] = cpuBool(x[i] == y[i])
		}
	case backend.Ne:
		for i := range dst {
			dst[i] = cpuBool(x[i] != y[i])
		}
	case backend.Lt:
		for i := range dst {
			dst[i] = cpuBool(x[i] < y[i])
		}
	case backend.Le:
		for i := range dst {
			dst[i] = cpuBool(x[i] <= y[i])
		}
	case backend.Gt:
		for i := range dst {
			dst[i] = cpuBool(x[i] > y[i])
		}
	case backend.Ge:
		for i := range dst {
			dst[i] = cpuBool(x[i] >= y[i])
		}
	}
}

// cpuBool returns 1 for true and 0 for false.
func cpuBool(b bool) float32 {
	// Choosing between integers compiles to a conditional move; a branch
	// on random comparisons mispredicts half the time.
	var bits uint32
	if b {
		bits = 0x3f800000 // 1.0
	}
	return math.Float32frombits(bits)
}

// Where writes a where cond is non-zero and b elsewhere.
func (d *cpuDevice) Where(dst backend.Buffer, cond, a, b backend.View) {
	d.dispatch()
	switch {
	case cond.Buf.DType() == backend.Float32 && a.Buf.DType() == backend.Float32:
		cpuWhere(dst, cond, a, b, cpuChooseFloat)
	case cond.Buf.DType() == backend.Float32:
		cpuWhere(dst, cond, a, b, cpuChoose[float32, int32])
	case a.Buf.DType() == backend.Float32:
		cpuWhere(dst, cond, a, b, cpuChoose[int32, float32])
	default:
		cpuWhere(dst, cond, a, b, cpuChoose[int32, int32])
	}
}

// cpuWhere is Where for a condition of type C and values of type T, choosing
// the elements of each dense run with choose.
func cpuWhere[C, T cpuElem](dst backend.Buffer, cond, a, b backend.View, choose func(dst []T, c []C, x, y []T)) {
	n := a.Numel()
	if n == 0 {
		return
	}
	dd := cpuElems[T](dst)
	cd, ad, bd := cpuElems[C](cond.Buf), cpuElems[T](a.Buf), cpuElems[T](b.Buf)
	l := cpuDenseLoop(a.Shape, cond, a, b)
	cs, as, bs := l.inner(1), l.inner(2), l.inner(3)
	l.each(n, cpuCostCheap, func() func([]int, int) {
		var bufC [cpuBlock]C
		var bufA, bufB [cpuBlock]T
		return func(off []int, n int) {
			cpuBlocks(n, cs == 1 && as == 1 && bs == 1, func(i, m int) {
				c := cpuOperand(cd, off[1]+i*cs, cs, m, &bufC)
				x := cpuOperand(ad, off[2]+i*as, as, m, &bufA)
				y := cpuOperand(bd, off[3]+i*bs, bs, m, &bufB)
				choose(dd[off[0]+i:off[0]+i+m], c, x, y)
			})
		}
	})
}

// cpuChooseFloat is cpuChoose for float32 conditions and values, vectorised
// where it can be: the derivative rules that select (ReLU, Clamp, ...) run
// it in every training step, on masks whose random pattern would make a
// branch per element mispredict.
func cpuChooseFloat(dst, c, x, y []float32) {
	c, x, y = c[:len(dst)], x[:len(dst)], y[:len(dst)]
	done := kernel.Select(dst, c, x, y)
	cpuChoose(dst[done:], c[done:], x[done:], y[done:])
}

// cpuChoose sets dst[i] to x[i] where c[i] is non-zero and to y[i] elsewhere.
func cpuChoose[C, T cpuElem](dst []T, c []C, x, y []T) {
	c, x, y = c[:len(dst)], x[:len(dst)], y[:len(dst)]
	for i := range dst {
		if c[i] != 0 {
			dst[i] = x[i]
		} else {
			dst[i] = y[i]
		}
	}
}
