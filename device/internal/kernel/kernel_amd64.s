//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// func Sgemm6x16AVX2(k int, a, b, c *float32, ldc int, add bool)
//
// Adds (stores, without add) to the 6×16 tile of c (rows ldc floats apart) the product of a
// packed 6×k sliver a (six floats per step of k) and a packed k×16 sliver b
// (sixteen floats per step). Twelve YMM registers hold the tile; each step
// loads two vectors of b and broadcasts six scalars of a into fused
// multiply-adds. The loop is unrolled by two.
TEXT ·Sgemm6x16AVX2(SB), NOSPLIT, $0-41
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

#define SETROW(r0, r1) \
	VMOVUPS r0, (DX) \
	VMOVUPS r1, 32(DX) \
	ADDQ R8, DX

	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      set
	ROW(Y0, Y1)
	ROW(Y2, Y3)
	ROW(Y4, Y5)
	ROW(Y6, Y7)
	ROW(Y8, Y9)
	ROW(Y10, Y11)
	VZEROUPPER
	RET

set:
	SETROW(Y0, Y1)
	SETROW(Y2, Y3)
	SETROW(Y4, Y5)
	SETROW(Y6, Y7)
	SETROW(Y8, Y9)
	SETROW(Y10, Y11)
	VZEROUPPER
	RET

// func Sgemm12x32AVX512(k int, a, b, c *float32, ldc int, add bool)
//
// Adds (stores, without add) to the 12×32 tile of c (rows ldc floats apart) the product of a
// packed 12×k sliver a (twelve floats per step of k) and a packed k×32
// sliver b (32 floats per step). Z0–Z23 hold the tile, two ZMM registers
// per row; each step loads two vectors of b and broadcasts twelve scalars
// of a into 24 fused multiply-adds. The loop is unrolled by two.
TEXT ·Sgemm12x32AVX512(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	// Ask for the tile's rows now, so that the stores at the end do not
	// wait for them.
	MOVQ DX, R9
	PREFETCH_ROWS2
	PREFETCH_ROWS2
	PREFETCH_ROWS2
	PREFETCH_ROWS2
	PREFETCH_ROWS2
	PREFETCH_ROWS2

	ZERO16
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

#define PAIR(aoff, t0, t1, r0, r1, r2, r3) \
	VBROADCASTSS aoff(SI), t0 \
	VBROADCASTSS aoff+4(SI), t1 \
	VFMADD231PS Z24, t0, r0 \
	VFMADD231PS Z25, t0, r1 \
	VFMADD231PS Z24, t1, r2 \
	VFMADD231PS Z25, t1, r3

#define STEP512(aoff, boff) \
	VMOVUPS boff(DI), Z24 \
	VMOVUPS boff+64(DI), Z25 \
	PAIR(aoff, Z26, Z27, Z0, Z1, Z2, Z3) \
	PAIR(aoff+8, Z28, Z29, Z4, Z5, Z6, Z7) \
	PAIR(aoff+16, Z30, Z31, Z8, Z9, Z10, Z11) \
	PAIR(aoff+24, Z26, Z27, Z12, Z13, Z14, Z15) \
	PAIR(aoff+32, Z28, Z29, Z16, Z17, Z18, Z19) \
	PAIR(aoff+40, Z30, Z31, Z20, Z21, Z22, Z23)

loop512:
	CMPQ CX, $2
	JL   tail512
	PREFETCHT0 512(DI)
	PREFETCHT0 1024(SI) // A, 21 steps ahead: a convolution's frozen weights come from memory
	STEP512(0, 0)
	STEP512(48, 128)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $2, CX
	JMP  loop512

tail512:
	TESTQ CX, CX
	JE    store512
	STEP512(0, 0)

store512:

	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      set512
	ROW512(Z0, Z1)
	ROW512(Z2, Z3)
	ROW512(Z4, Z5)
	ROW512(Z6, Z7)
	ROW512(Z8, Z9)
	ROW512(Z10, Z11)
	ROW512(Z12, Z13)
	ROW512(Z14, Z15)
	ROW512(Z16, Z17)
	ROW512(Z18, Z19)
	ROW512(Z20, Z21)
	ROW512(Z22, Z23)
	VZEROUPPER
	RET


set512:
	SETROW512(Z0, Z1)
	SETROW512(Z2, Z3)
	SETROW512(Z4, Z5)
	SETROW512(Z6, Z7)
	SETROW512(Z8, Z9)
	SETROW512(Z10, Z11)
	SETROW512(Z12, Z13)
	SETROW512(Z14, Z15)
	SETROW512(Z16, Z17)
	SETROW512(Z18, Z19)
	SETROW512(Z20, Z21)
	SETROW512(Z22, Z23)
	VZEROUPPER
	RET

// func Sgemm16x16AVX512(k int, a, b, c *float32, ldc int, add bool)
//
// Adds (stores, without add) to the 16×16 tile of c (rows ldc floats apart) the product of a
// packed 16×k sliver a (sixteen floats per step of k) and a packed k×16
// sliver b (sixteen floats per step). Z0–Z15 hold the tile, one ZMM
// register per row; each step loads one vector of b and broadcasts sixteen
// scalars of a. It suits products whose rows or columns the 12×32 kernel
// would leave partly empty (64 rows, 196 columns). The loop is unrolled
// by two.
TEXT ·Sgemm16x16AVX512(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	MOVQ DX, R9 // the tile's rows, as in Sgemm12x32AVX512
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW

	ZERO16

#define STEP1616(aoff, boff) \
	VMOVUPS boff(DI), Z16 \
	STEP16(aoff, Z16)

loop1616:
	CMPQ CX, $2
	JL   tail1616
	STEP1616(0, 0)
	STEP1616(64, 64)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $2, CX
	JMP  loop1616

tail1616:
	TESTQ CX, CX
	JE    store1616
	STEP1616(0, 0)

store1616:
#define ROW1616(r) \
	VADDPS (DX), r, r \
	VMOVUPS r, (DX) \
	ADDQ R8, DX

	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      set1616
	ROW1616(Z0)
	ROW1616(Z1)
	ROW1616(Z2)
	ROW1616(Z3)
	ROW1616(Z4)
	ROW1616(Z5)
	ROW1616(Z6)
	ROW1616(Z7)
	ROW1616(Z8)
	ROW1616(Z9)
	ROW1616(Z10)
	ROW1616(Z11)
	ROW1616(Z12)
	ROW1616(Z13)
	ROW1616(Z14)
	ROW1616(Z15)
	VZEROUPPER
	RET

#define SETROW1616(r) \
	VMOVUPS r, (DX) \
	ADDQ R8, DX

set1616:
	SETROW1616(Z0)
	SETROW1616(Z1)
	SETROW1616(Z2)
	SETROW1616(Z3)
	SETROW1616(Z4)
	SETROW1616(Z5)
	SETROW1616(Z6)
	SETROW1616(Z7)
	SETROW1616(Z8)
	SETROW1616(Z9)
	SETROW1616(Z10)
	SETROW1616(Z11)
	SETROW1616(Z12)
	SETROW1616(Z13)
	SETROW1616(Z14)
	SETROW1616(Z15)
	VZEROUPPER
	RET
