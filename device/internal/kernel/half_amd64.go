//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// HasF16C reports whether the CPU runs the float16 conversions (F16C and
// AVX2); the bfloat16 ones need AVX2 alone.
var HasF16C = cpu.X86.HasF16C && cpu.X86.HasAVX2

//go:noescape
func f16ToF32F16C(dst *float32, src *uint16, n int)

//go:noescape
func f32ToF16F16C(dst *uint16, src *float32, n int)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func f32ToBF16AVX2(dst *uint16, src *float32, n int)

// HasBF16 reports whether the CPU runs Bgemm12x32AVX512BF16 (AVX-512 with
// its BF16 extension).
var HasBF16 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16

// Bgemm12x32AVX512BF16 adds to the 12×32 float32 tile of c (rows ldc
// floats apart), or with add false stores into it, the product of a
// packed sliver a of 12 rows by 2kp bfloat16 values and a packed sliver b
// of 2kp by 32: per pair of k steps, a holds twelve words and b 32, each
// word two bfloat16s (the earlier k in the low half). It accumulates in
// float32 with VDPBF16PS, which flushes subnormal inputs and results to
// zero. kp must be positive and the slivers and tile fully addressable.
//
//go:noescape
func Bgemm12x32AVX512BF16(kp int, a, b *uint32, c *float32, ldc int, add bool)
