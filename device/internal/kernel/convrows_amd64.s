//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// func ConvRows14x32AVX512(k int, a *float32, offs *int, t *ConvRowsTile, idx *int32, ldc int, bias *float32, epi *EpilogueArgs, ahead *float32)
//
// Computes a tile of 32 output channels by two runs of up to seven
// consecutive output positions (t.N0 and t.N1 of them; a second run of 0
// positions is skipped) of a convolution straight from its padded input:
// position i of run s is the sum over k steps of the 32 floats at
// a + 32·step (the output channels' weights of that step) times the float
// at t.Bs + offs[step] + i. Z(2p) and Z(2p+1) hold position p's channels
// 0–15 and 16–31 (p 0–6 the first run, 7–13 the second). Each position is
// then scattered to its output column: channel j of position i of run s
// to t.Cs + i + idx[j mod 16] + 16·ldc·(j div 16), through epi when not nil
// as ConvTile8x32AVX512 applies it (bias[j], the residual at the same
// place from t.Rs when not nil). Each step also asks for the cache line
// at ahead + 64·step in L2.
TEXT ·ConvRows14x32AVX512(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ offs+16(FP), R9
	MOVQ t+24(FP), DI
	MOVQ 0(DI), AX          // run 0's input
	MOVQ 8(DI), BX          // run 1's input
	MOVQ 56(DI), DX         // run 1's positions
	MOVQ ahead+64(FP), R13

	ZERO24
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27

// ROWPOS adds position off (bytes) of the run at base times the weights
// Z28, Z29 to r0, r1, broadcasting through t.
#define ROWPOS(base, off, t, r0, r1) \
	VBROADCASTSS off(base)(R10*4), t \
	VFMADD231PS  Z28, t, r0 \
	VFMADD231PS  Z29, t, r1

#define ROWRUN0 \
	ROWPOS(AX, 0, Z30, Z0, Z1) \
	ROWPOS(AX, 4, Z31, Z2, Z3) \
	ROWPOS(AX, 8, Z30, Z4, Z5) \
	ROWPOS(AX, 12, Z31, Z6, Z7) \
	ROWPOS(AX, 16, Z30, Z8, Z9) \
	ROWPOS(AX, 20, Z31, Z10, Z11) \
	ROWPOS(AX, 24, Z30, Z12, Z13)

#define ROWRUN1 \
	ROWPOS(BX, 0, Z31, Z14, Z15) \
	ROWPOS(BX, 4, Z30, Z16, Z17) \
	ROWPOS(BX, 8, Z31, Z18, Z19) \
	ROWPOS(BX, 12, Z30, Z20, Z21) \
	ROWPOS(BX, 16, Z31, Z22, Z23) \
	ROWPOS(BX, 20, Z30, Z24, Z25) \
	ROWPOS(BX, 24, Z31, Z26, Z27)

	TESTQ DX, DX
	JE    rows1loop

rows2loop:
	PREFETCHT0 1024(SI) // the weights, 8 steps ahead
	PREFETCHT1 (R13)
	ADDQ       $64, R13
	MOVQ    (R9), R10
	VMOVUPS (SI), Z28
	VMOVUPS 64(SI), Z29
	ROWRUN0
	ROWRUN1
	ADDQ    $128, SI
	ADDQ    $8, R9
	DECQ    CX
	JNE     rows2loop
	JMP     rowsstore

rows1loop:
	PREFETCHT0 1024(SI)
	PREFETCHT1 (R13)
	ADDQ       $64, R13
	MOVQ    (R9), R10
	VMOVUPS (SI), Z28
	VMOVUPS 64(SI), Z29
	ROWRUN0
	ADDQ    $128, SI
	ADDQ    $8, R9
	DECQ    CX
	JNE     rows1loop

rowsstore:
	// Z28: the channels' offsets; R11: 16 channels' offset in bytes;
	// DI: the tile; R10: the biases; SI: the epilogue.
	MOVQ      idx+32(FP), R8
	VMOVDQU32 (R8), Z28
	MOVQ      ldc+40(FP), R11
	SHLQ      $6, R11
	MOVQ      bias+48(FP), R10
	MOVQ      epi+56(FP), SI

// RPLAIN scatters r0, r1 to the column at AX, and steps AX to the next
// position; it leaves the run after its last position (BX counts down).
#define RPLAIN(r0, r1, next) \
	KXNORW      K1, K1, K1 \
	VSCATTERDPS r0, K1, (AX)(Z28*4) \
	LEAQ        (AX)(R11*1), R12 \
	KXNORW      K1, K1, K1 \
	VSCATTERDPS r1, K1, (R12)(Z28*4) \
	ADDQ        $4, AX \
	DECQ        BX \
	JZ          next

// NEXTRUN moves on from the first run to the second, if it has
// positions, jumping back to loop with its sums in Z0–Z13 and its place
// in AX (and its residual's in DX): the second run's stores are the
// first's.
#define NEXTRUN(loop) \
	DECQ      R13 \
	JZ        rowsdone \
	MOVQ      24(DI), AX \
	MOVQ      40(DI), DX \
	MOVQ      56(DI), BX \
	TESTQ     BX, BX \
	JE        rowsdone \
	VMOVAPS   Z14, Z0 \
	VMOVAPS   Z15, Z1 \
	VMOVAPS   Z16, Z2 \
	VMOVAPS   Z17, Z3 \
	VMOVAPS   Z18, Z4 \
	VMOVAPS   Z19, Z5 \
	VMOVAPS   Z20, Z6 \
	VMOVAPS   Z21, Z7 \
	VMOVAPS   Z22, Z8 \
	VMOVAPS   Z23, Z9 \
	VMOVAPS   Z24, Z10 \
	VMOVAPS   Z25, Z11 \
	VMOVAPS   Z26, Z12 \
	VMOVAPS   Z27, Z13 \
	JMP       loop

	// R13 counts the runs left; AX, DX and BX: the run's place, its
	// residual's and its positions.
	MOVQ $2, R13
	MOVQ 16(DI), AX
	MOVQ 32(DI), DX
	MOVQ 48(DI), BX
	TESTQ SI, SI
	JNE   rowsepi

rowsplain:
	RPLAIN(Z0, Z1, rowsplainnext)
	RPLAIN(Z2, Z3, rowsplainnext)
	RPLAIN(Z4, Z5, rowsplainnext)
	RPLAIN(Z6, Z7, rowsplainnext)
	RPLAIN(Z8, Z9, rowsplainnext)
	RPLAIN(Z10, Z11, rowsplainnext)
	RPLAIN(Z12, Z13, rowsplainnext)

rowsplainnext:
	NEXTRUN(rowsplain)

rowsepi:
	// Z30, Z31: Lo and Hi.
	VBROADCASTSS 4(SI), Z30
	VBROADCASTSS 8(SI), Z31
	TESTQ        DX, DX
	JNE          rowsres

// REPI is RPLAIN with the bias and the clamp.
#define REPI(r0, r1, next) \
	VADDPS (R10), r0, r0 \
	VADDPS 64(R10), r1, r1 \
	VMAXPS r0, Z30, r0 \
	VMAXPS r1, Z30, r1 \
	VMINPS r0, Z31, r0 \
	VMINPS r1, Z31, r1 \
	RPLAIN(r0, r1, next)

rowsepirun:
	REPI(Z0, Z1, rowsepinext)
	REPI(Z2, Z3, rowsepinext)
	REPI(Z4, Z5, rowsepinext)
	REPI(Z6, Z7, rowsepinext)
	REPI(Z8, Z9, rowsepinext)
	REPI(Z10, Z11, rowsepinext)
	REPI(Z12, Z13, rowsepinext)

rowsepinext:
	NEXTRUN(rowsepirun)

// RRES is REPI with the residual gathered from the column at DX (which
// it steps to the next position) added before the clamp.
#define RRES(r0, r1, next) \
	VADDPS     (R10), r0, r0 \
	VADDPS     64(R10), r1, r1 \
	KXNORW     K2, K2, K2 \
	VGATHERDPS (DX)(Z28*4), K2, Z29 \
	VADDPS     Z29, r0, r0 \
	LEAQ       (DX)(R11*1), R12 \
	KXNORW     K2, K2, K2 \
	VGATHERDPS (R12)(Z28*4), K2, Z29 \
	VADDPS     Z29, r1, r1 \
	ADDQ       $4, DX \
	VMAXPS     r0, Z30, r0 \
	VMAXPS     r1, Z30, r1 \
	VMINPS     r0, Z31, r0 \
	VMINPS     r1, Z31, r1 \
	RPLAIN(r0, r1, next)

rowsres:
	RRES(Z0, Z1, rowsresnext)
	RRES(Z2, Z3, rowsresnext)
	RRES(Z4, Z5, rowsresnext)
	RRES(Z6, Z7, rowsresnext)
	RRES(Z8, Z9, rowsresnext)
	RRES(Z10, Z11, rowsresnext)
	RRES(Z12, Z13, rowsresnext)

rowsresnext:
	NEXTRUN(rowsres)

rowsdone:
	VZEROUPPER
	RET
