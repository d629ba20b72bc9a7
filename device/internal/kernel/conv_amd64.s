//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// func ConvTile8x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int, segs *int, nsegs, rows int, bias, res *float32, epi *EpilogueArgs)
//
// Computes an 8×32 tile of a convolution without a column matrix: row r
// of the tile (an output channel) is the dot product over k steps of a
// packed 8×k sliver a (eight floats per step) with the 32 floats at
// b + offs[step], so the "column matrix" is read straight from the
// (padded) input. Each step loads two vectors of b through the offset
// table and broadcasts eight scalars of a into sixteen fused
// multiply-adds; Z0–Z15 hold the tile, row r in Z(2r) and Z(2r+1). The
// tile is then stored, overwriting, row by row (ldc floats apart, the first
// rows rows only) through nsegs segments: segs holds pairs (offset in
// floats from c, 32-bit lane mask), and each segment stores the masked
// lanes at c + offset (the low 16 from Z(2r), the high 16 from Z(2r+1) 16
// floats on), so that lanes falling into the padding are dropped and the
// others land where their output row is. With epi not nil, each stored
// row r is first min(max(sum + bias[r] + residual, Lo), Hi) (epi's
// flags must be 0), the residual read under the segment's masks from res
// at the segment's offset (none when res is nil).
TEXT ·ConvTile8x32AVX512(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R9
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

	ZERO16

#define PAIR832(aoff, t, b0, b1, r0, r1) \
	VBROADCASTSS aoff(SI), t \
	VFMADD231PS  b0, t, r0 \
	VFMADD231PS  b1, t, r1

#define STEP832(aoff, b0, b1) \
	PAIR832(aoff, Z20, b0, b1, Z0, Z1) \
	PAIR832(aoff+4, Z21, b0, b1, Z2, Z3) \
	PAIR832(aoff+8, Z22, b0, b1, Z4, Z5) \
	PAIR832(aoff+12, Z23, b0, b1, Z6, Z7) \
	PAIR832(aoff+16, Z24, b0, b1, Z8, Z9) \
	PAIR832(aoff+20, Z25, b0, b1, Z10, Z11) \
	PAIR832(aoff+24, Z26, b0, b1, Z12, Z13) \
	PAIR832(aoff+28, Z27, b0, b1, Z14, Z15)

conv832loop:
	CMPQ CX, $2
	JL   conv832tail
	PREFETCHT0 1024(SI) // the weights, 32 steps ahead: frozen weights come from memory
	MOVQ (R9), R10
	MOVQ 8(R9), R11
	VMOVUPS (DI)(R10*4), Z16
	VMOVUPS 64(DI)(R10*4), Z17
	VMOVUPS (DI)(R11*4), Z18
	VMOVUPS 64(DI)(R11*4), Z19
	STEP832(0, Z16, Z17)
	STEP832(32, Z18, Z19)
	ADDQ $64, SI
	ADDQ $16, R9
	SUBQ $2, CX
	JMP  conv832loop

conv832tail:
	TESTQ CX, CX
	JE    conv832store
	MOVQ (R9), R10
	VMOVUPS (DI)(R10*4), Z16
	VMOVUPS 64(DI)(R10*4), Z17
	STEP832(0, Z16, Z17)

conv832store:
	MOVQ segs+48(FP), R11
	MOVQ nsegs+56(FP), R12
	MOVQ rows+64(FP), R13
	TESTQ R13, R13
	JE    conv832done
	MOVQ  epi+88(FP), SI
	TESTQ SI, SI
	JNE   conv832epi

conv832seg:
	TESTQ R12, R12
	JE    conv832done
	MOVQ  (R11), AX
	MOVQ  8(R11), BX
	KMOVW BX, K1
	SHRQ  $16, BX
	KMOVW BX, K2
	LEAQ  (DX)(AX*4), AX
	MOVQ  R13, BX

#define CROW832(r0, r1) \
	VMOVUPS r0, K1, (AX) \
	VMOVUPS r1, K2, 64(AX) \
	ADDQ    R8, AX \
	DECQ    BX \
	JZ      conv832next

	CROW832(Z0, Z1)
	CROW832(Z2, Z3)
	CROW832(Z4, Z5)
	CROW832(Z6, Z7)
	CROW832(Z8, Z9)
	CROW832(Z10, Z11)
	CROW832(Z12, Z13)
	CROW832(Z14, Z15)

conv832next:
	ADDQ $16, R11
	DECQ R12
	JMP  conv832seg

conv832epi:
	// R10: the rows' biases; DI: the residual; Z24, Z25: Lo and Hi. (A
	// masked load of no lanes is no shortcut for a missing residual: the
	// address must still be mapped, or the CPU takes a slow assist.)
	MOVQ         bias+72(FP), R10
	MOVQ         res+80(FP), DI
	VBROADCASTSS 4(SI), Z24
	VBROADCASTSS 8(SI), Z25

conv832eseg:
	TESTQ R12, R12
	JE    conv832done
	MOVQ  (R11), AX
	MOVQ  8(R11), BX
	KMOVW BX, K1
	SHRQ  $16, BX
	KMOVW BX, K2
	LEAQ  (DI)(AX*4), R9
	LEAQ  (DX)(AX*4), AX
	MOVQ  R13, BX
	TESTQ DI, DI
	JNE   conv832eres

// CEPI832 stores row r0, r1 plus the bias at boff(R10), clamped to
// [Z24, Z25]; CRES832 adds the residual row at R9 too.
#define CEPI832(r0, r1, boff) \
	VBROADCASTSS boff(R10), Z18 \
	VADDPS       Z18, r0, Z16 \
	VADDPS       Z18, r1, Z17 \
	VMAXPS       Z16, Z24, Z16 \
	VMAXPS       Z17, Z24, Z17 \
	VMINPS       Z16, Z25, Z16 \
	VMINPS       Z17, Z25, Z17 \
	VMOVUPS      Z16, K1, (AX) \
	VMOVUPS      Z17, K2, 64(AX) \
	ADDQ         R8, AX \
	DECQ         BX \
	JZ           conv832enext

	CEPI832(Z0, Z1, 0)
	CEPI832(Z2, Z3, 4)
	CEPI832(Z4, Z5, 8)
	CEPI832(Z6, Z7, 12)
	CEPI832(Z8, Z9, 16)
	CEPI832(Z10, Z11, 20)
	CEPI832(Z12, Z13, 24)
	CEPI832(Z14, Z15, 28)
	JMP conv832enext

conv832eres:
#define CRES832(r0, r1, boff) \
	VBROADCASTSS boff(R10), Z18 \
	VADDPS       Z18, r0, Z16 \
	VADDPS       Z18, r1, Z17 \
	VMOVUPS.Z    (R9), K1, Z19 \
	VADDPS       Z19, Z16, Z16 \
	VMOVUPS.Z    64(R9), K2, Z19 \
	VADDPS       Z19, Z17, Z17 \
	VMAXPS       Z16, Z24, Z16 \
	VMAXPS       Z17, Z24, Z17 \
	VMINPS       Z16, Z25, Z16 \
	VMINPS       Z17, Z25, Z17 \
	VMOVUPS      Z16, K1, (AX) \
	VMOVUPS      Z17, K2, 64(AX) \
	ADDQ         R8, AX \
	ADDQ         R8, R9 \
	DECQ         BX \
	JZ           conv832enext

	CRES832(Z0, Z1, 0)
	CRES832(Z2, Z3, 4)
	CRES832(Z4, Z5, 8)
	CRES832(Z6, Z7, 12)
	CRES832(Z8, Z9, 16)
	CRES832(Z10, Z11, 20)
	CRES832(Z12, Z13, 24)
	CRES832(Z14, Z15, 28)

conv832enext:
	ADDQ $16, R11
	DECQ R12
	JMP  conv832eseg

conv832done:
	VZEROUPPER
	RET

// func copyRowsAVX512(dst, src *float32, width, rows, ldDst, ldSrc int)
//
// Copies rows rows of width floats, ldSrc floats apart in src, to dst,
// ldDst floats apart: whole vectors of 16, then the rest under a mask.
TEXT ·copyRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ width+16(FP), R10
	MOVQ rows+24(FP), DX
	MOVQ ldDst+32(FP), R8
	MOVQ ldSrc+40(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ R10, CX
	ANDQ $15, CX
	MOVQ $1, BX
	SHLQ CX, BX
	DECQ BX
	KMOVW BX, K1
	SHRQ $4, R10

copyrow:
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ R10, R11

copyvec:
	TESTQ R11, R11
	JE    copytail
	VMOVUPS (R12), Z0
	VMOVUPS Z0, (R13)
	ADDQ $64, R12
	ADDQ $64, R13
	DECQ R11
	JMP  copyvec

copytail:
	TESTQ BX, BX
	JE    copynext
	VMOVUPS.Z (R12), K1, Z0
	VMOVUPS Z0, K1, (R13)

copynext:
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ DX
	JNZ  copyrow
	VZEROUPPER
	RET

// D3CHANNEL readies channel R14 of a 3×3 depthwise kernel: its nine
// weights in Z7–Z15, its bias in Z16, its input plane (R8 rows of wd) in
// SI and its output plane in DI; the other arguments are the kernel's.
#define D3CHANNEL(w, bias, wd, src, oh, ow, dst) \
	IMUL3Q       $36, R14, AX \
	MOVQ         w, R10 \
	ADDQ         AX, R10 \
	VBROADCASTSS 0(R10), Z7 \
	VBROADCASTSS 4(R10), Z8 \
	VBROADCASTSS 8(R10), Z9 \
	VBROADCASTSS 12(R10), Z10 \
	VBROADCASTSS 16(R10), Z11 \
	VBROADCASTSS 20(R10), Z12 \
	VBROADCASTSS 24(R10), Z13 \
	VBROADCASTSS 28(R10), Z14 \
	VBROADCASTSS 32(R10), Z15 \
	MOVQ         bias, AX \
	VBROADCASTSS (AX)(R14*4), Z16 \
	MOVQ         R8, AX \
	IMULQ        wd, AX \
	IMULQ        R14, AX \
	MOVQ         src, SI \
	LEAQ         (SI)(AX*4), SI \
	MOVQ         oh, AX \
	IMULQ        ow, AX \
	IMULQ        R14, AX \
	MOVQ         dst, DI \
	LEAQ         (DI)(AX*4), DI

// SUMCLAMP adds the partial sums b and c and the bias in Z16 to a and
// clamps it to [Z17, Z18], a NaN staying NaN.
#define SUMCLAMP(a, b, c) \
	VADDPS b, a, a \
	VADDPS c, a, a \
	VADDPS Z16, a, a \
	VMAXPS a, Z17, a \
	VMINPS a, Z18, a

// OUTAT puts in AX the offset in floats of output row R11, chunk R12, of
// an output ow wide.
#define OUTAT(ow) \
	MOVQ  R11, AX \
	IMULQ ow, AX \
	MOVQ  R12, CX \
	SHLQ  $4, CX \
	ADDQ  CX, AX

// CHUNKMASKS loads the four masks of chunk R12 of a depthwise kernel
// (four ints a chunk from R9) into K1–K4.
#define CHUNKMASKS \
	MOVQ  R12, DX \
	SHLQ  $5, DX \
	ADDQ  R9, DX \
	MOVQ  (DX), AX \
	KMOVW AX, K1 \
	MOVQ  8(DX), AX \
	KMOVW AX, K2 \
	MOVQ  16(DX), AX \
	KMOVW AX, K3 \
	MOVQ  24(DX), AX \
	KMOVW AX, K4

// ROWIN jumps to skip unless input row R13 lies in the plane (R8 rows);
// NEXTROW steps BX and R13 to the next input row (CX bytes on) first.
#define ROWIN(skip) \
	TESTQ R13, R13 \
	JL    skip \
	CMPQ  R13, R8 \
	JGE   skip

#define NEXTROW(skip) \
	ADDQ CX, BX \
	INCQ R13 \
	ROWIN(skip)

// D3ROWADDR points BX at input row oy−padH (R11: oy; R13: that row's
// index) from chunk R12's first tap column, and puts the bytes of an
// input row in CX; padh, wd and padw are the kernel's arguments.
#define D3ROWADDR(padh, wd, padw) \
	MOVQ  R11, R13 \
	SUBQ  padh, R13 \
	MOVQ  R13, AX \
	IMULQ wd, AX \
	MOVQ  R12, CX \
	SHLQ  $4, CX \
	ADDQ  CX, AX \
	SUBQ  padw, AX \
	LEAQ  (SI)(AX*4), BX \
	MOVQ  wd, CX \
	SHLQ  $2, CX

// func depthwiseS1AVX512(dst, src, w *float32, masks *int, h, wd, oh, ow, kh, kw, padH, padW, chunks int)
//
// A depthwise convolution of stride 1 of one channel, read straight from
// its h×wd plane src: output row oy, in chunks of 16 columns, is the sum
// over the taps (ky, kx) whose input row iy = oy+ky−padH lies in the plane
// of w[ky·kw+kx] times the 16 inputs of row iy from column 16·chunk+kx−padW
// on, loaded under the chunk's mask for kx (zero where the column falls
// outside the plane or the output), and is stored under the chunk's store
// mask. masks holds, per chunk, kw load masks then the store mask.
TEXT ·depthwiseS1AVX512(SB), NOSPLIT, $0-104
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), R10
	MOVQ masks+24(FP), R9
	XORQ R11, R11 // oy

dsrow:
	CMPQ R11, oh+48(FP)
	JGE  dsdone
	XORQ R12, R12 // chunk

dschunk:
	CMPQ   R12, chunks+96(FP)
	JGE    dsnextrow
	VPXORD Z0, Z0, Z0
	VPXORD Z3, Z3, Z3
	MOVQ   kw+72(FP), DX
	INCQ   DX
	IMULQ  R12, DX
	LEAQ   (R9)(DX*8), DX // the chunk's masks
	XORQ   R13, R13       // ky

dsky:
	CMPQ R13, kh+64(FP)
	JGE  dsstore
	MOVQ R11, AX
	ADDQ R13, AX
	SUBQ padH+80(FP), AX // iy
	JL   dsnextky
	CMPQ AX, h+32(FP)
	JGE  dsnextky
	IMULQ wd+40(FP), AX
	MOVQ  R12, BX
	SHLQ  $4, BX
	ADDQ  BX, AX
	SUBQ  padW+88(FP), AX
	LEAQ  (SI)(AX*4), BX  // input row iy from the chunk's first tap column
	MOVQ  R13, CX
	IMULQ kw+72(FP), CX
	LEAQ  (R10)(CX*4), CX // the weights of row ky
	XORQ  R14, R14        // kx

dskx:
	// Two taps a step into two sums, so that the sums' chains are half
	// as long.
	MOVQ         kw+72(FP), AX
	SUBQ         R14, AX
	CMPQ         AX, $2
	JL           dskxlast
	MOVQ         (DX)(R14*8), AX
	KMOVW        AX, K1
	MOVQ         8(DX)(R14*8), AX
	KMOVW        AX, K2
	VMOVUPS.Z    (BX)(R14*4), K1, Z1
	VMOVUPS.Z    4(BX)(R14*4), K2, Z4
	VBROADCASTSS (CX)(R14*4), Z2
	VBROADCASTSS 4(CX)(R14*4), Z5
	VFMADD231PS  Z1, Z2, Z0
	VFMADD231PS  Z4, Z5, Z3
	ADDQ         $2, R14
	JMP          dskx

dskxlast:
	CMPQ         R14, kw+72(FP)
	JGE          dsnextky
	MOVQ         (DX)(R14*8), AX
	KMOVW        AX, K1
	VMOVUPS.Z    (BX)(R14*4), K1, Z1
	VBROADCASTSS (CX)(R14*4), Z2
	VFMADD231PS  Z1, Z2, Z0

dsnextky:
	INCQ R13
	JMP  dsky

dsstore:
	VADDPS Z3, Z0, Z0
	MOVQ   kw+72(FP), AX
	MOVQ   (DX)(AX*8), AX
	KMOVW  AX, K1
	MOVQ   R11, AX
	IMULQ  ow+56(FP), AX
	MOVQ   R12, BX
	SHLQ   $4, BX
	ADDQ   BX, AX
	VMOVUPS Z0, K1, (DI)(AX*4)
	INCQ   R12
	JMP    dschunk

dsnextrow:
	INCQ R11
	JMP  dsrow

dsdone:
	VZEROUPPER
	RET

// func depthwise3x3S1AVX512(dst, src, w, bias *float32, masks *int, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32)
//
// depthwiseS1AVX512 for a 3×3 kernel over channels planes (src's h×wd
// planes one after the other, dst's oh×ow ones, nine weights and one bias
// per channel), with a channel's weights in Z7–Z15, a chunk's masks in
// K1–K4, three sums, and the epilogue min(max(sum + bias, lo), hi)
// applied before the store.
TEXT ·depthwise3x3S1AVX512(SB), NOSPLIT, $0-112
	MOVQ         masks+32(FP), R9
	MOVQ         h+40(FP), R8
	VBROADCASTSS lo+104(FP), Z17
	VBROADCASTSS hi+108(FP), Z18
	XORQ         R14, R14 // channel

d3chan:
	CMPQ         R14, channels+96(FP)
	JGE          d3done
	D3CHANNEL(w+16(FP), bias+24(FP), wd+48(FP), src+8(FP), oh+56(FP), ow+64(FP), dst+0(FP))
	XORQ         R11, R11       // oy

	// Output rows in pairs (rows oy and oy+1 read four input rows, 12
	// loads for two vectors of outputs rather than 18), then the last odd
	// row alone (d3row).
d3pair:
	MOVQ R11, AX
	INCQ AX
	CMPQ AX, oh+56(FP)
	JGE  d3row
	XORQ R12, R12 // chunk

d3pchunk:
	CMPQ   R12, chunks+88(FP)
	JGE    d3nextpair
	CHUNKMASKS
	VPXORD Z0, Z0, Z0
	VPXORD Z3, Z3, Z3
	VPXORD Z6, Z6, Z6
	VPXORD Z5, Z5, Z5
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	D3ROWADDR(padH+72(FP), wd+48(FP), padW+80(FP))

// D3LOAD loads an input row's three tap vectors into Z1, Z2, Z4; D3FMA
// adds their products with weights wa, wb, wc to sums s0, s1, s2.
#define D3LOAD \
	VMOVUPS.Z (BX), K1, Z1 \
	VMOVUPS.Z 4(BX), K2, Z2 \
	VMOVUPS.Z 8(BX), K3, Z4

#define D3FMA(wa, wb, wc, s0, s1, s2) \
	VFMADD231PS Z1, wa, s0 \
	VFMADD231PS Z2, wb, s1 \
	VFMADD231PS Z4, wc, s2

	// Input row oy−padH: tap row 0 of output oy.
	ROWIN(d3p1)
	D3LOAD
	D3FMA(Z7, Z8, Z9, Z0, Z3, Z6)

d3p1: // tap row 1 of oy, 0 of oy+1
	NEXTROW(d3p2)
	D3LOAD
	D3FMA(Z10, Z11, Z12, Z0, Z3, Z6)
	D3FMA(Z7, Z8, Z9, Z5, Z19, Z20)

d3p2: // tap row 2 of oy, 1 of oy+1
	NEXTROW(d3p3)
	D3LOAD
	D3FMA(Z13, Z14, Z15, Z0, Z3, Z6)
	D3FMA(Z10, Z11, Z12, Z5, Z19, Z20)

d3p3: // tap row 2 of oy+1
	NEXTROW(d3pstore)
	D3LOAD
	D3FMA(Z13, Z14, Z15, Z5, Z19, Z20)

d3pstore:
	SUMCLAMP(Z0, Z3, Z6)
	SUMCLAMP(Z5, Z19, Z20)
	OUTAT(ow+64(FP))
	VMOVUPS Z0, K4, (DI)(AX*4)
	ADDQ    ow+64(FP), AX
	VMOVUPS Z5, K4, (DI)(AX*4)
	INCQ    R12
	JMP     d3pchunk

d3nextpair:
	ADDQ $2, R11
	JMP  d3pair

d3row:
	CMPQ R11, oh+56(FP)
	JGE  d3nextchan
	XORQ R12, R12 // chunk

d3chunk:
	CMPQ   R12, chunks+88(FP)
	JGE    d3nextrow
	CHUNKMASKS
	VPXORD Z0, Z0, Z0
	VPXORD Z3, Z3, Z3
	VPXORD Z6, Z6, Z6
	D3ROWADDR(padH+72(FP), wd+48(FP), padW+80(FP))

#define D3ROW(wa, wb, wc) \
	VMOVUPS.Z   (BX), K1, Z1 \
	VMOVUPS.Z   4(BX), K2, Z2 \
	VMOVUPS.Z   8(BX), K3, Z4 \
	VFMADD231PS Z1, wa, Z0 \
	VFMADD231PS Z2, wb, Z3 \
	VFMADD231PS Z4, wc, Z6

	ROWIN(d3row1)
	D3ROW(Z7, Z8, Z9)

d3row1:
	NEXTROW(d3row2)
	D3ROW(Z10, Z11, Z12)

d3row2:
	NEXTROW(d3store)
	D3ROW(Z13, Z14, Z15)

d3store:
	SUMCLAMP(Z0, Z3, Z6)
	OUTAT(ow+64(FP))
	VMOVUPS Z0, K4, (DI)(AX*4)
	INCQ    R12
	JMP     d3chunk

d3nextrow:
	INCQ R11
	JMP  d3row

d3nextchan:
	INCQ R14
	JMP  d3chan

d3done:
	VZEROUPPER
	RET

// S2ROWADDR points BX at input row 2·oy−padH (R11: oy; R13: that row's
// index) from chunk R12's first column, 32·chunk−padW, of a window of
// stride 2, and puts the bytes of an input row in CX; padh, wd and padw
// are the kernel's arguments.
#define S2ROWADDR(padh, wd, padw) \
	MOVQ  R11, R13 \
	SHLQ  $1, R13 \
	SUBQ  padh, R13 \
	MOVQ  R13, AX \
	IMULQ wd, AX \
	MOVQ  R12, CX \
	SHLQ  $5, CX \
	ADDQ  CX, AX \
	SUBQ  padw, AX \
	LEAQ  (SI)(AX*4), BX \
	MOVQ  wd, CX \
	SHLQ  $2, CX

// func depthwise3x3S2AVX512(dst, src, w, bias *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, channels int, lo, hi float32)
//
// A depthwise 3×3 convolution of stride 2 over channels planes, read
// straight from the planes as depthwise3x3S1AVX512 reads them: output row
// oy, 16 columns from 16·chunk on, reads input columns c0 = 32·chunk−padW
// to c0+32 of rows 2·oy−padH+ky as three vectors under the chunk's masks
// (K1–K3; zero outside the plane), permutes them (idx: the even and the odd
// lanes of two vectors) into the columns of taps kx = 0 (c0, c0+2, …), 1
// and 2 (the even ones shifted on by one), and stores under K4 after
// min(max(sum + bias, lo), hi). A channel's weights stay in Z7–Z15.
TEXT ·depthwise3x3S2AVX512(SB), NOSPLIT, $0-120
	MOVQ         masks+32(FP), R9
	MOVQ         idx+40(FP), AX
	VMOVUPS      (AX), Z19  // 0, 2, …, 30
	VMOVUPS      64(AX), Z20 // 1, 3, …, 31
	MOVQ         h+48(FP), R8
	VBROADCASTSS lo+112(FP), Z17
	VBROADCASTSS hi+116(FP), Z18
	XORQ         R14, R14 // channel

s2chan:
	CMPQ         R14, channels+104(FP)
	JGE          s2done
	D3CHANNEL(w+16(FP), bias+24(FP), wd+56(FP), src+8(FP), oh+64(FP), ow+72(FP), dst+0(FP))
	XORQ         R11, R11       // oy

s2row:
	CMPQ R11, oh+64(FP)
	JGE  s2nextchan
	XORQ R12, R12 // chunk

s2chunk:
	CMPQ   R12, chunks+96(FP)
	JGE    s2nextrow
	CHUNKMASKS
	VPXORD Z0, Z0, Z0
	VPXORD Z3, Z3, Z3
	VPXORD Z6, Z6, Z6
	S2ROWADDR(padH+80(FP), wd+56(FP), padW+88(FP))

#define S2ROW(wa, wb, wc) \
	VMOVUPS.Z   (BX), K1, Z1 \
	VMOVUPS.Z   64(BX), K2, Z2 \
	VMOVUPS.Z   128(BX), K3, Z4 \
	VMOVAPS     Z19, Z5 \
	VPERMI2PS   Z2, Z1, Z5 \
	VMOVAPS     Z20, Z21 \
	VPERMI2PS   Z2, Z1, Z21 \
	VALIGND     $1, Z5, Z4, Z22 \
	VFMADD231PS Z5, wa, Z0 \
	VFMADD231PS Z21, wb, Z3 \
	VFMADD231PS Z22, wc, Z6

	ROWIN(s2row1)
	S2ROW(Z7, Z8, Z9)

s2row1:
	NEXTROW(s2row2)
	S2ROW(Z10, Z11, Z12)

s2row2:
	NEXTROW(s2store)
	S2ROW(Z13, Z14, Z15)

s2store:
	SUMCLAMP(Z0, Z3, Z6)
	OUTAT(ow+72(FP))
	VMOVUPS Z0, K4, (DI)(AX*4)
	INCQ    R12
	JMP     s2chunk

s2nextrow:
	INCQ R11
	JMP  s2row

s2nextchan:
	INCQ R14
	JMP  s2chan

s2done:
	VZEROUPPER
	RET

// func maxPool3x3S2AVX512(dst, src *float32, masks *int, idx *int32, h, wd, oh, ow, padH, padW, chunks, planes int)
//
// 3×3 max pooling of stride 2 over planes, read as depthwise3x3S2AVX512
// reads them: each chunk of 16 outputs loads three vectors of each of its
// three input rows (lanes outside the plane −∞), takes their maxima row
// over row, then permutes those into the window's three columns and takes
// their maximum. NANMAX keeps a NaN of either operand.
TEXT ·maxPool3x3S2AVX512(SB), NOSPLIT, $0-96
	MOVQ         masks+16(FP), R9
	MOVQ         idx+24(FP), AX
	VMOVUPS      (AX), Z19  // 0, 2, …, 30
	VMOVUPS      64(AX), Z20 // 1, 3, …, 31
	MOVQ         h+32(FP), R8
	MOVL         $0xff800000, AX
	VPBROADCASTD AX, Z18 // −∞
	XORQ         R14, R14 // plane

mpplane:
	CMPQ  R14, planes+88(FP)
	JGE   mpdone
	MOVQ  R8, AX
	IMULQ wd+40(FP), AX
	IMULQ R14, AX
	MOVQ  src+8(FP), SI
	LEAQ  (SI)(AX*4), SI
	MOVQ  oh+48(FP), AX
	IMULQ ow+56(FP), AX
	IMULQ R14, AX
	MOVQ  dst+0(FP), DI
	LEAQ  (DI)(AX*4), DI
	XORQ  R11, R11 // oy

mprow:
	CMPQ R11, oh+48(FP)
	JGE  mpnextplane
	XORQ R12, R12 // chunk

mpchunk:
	CMPQ    R12, chunks+80(FP)
	JGE     mpnextrow
	CHUNKMASKS
	VMOVAPS Z18, Z0
	VMOVAPS Z18, Z3
	VMOVAPS Z18, Z6
	S2ROWADDR(padH+64(FP), wd+40(FP), padW+72(FP))

// NANMAX sets acc to x where x is larger or NaN.
#define NANMAX(x, acc) \
	VMAXPS  acc, x, acc \
	VCMPPS  $3, x, x, K5 \
	VMOVAPS x, K5, acc

#define MPROW \
	VMOVAPS Z18, Z1 \
	VMOVUPS (BX), K1, Z1 \
	VMOVAPS Z18, Z2 \
	VMOVUPS 64(BX), K2, Z2 \
	VMOVAPS Z18, Z4 \
	VMOVUPS 128(BX), K3, Z4 \
	NANMAX(Z1, Z0) \
	NANMAX(Z2, Z3) \
	NANMAX(Z4, Z6)

	ROWIN(mprow1)
	MPROW

mprow1:
	NEXTROW(mprow2)
	MPROW

mprow2:
	NEXTROW(mpstore)
	MPROW

mpstore:
	VMOVAPS   Z19, Z5
	VPERMI2PS Z3, Z0, Z5  // column 0 of each window
	VMOVAPS   Z20, Z21
	VPERMI2PS Z3, Z0, Z21 // column 1
	VALIGND   $1, Z5, Z6, Z22 // column 2
	NANMAX(Z21, Z5)
	NANMAX(Z22, Z5)
	OUTAT(ow+56(FP))
	VMOVUPS   Z5, K4, (DI)(AX*4)
	INCQ      R12
	JMP       mpchunk

mpnextrow:
	INCQ R11
	JMP  mprow

mpnextplane:
	INCQ R14
	JMP  mpplane

mpdone:
	VZEROUPPER
	RET

// func depthwiseAVX512(dst, src *float32, offs *int, w *float32, taps, n int)
//
// dst[j] = Σ over t < taps of w[t]·src[offs[t] + j] for j < n, a multiple
// of 64: four vectors of outputs a step, each accumulated in a register
// over every tap before it is stored once.
TEXT ·depthwiseAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R9
	MOVQ w+24(FP), R10
	MOVQ taps+32(FP), R11
	MOVQ n+40(FP), CX
	SHRQ $6, CX
	JZ   dwdone
dwblock:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ   BX, BX
dwtap:
	MOVQ         (R9)(BX*8), AX
	LEAQ         (SI)(AX*4), AX
	VBROADCASTSS (R10)(BX*4), Z4
	VFMADD231PS  (AX), Z4, Z0
	VFMADD231PS  64(AX), Z4, Z1
	VFMADD231PS  128(AX), Z4, Z2
	VFMADD231PS  192(AX), Z4, Z3
	INCQ         BX
	CMPQ         BX, R11
	JL           dwtap
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ    $256, DI
	ADDQ    $256, SI
	DECQ    CX
	JNZ     dwblock
dwdone:
	VZEROUPPER
	RET

DATA evenIdx<>+0(SB)/4, $0
DATA evenIdx<>+4(SB)/4, $2
DATA evenIdx<>+8(SB)/4, $4
DATA evenIdx<>+12(SB)/4, $6
DATA evenIdx<>+16(SB)/4, $8
DATA evenIdx<>+20(SB)/4, $10
DATA evenIdx<>+24(SB)/4, $12
DATA evenIdx<>+28(SB)/4, $14
DATA evenIdx<>+32(SB)/4, $16
DATA evenIdx<>+36(SB)/4, $18
DATA evenIdx<>+40(SB)/4, $20
DATA evenIdx<>+44(SB)/4, $22
DATA evenIdx<>+48(SB)/4, $24
DATA evenIdx<>+52(SB)/4, $26
DATA evenIdx<>+56(SB)/4, $28
DATA evenIdx<>+60(SB)/4, $30
GLOBL evenIdx<>(SB), RODATA|NOPTR, $64

// func deinterleaveAVX512(even, odd, src *float32, n int)
//
// even[i] = src[2i] and odd[i] = src[2i+1] for i < n, a multiple of 16:
// two vectors of src a step, split by two-table permutes.
TEXT ·deinterleaveAVX512(SB), NOSPLIT, $0-32
	MOVQ    even+0(FP), DI
	MOVQ    odd+8(FP), DX
	MOVQ    src+16(FP), SI
	MOVQ    n+24(FP), CX
	SHRQ    $4, CX
	JZ      dedone
	VMOVUPS evenIdx<>(SB), Z4
	MOVL    $1, AX
	VPBROADCASTD AX, Z5
	VPADDD  Z5, Z4, Z5 // the odd indices
deloop:
	VMOVUPS   (SI), Z0
	VMOVUPS   64(SI), Z1
	VMOVAPS   Z4, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z5, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, (DI)
	VMOVUPS   Z3, (DX)
	ADDQ      $128, SI
	ADDQ      $64, DI
	ADDQ      $64, DX
	DECQ      CX
	JNZ       deloop
dedone:
	VZEROUPPER
	RET

// func gatherAVX512(dst, src *float32, idx *int32, full, tail int)
//
// dst[i] = src[idx[i]], or 0 where idx[i] is negative: full chunks of 16,
// then, when tail is not zero, one more under it (its lanes' mask).
TEXT ·gatherAVX512(SB), NOSPLIT, $0-40
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   idx+16(FP), DX
	MOVQ   full+24(FP), CX
	VPXORD Z2, Z2, Z2
	TESTQ  CX, CX
	JE     gatail

galoop:
	VMOVDQU32  (DX), Z1
	VPCMPD     $5, Z2, Z1, K1 // idx ≥ 0
	VPXORD     Z0, Z0, Z0
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS    Z0, (DI)
	ADDQ       $64, DX
	ADDQ       $64, DI
	DECQ       CX
	JNZ        galoop

gatail:
	MOVQ       tail+32(FP), AX
	TESTQ      AX, AX
	JE         gadone
	KMOVW      AX, K2
	VMOVDQU32.Z (DX), K2, Z1
	VPCMPD     $5, Z2, Z1, K2, K1
	VPXORD     Z0, Z0, Z0
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS    Z0, K2, (DI)

gadone:
	VZEROUPPER
	RET

// func evenColumnsAVX512(dst, src *float32, ldDst, ldSrc, rows, full, dmask, lomask, himask int)
//
// dst[r·ldDst+i] = src[r·ldSrc+2i] for rows rows: full chunks of 16
// outputs from 32 inputs, then one chunk of at most 16 under the masks
// (dmask the outputs, lomask and himask the inputs of its two loads).
TEXT ·evenColumnsAVX512(SB), NOSPLIT, $0-72
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    ldDst+16(FP), R8
	MOVQ    ldSrc+24(FP), R9
	MOVQ    rows+32(FP), R10
	MOVQ    full+40(FP), R11
	SHLQ    $2, R8
	SHLQ    $2, R9
	MOVQ    dmask+48(FP), AX
	KMOVW   AX, K1
	MOVQ    lomask+56(FP), AX
	KMOVW   AX, K2
	MOVQ    himask+64(FP), AX
	KMOVW   AX, K3
	VMOVUPS evenIdx<>(SB), Z4

ecrow:
	MOVQ DI, R12
	MOVQ SI, R13
	MOVQ R11, CX
	TESTQ CX, CX
	JE    ectail

ecloop:
	VMOVUPS   (R13), Z0
	VMOVUPS   64(R13), Z1
	VMOVAPS   Z4, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVUPS   Z2, (R12)
	ADDQ      $128, R13
	ADDQ      $64, R12
	DECQ      CX
	JNZ       ecloop

ectail:
	VMOVUPS.Z (R13), K2, Z0
	VMOVUPS.Z 64(R13), K3, Z1
	VMOVAPS   Z4, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVUPS   Z2, K1, (R12)
	ADDQ      R8, DI
	ADDQ      R9, SI
	DECQ      R10
	JNZ       ecrow
	VZEROUPPER
	RET
