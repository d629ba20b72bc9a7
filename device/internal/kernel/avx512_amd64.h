// Macros shared by the AVX-512 kernels.

// PREFETCH_ROW asks for the cache line at R9, a row of a kernel's tile of
// C, and steps R9 to the next row (R8 bytes on); PREFETCH_ROWS4 asks for
// four rows of one line, PREFETCH_ROWS2 for two rows of two lines each. A
// kernel asks for its tile before its loop, so that its stores at the end
// find the lines in L1.
#define PREFETCH_ROW \
	PREFETCHT0 (R9) \
	ADDQ R8, R9

#define PREFETCH_ROWS4 \
	PREFETCH_ROW \
	PREFETCH_ROW \
	PREFETCH_ROW \
	PREFETCH_ROW

#define PREFETCH_ROWS2 \
	PREFETCHT0 (R9) \
	PREFETCHT0 64(R9) \
	ADDQ R8, R9 \
	PREFETCHT0 (R9) \
	PREFETCHT0 64(R9) \
	ADDQ R8, R9

// ZERO16 clears Z0–Z15, the tile of the 16-row kernels.
#define ZERO16 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15

// ZERO24 clears Z0–Z23, the tile of the 12×32 kernels.
#define ZERO24 \
	ZERO16 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23

// QUAD16 broadcasts four consecutive scalars of a packed A sliver from
// aoff(SI) and adds their products with the vector bv to rows r0–r3.
#define QUAD16(aoff, bv, r0, r1, r2, r3) \
	VBROADCASTSS aoff(SI), Z20 \
	VBROADCASTSS aoff+4(SI), Z21 \
	VBROADCASTSS aoff+8(SI), Z22 \
	VBROADCASTSS aoff+12(SI), Z23 \
	VFMADD231PS bv, Z20, r0 \
	VFMADD231PS bv, Z21, r1 \
	VFMADD231PS bv, Z22, r2 \
	VFMADD231PS bv, Z23, r3

// STEP16 is one step of k of a 16×16 tile held in Z0–Z15: the sixteen
// scalars of A at aoff(SI) times the vector bv of B.
#define STEP16(aoff, bv) \
	QUAD16(aoff, bv, Z0, Z1, Z2, Z3) \
	QUAD16(aoff+16, bv, Z4, Z5, Z6, Z7) \
	QUAD16(aoff+32, bv, Z8, Z9, Z10, Z11) \
	QUAD16(aoff+48, bv, Z12, Z13, Z14, Z15)

// ROW512 adds the row of two registers r0, r1 to the 32 floats at DX,
// stores them there and steps DX to the next row (R8 bytes on).
#define ROW512(r0, r1) \
	VADDPS (DX), r0, r0 \
	VMOVUPS r0, (DX) \
	VADDPS 64(DX), r1, r1 \
	VMOVUPS r1, 64(DX) \
	ADDQ R8, DX

// ROWS512 adds the 12×32 tile in Z0–Z23 to C at DX (rows R8 bytes
// apart) and stores it; SETROWS512 stores it.
#define ROWS512 \
	ROW512(Z0, Z1) \
	ROW512(Z2, Z3) \
	ROW512(Z4, Z5) \
	ROW512(Z6, Z7) \
	ROW512(Z8, Z9) \
	ROW512(Z10, Z11) \
	ROW512(Z12, Z13) \
	ROW512(Z14, Z15) \
	ROW512(Z16, Z17) \
	ROW512(Z18, Z19) \
	ROW512(Z20, Z21) \
	ROW512(Z22, Z23)

#define SETROWS512 \
	SETROW512(Z0, Z1) \
	SETROW512(Z2, Z3) \
	SETROW512(Z4, Z5) \
	SETROW512(Z6, Z7) \
	SETROW512(Z8, Z9) \
	SETROW512(Z10, Z11) \
	SETROW512(Z12, Z13) \
	SETROW512(Z14, Z15) \
	SETROW512(Z16, Z17) \
	SETROW512(Z18, Z19) \
	SETROW512(Z20, Z21) \
	SETROW512(Z22, Z23)

// SETROW512 stores the row of two registers r0, r1 at DX and steps DX to
// the next row.
#define SETROW512(r0, r1) \
	VMOVUPS r0, (DX) \
	VMOVUPS r1, 64(DX) \
	ADDQ R8, DX

// The epilogue of the GEMM kernels (see EpilogueArgs, whose fields R11
// points at: Lo at 4, Hi at 8, Scale at 12, Shift at 16, A at 20, B at 24,
// One at 28, Flags at 32), applied to the rows of a tile in registers.
// R10 points at the tile's per-row biases, Z24 and Z25 hold Lo and Hi.

// ADDC512 adds the two vectors of a row of C at R9 to r0, r1 and steps R9
// to the next row; ADDC1 the one vector of a 16-wide row.
#define ADDC512(r0, r1) \
	VADDPS (R9), r0, r0 \
	VADDPS 64(R9), r1, r1 \
	ADDQ R8, R9

#define ADDC1(r) \
	VADDPS (R9), r, r \
	ADDQ R8, R9

// BIASCLAMP2 adds the bias at boff(R10) to a row of two vectors and clamps
// it to [Lo, Hi], a NaN staying NaN; BIASCLAMP1 for one vector.
#define BIASCLAMP2(r0, r1, boff) \
	VBROADCASTSS boff(R10), Z26 \
	VADDPS Z26, r0, r0 \
	VADDPS Z26, r1, r1 \
	VMAXPS r0, Z24, r0 \
	VMAXPS r1, Z24, r1 \
	VMINPS r0, Z25, r0 \
	VMINPS r1, Z25, r1

#define BIASCLAMP1(r, boff) \
	VBROADCASTSS boff(R10), Z26 \
	VADDPS Z26, r, r \
	VMAXPS r, Z24, r \
	VMINPS r, Z25, r

// EPIHSCONST loads the hard sigmoid's constants: A, B, One and zero in
// Z28–Z31.
#define EPIHSCONST \
	VBROADCASTSS 20(R11), Z28 \
	VBROADCASTSS 24(R11), Z29 \
	VBROADCASTSS 28(R11), Z30 \
	VPXORD Z31, Z31, Z31

// HARDSWISH multiplies r by min(max(r·A + B, 0), 1).
#define HARDSWISH(r) \
	VMULPS Z28, r, Z26 \
	VADDPS Z29, Z26, Z26 \
	VMAXPS Z26, Z31, Z26 \
	VMINPS Z26, Z30, Z26 \
	VMULPS Z26, r, r

// AFFINE makes r r·Scale + Shift, with Scale in Z26 and Shift in Z27.
#define AFFINE(r) \
	VMULPS Z26, r, r \
	VADDPS Z27, r, r

// HARDSWISH16 and AFFINE16 apply HARDSWISH and AFFINE to Z0–Z15 (a 16×16
// tile), HARDSWISH24 and AFFINE24 to Z0–Z23 (a 12×32 tile).
#define HARDSWISH16 \
	HARDSWISH(Z0) \
	HARDSWISH(Z1) \
	HARDSWISH(Z2) \
	HARDSWISH(Z3) \
	HARDSWISH(Z4) \
	HARDSWISH(Z5) \
	HARDSWISH(Z6) \
	HARDSWISH(Z7) \
	HARDSWISH(Z8) \
	HARDSWISH(Z9) \
	HARDSWISH(Z10) \
	HARDSWISH(Z11) \
	HARDSWISH(Z12) \
	HARDSWISH(Z13) \
	HARDSWISH(Z14) \
	HARDSWISH(Z15)

#define AFFINE16 \
	AFFINE(Z0) \
	AFFINE(Z1) \
	AFFINE(Z2) \
	AFFINE(Z3) \
	AFFINE(Z4) \
	AFFINE(Z5) \
	AFFINE(Z6) \
	AFFINE(Z7) \
	AFFINE(Z8) \
	AFFINE(Z9) \
	AFFINE(Z10) \
	AFFINE(Z11) \
	AFFINE(Z12) \
	AFFINE(Z13) \
	AFFINE(Z14) \
	AFFINE(Z15)

#define HARDSWISH24 \
	HARDSWISH16 \
	HARDSWISH(Z16) \
	HARDSWISH(Z17) \
	HARDSWISH(Z18) \
	HARDSWISH(Z19) \
	HARDSWISH(Z20) \
	HARDSWISH(Z21) \
	HARDSWISH(Z22) \
	HARDSWISH(Z23)

#define AFFINE24 \
	AFFINE16 \
	AFFINE(Z16) \
	AFFINE(Z17) \
	AFFINE(Z18) \
	AFFINE(Z19) \
	AFFINE(Z20) \
	AFFINE(Z21) \
	AFFINE(Z22) \
	AFFINE(Z23)
