package cpu

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
	"github.com/wgtensor/wgtensor/internal/half"
)

// cpuHalves returns the bits of the elements of the Float16 or BFloat16 CPU
// buffer b.
func cpuHalves(b backend.Buffer) []uint16 {
	cb := b.(*cpuBuffer)
	if !cb.dt.IsHalf() {
		panic(fmt.Sprintf("device: %v buffer used as a 16-bit float", cb.dt))
	}
	return cb.h
}

// encodeHalf rounds v to the 16-bit float type dt.
func encodeHalf(v float32, dt backend.DType) uint16 { return half.Round(v, dt == backend.BFloat16) }

// halfChunk is the number of elements a contiguous run of a conversion
// decodes into float32 at a time.
const halfChunk = 256

// cpuCopyHalfView copies src into dst where either is a 16-bit float,
// converting through float32 as PyTorch's to() does: values round to the
// nearest 16-bit float, ties to even; float to int32 truncates toward zero.
func cpuCopyHalfView(dst, src backend.View) {
	n := src.Numel()
	if n == 0 {
		return
	}
	get := halfReader(src.Buf)
	put := halfWriter(dst.Buf)
	l := newCPULoop(src.Shape, [][]int{dst.Strides, src.Strides}, []int{dst.Offset, src.Offset})
	ds, ss := l.inner(0), l.inner(1)
	l.each(n, cpuCostCheap, func() func([]int, int) {
		var buf [halfChunk]float32
		return func(off []int, n int) {
			do, so := off[0], off[1]
			for n > 0 {
				c := min(n, halfChunk)
				get(buf[:c], so, ss)
				put(buf[:c], do, ds)
				n -= c
				do += c * ds
				so += c * ss
			}
		}
	})
}

// halfReader returns a function that reads len(f) elements of b, from
// offset o at steps of s, as float32.
func halfReader(b backend.Buffer) func(f []float32, o, s int) {
	switch dt := b.DType(); {
	case dt == backend.Float32:
		x := cpuFloats(b)
		return func(f []float32, o, s int) {
			for i := range f {
				f[i] = x[o+i*s]
			}
		}
	case dt == backend.Int32:
		x := cpuInts(b)
		return func(f []float32, o, s int) {
			for i := range f {
				f[i] = float32(x[o+i*s])
			}
		}
	default:
		x, bf16 := cpuHalves(b), dt == backend.BFloat16
		return func(f []float32, o, s int) {
			if s == 1 {
				k := kernel.DecodeHalf(f, x[o:o+len(f)], bf16)
				half.Decode(f[k:], x[o+k:o+len(f)], bf16)
				return
			}
			for i := range f {
				f[i] = half.Value(x[o+i*s], bf16)
			}
		}
	}
}

// halfWriter returns a function that writes f into b from offset o at steps
// of s, converting to b's type.
func halfWriter(b backend.Buffer) func(f []float32, o, s int) {
	switch dt := b.DType(); {
	case dt == backend.Float32:
		x := cpuFloats(b)
		return func(f []float32, o, s int) {
			for i, v := range f {
				x[o+i*s] = v
			}
		}
	case dt == backend.Int32:
		x := cpuInts(b)
		return func(f []float32, o, s int) {
			for i, v := range f {
				x[o+i*s] = int32(v)
			}
		}
	default:
		x, bf16 := cpuHalves(b), dt == backend.BFloat16
		return func(f []float32, o, s int) {
			if s == 1 {
				k := kernel.EncodeHalf(x[o:o+len(f)], f, bf16)
				half.Encode(x[o+k:o+len(f)], f[k:], bf16)
				return
			}
			for i, v := range f {
				x[o+i*s] = half.Round(v, bf16)
			}
		}
	}
}
