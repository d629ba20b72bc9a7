//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// VDPBF16PS (AVX512-BF16) is not in Go's assembler: DPBF16(d, s1, s2)
// encodes VDPBF16PS Zd, Zs1, Zs2 (Intel operand order: each float32 lane
// of Zd gains the dot product of the lane's two bfloat16 values in Zs1 and
// in Zs2) from the registers' numbers, as EVEX.512.F3.0F38.W0 52 /r with
// ModRM.reg = d, EVEX.vvvv = s1, ModRM.rm = s2.
#define DPBF16(d, s1, s2) \
	BYTE $0x62; \
	BYTE $((((((d)>>3)&1)^1)<<7) | (((((s2)>>4)&1)^1)<<6) | (((((s2)>>3)&1)^1)<<5) | (((((d)>>4)&1)^1)<<4) | 2); \
	BYTE $(((((s1)&15)^15)<<3) | 6); \
	BYTE $(0x40 | (((((s1)>>4)&1)^1)<<3)); \
	BYTE $0x52; \
	BYTE $(0xC0 | (((d)&7)<<3) | ((s2)&7))

// func Bgemm12x32AVX512BF16(kp int, a, b *uint32, c *float32, ldc int, add bool)
//
// Adds (stores, without add) to the 12×32 float32 tile of c (rows ldc
// floats apart) the product of a packed 12×2kp bfloat16 sliver a (per pair
// of k steps, twelve words of two bfloat16s, the first in the low half) and
// a packed 2kp×32 sliver b (per pair, 32 such words), accumulating in
// float32. Z0–Z23 hold the tile, two registers a row, as in
// Sgemm12x32AVX512; each pair of k steps loads two vectors of b and
// broadcasts twelve words of a into 24 VDPBF16PS.
TEXT ·Bgemm12x32AVX512BF16(SB), NOSPLIT, $0-41
	MOVQ kp+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	ZERO24

// BPAIR broadcasts the words of two rows at aoff and aoff+4 into the
// registers z0 and z1 (numbered t0 and t1) and adds their products with b
// (Z24, Z25) to the registers numbered r to r+3.
#define BPAIR(aoff, z0, t0, z1, t1, r) \
	VPBROADCASTD aoff(SI), z0 \
	VPBROADCASTD aoff+4(SI), z1 \
	DPBF16(r, t0, 24) \
	DPBF16(r+1, t0, 25) \
	DPBF16(r+2, t1, 24) \
	DPBF16(r+3, t1, 25)

#define BSTEP(aoff, boff) \
	VMOVDQU32 boff(DI), Z24 \
	VMOVDQU32 boff+64(DI), Z25 \
	BPAIR(aoff, Z26, 26, Z27, 27, 0) \
	BPAIR(aoff+8, Z28, 28, Z29, 29, 4) \
	BPAIR(aoff+16, Z30, 30, Z31, 31, 8) \
	BPAIR(aoff+24, Z26, 26, Z27, 27, 12) \
	BPAIR(aoff+32, Z28, 28, Z29, 29, 16) \
	BPAIR(aoff+40, Z30, 30, Z31, 31, 20)

bloop:
	CMPQ CX, $2
	JL   btail
	PREFETCHT0 512(DI)
	BSTEP(0, 0)
	BSTEP(48, 128)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $2, CX
	JMP  bloop

btail:
	TESTQ CX, CX
	JE    bstore
	BSTEP(0, 0)

bstore:
	MOVBLZX add+40(FP), R9
	TESTL   R9, R9
	JZ      bset
	ROWS512
	VZEROUPPER
	RET

bset:
	SETROWS512
	VZEROUPPER
	RET
