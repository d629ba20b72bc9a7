//go:build !amd64 || purego

// Package kernel holds the assembly micro-kernels of the CPU matrix product;
// on this platform there are none.
package kernel

// HasAVX2 is false: no assembly kernel is built here.
const HasAVX2 = false

// HasAVX512 is false: no assembly kernel is built here.
const HasAVX512 = false

// Sgemm12x32AVX512 is never called where HasAVX512 is false.
func Sgemm12x32AVX512(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs, ldb int) {
	panic("kernel: no AVX-512 kernel on this platform")
}

// Sgemm16x16AVX512 is never called where HasAVX512 is false.
func Sgemm16x16AVX512(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs, ldb int) {
	panic("kernel: no AVX-512 kernel on this platform")
}

// Sgemm6x16AVX2 is never called where HasAVX2 is false.
func Sgemm6x16AVX2(k int, a, b, c *float32, ldc int, add bool) {
	panic("kernel: no AVX2 kernel on this platform")
}

func expAVX2(dst, src *float32, n int) {}
func depthwiseS1AVX512(dst, src, w *float32, masks *int, h, wd, oh, ow, kh, kw, padH, padW, chunks int) {
}
func depthwise3x3S1AVX512(dst, src, w, bias *float32, masks *int, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32) {
}
func depthwise3x3S2AVX512(dst, src, w, bias *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32) {
}
func tanhAVX2(dst, src *float32, n int)    {}
func sigmoidAVX2(dst, src *float32, n int) {}
func sqrtAVX2(dst, src *float32, n int)    {}
func erfAVX2(dst, src *float32, n int)     {}

// vectorized does nothing where there is no assembly.
func vectorized(f func(dst, src *float32, n int), dst, src []float32) int { return 0 }

func maxAVX2(x *float32, n int) float32                      { return 0 }
func expSumAVX2(dst, x *float32, n int, m float32) float32   { return 0 }
func scaleAVX2(dst *float32, n int, s float32)               {}
func shiftAVX2(dst, x *float32, n int, a, b float32)         {}
func expSumAVX512(dst, x *float32, n int, m float32) float32 { return 0 }

func addAVX2(dst, x, y *float32, n int)     {}
func subAVX2(dst, x, y *float32, n int)     {}
func mulAVX2(dst, x, y *float32, n int)     {}
func divAVX2(dst, x, y *float32, n int)     {}
func eqAVX2(dst, x, y *float32, n int)      {}
func neAVX2(dst, x, y *float32, n int)      {}
func ltAVX2(dst, x, y *float32, n int)      {}
func leAVX2(dst, x, y *float32, n int)      {}
func gtAVX2(dst, x, y *float32, n int)      {}
func geAVX2(dst, x, y *float32, n int)      {}
func maximumAVX2(dst, x, y *float32, n int) {}
func minimumAVX2(dst, x, y *float32, n int) {}
func reluAVX2(dst, src *float32, n int)     {}

func selectAVX2(dst, c, x, y *float32, n int) {}

func axpyAVX2(dst, x *float32, a float32, n int)             {}
func dotAVX2(x, y *float32, n int) float32                   { return 0 }
func sumF64AVX2(x *float32, n int) float64                   { return 0 }
func epilogueAVX2(dst, res *float32, n int, e *EpilogueArgs) {}

func maxAVX512(x *float32, n int) float32        { return 0 }
func scaleAVX512(dst *float32, n int, s float32) {}

func copyRows16(dst, src *float32, rows, ldDst, ldSrc int) {}
func copyRows32(dst, src *float32, rows, ldDst, ldSrc int) {}

// ConvTile8x32AVX512 is never called where HasAVX512 is false.
func ConvTile8x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int, segs *int, nsegs, rows int, bias, res *float32, epi *EpilogueArgs) {
	panic("kernel: no AVX-512 kernel on this platform")
}

// ConvRows14x32AVX512 is never called where HasAVX512 is false.
func ConvRows14x32AVX512(k int, a *float32, offs *int, t *ConvRowsTile, idx *int32, ldc int, bias *float32, epi *EpilogueArgs, ahead *float32) {
	panic("kernel: no AVX-512 kernel on this platform")
}

func copyRowsAVX512(dst, src *float32, width, rows, ldDst, ldSrc int)                    {}
func maxPool2x2AVX512(dst *float32, idx *int32, src *float32, oh, w, full, tail, ow int) {}
func maxPool3x3S2AVX512(dst, src *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, planes int) {
}
func transpose16AVX512(dst *float32, w int, src *float32, ld, lines, cols int) {}

func depthwiseAVX512(dst, src *float32, offs *int, w *float32, taps, n int)                    {}
func deinterleaveAVX512(even, odd, src *float32, n int)                                        {}
func gatherAVX512(dst, src *float32, idx *int32, full, tail int)                               {}
func evenColumnsAVX512(dst, src *float32, ldDst, ldSrc, rows, full, dmask, lomask, himask int) {}

// HasF16C is false: no assembly kernel is built here.
const HasF16C = false

func f16ToF32F16C(dst *float32, src *uint16, n int)  {}
func f32ToF16F16C(dst *uint16, src *float32, n int)  {}
func bf16ToF32AVX2(dst *float32, src *uint16, n int) {}
func f32ToBF16AVX2(dst *uint16, src *float32, n int) {}

// HasBF16 is false: no assembly kernel is built here.
const HasBF16 = false

// Bgemm12x32AVX512BF16 is never called where HasBF16 is false.
func Bgemm12x32AVX512BF16(kp int, a, b *uint32, c *float32, ldc int, add bool) {
	panic("kernel: no AVX512-BF16 kernel on this platform")
}
