package cpu

import (
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuReduceColumns is the number of outputs the column strategy of Reduce
// accumulates at a time.
const cpuReduceColumns = 256

// cpuAccum is the set of accumulator types of reductions: float64 for float32
// elements, int64 for int32 elements.
type cpuAccum interface {
	float64 | int64
}

// Reduce combines the last n dimensions of x with op into dst.
func (d *cpuDevice) Reduce(op backend.ReduceOp, dst backend.Buffer, x backend.View, n int) {
	d.dispatch()
	if x.Buf.DType() == backend.Float32 {
		newCPUReduction[float32, float64](op, x, n).run(cpuFloats(dst))
		return
	}
	if op == backend.ReduceMean {
		panic("device: Reduce: Mean is not defined for int32")
	}
	newCPUReduction[int32, int64](op, x, n).run(cpuInts(dst))
}

// cpuReduction is one call of Reduce: x's leading dimensions index the outputs
// and its trailing ones the elements combined into each output.
type cpuReduction[T cpuElem, A cpuAccum] struct {
	op     backend.ReduceOp
	x      []T
	outer  *cpuLoop // over the outputs, one operand: x
	inner  *cpuLoop // over the elements of one output, relative offsets
	outN   int      // number of outputs
	count  int      // number of elements combined into each output
	stride int      // x's step between consecutive reduced elements
}

// newCPUReduction prepares the reduction of the last n dimensions of x.
func newCPUReduction[T cpuElem, A cpuAccum](op backend.ReduceOp, x backend.View, n int) *cpuReduction[T, A] {
	k := len(x.Shape) - n
	r := &cpuReduction[T, A]{
		op:    op,
		x:     cpuElems[T](x.Buf),
		outer: newCPULoop(x.Shape[:k], [][]int{x.Strides[:k]}, []int{x.Offset}),
		inner: newCPULoop(x.Shape[k:], [][]int{x.Strides[k:]}, []int{0}),
		outN:  backend.Numel(x.Shape[:k]),
		count: backend.Numel(x.Shape[k:]),
	}
	r.stride = r.inner.inner(0)
	return r
}

// run writes the reductions into dst, choosing how to split the work.
func (r *cpuReduction[T, A]) run(dst []T) {
	switch {
	case r.outN == 0:
	case r.count > 1 && r.outN < cpuChunks(r.outN*r.count, cpuCostCheap):
		for o := range r.outN {
			dst[o] = r.finish(r.split(r.outer.offset(0, o)))
		}
	case r.count > 1 && r.stride != 1 && len(r.outer.shape) > 0 && r.outer.inner(0) == 1:
		r.columns(dst)
	case r.stride == 1 && len(r.inner.shape) <= 1 && (r.op == backend.ReduceSum || r.op == backend.ReduceMean):
		// Sums of contiguous rows (a global average pool's planes, a
		// loss's mean): each row straight through cpuSum, without
		// combine's generic steps per output (MobileNetV2's pool over
		// 1280 planes of 49 took 35 µs).
		mean := r.op == backend.ReduceMean
		cpuParallel(r.outN, r.count, func(lo, hi int) {
			o, os := lo, r.outer.inner(0)
			r.outer.rows(lo, hi, func(off []int, n int) {
				for i := range n {
					p := off[0] + i*os
					acc := cpuSum[T, A](r.x[p : p+r.count])
					if mean {
						acc /= A(r.count)
					}
					dst[o] = T(acc)
					o++
				}
			})
		})
	default:
		cpuParallel(r.outN, r.count, func(lo, hi int) {
			o := lo
			os := r.outer.inner(0)
			r.outer.rows(lo, hi, func(off []int, n int) {
				for i := range n {
					dst[o] = r.finish(r.combine(r.start(), off[0]+i*os, 0, r.count))
					o++
				}
			})
		})
	}
}

// start returns the accumulator before any element is combined.
func (r *cpuReduction[T, A]) start() A {
	var a A
	switch p := any(&a).(type) {
	case *float64:
		*p = cpuIdentity(r.op, math.Inf(1))
	case *int64:
		*p = cpuIdentity[int64](r.op, math.MaxInt64)
	}
	return a
}

// cpuIdentity returns the identity of op's combination: -big for Max, big
// for Min and 0 for Sum and Mean.
func cpuIdentity[A cpuAccum](op backend.ReduceOp, big A) A {
	switch op {
	case backend.ReduceMax:
		return -big
	case backend.ReduceMin:
		return big
	}
	return 0
}

// finish converts an accumulator into the output value.
func (r *cpuReduction[T, A]) finish(acc A) T {
	if r.op == backend.ReduceMean {
		return T(acc / A(r.count))
	}
	return T(acc)
}

// combine folds the elements [lo, hi) of the output whose first element is
// at base into acc.
func (r *cpuReduction[T, A]) combine(acc A, base, lo, hi int) A {
	if len(r.inner.shape) <= 1 {
		return cpuReduceRun(r.op, acc, r.x, base+lo*r.stride, r.stride, hi-lo)
	}
	r.inner.rows(lo, hi, func(off []int, n int) {
		acc = cpuReduceRun(r.op, acc, r.x, base+off[0], r.stride, n)
	})
	return acc
}

// merge combines two partial accumulators.
func (r *cpuReduction[T, A]) merge(a, b A) A {
	switch r.op {
	case backend.ReduceMax:
		if b > a || b != b {
			return b
		}
		return a
	case backend.ReduceMin:
		if b < a || b != b {
			return b
		}
		return a
	}
	return a + b
}

// split reduces the output at base with all cores, each taking a range of
// its elements; the partial results are merged in a fixed order.
func (r *cpuReduction[T, A]) split(base int) A {
	chunks := cpuChunks(r.count, cpuCostCheap)
	part := make([]A, chunks)
	cpuParallelChunks(r.count, chunks, func(c, lo, hi int) {
		part[c] = r.combine(r.start(), base, lo, hi)
	})
	acc := r.start()
	for _, p := range part {
		acc = r.merge(acc, p)
	}
	return acc
}

// columns reduces when consecutive outputs are adjacent in memory but the
// elements of one output are not (a sum over a leading dimension): it
// accumulates blocks of outputs together, streaming through contiguous rows.
func (r *cpuReduction[T, A]) columns(dst []T) {
	width := r.outer.shape[len(r.outer.shape)-1]
	perRow := cpuCeilDiv(width, cpuReduceColumns)
	cpuParallel(r.outN/width*perRow, cpuReduceColumns*r.count, func(lo, hi int) {
		acc := make([]A, cpuReduceColumns)
		for t := lo; t < hi; t++ {
			o := t/perRow*width + t%perRow*cpuReduceColumns
			cols := acc[:min(cpuReduceColumns, width-t%perRow*cpuReduceColumns)]
			for j := range cols {
				cols[j] = r.start()
			}
			base := r.outer.offset(0, o)
			r.inner.rows(0, r.count, func(off []int, n int) {
				for i := range n {
					p := base + off[0] + i*r.stride
					cpuReduceColumnsRun(r.op, cols, r.x[p:p+len(cols)])
				}
			})
			for j, a := range cols {
				dst[o+j] = r.finish(a)
			}
		}
	})
}

// cpuReduceRun folds n elements of x, from off at steps of stride, into acc.
func cpuReduceRun[T cpuElem, A cpuAccum](op backend.ReduceOp, acc A, x []T, off, stride, n int) A {
	if stride == 1 && (op == backend.ReduceSum || op == backend.ReduceMean) {
		return acc + cpuSum[T, A](x[off:off+n])
	}
	switch op {
	case backend.ReduceSum, backend.ReduceMean:
		for range n {
			acc += A(x[off])
			off += stride
		}
	case backend.ReduceMax:
		for range n {
			if v := A(x[off]); v > acc || v != v {
				acc = v
			}
			off += stride
		}
	case backend.ReduceMin:
		for range n {
			if v := A(x[off]); v < acc || v != v {
				acc = v
			}
			off += stride
		}
	}
	return acc
}

// cpuSum returns the sum of x, using four accumulators so that the
// additions overlap; float32 sums in float64 go sixteen elements at a time
// with AVX2 (kernel.SumF64).
func cpuSum[T cpuElem, A cpuAccum](x []T) A {
	var s0, s1, s2, s3 A
	if xf, ok := any(x).([]float32); ok {
		if _, wide := any(s0).(float64); wide {
			s, done := kernel.SumF64(xf)
			s0, x = A(s), x[done:]
		}
	}
	for ; len(x) >= 4; x = x[4:] {
		s0 += A(x[0])
		s1 += A(x[1])
		s2 += A(x[2])
		s3 += A(x[3])
	}
	for _, v := range x {
		s0 += A(v)
	}
	return (s0 + s1) + (s2 + s3)
}

// cpuReduceColumnsRun folds x[j] into acc[j] for every j.
func cpuReduceColumnsRun[T cpuElem, A cpuAccum](op backend.ReduceOp, acc []A, x []T) {
	x = x[:len(acc)]
	switch op {
	case backend.ReduceSum, backend.ReduceMean:
		for j, v := range x {
			acc[j] += A(v)
		}
	case backend.ReduceMax:
		for j, v := range x {
			if a := A(v); a > acc[j] || a != a {
				acc[j] = a
			}
		}
	case backend.ReduceMin:
		for j, v := range x {
			if a := A(v); a < acc[j] || a != a {
				acc[j] = a
			}
		}
	}
}

// ArgReduce writes the index along the last dimension of x of its maximum or
// minimum, the first on ties; NaN beats every number.
func (d *cpuDevice) ArgReduce(op backend.ReduceOp, dst backend.Buffer, x backend.View) {
	d.dispatch()
	if x.Buf.DType() == backend.Float32 {
		cpuArgReduce(op == backend.ReduceMax, cpuInts(dst), cpuFloats(x.Buf), x)
	} else {
		cpuArgReduce(op == backend.ReduceMax, cpuInts(dst), cpuInts(x.Buf), x)
	}
}

// cpuArgReduce is ArgReduce for elements of type T.
func cpuArgReduce[T cpuElem](isMax bool, dst []int32, xd []T, x backend.View) {
	k := len(x.Shape) - 1
	outer := newCPULoop(x.Shape[:k], [][]int{x.Strides[:k]}, []int{x.Offset})
	n, stride := x.Shape[k], x.Strides[k]
	os := outer.inner(0)
	cpuParallel(len(dst), n, func(lo, hi int) {
		o := lo
		outer.rows(lo, hi, func(off []int, m int) {
			for i := range m {
				dst[o] = cpuArgRun(isMax, xd, off[0]+i*os, stride, n)
				o++
			}
		})
	})
}

// cpuArgRun returns the position of the largest (or smallest) of n elements of
// x, from off at steps of stride: the first one on ties, or the first NaN.
func cpuArgRun[T cpuElem](isMax bool, x []T, off, stride, n int) int32 {
	if n == 0 {
		return 0
	}
	best, at := x[off], 0
	for i := 0; i < n && best == best; i++ {
		v := x[off+i*stride]
		if v != v || (isMax && v > best) || (!isMax && v < best) {
			best, at = v, i
		}
	}
	return int32(at)
}

// Softmax writes the softmax, or log-softmax, of each row of x.
func (d *cpuDevice) Softmax(dst backend.Buffer, x backend.Buffer, rows, cols int, log bool) {
	d.dispatch()
	xd, dd := cpuFloats(x), cpuFloats(dst)
	cpuParallel(rows, cols*cpuCostMath, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			cpuSoftmaxRow(dd[r*cols:(r+1)*cols], xd[r*cols:(r+1)*cols], log)
		}
	})
}

// cpuSoftmaxRow writes the softmax or log-softmax of x into dst (see
// kernel.Softmax: vectorised, stable for large logits).
func cpuSoftmaxRow(dst, x []float32, log bool) { kernel.Softmax(dst, x, log) }
