package cpu

import (
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

func init() {
	avx2 := cpuMicro{mr: 6, nr: 16, name: "avx2+fma 6x16", fn: cpuAsm(6, 16, kernel.Sgemm6x16AVX2)}
	// The 12×32 kernel reads B in place for products of up to 384 rows
	// (MobileNetV2's pointwise layers, 16 to 320 channels over 7×7 to
	// 112×112 pixels); the 16×16 one only for a single row of tiles, which
	// reads each sliver of B once, so that packing it is a pass for
	// nothing (MobileNetV2's 32 channels to 16 at 112×112: 64–68 → 47–49
	// µs). With more rows it measured slower: MatMul 128 and 256, whose
	// tuning picks it, 20–22 → 24–27 and 113–118 → 134–147 µs.
	wide12x32 := cpuSliver(32, kernel.Sgemm12x32AVX512)
	wide := cpuMicro{mr: 12, nr: 32, name: "avx512 12x32", fn: cpuAsm(12, 32, cpuNoEpilogue(wide12x32)),
		epi: cpuAsmEpilogue(12, 32, wide12x32), strided: cpuStrided(12, 32, kernel.Sgemm12x32AVX512), stridedRows: 384}
	tall16x16 := cpuSliver(16, kernel.Sgemm16x16AVX512)
	tall := cpuMicro{mr: 16, nr: 16, name: "avx512 16x16", fn: cpuAsm(16, 16, cpuNoEpilogue(tall16x16)),
		epi: cpuAsmEpilogue(16, 16, tall16x16), strided: cpuStrided(16, 16, kernel.Sgemm16x16AVX512), stridedRows: 16}
	switch {
	case kernel.HasAVX512:
		cpuKernels = append([]cpuMicro{wide, tall, avx2}, cpuKernels...)
		cpuChoice = []cpuMicro{wide, tall}
	case kernel.HasAVX2:
		cpuKernels = append([]cpuMicro{avx2}, cpuKernels...)
		cpuChoice = []cpuMicro{avx2}
	}
}

// cpuAsm wraps the assembly kernel f of an mr×nr tile as a cpuMicro
// function: it checks the bounds of the slivers and of the tile once, then
// hands f their addresses.
func cpuAsm(mr, nr int, f func(k int, a, b, c *float32, ldc int, add bool)) func(k int, a, b, c []float32, ldc int, add bool) {
	return func(k int, a, b, c []float32, ldc int, add bool) {
		_ = a[mr*max(k, 1)-1]
		_ = b[nr*max(k, 1)-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, add)
	}
}

// cpuStridingKernel is an assembly kernel that reads B with its rows ldb
// floats apart.
type cpuStridingKernel = func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *kernel.EpilogueArgs, ldb int)

// cpuSliver is f on a packed sliver of B, nr floats a row.
func cpuSliver(nr int, f cpuStridingKernel) cpuAsmKernel {
	return func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *kernel.EpilogueArgs) {
		f(k, a, b, c, ldc, add, bias, epi, nr)
	}
}

// cpuStrided is f of an mr×nr tile on a block of B read in place, its rows
// ldb floats apart, checking the bounds once; bias is read only with e.
func cpuStrided(mr, nr int, f cpuStridingKernel) func(k int, a, b []float32, ldb int, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs) {
	return func(k int, a, b []float32, ldb int, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs) {
		_ = a[mr*max(k, 1)-1]
		_ = b[(max(k, 1)-1)*ldb+nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		var bp *float32
		if e != nil {
			_ = bias[mr-1]
			bp = unsafe.SliceData(bias)
		}
		f(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, add, bp, e, ldb)
	}
}

// cpuAsmKernel is an assembly kernel that takes an epilogue.
type cpuAsmKernel = func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *kernel.EpilogueArgs)

// cpuNoEpilogue is f without its epilogue.
func cpuNoEpilogue(f cpuAsmKernel) func(k int, a, b, c *float32, ldc int, add bool) {
	return func(k int, a, b, c *float32, ldc int, add bool) { f(k, a, b, c, ldc, add, nil, nil) }
}

// cpuAsmEpilogue is cpuAsm for the kernel f with its epilogue: bias holds
// the tile's mr per-row biases.
func cpuAsmEpilogue(mr, nr int, f cpuAsmKernel) func(k int, a, b, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs) {
	return func(k int, a, b, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs) {
		_ = a[mr*max(k, 1)-1]
		_ = b[nr*max(k, 1)-1]
		_ = c[(mr-1)*ldc+nr-1]
		_ = bias[mr-1]
		f(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, add, unsafe.SliceData(bias), e)
	}
}
