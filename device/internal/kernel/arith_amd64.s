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
