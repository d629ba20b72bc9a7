package cpu

import (
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

func init() {
	avx2 := cpuMicro{mr: 6, nr: 16, name: "avx2+fma 6x16", fn: cpuAsm(6, 16, kernel.Sgemm6x16AVX2)}
	wide := cpuMicro{mr: 12, nr: 32, name: "avx512 12x32", fn: cpuAsm(12, 32, cpuNoEpilogue(cpuSliver12x32)),
		epi: cpuAsmEpilogue(12, 32, cpuSliver12x32), strided: cpuStrided12x32}
	tall := cpuMicro{mr: 16, nr: 16, name: "avx512 16x16", fn: cpuAsm(16, 16, cpuNoEpilogue(kernel.Sgemm16x16AVX512)),
		epi: cpuAsmEpilogue(16, 16, kernel.Sgemm16x16AVX512)}
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

// cpuSliver12x32 is kernel.Sgemm12x32AVX512 on a packed sliver of B.
func cpuSliver12x32(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *kernel.EpilogueArgs) {
	kernel.Sgemm12x32AVX512(k, a, b, c, ldc, add, bias, epi, 32)
}

// cpuStrided12x32 is kernel.Sgemm12x32AVX512 on a block of B read in
// place, its rows ldb floats apart; bias is read only with e.
func cpuStrided12x32(k int, a, b []float32, ldb int, c []float32, ldc int, add bool, bias []float32, e *kernel.EpilogueArgs) {
	_ = a[12*max(k, 1)-1]
	_ = b[(max(k, 1)-1)*ldb+31]
	_ = c[11*ldc+31]
	var bp *float32
	if e != nil {
		_ = bias[11]
		bp = unsafe.SliceData(bias)
	}
	kernel.Sgemm12x32AVX512(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, add, bp, e, ldb)
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
