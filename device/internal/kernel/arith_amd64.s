//go:build !purego

#include "textflag.h"

// Elementwise float32 arithmetic with AVX2, sixteen elements a step: each
// function takes dst, x, y and a count that is a multiple of 16, and writes
// dst[i] = x[i] op y[i], rounded as the scalar operation is.

#define ARITH(name, op) \
TEXT name(SB), NOSPLIT, $0-32 \
	MOVQ dst+0(FP), DI \
	MOVQ x+8(FP), SI \
	MOVQ y+16(FP), DX \
	MOVQ n+24(FP), CX \
	SHRQ $4, CX \
	JZ   12(PC) \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	op (DX), Y0, Y0 \
	op 32(DX), Y1, Y1 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	ADDQ $64, SI \
	ADDQ $64, DX \
	ADDQ $64, DI \
	DECQ CX \
	JNZ  -10(PC) \
	VZEROUPPER \
	RET

ARITH(·addAVX2, VADDPS)
ARITH(·subAVX2, VSUBPS)
ARITH(·mulAVX2, VMULPS)
ARITH(·divAVX2, VDIVPS)

// func copyRows16(dst, src *float32, rows, ldDst, ldSrc int)
// Copies rows rows of 16 floats from src, ldSrc floats apart, to dst,
// ldDst floats apart: packing a sliver of a GEMM operand, or scattering a
// row into slivers.
TEXT ·copyRows16(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ldDst+24(FP), DX
	MOVQ ldSrc+32(FP), R8
	SHLQ $2, DX
	SHLQ $2, R8
	TESTQ CX, CX
	JE   rows16done
rows16loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ R8, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  rows16loop
rows16done:
	VZEROUPPER
	RET

// func copyRows32(dst, src *float32, rows, ldDst, ldSrc int)
// As copyRows16, for rows of 32 floats.
TEXT ·copyRows32(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ldDst+24(FP), DX
	MOVQ ldSrc+32(FP), R8
	SHLQ $2, DX
	SHLQ $2, R8
	TESTQ CX, CX
	JE   rows32done
rows32loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ R8, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  rows32loop
rows32done:
	VZEROUPPER
	RET

// Comparisons of float32 with AVX2, sixteen elements a step: dst[i] is 1
// where x[i] pred y[i] holds and 0 elsewhere (the predicates are ordered,
// false for NaN, except not-equal, true for NaN, as Go's operators). n is
// a multiple of 16.
DATA onesF32<>+0(SB)/4, $1.0
GLOBL onesF32<>(SB), RODATA|NOPTR, $4

#define COMPARE(name, pred) \
TEXT name(SB), NOSPLIT, $0-32 \
	MOVQ dst+0(FP), DI \
	MOVQ x+8(FP), SI \
	MOVQ y+16(FP), DX \
	MOVQ n+24(FP), CX \
	VBROADCASTSS onesF32<>(SB), Y2 \
	SHRQ $4, CX \
	JZ   14(PC) \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VCMPPS $pred, (DX), Y0, Y0 \
	VCMPPS $pred, 32(DX), Y1, Y1 \
	VANDPS Y2, Y0, Y0 \
	VANDPS Y2, Y1, Y1 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	ADDQ $64, SI \
	ADDQ $64, DX \
	ADDQ $64, DI \
	DECQ CX \
	JNZ  -12(PC) \
	VZEROUPPER \
	RET

COMPARE(·eqAVX2, 0x00)
COMPARE(·neAVX2, 0x04)
COMPARE(·ltAVX2, 0x01)
COMPARE(·leAVX2, 0x02)
COMPARE(·gtAVX2, 0x0e)
COMPARE(·geAVX2, 0x0d)

// func reluAVX2(dst, src *float32, n int)
//
// dst[i] = src[i], or 0 where src[i] <= 0 (NaN stays NaN, -0 becomes 0).
// n is a multiple of 8.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y2, Y2, Y2
	SHRQ $3, CX
	JZ   reludone
reluloop:
	VMOVUPS (SI), Y0
	VCMPPS  $0x02, Y2, Y0, Y1
	VANDNPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  reluloop
reludone:
	VZEROUPPER
	RET

// func selectAVX2(dst, c, x, y *float32, n int)
//
// dst[i] = x[i] where c[i] != 0 and y[i] elsewhere, sixteen elements a
// step; the comparison is unordered, so a NaN c[i] selects x[i], and -0
// selects y[i]. n is a multiple of 16.
TEXT ·selectAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ c+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ y+24(FP), DX
	MOVQ n+32(FP), CX
	VXORPS Y4, Y4, Y4
	SHRQ $4, CX
	JZ   selectdone
selectloop:
	VCMPPS    $0x04, (R8), Y4, Y0
	VCMPPS    $0x04, 32(R8), Y4, Y1
	VMOVUPS   (DX), Y2
	VMOVUPS   32(DX), Y3
	VBLENDVPS Y0, (SI), Y2, Y2
	VBLENDVPS Y1, 32(SI), Y3, Y3
	VMOVUPS   Y2, (DI)
	VMOVUPS   Y3, 32(DI)
	ADDQ $64, R8
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ  selectloop
selectdone:
	VZEROUPPER
	RET

// func axpyAVX2(dst, x *float32, a float32, n int)
//
// dst[i] += a·x[i], eight elements a step (fused multiply-add); n is a
// multiple of 8.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSS a+16(FP), Y0
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           axpydone
axpyloop:
	VMOVUPS     (SI), Y1
	VFMADD213PS (DI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axpyloop
axpydone:
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
//
// Returns Σ x[i]·y[i] for i < n, a multiple of 8: 32 products a step in
// four sums of eight lanes, added pairwise at the end.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
dot32:
	CMPQ        CX, $32
	JL          dot8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         dot32
dot8:
	TESTQ       CX, CX
	JE          dotsum
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8
dotsum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func sumF64AVX2(x *float32, n int) float64
//
// Returns Σ x[i] for i < n, a multiple of 16, in float64: 16 elements a
// step widened into four sums of four lanes, added pairwise at the end.
TEXT ·sumF64AVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
sum16:
	CMPQ      CX, $16
	JL        sumdone
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $64, SI
	SUBQ      $16, CX
	JMP       sum16
sumdone:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VZEROUPPER
	MOVSD        X0, ret+16(FP)
	RET

// MINMAX(name, op) writes dst[i] = y[i] if y[i] op x[i] or y[i] is NaN, and
// x[i] otherwise, eight elements a step: the scalar loop's maximum (op >)
// or minimum (op <), NaN of either operand propagating. VMAXPS/VMINPS with
// y as the first source give y op x ? y : x, and x when either is NaN; a
// blend then puts back a NaN y. n is a multiple of 8.
#define MINMAX(name, op) \
TEXT name(SB), NOSPLIT, $0-32 \
	MOVQ dst+0(FP), DI \
	MOVQ x+8(FP), SI \
	MOVQ y+16(FP), DX \
	MOVQ n+24(FP), CX \
	SHRQ $3, CX \
	JZ   12(PC) \
	VMOVUPS (SI), Y0 \
	VMOVUPS (DX), Y1 \
	op Y0, Y1, Y2 \
	VCMPPS $3, Y1, Y1, Y3 \
	VBLENDVPS Y3, Y1, Y2, Y2 \
	VMOVUPS Y2, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JNZ  -10(PC) \
	VZEROUPPER \
	RET

MINMAX(·maximumAVX2, VMAXPS)
MINMAX(·minimumAVX2, VMINPS)

// func epilogueAVX2(dst, res *float32, n int, e *EpilogueArgs)
//
// dst[i] = v, eight elements a step: v = dst[i] + bias + res[i] (no res
// when it is nil), then min(max(v, lo), hi), then v·min(max(v·a + b, 0), 1)
// when flags has EpilogueHardSwish (rounded as the scalar steps, no FMA), then v·scale + shift when it has
// EpilogueAffine. NaN stays NaN: VMAXPS and VMINPS return their second
// source, the element, when either is NaN. n is a multiple of 8.
TEXT ·epilogueAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         res+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         e+24(FP), DX
	VBROADCASTSS 0(DX), Y0  // bias
	VBROADCASTSS 4(DX), Y1  // lo
	VBROADCASTSS 8(DX), Y2  // hi
	VBROADCASTSS 12(DX), Y4 // scale
	VBROADCASTSS 16(DX), Y5 // shift
	VBROADCASTSS 20(DX), Y6 // a
	VBROADCASTSS 24(DX), Y8 // b
	VBROADCASTSS 28(DX), Y10 // 1
	MOVL         32(DX), R8 // flags
	VXORPS       Y9, Y9, Y9
	SHRQ         $3, CX
	JZ           epidone
epiloop:
	VADDPS (DI), Y0, Y3
	TESTQ  SI, SI
	JZ     epinores
	VADDPS (SI), Y3, Y3
	ADDQ   $32, SI
epinores:
	VMAXPS Y3, Y1, Y3
	VMINPS Y3, Y2, Y3
	TESTL  $1, R8
	JZ     epinohs
	VMULPS Y6, Y3, Y7
	VADDPS Y8, Y7, Y7
	VMAXPS Y7, Y9, Y7
	VMINPS Y7, Y10, Y7
	VMULPS Y7, Y3, Y3
epinohs:
	TESTL  $2, R8
	JZ     epinoaff
	VMULPS Y4, Y3, Y3
	VADDPS Y5, Y3, Y3
epinoaff:
	VMOVUPS Y3, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     epiloop
epidone:
	VZEROUPPER
	RET
