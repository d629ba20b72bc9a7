//go:build !purego

#include "textflag.h"

// func Sgemm6x16AVX2(k int, a, b, c *float32, ldc int)
//
// Adds to the 6×16 tile of c (rows ldc floats apart) the product of a
// packed 6×k sliver a (six floats per step of k) and a packed k×16 sliver b
// (sixteen floats per step). Twelve YMM registers hold the tile; each step
// loads two vectors of b and broadcasts six scalars of a into fused
// multiply-adds. The loop is unrolled by two.
TEXT ·Sgemm6x16AVX2(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

#define STEP(aoff, boff) \
	VMOVUPS boff(DI), Y12 \
	VMOVUPS boff+32(DI), Y13 \
	VBROADCASTSS aoff(SI), Y14 \
	VBROADCASTSS aoff+4(SI), Y15 \
	VFMADD231PS Y12, Y14, Y0 \
	VFMADD231PS Y13, Y14, Y1 \
	VFMADD231PS Y12, Y15, Y2 \
	VFMADD231PS Y13, Y15, Y3 \
	VBROADCASTSS aoff+8(SI), Y14 \
	VBROADCASTSS aoff+12(SI), Y15 \
	VFMADD231PS Y12, Y14, Y4 \
	VFMADD231PS Y13, Y14, Y5 \
	VFMADD231PS Y12, Y15, Y6 \
	VFMADD231PS Y13, Y15, Y7 \
	VBROADCASTSS aoff+16(SI), Y14 \
	VBROADCASTSS aoff+20(SI), Y15 \
	VFMADD231PS Y12, Y14, Y8 \
	VFMADD231PS Y13, Y14, Y9 \
	VFMADD231PS Y12, Y15, Y10 \
	VFMADD231PS Y13, Y15, Y11

loop2:
	CMPQ CX, $2
	JL   tail
	STEP(0, 0)
	STEP(24, 64)
	ADDQ $48, SI
	ADDQ $128, DI
	SUBQ $2, CX
	JMP  loop2

tail:
	TESTQ CX, CX
	JE    store
	STEP(0, 0)

store:
#define ROW(r0, r1) \
	VADDPS (DX), r0, r0 \
	VMOVUPS r0, (DX) \
	VADDPS 32(DX), r1, r1 \
	VMOVUPS r1, 32(DX) \
	ADDQ R8, DX

	ROW(Y0, Y1)
	ROW(Y2, Y3)
	ROW(Y4, Y5)
	ROW(Y6, Y7)
	ROW(Y8, Y9)
	ROW(Y10, Y11)
	VZEROUPPER
	RET
