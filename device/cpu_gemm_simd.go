package device

import (
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

func init() {
	if kernel.HasAVX2 {
		cpuKernel = cpuMicro{mr: 6, nr: 16, name: "avx2+fma 6x16", fn: cpuKernelAVX2}
	}
}

// cpuKernelAVX2 checks the slivers' bounds once and runs the assembly
// kernel.
func cpuKernelAVX2(k int, a, b, c []float32, ldc int) {
	if k == 0 {
		return
	}
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	kernel.Sgemm6x16AVX2(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
}
