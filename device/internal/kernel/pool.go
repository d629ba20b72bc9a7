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

// MaxPool3x3S2 writes the maxima of the 3×3 windows of stride 2 (no
// dilation) of planes planes of src, h×wd each, padded by padH rows and
// padW columns, into the oh×ow planes of dst, with masks from
// DepthwiseS2Masks(wd, ow, padW): values only, a NaN in a window winning
// and the padding never. It reports whether it could: only with AVX-512.
// It checks that the slices hold what it reads and writes.
func MaxPool3x3S2(dst, src []float32, masks []int, planes, h, wd, oh, ow, padH, padW int) bool {
	chunks := (ow + 15) / 16
	if !HasAVX512 || planes <= 0 || oh <= 0 || ow <= 0 || h <= 0 || wd <= 0 {
		return false
	}
	if len(masks) != 4*chunks || len(src) < planes*h*wd || len(dst) < planes*oh*ow {
		panic("kernel: MaxPool3x3S2: slices too short for the shapes")
	}
	maxPool3x3S2AVX512(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(masks), &depthwiseS2Index[0],
		h, wd, oh, ow, padH, padW, chunks, planes)
	return true
}
