package device

import (
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

func init() {
	if kernel.HasAVX2 {
		cpuKernels = append([]cpuMicro{{mr: 6, nr: 16, name: "avx2+fma 6x16", fn: cpuKernelAVX2}}, cpuKernels...)
	}
	if kernel.HasAVX512 {
		cpuKernels = append([]cpuMicro{{mr: 12, nr: 32, name: "avx512 12x32", fn: cpuKernelAVX512}}, cpuKernels...)
	}
	cpuKernel = cpuKernels[0]
}

// cpuKernelAVX2 checks the slivers' bounds once and runs the AVX2 kernel.
func cpuKernelAVX2(k int, a, b, c []float32, ldc int) {
	if k == 0 {
		return
	}
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	kernel.Sgemm6x16AVX2(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
}

// cpuKernelAVX512 checks the slivers' bounds once and runs the AVX-512
// kernel.
func cpuKernelAVX512(k int, a, b, c []float32, ldc int) {
	if k == 0 {
		return
	}
	_ = a[12*k-1]
	_ = b[32*k-1]
	_ = c[11*ldc+31]
	kernel.Sgemm12x32AVX512(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
}
