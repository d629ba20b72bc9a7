package device

import (
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

func init() {
	avx2 := cpuMicro{mr: 6, nr: 16, name: "avx2+fma 6x16", fn: cpuKernelAVX2}
	wide := cpuMicro{mr: 12, nr: 32, name: "avx512 12x32", fn: cpuKernelAVX512}
	tall := cpuMicro{mr: 16, nr: 16, name: "avx512 16x16", fn: cpuKernelAVX512Tall}
	switch {
	case kernel.HasAVX512:
		cpuKernels = append([]cpuMicro{wide, tall, avx2}, cpuKernels...)
		cpuChoice = []cpuMicro{wide, tall}
	case kernel.HasAVX2:
		cpuKernels = append([]cpuMicro{avx2}, cpuKernels...)
		cpuChoice = []cpuMicro{avx2}
	}
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

// cpuKernelAVX512Tall checks the slivers' bounds once and runs the 16×16
// AVX-512 kernel.
func cpuKernelAVX512Tall(k int, a, b, c []float32, ldc int) {
	if k == 0 {
		return
	}
	_ = a[16*k-1]
	_ = b[16*k-1]
	_ = c[15*ldc+15]
	kernel.Sgemm16x16AVX512(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc)
}
