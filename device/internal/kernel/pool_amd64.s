//go:build !purego

#include "textflag.h"

// Lanes 0, 2, ..., 30 and 1, 3, ..., 31 of a pair of vectors: the
// permutations that split a row into its even and odd columns. The even
// one also serves as the column offsets of a chunk's windows.
DATA evenLanes<>+0(SB)/4, $0
DATA evenLanes<>+4(SB)/4, $2
DATA evenLanes<>+8(SB)/4, $4
DATA evenLanes<>+12(SB)/4, $6
DATA evenLanes<>+16(SB)/4, $8
DATA evenLanes<>+20(SB)/4, $10
DATA evenLanes<>+24(SB)/4, $12
DATA evenLanes<>+28(SB)/4, $14
DATA evenLanes<>+32(SB)/4, $16
DATA evenLanes<>+36(SB)/4, $18
DATA evenLanes<>+40(SB)/4, $20
DATA evenLanes<>+44(SB)/4, $22
DATA evenLanes<>+48(SB)/4, $24
DATA evenLanes<>+52(SB)/4, $26
DATA evenLanes<>+56(SB)/4, $28
DATA evenLanes<>+60(SB)/4, $30
GLOBL evenLanes<>(SB), RODATA|NOPTR, $64

DATA oddLanes<>+0(SB)/4, $1
DATA oddLanes<>+4(SB)/4, $3
DATA oddLanes<>+8(SB)/4, $5
DATA oddLanes<>+12(SB)/4, $7
DATA oddLanes<>+16(SB)/4, $9
DATA oddLanes<>+20(SB)/4, $11
DATA oddLanes<>+24(SB)/4, $13
DATA oddLanes<>+28(SB)/4, $15
DATA oddLanes<>+32(SB)/4, $17
DATA oddLanes<>+36(SB)/4, $19
DATA oddLanes<>+40(SB)/4, $21
DATA oddLanes<>+44(SB)/4, $23
DATA oddLanes<>+48(SB)/4, $25
DATA oddLanes<>+52(SB)/4, $27
DATA oddLanes<>+56(SB)/4, $29
DATA oddLanes<>+60(SB)/4, $31
GLOBL oddLanes<>(SB), RODATA|NOPTR, $64

// TAKE makes the window value v (index iv) the best so far (Z4, index Z6)
// where it is larger or NaN, as the scalar code does.
#define TAKE(v, iv) \
	VCMPPS    $0x1e, Z4, v, K4 \
	VCMPPS    $3, v, v, K5 \
	KORW      K5, K4, K4 \
	VMOVAPS   v, K4, Z4 \
	VMOVDQA32 iv, K4, Z6

// POOL pools the chunk of 16 windows whose top-left input is R10+R11 and
// whose output is R13+R12, loading the inputs under K2 and K3 and storing
// under K1.
#define POOL \
	MOVQ         R10, AX \
	ADDQ         R11, AX \
	VMOVUPS.Z    (SI)(AX*4), K2, Z0 \
	VMOVUPS.Z    64(SI)(AX*4), K3, Z1 \
	VPBROADCASTD AX, Z26 \
	ADDQ         R9, AX \
	VMOVUPS.Z    (SI)(AX*4), K2, Z2 \
	VMOVUPS.Z    64(SI)(AX*4), K3, Z3 \
	VMOVAPS      Z0, Z4 \
	VPERMT2PS    Z1, Z31, Z4 \
	VPERMT2PS    Z1, Z30, Z0 \
	VMOVAPS      Z2, Z5 \
	VPERMT2PS    Z3, Z31, Z5 \
	VPERMT2PS    Z3, Z30, Z2 \
	VPADDD       Z31, Z26, Z8 \
	VMOVDQA32    Z8, Z6 \
	VPADDD       Z27, Z8, Z7 \
	TAKE(Z0, Z7) \
	VPADDD       Z28, Z8, Z7 \
	TAKE(Z5, Z7) \
	VPADDD       Z27, Z7, Z7 \
	TAKE(Z2, Z7) \
	MOVQ         R13, AX \
	ADDQ         R12, AX \
	VMOVUPS      Z4, K1, (DI)(AX*4) \
	VMOVDQU32    Z6, K1, (R8)(AX*4)

// func maxPool2x2AVX512(dst *float32, idx *int32, src *float32, oh, w, full, tail, ow int)
//
// 2×2 max pooling of stride 2 of one plane src, w floats wide, into dst and
// the plane index of each window's maximum into idx, oh rows of ow: full
// chunks of 16 windows per row, then, when tail is not zero, one more
// chunk under its masks (output lanes in bits 0–15, input lanes of the
// first vector in bits 16–31 and of the second in bits 32–47).
TEXT ·maxPool2x2AVX512(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ idx+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ oh+24(FP), CX
	MOVQ w+32(FP), R9
	MOVQ ow+56(FP), DX
	VMOVDQU32 evenLanes<>(SB), Z31
	VMOVDQU32 oddLanes<>(SB), Z30
	VPBROADCASTD R9, Z28
	MOVQ $1, AX
	VPBROADCASTD AX, Z27
	XORQ R10, R10
	XORQ R13, R13

poolrow:
	MOVQ full+40(FP), BX
	XORQ R11, R11
	XORQ R12, R12
	KXNORW K1, K1, K1
	KXNORW K2, K2, K2
	KXNORW K3, K3, K3

poolchunk:
	TESTQ BX, BX
	JE    pooltail
	POOL
	ADDQ $32, R11
	ADDQ $16, R12
	DECQ BX
	JMP  poolchunk

pooltail:
	MOVQ  tail+48(FP), AX
	TESTQ AX, AX
	JE    poolnext
	KMOVW AX, K1
	SHRQ  $16, AX
	KMOVW AX, K2
	SHRQ  $16, AX
	KMOVW AX, K3
	POOL

poolnext:
	LEAQ (R10)(R9*2), R10
	ADDQ DX, R13
	DECQ CX
	JNZ  poolrow
	VZEROUPPER
	RET
