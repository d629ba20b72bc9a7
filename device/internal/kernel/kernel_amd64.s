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

// func Sgemm12x32AVX512(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs, ldb int)
//
// Adds (stores, without add) to the 12×32 tile of c (rows ldc floats apart) the product of a
// packed 12×k sliver a (twelve floats per step of k) and a k×32 block of
// b whose rows are ldb floats apart (32 for a packed sliver). Z0–Z23 hold
// the tile, two ZMM registers per row; each step loads two vectors of b
// and broadcasts twelve scalars of a into 24 fused multiply-adds. The loop
// is unrolled by two. R12 and R13 hold one and two rows of b in bytes.
TEXT ·Sgemm12x32AVX512(SB), NOSPLIT, $0-72
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

	ZERO24

#define PAIR(aoff, t0, t1, r0, r1, r2, r3) \
	VBROADCASTSS aoff(SI), t0 \
	VBROADCASTSS aoff+4(SI), t1 \
	VFMADD231PS Z24, t0, r0 \
	VFMADD231PS Z25, t0, r1 \
	VFMADD231PS Z24, t1, r2 \
	VFMADD231PS Z25, t1, r3

#define STEP512(aoff, b0, b1) \
	VMOVUPS b0, Z24 \
	VMOVUPS b1, Z25 \
	PAIR(aoff, Z26, Z27, Z0, Z1, Z2, Z3) \
	PAIR(aoff+8, Z28, Z29, Z4, Z5, Z6, Z7) \
	PAIR(aoff+16, Z30, Z31, Z8, Z9, Z10, Z11) \
	PAIR(aoff+24, Z26, Z27, Z12, Z13, Z14, Z15) \
	PAIR(aoff+32, Z28, Z29, Z16, Z17, Z18, Z19) \
	PAIR(aoff+40, Z30, Z31, Z20, Z21, Z22, Z23)

	MOVQ ldb+64(FP), R12
	SHLQ $2, R12
	LEAQ (R12)(R12*1), R13

loop512:
	CMPQ CX, $2
	JL   tail512
	PREFETCHT0 (DI)(R13*2) // B, four steps ahead (512 bytes for a sliver)
	PREFETCHT0 1024(SI)    // A, 21 steps ahead: a convolution's frozen weights come from memory
	STEP512(0, (DI), 64(DI))
	STEP512(48, (DI)(R12*1), 64(DI)(R12*1))
	ADDQ $96, SI
	ADDQ R13, DI
	SUBQ $2, CX
	JMP  loop512

tail512:
	TESTQ CX, CX
	JE    store512
	STEP512(0, (DI), 64(DI))

store512:
	MOVQ  epi+56(FP), R11
	TESTQ R11, R11
	JNZ   epi512

	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      set512
	ROWS512
	VZEROUPPER
	RET


set512:
	SETROWS512
	VZEROUPPER
	RET

	// The epilogue, on the final sums: add C first with add, then the
	// row's bias, the clamp, the hard swish and the affine step as epi's
	// flags ask (see EpilogueArgs), then store.
epi512:
	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      epi512sums
	MOVQ    DX, R9
	ADDC512(Z0, Z1)
	ADDC512(Z2, Z3)
	ADDC512(Z4, Z5)
	ADDC512(Z6, Z7)
	ADDC512(Z8, Z9)
	ADDC512(Z10, Z11)
	ADDC512(Z12, Z13)
	ADDC512(Z14, Z15)
	ADDC512(Z16, Z17)
	ADDC512(Z18, Z19)
	ADDC512(Z20, Z21)
	ADDC512(Z22, Z23)

epi512sums:
	MOVQ         bias+48(FP), R10
	VBROADCASTSS 4(R11), Z24
	VBROADCASTSS 8(R11), Z25
	BIASCLAMP2(Z0, Z1, 0)
	BIASCLAMP2(Z2, Z3, 4)
	BIASCLAMP2(Z4, Z5, 8)
	BIASCLAMP2(Z6, Z7, 12)
	BIASCLAMP2(Z8, Z9, 16)
	BIASCLAMP2(Z10, Z11, 20)
	BIASCLAMP2(Z12, Z13, 24)
	BIASCLAMP2(Z14, Z15, 28)
	BIASCLAMP2(Z16, Z17, 32)
	BIASCLAMP2(Z18, Z19, 36)
	BIASCLAMP2(Z20, Z21, 40)
	BIASCLAMP2(Z22, Z23, 44)
	MOVL  32(R11), R9
	TESTL $1, R9
	JZ    epi512affine
	EPIHSCONST
	HARDSWISH24

epi512affine:
	TESTL $2, R9
	JZ    epi512store
	VBROADCASTSS 12(R11), Z26
	VBROADCASTSS 16(R11), Z27
	AFFINE24

epi512store:
	JMP set512

// func Sgemm16x16AVX512(k int, a, b, c *float32, ldc int, add bool)
//
// Adds (stores, without add) to the 16×16 tile of c (rows ldc floats apart) the product of a
// packed 16×k sliver a (sixteen floats per step of k) and a packed k×16
// sliver b (sixteen floats per step). Z0–Z15 hold the tile, one ZMM
// register per row; each step loads one vector of b and broadcasts sixteen
// scalars of a. It suits products whose rows or columns the 12×32 kernel
// would leave partly empty (64 rows, 196 columns). The loop is unrolled
// by two.
TEXT ·Sgemm16x16AVX512(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12 // B's rows, ldb floats apart (16: a packed sliver)
	SHLQ $2, R12
	LEAQ (R12)(R12*1), R13

	MOVQ DX, R9 // the tile's rows, as in Sgemm12x32AVX512
	PREFETCH_ROWS4
	PREFETCH_ROWS4
	PREFETCH_ROWS4
	PREFETCH_ROWS4

	ZERO16

#define STEP1616(aoff, bsrc) \
	VMOVUPS bsrc, Z16 \
	STEP16(aoff, Z16)

loop1616:
	CMPQ CX, $2
	JL   tail1616
	STEP1616(0, (DI))
	STEP1616(64, (DI)(R12*1))
	ADDQ $128, SI
	ADDQ R13, DI
	SUBQ $2, CX
	JMP  loop1616

tail1616:
	TESTQ CX, CX
	JE    store1616
	STEP1616(0, (DI))

store1616:
	MOVQ  epi+56(FP), R11
	TESTQ R11, R11
	JNZ   epi1616

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

epi1616:
	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      epi1616sums
	MOVQ    DX, R9
	ADDC1(Z0)
	ADDC1(Z1)
	ADDC1(Z2)
	ADDC1(Z3)
	ADDC1(Z4)
	ADDC1(Z5)
	ADDC1(Z6)
	ADDC1(Z7)
	ADDC1(Z8)
	ADDC1(Z9)
	ADDC1(Z10)
	ADDC1(Z11)
	ADDC1(Z12)
	ADDC1(Z13)
	ADDC1(Z14)
	ADDC1(Z15)

epi1616sums:
	MOVQ         bias+48(FP), R10
	VBROADCASTSS 4(R11), Z24
	VBROADCASTSS 8(R11), Z25
	BIASCLAMP1(Z0, 0)
	BIASCLAMP1(Z1, 4)
	BIASCLAMP1(Z2, 8)
	BIASCLAMP1(Z3, 12)
	BIASCLAMP1(Z4, 16)
	BIASCLAMP1(Z5, 20)
	BIASCLAMP1(Z6, 24)
	BIASCLAMP1(Z7, 28)
	BIASCLAMP1(Z8, 32)
	BIASCLAMP1(Z9, 36)
	BIASCLAMP1(Z10, 40)
	BIASCLAMP1(Z11, 44)
	BIASCLAMP1(Z12, 48)
	BIASCLAMP1(Z13, 52)
	BIASCLAMP1(Z14, 56)
	BIASCLAMP1(Z15, 60)
	MOVL  32(R11), R9
	TESTL $1, R9
	JZ    epi1616affine
	EPIHSCONST
	HARDSWISH16

epi1616affine:
	TESTL $2, R9
	JZ    epi1616store
	VBROADCASTSS 12(R11), Z26
	VBROADCASTSS 16(R11), Z27
	AFFINE16

epi1616store:
	JMP set1616
