//go:build !purego

#include "textflag.h"

// Vectorised float32 exp, tanh and sigmoid: the approximations of math.go,
// eight lanes at a time. Each function takes dst, src and a count that is a
// multiple of 8.

DATA expHi<>+0(SB)/4, $0x42b17218
GLOBL expHi<>(SB), RODATA|NOPTR, $4
DATA expLo<>+0(SB)/4, $0xc2aeac50
GLOBL expLo<>(SB), RODATA|NOPTR, $4
DATA log2e<>+0(SB)/4, $0x3fb8aa3b
GLOBL log2e<>(SB), RODATA|NOPTR, $4
DATA half<>+0(SB)/4, $0x3f000000
GLOBL half<>(SB), RODATA|NOPTR, $4
DATA one<>+0(SB)/4, $0x3f800000
GLOBL one<>(SB), RODATA|NOPTR, $4
DATA ln2Hi<>+0(SB)/4, $0x3f318000
GLOBL ln2Hi<>(SB), RODATA|NOPTR, $4
DATA ln2Lo<>+0(SB)/4, $0xb95e8083
GLOBL ln2Lo<>(SB), RODATA|NOPTR, $4
DATA expP0<>+0(SB)/4, $0x39506967
GLOBL expP0<>(SB), RODATA|NOPTR, $4
DATA expP1<>+0(SB)/4, $0x3ab743ce
GLOBL expP1<>(SB), RODATA|NOPTR, $4
DATA expP2<>+0(SB)/4, $0x3c088908
GLOBL expP2<>(SB), RODATA|NOPTR, $4
DATA expP3<>+0(SB)/4, $0x3d2aa9c1
GLOBL expP3<>(SB), RODATA|NOPTR, $4
DATA expP4<>+0(SB)/4, $0x3e2aaaaa
GLOBL expP4<>(SB), RODATA|NOPTR, $4
DATA expP5<>+0(SB)/4, $0x3f000000
GLOBL expP5<>(SB), RODATA|NOPTR, $4
DATA inf<>+0(SB)/4, $0x7f800000
GLOBL inf<>(SB), RODATA|NOPTR, $4
DATA absMask<>+0(SB)/4, $0x7fffffff
GLOBL absMask<>(SB), RODATA|NOPTR, $4
DATA signMask<>+0(SB)/4, $0x80000000
GLOBL signMask<>(SB), RODATA|NOPTR, $4
DATA tanhClamp<>+0(SB)/4, $0x40fcf84f
GLOBL tanhClamp<>(SB), RODATA|NOPTR, $4
DATA tanhNegClamp<>+0(SB)/4, $0xc0fcf84f
GLOBL tanhNegClamp<>(SB), RODATA|NOPTR, $4
DATA tanhSmall<>+0(SB)/4, $0x39d1b717
GLOBL tanhSmall<>(SB), RODATA|NOPTR, $4
DATA tanhSat<>+0(SB)/4, $0x41102cb4
GLOBL tanhSat<>(SB), RODATA|NOPTR, $4
DATA tanhA1<>+0(SB)/4, $0x3ba059dc
GLOBL tanhA1<>(SB), RODATA|NOPTR, $4
DATA tanhA3<>+0(SB)/4, $0x3a270ded
GLOBL tanhA3<>(SB), RODATA|NOPTR, $4
DATA tanhA5<>+0(SB)/4, $0x3779434a
GLOBL tanhA5<>(SB), RODATA|NOPTR, $4
DATA tanhA7<>+0(SB)/4, $0x335c0041
GLOBL tanhA7<>(SB), RODATA|NOPTR, $4
DATA tanhA9<>+0(SB)/4, $0xaebd37ff
GLOBL tanhA9<>(SB), RODATA|NOPTR, $4
DATA tanhA11<>+0(SB)/4, $0x2a61337e
GLOBL tanhA11<>(SB), RODATA|NOPTR, $4
DATA tanhA13<>+0(SB)/4, $0xa59f25c0
GLOBL tanhA13<>(SB), RODATA|NOPTR, $4
DATA tanhB0<>+0(SB)/4, $0x3ba059dd
GLOBL tanhB0<>(SB), RODATA|NOPTR, $4
DATA tanhB2<>+0(SB)/4, $0x3b14aa05
GLOBL tanhB2<>(SB), RODATA|NOPTR, $4
DATA tanhB4<>+0(SB)/4, $0x38f895d6
GLOBL tanhB4<>(SB), RODATA|NOPTR, $4
DATA tanhB6<>+0(SB)/4, $0x35a0d3d8
GLOBL tanhB6<>(SB), RODATA|NOPTR, $4
DATA bias<>+0(SB)/4, $0x0000007e
GLOBL bias<>(SB), RODATA|NOPTR, $4
DATA erfA1<>+0(SB)/4, $0xbc83dbd4
GLOBL erfA1<>(SB), RODATA|NOPTR, $4
DATA erfA3<>+0(SB)/4, $0xbb41a1f6
GLOBL erfA3<>(SB), RODATA|NOPTR, $4
DATA erfA5<>+0(SB)/4, $0xba40ac63
GLOBL erfA5<>(SB), RODATA|NOPTR, $4
DATA erfA7<>+0(SB)/4, $0xb86ec2d2
GLOBL erfA7<>(SB), RODATA|NOPTR, $4
DATA erfA9<>+0(SB)/4, $0xb60cff51
GLOBL erfA9<>(SB), RODATA|NOPTR, $4
DATA erfA11<>+0(SB)/4, $0x32edffee
GLOBL erfA11<>(SB), RODATA|NOPTR, $4
DATA erfA13<>+0(SB)/4, $0xaf95df0b
GLOBL erfA13<>(SB), RODATA|NOPTR, $4
DATA erfB0<>+0(SB)/4, $0xbc69b6a7
GLOBL erfB0<>(SB), RODATA|NOPTR, $4
DATA erfB2<>+0(SB)/4, $0xbbf19bf8
GLOBL erfB2<>(SB), RODATA|NOPTR, $4
DATA erfB4<>+0(SB)/4, $0xbadc924e
GLOBL erfB4<>(SB), RODATA|NOPTR, $4
DATA erfB6<>+0(SB)/4, $0xb95fbd29
GLOBL erfB6<>(SB), RODATA|NOPTR, $4
DATA erfB8<>+0(SB)/4, $0xb77460cd
GLOBL erfB8<>(SB), RODATA|NOPTR, $4
DATA erfClamp<>+0(SB)/4, $0x40800000
GLOBL erfClamp<>(SB), RODATA|NOPTR, $4
DATA erfNegClamp<>+0(SB)/4, $0xc0800000
GLOBL erfNegClamp<>(SB), RODATA|NOPTR, $4

// EXP computes e^x of Y0 into Y5 (x clamped to [expLo, expHi], 2^n made as
// 2·2^(n-1); the overflow, underflow and NaN lanes are fixed by the
// caller). It uses Y1-Y6.
#define EXP \
	VBROADCASTSS expHi<>(SB), Y1 \
	VMINPS Y1, Y0, Y1 \
	VBROADCASTSS expLo<>(SB), Y2 \
	VMAXPS Y2, Y1, Y1 \
	VBROADCASTSS log2e<>(SB), Y2 \
	VBROADCASTSS half<>(SB), Y3 \
	VFMADD213PS Y3, Y1, Y2 \
	VROUNDPS $1, Y2, Y2 \
	VBROADCASTSS ln2Hi<>(SB), Y3 \
	VFNMADD231PS Y3, Y2, Y1 \
	VBROADCASTSS ln2Lo<>(SB), Y3 \
	VFNMADD231PS Y3, Y2, Y1 \
	VBROADCASTSS expP0<>(SB), Y3 \
	VBROADCASTSS expP1<>(SB), Y4 \
	VFMADD213PS Y4, Y1, Y3 \
	VBROADCASTSS expP2<>(SB), Y4 \
	VFMADD213PS Y4, Y1, Y3 \
	VBROADCASTSS expP3<>(SB), Y4 \
	VFMADD213PS Y4, Y1, Y3 \
	VBROADCASTSS expP4<>(SB), Y4 \
	VFMADD213PS Y4, Y1, Y3 \
	VBROADCASTSS expP5<>(SB), Y4 \
	VFMADD213PS Y4, Y1, Y3 \
	VMULPS Y1, Y1, Y4 \
	VBROADCASTSS one<>(SB), Y5 \
	VADDPS Y5, Y1, Y5 \
	VFMADD231PS Y3, Y4, Y5 \
	VCVTPS2DQ Y2, Y6 \
	VPBROADCASTD bias<>(SB), Y4 \
	VPADDD Y4, Y6, Y6 \
	VPSLLD $23, Y6, Y6 \
	VMULPS Y6, Y5, Y5 \
	VADDPS Y5, Y5, Y5

// EXPRANGE sets the lanes of Y5 (e^Y0) where Y0 > expHi to +Inf and those
// where Y0 < expLo to 0. It uses Y7-Y9.
#define EXPRANGE \
	VBROADCASTSS expHi<>(SB), Y7 \
	VCMPPS $0x1e, Y7, Y0, Y8 \
	VBROADCASTSS inf<>(SB), Y9 \
	VBLENDVPS Y8, Y9, Y5, Y5 \
	VBROADCASTSS expLo<>(SB), Y7 \
	VCMPPS $0x11, Y7, Y0, Y8 \
	VANDNPS Y5, Y8, Y5

// REDUCE8 folds the eight lanes of Y0 into lane 0 of X0 with op (VADDPS,
// VMAXPS), using X1.
// ODD13 computes into Y3 the odd polynomial x·(a1 + a3·x² + … + a13·x¹²)
// of the clamped x in Y1 (Horner's rule in x², left in Y2), the numerator
// of the rational approximations of tanh and erf. It uses Y2-Y4.
#define ODD13(a13, a11, a9, a7, a5, a3, a1) \
	VMULPS Y1, Y1, Y2 \
	VBROADCASTSS a13<>(SB), Y3 \
	VBROADCASTSS a11<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VBROADCASTSS a9<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VBROADCASTSS a7<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VBROADCASTSS a5<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VBROADCASTSS a3<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VBROADCASTSS a1<>(SB), Y4 \
	VFMADD213PS Y4, Y2, Y3 \
	VMULPS Y1, Y3, Y3

#define REDUCE8(op) \
	VEXTRACTF128 $1, Y0, X1 \
	op X1, X0, X0 \
	VPERMILPS $0x4e, X0, X1 \
	op X1, X0, X0 \
	VPERMILPS $0xb1, X0, X1 \
	op X1, X0, X0

// REDUCE16 folds the sixteen lanes of Z0 into lane 0 of X0 with op.
#define REDUCE16(op) \
	VEXTRACTF64X4 $1, Z0, Y1 \
	op Y1, Y0, Y0 \
	REDUCE8(op)

// func expAVX2(dst, src *float32, n int)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   expdone
exploop:
	VMOVUPS (SI), Y0
	EXP
	EXPRANGE
	VCMPPS $3, Y0, Y0, Y8
	VBLENDVPS Y8, Y0, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  exploop
expdone:
	VZEROUPPER
	RET

// func sigmoidAVX2(dst, src *float32, n int)
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   sigdone
sigloop:
	VMOVUPS (SI), Y10
	VBROADCASTSS signMask<>(SB), Y0
	VXORPS Y0, Y10, Y0
	EXP
	EXPRANGE // e^-x: +Inf (then the result is 0) or 0 out of range
	VBROADCASTSS one<>(SB), Y7
	VADDPS Y7, Y5, Y5
	VDIVPS Y5, Y7, Y5
	VCMPPS $3, Y10, Y10, Y8
	VBLENDVPS Y8, Y10, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  sigloop
sigdone:
	VZEROUPPER
	RET

// func tanhAVX2(dst, src *float32, n int)
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   tanhdone
	// Loop constants of the saturation: |x| >= tanhSat gives ±1.
	VBROADCASTSS tanhSat<>(SB), Y10
	VBROADCASTSS signMask<>(SB), Y11
	VBROADCASTSS one<>(SB), Y12
tanhloop:
	VMOVUPS (SI), Y0
	VBROADCASTSS tanhClamp<>(SB), Y1
	VMINPS Y1, Y0, Y1
	VBROADCASTSS tanhNegClamp<>(SB), Y2
	VMAXPS Y2, Y1, Y1
	ODD13(tanhA13, tanhA11, tanhA9, tanhA7, tanhA5, tanhA3, tanhA1)
	VBROADCASTSS tanhB6<>(SB), Y5
	VBROADCASTSS tanhB4<>(SB), Y4
	VFMADD213PS Y4, Y2, Y5
	VBROADCASTSS tanhB2<>(SB), Y4
	VFMADD213PS Y4, Y2, Y5
	VBROADCASTSS tanhB0<>(SB), Y4
	VFMADD213PS Y4, Y2, Y5
	VDIVPS Y5, Y3, Y5
	// |x| < 0.0004 or NaN: x itself.
	VBROADCASTSS absMask<>(SB), Y6
	VANDPS Y6, Y0, Y6
	VBROADCASTSS tanhSmall<>(SB), Y7
	VCMPPS $0x11, Y7, Y6, Y8
	VBLENDVPS Y8, Y0, Y5, Y5
	// |x| >= 9.0109, where float32 tanh rounds to ±1: ±1 exactly (the
	// approximation stops at 1 - 2⁻²² beyond its clamp).
	VCMPPS $0x1d, Y10, Y6, Y8
	VANDPS Y11, Y0, Y9
	VORPS Y12, Y9, Y9
	VBLENDVPS Y8, Y9, Y5, Y5
	VCMPPS $3, Y0, Y0, Y8
	VBLENDVPS Y8, Y0, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  tanhloop
tanhdone:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
// n is a positive multiple of 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VMOVUPS (SI), Y0
	ADDQ $32, SI
	DECQ CX
	JZ   maxreduce
maxloop:
	VMOVUPS (SI), Y1
	VMAXPS Y1, Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  maxloop
maxreduce:
	REDUCE8(VMAXPS)
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func expSumAVX2(dst, x *float32, n int, m float32) float32
// Writes dst = e^(x-m) and returns the sum of dst; n is a multiple of 8.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y10
	VXORPS Y11, Y11, Y11
	SHRQ $3, CX
	JZ   expsumreduce
expsumloop:
	VMOVUPS (SI), Y0
	VSUBPS Y10, Y0, Y0
	EXP
	EXPRANGE
	VCMPPS $3, Y0, Y0, Y8
	VBLENDVPS Y8, Y0, Y5, Y5
	VMOVUPS Y5, (DI)
	VADDPS Y5, Y11, Y11
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  expsumloop
expsumreduce:
	VMOVAPS Y11, Y0
	REDUCE8(VADDPS)
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func scaleAVX2(dst *float32, n int, s float32)
// dst *= s; n is a multiple of 8.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y1
	SHRQ $3, CX
	JZ   scaledone
scaleloop:
	VMULPS (DI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ  scaleloop
scaledone:
	VZEROUPPER
	RET

// func shiftAVX2(dst, x *float32, n int, a, b float32)
// dst = (x - a) - b; n is a multiple of 8.
TEXT ·shiftAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y1
	VBROADCASTSS b+28(FP), Y2
	SHRQ $3, CX
	JZ   shiftdone
shiftloop:
	VMOVUPS (SI), Y0
	VSUBPS Y1, Y0, Y0
	VSUBPS Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  shiftloop
shiftdone:
	VZEROUPPER
	RET

DATA expClamp<>+0(SB)/4, $0x42c80000 // 100: e^100 overflows to +Inf
GLOBL expClamp<>(SB), RODATA|NOPTR, $4

// func expSumAVX512(dst, x *float32, n int, m float32) float32
// Writes dst = e^(x-m) and returns the sum of dst; n is a multiple of 16.
// The same approximation as EXP, sixteen lanes at a time, with the
// constants held in registers and 2^n applied by VSCALEFPS, which
// overflows to +Inf and underflows through the subnormals to 0 by itself
// (more exactly than EXPRANGE, which flushes below expLo to 0); NaN lanes
// stay NaN.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Z10
	VBROADCASTSS expClamp<>(SB), Z20
	VBROADCASTSS log2e<>(SB), Z22
	VBROADCASTSS ln2Hi<>(SB), Z23
	VBROADCASTSS ln2Lo<>(SB), Z24
	VBROADCASTSS expP0<>(SB), Z25
	VBROADCASTSS expP1<>(SB), Z26
	VBROADCASTSS expP2<>(SB), Z27
	VBROADCASTSS expP3<>(SB), Z28
	VBROADCASTSS expP4<>(SB), Z29
	VBROADCASTSS expP5<>(SB), Z30
	VBROADCASTSS one<>(SB), Z31
	VPXORD Z11, Z11, Z11
	SHRQ $4, CX
	JZ   expsum512reduce
expsum512loop:
	VMOVUPS (SI), Z0
	VSUBPS Z10, Z0, Z0
	VMINPS Z0, Z20, Z1 // min(100, x), NaN when x is
	VMULPS Z22, Z1, Z2
	VRNDSCALEPS $0, Z2, Z2 // n = round(x·log2e)
	VFNMADD231PS Z23, Z2, Z1
	VFNMADD231PS Z24, Z2, Z1 // r = x - n·ln2
	VMOVAPS Z25, Z3
	VFMADD213PS Z26, Z1, Z3
	VFMADD213PS Z27, Z1, Z3
	VFMADD213PS Z28, Z1, Z3
	VFMADD213PS Z29, Z1, Z3
	VFMADD213PS Z30, Z1, Z3
	VMULPS Z1, Z1, Z4
	VADDPS Z31, Z1, Z5
	VFMADD231PS Z3, Z4, Z5 // e^r = 1 + r + r²·P(r)
	VSCALEFPS Z2, Z5, Z5   // e^r · 2^n
	VMOVUPS Z5, (DI)
	VADDPS Z5, Z11, Z11
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  expsum512loop
expsum512reduce:
	VMOVAPS Z11, Z0
	REDUCE16(VADDPS)
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func maxAVX512(x *float32, n int) float32
// n is a positive multiple of 16.
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VMOVUPS (SI), Z0
	ADDQ $64, SI
	DECQ CX
	JZ   max512reduce
max512loop:
	VMAXPS (SI), Z0, Z0
	ADDQ $64, SI
	DECQ CX
	JNZ  max512loop
max512reduce:
	REDUCE16(VMAXPS)
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleAVX512(dst *float32, n int, s float32)
// dst *= s; n is a multiple of 16.
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z1
	SHRQ $4, CX
	JZ   scale512done
scale512loop:
	VMULPS (DI), Z1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ  scale512loop
scale512done:
	VZEROUPPER
	RET

// func sqrtAVX2(dst, src *float32, n int)
//
// n must be a multiple of 8.
TEXT ·sqrtAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   sqrtdone
sqrtloop:
	VSQRTPS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  sqrtloop
sqrtdone:
	VZEROUPPER
	RET

// func erfAVX2(dst, src *float32, n int)
//
// ErfF of eight elements a step: x clamped to [-4, 4], then x·p(x²)/q(x²);
// NaN lanes are x itself.
TEXT ·erfAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   erfdone
	VBROADCASTSS erfClamp<>(SB), Y10
	VBROADCASTSS erfNegClamp<>(SB), Y11
erfloop:
	VMOVUPS (SI), Y0
	VMINPS  Y10, Y0, Y1
	VMAXPS  Y11, Y1, Y1
	ODD13(erfA13, erfA11, erfA9, erfA7, erfA5, erfA3, erfA1)
	VBROADCASTSS erfB8<>(SB), Y5
	VBROADCASTSS erfB6<>(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VBROADCASTSS erfB4<>(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VBROADCASTSS erfB2<>(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VBROADCASTSS erfB0<>(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VDIVPS       Y5, Y3, Y5
	VCMPPS       $3, Y0, Y0, Y8
	VBLENDVPS    Y8, Y0, Y5, Y5
	VMOVUPS      Y5, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          erfloop
erfdone:
	VZEROUPPER
	RET
