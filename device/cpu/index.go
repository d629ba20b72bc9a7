package cpu

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device/backend"
)

// An index outside [0, N) makes the index primitives write 0 (or add
// nothing) for the elements it addresses and leave an error for the next
// Sync or Read.

// IndexSelect writes dst[o, j, i] = x[o, idx[j], i].
func (d *cpuDevice) IndexSelect(dst, x, idx backend.Buffer, g backend.GatherShape) {
	d.dispatch()
	id := cpuInts(idx)
	d.checkIndices(g.IndexName("IndexSelect"), id[:g.M], g.N)
	if dst.DType() == backend.Float32 {
		cpuIndexSelect(cpuFloats(dst), cpuFloats(x), id, g)
	} else {
		cpuIndexSelect(cpuInts(dst), cpuInts(x), id, g)
	}
}

// cpuIndexSelect is IndexSelect for elements of type T.
func cpuIndexSelect[T cpuElem](dst, x []T, idx []int32, g backend.GatherShape) {
	cpuParallel(g.Outer*g.M, g.Inner, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, k := r/g.M, int(idx[r%g.M])
			out := dst[r*g.Inner : (r+1)*g.Inner]
			if k < 0 || k >= g.N {
				clear(out)
				continue
			}
			copy(out, x[(o*g.N+k)*g.Inner:])
		}
	})
}

// IndexAdd adds src[o, j, i] into dst[o, idx[j], i].
func (d *cpuDevice) IndexAdd(dst, idx, src backend.Buffer, g backend.GatherShape) {
	d.dispatch()
	id := cpuInts(idx)
	d.checkIndices(g.IndexName("IndexAdd"), id[:g.M], g.N)
	if dst.DType() == backend.Float32 {
		cpuIndexAdd(cpuFloats(dst), cpuFloats(src), id, g)
	} else {
		cpuIndexAdd(cpuInts(dst), cpuInts(src), id, g)
	}
}

// cpuIndexAdd is IndexAdd for elements of type T. Goroutines split the
// (o, i) columns, so that repeated indices never add concurrently.
func cpuIndexAdd[T cpuElem](dst, src []T, idx []int32, g backend.GatherShape) {
	cpuColumns(g, func(o, i0, i1 int) {
		for j, k := range idx[:g.M] {
			if k < 0 || int(k) >= g.N {
				continue
			}
			s := src[(o*g.M+j)*g.Inner:]
			out := dst[(o*g.N+int(k))*g.Inner:]
			for i := i0; i < i1; i++ {
				out[i] += s[i]
			}
		}
	})
}

// Gather writes dst[o, j, i] = x[o, idx[o, j, i], i].
func (d *cpuDevice) Gather(dst, x, idx backend.Buffer, g backend.GatherShape) {
	d.dispatch()
	id := cpuInts(idx)
	d.checkIndices(g.IndexName("Gather"), id[:g.Outer*g.M*g.Inner], g.N)
	if dst.DType() == backend.Float32 {
		cpuGather(cpuFloats(dst), cpuFloats(x), id, g)
	} else {
		cpuGather(cpuInts(dst), cpuInts(x), id, g)
	}
}

// cpuGather is Gather for elements of type T.
func cpuGather[T cpuElem](dst, x []T, idx []int32, g backend.GatherShape) {
	cpuParallel(g.Outer*g.M, g.Inner, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			base := r / g.M * g.N * g.Inner
			out, ix := dst[r*g.Inner:(r+1)*g.Inner], idx[r*g.Inner:(r+1)*g.Inner]
			for i, k := range ix {
				if k < 0 || int(k) >= g.N {
					out[i] = 0
					continue
				}
				out[i] = x[base+int(k)*g.Inner+i]
			}
		}
	})
}

// ScatterAdd adds src[o, j, i] into dst[o, idx[o, j, i], i].
func (d *cpuDevice) ScatterAdd(dst, idx, src backend.Buffer, g backend.GatherShape) {
	d.dispatch()
	id := cpuInts(idx)
	d.checkIndices(g.IndexName("ScatterAdd"), id[:g.Outer*g.M*g.Inner], g.N)
	if dst.DType() == backend.Float32 {
		cpuScatterAdd(cpuFloats(dst), cpuFloats(src), id, g)
	} else {
		cpuScatterAdd(cpuInts(dst), cpuInts(src), id, g)
	}
}

// cpuScatterAdd is ScatterAdd for elements of type T. Goroutines split the
// (o, i) columns, so that elements sent to one place never add
// concurrently.
func cpuScatterAdd[T cpuElem](dst, src []T, idx []int32, g backend.GatherShape) {
	cpuColumns(g, func(o, i0, i1 int) {
		out := dst[o*g.N*g.Inner : (o+1)*g.N*g.Inner]
		for j := range g.M {
			r := (o*g.M + j) * g.Inner
			s, ix := src[r:r+g.Inner], idx[r:r+g.Inner]
			for i := i0; i < i1; i++ {
				if k := int(ix[i]); k >= 0 && k < g.N {
					out[k*g.Inner+i] += s[i]
				}
			}
		}
	})
}

// cpuColumns calls fn(o, i0, i1) for ranges of the Outer·Inner columns of
// an index primitive, each column being the M elements that share o and i,
// in parallel when the work is large.
func cpuColumns(g backend.GatherShape, fn func(o, i0, i1 int)) {
	cpuParallel(g.Outer*g.Inner, g.M, func(lo, hi int) {
		for o := lo / g.Inner; o*g.Inner < hi; o++ {
			fn(o, max(lo-o*g.Inner, 0), min(hi-o*g.Inner, g.Inner))
		}
	})
}

// checkIndices records an error for the first index outside [0, n); name
// says what the indices are.
func (d *cpuDevice) checkIndices(name string, idx []int32, n int) {
	for _, k := range idx {
		if k < 0 || int(k) >= n {
			d.fail(fmt.Errorf("device: %s %d out of range [0, %d)", name, k, n))
			return
		}
	}
}
