package kernel

import "unsafe"

// DecodeHalf converts the 16-bit floats src (bfloat16 when bf16 is set,
// else float16) into dst for the longest prefix of src whose length is a
// multiple of 16, and returns that length; the caller does the rest. It
// returns 0 without AVX2 (and F16C for float16). dst must be at least as
// long as src. Values are exact; a NaN stays a NaN (F16C quiets a
// signalling one).
func DecodeHalf(dst []float32, src []uint16, bf16 bool) int {
	n := len(src) &^ 15
	if !HasAVX2 || n == 0 || !bf16 && !HasF16C {
		return 0
	}
	_ = dst[n-1]
	if bf16 {
		bf16ToF32AVX2(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	} else {
		f16ToF32F16C(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	}
	return n
}

// EncodeHalf rounds src to 16-bit floats (bfloat16 when bf16 is set, else
// float16) into dst, to nearest with ties to even, for the longest prefix
// of src whose length is a multiple of 16, and returns that length; the
// caller does the rest. It returns 0 without AVX2 (and F16C for float16).
// dst must be at least as long as src. NaN becomes a quiet NaN.
func EncodeHalf(dst []uint16, src []float32, bf16 bool) int {
	n := len(src) &^ 15
	if !HasAVX2 || n == 0 || !bf16 && !HasF16C {
		return 0
	}
	_ = dst[n-1]
	if bf16 {
		f32ToBF16AVX2(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	} else {
		f32ToF16F16C(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	}
	return n
}
