//go:build !purego

package kernel

import "unsafe"

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func tanhAVX2(dst, src *float32, n int)

//go:noescape
func sigmoidAVX2(dst, src *float32, n int)

//go:noescape
func sqrtAVX2(dst, src *float32, n int)

//go:noescape
func erfAVX2(dst, src *float32, n int)

// vectorized runs the AVX2 function f on the longest prefix of src whose
// length is a multiple of eight and returns that length (0 without AVX2).
func vectorized(f func(dst, src *float32, n int), dst, src []float32) int {
	n := len(dst) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	_ = src[n-1]
	f(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	return n
}

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expSumAVX2(dst, x *float32, n int, m float32) float32

//go:noescape
func scaleAVX2(dst *float32, n int, s float32)

//go:noescape
func shiftAVX2(dst, x *float32, n int, a, b float32)

//go:noescape
func expSumAVX512(dst, x *float32, n int, m float32) float32

//go:noescape
func addAVX2(dst, x, y *float32, n int)

//go:noescape
func subAVX2(dst, x, y *float32, n int)

//go:noescape
func mulAVX2(dst, x, y *float32, n int)

//go:noescape
func divAVX2(dst, x, y *float32, n int)

//go:noescape
func maxAVX512(x *float32, n int) float32

//go:noescape
func scaleAVX512(dst *float32, n int, s float32)

//go:noescape
func copyRows16(dst, src *float32, rows, ldDst, ldSrc int)

//go:noescape
func copyRows32(dst, src *float32, rows, ldDst, ldSrc int)

//go:noescape
func eqAVX2(dst, x, y *float32, n int)

//go:noescape
func neAVX2(dst, x, y *float32, n int)

//go:noescape
func ltAVX2(dst, x, y *float32, n int)

//go:noescape
func leAVX2(dst, x, y *float32, n int)

//go:noescape
func gtAVX2(dst, x, y *float32, n int)

//go:noescape
func geAVX2(dst, x, y *float32, n int)

//go:noescape
func maximumAVX2(dst, x, y *float32, n int)

//go:noescape
func minimumAVX2(dst, x, y *float32, n int)

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func selectAVX2(dst, c, x, y *float32, n int)

//go:noescape
func axpyAVX2(dst, x *float32, a float32, n int)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

//go:noescape
func sumF64AVX2(x *float32, n int) float64

//go:noescape
func epilogueAVX2(dst, res *float32, n int, e *EpilogueArgs)
