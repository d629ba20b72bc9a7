//go:build !purego

#include "textflag.h"

// Conversions between float32 and the 16-bit floats, sixteen elements a
// step: n is a multiple of 16. Float16 uses F16C's VCVTPH2PS and
// VCVTPS2PH (round to nearest even); bfloat16 is the upper half of a
// float32, rounded with integer arithmetic as internal/half does: ties to
// even, NaN to the quiet NaN 0x7fc0 with its sign.

// func f16ToF32F16C(dst *float32, src *uint16, n int)
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   f16done
f16loop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       f16loop
f16done:
	VZEROUPPER
	RET

// func f32ToF16F16C(dst *uint16, src *float32, n int)
TEXT ·f32ToF16F16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   f32done
f32loop:
	VMOVUPS   (SI), Y0
	VMOVUPS   32(SI), Y1
	VCVTPS2PH $0, Y0, X0
	VCVTPS2PH $0, Y1, X1
	VMOVDQU   X0, (DI)
	VMOVDQU   X1, 16(DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       f32loop
f32done:
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst *float32, src *uint16, n int)
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   bwdone
bwloop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVDQU   Y0, (DI)
	VMOVDQU   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       bwloop
bwdone:
	VZEROUPPER
	RET

// BF16ROUND rounds the float32 bits in src to bfloat16 bits in the low
// half of each lane of dst, using Y1, Y3 and Y4 as scratch.
#define BF16ROUND(src, dst) \
	VPSRLD    $16, src, Y1 \
	VPAND     Y9, Y1, dst \
	VPADDD    Y8, dst, dst \
	VPADDD    src, dst, dst \
	VPSRLD    $16, dst, dst \
	VPAND     Y10, src, Y3 \
	VPCMPGTD  Y11, Y3, Y3 \
	VPAND     Y12, Y1, Y4 \
	VPOR      Y13, Y4, Y4 \
	VPBLENDVB Y3, Y4, dst, dst

// BROADCAST puts the 32-bit constant c in every lane of y.
#define BROADCAST(c, y) \
	MOVL         c, AX \
	MOVQ         AX, X15 \
	VPBROADCASTD X15, y

// func f32ToBF16AVX2(dst *uint16, src *float32, n int)
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	BROADCAST($0x7fff, Y8)
	BROADCAST($1, Y9)
	BROADCAST($0x7fffffff, Y10)
	BROADCAST($0x7f800000, Y11)
	BROADCAST($0x8000, Y12)
	BROADCAST($0x7fc0, Y13)
	SHRQ $4, CX
	JZ   bndone
bnloop:
	VMOVDQU   (SI), Y0
	BF16ROUND(Y0, Y2)
	VMOVDQU   32(SI), Y0
	BF16ROUND(Y0, Y5)
	VPACKUSDW Y5, Y2, Y6
	VPERMQ    $0xd8, Y6, Y6
	VMOVDQU   Y6, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bnloop
bndone:
	VZEROUPPER
	RET
