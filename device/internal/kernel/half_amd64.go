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
