package kernel

import "unsafe"

// MaxPool2x2 pools one plane src of rows w floats wide with 2×2 windows of
// stride 2 into the oh×ow plane dst, writing the index in src of each
// window's maximum to idx (the first of equal values, the last NaN), and
// reports whether it could: only with AVX-512. It checks the bounds first.
func MaxPool2x2(dst []float32, idx []int32, src []float32, oh, ow, w int) bool {
	if !HasAVX512 || oh <= 0 || ow <= 0 || w < 2*ow {
		return false
	}
	_, _, _ = dst[oh*ow-1], idx[oh*ow-1], src[(2*oh-1)*w+2*ow-1]
	full, rest := ow/16, ow%16
	tail := 0
	if rest > 0 {
		in := 2 * rest // inputs of the partial chunk, over two vectors
		lo, hi := min(in, 16), max(in-16, 0)
		tail = (1<<rest - 1) | (1<<lo-1)<<16 | (1<<hi-1)<<32
	}
	maxPool2x2AVX512(unsafe.SliceData(dst), unsafe.SliceData(idx), unsafe.SliceData(src), oh, w, full, tail, ow)
	return true
}
