//go:build !purego

// Package kernel holds the assembly micro-kernels of the CPU matrix product.
// It is separate from package device because Go assembly cannot live in a
// package that uses cgo.
package kernel

import "golang.org/x/sys/cpu"

// Sgemm6x16AVX2 adds to the 6×16 tile of c (rows ldc floats apart), or
// with add false stores into it, the product of a packed 6×k sliver a and
// a packed k×16 sliver b, with AVX2 and FMA. k must be positive and the slivers and tile fully addressable.
//
//go:noescape
func Sgemm6x16AVX2(k int, a, b, c *float32, ldc int, add bool)

// Sgemm12x32AVX512 adds to the 12×32 tile of c (rows ldc floats apart), or
// with add false stores into it, the product of a packed 12×k sliver a and
// a k×32 block of b whose rows are ldb floats apart (a packed sliver: 32),
// with AVX-512. With epi not nil, each row r of the
// result then goes through the epilogue epi with bias[r] for its bias
// (epi.Bias is not read) before it is stored. k must be positive and the
// slivers, tile and biases fully addressable.
//
//go:noescape
func Sgemm12x32AVX512(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs, ldb int)

// Sgemm16x16AVX512 adds to the 16×16 tile of c (rows ldc floats apart), or
// with add false stores into it, the product of a packed 16×k sliver a and
// a k×16 block b whose rows are ldb floats apart (16: a packed sliver),
// with AVX-512, and with epi not nil applies the epilogue as
// Sgemm12x32AVX512 does. k must be positive and the slivers, tile and
// biases fully addressable.
//
//go:noescape
func Sgemm16x16AVX512(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs, ldb int)

// HasAVX512 reports whether the CPU runs the AVX-512 kernels.
var HasAVX512 = cpu.X86.HasAVX512F

// HasAVX2 reports whether the CPU runs Sgemm6x16AVX2.
var HasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// ConvTile8x32AVX512 computes an 8×32 tile of a convolution straight from
// its padded input: row r of the tile is the sum over k steps of a[8·s+r]
// times the 32 floats at b+offs[s]. It stores the first rows rows (ldc
// floats apart) through nsegs segments, segs holding pairs (offset in
// floats from c, 32-bit lane mask): each segment writes the masked lanes
// at c+offset, overwriting. With epi not nil (its Flags 0), each row r
// stored is first min(max(v + bias[r] + residual, Lo), Hi), the residual
// read from res (nil for none) at the offsets and under the masks of the
// stores. rows is at most 8; every address read must be fully addressable
// and every masked lane stored in bounds.
//
//go:noescape
func ConvTile8x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int, segs *int, nsegs, rows int, bias, res *float32, epi *EpilogueArgs)

//go:noescape
func copyRowsAVX512(dst, src *float32, width, rows, ldDst, ldSrc int)

//go:noescape
func maxPool2x2AVX512(dst *float32, idx *int32, src *float32, oh, w, full, tail, ow int)

//go:noescape
func transpose16AVX512(dst *float32, w int, src *float32, ld, lines, cols int)

//go:noescape
func depthwiseS1AVX512(dst, src, w *float32, masks *int, h, wd, oh, ow, kh, kw, padH, padW, chunks int)

//go:noescape
func depthwise3x3S1AVX512(dst, src, w, bias *float32, masks *int, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32)

//go:noescape
func depthwise3x3S2AVX512(dst, src, w, bias *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32)

//go:noescape
func maxPool3x3S2AVX512(dst, src *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, planes int)

//go:noescape
func depthwiseAVX512(dst, src *float32, offs *int, w *float32, taps, n int)

//go:noescape
func deinterleaveAVX512(even, odd, src *float32, n int)

//go:noescape
func gatherAVX512(dst, src *float32, idx *int32, full, tail int)

//go:noescape
func evenColumnsAVX512(dst, src *float32, ldDst, ldSrc, rows, full, dmask, lomask, himask int)

// ConvRows14x32AVX512 computes 32 output channels of a convolution at the
// positions of tile t, straight from its padded input: position i of run s
// is the sum over k steps of the 32 weights at a+32·step times the float
// at t.Bs+offs[step]+i (a run reads all seven of its positions). Output
// channel j of that position is stored at t.Cs+i+idx[j mod 16]+16·ldc·(j
// div 16), overwriting; with epi not nil (its Flags 0) it is first
// min(max(v + bias[j] + residual, Lo), Hi), the residual read at the same
// place from t.Rs when not nil. k must be positive, and every address read
// or stored fully addressable, bias's 32 floats included. Step s also
// prefetches the cache line at ahead+16·s into L2 (the next tile's
// weights, say), which need not be addressable.
//
//go:noescape
func ConvRows14x32AVX512(k int, a *float32, offs *int, t *ConvRowsTile, idx *int32, ldc int, bias *float32, epi *EpilogueArgs, ahead *float32)
