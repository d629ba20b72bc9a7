//go:build !purego

// Package kernel holds the assembly micro-kernels of the CPU matrix product.
// It is separate from package device because Go assembly cannot live in a
// package that uses cgo.
package kernel

import "golang.org/x/sys/cpu"

// Sgemm6x16AVX2 adds to the 6×16 tile of c (rows ldc floats apart) the
// product of a packed 6×k sliver a and a packed k×16 sliver b, with AVX2
// and FMA. k must be positive and the slivers and tile fully addressable.
//
//go:noescape
func Sgemm6x16AVX2(k int, a, b, c *float32, ldc int)

// Sgemm12x32AVX512 adds to the 12×32 tile of c (rows ldc floats apart) the
// product of a packed 12×k sliver a and a packed k×32 sliver b, with
// AVX-512. k must be positive and the slivers and tile fully addressable.
//
//go:noescape
func Sgemm12x32AVX512(k int, a, b, c *float32, ldc int)

// Sgemm16x16AVX512 adds to the 16×16 tile of c (rows ldc floats apart) the
// product of a packed 16×k sliver a and a packed k×16 sliver b, with
// AVX-512. k must be positive and the slivers and tile fully addressable.
//
//go:noescape
func Sgemm16x16AVX512(k int, a, b, c *float32, ldc int)

// HasAVX512 reports whether the CPU runs the AVX-512 kernels.
var HasAVX512 = cpu.X86.HasAVX512F

// HasAVX2 reports whether the CPU runs Sgemm6x16AVX2.
var HasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
