// Macros shared by the AVX-512 kernels.

// PREFETCH_ROW asks for the cache line at R9, a row of a kernel's tile of
// C, and steps R9 to the next row (R8 bytes on); PREFETCH_ROWS2 asks for
// two rows of two lines each. A kernel asks for its tile before its loop,
// so that its stores at the end find the lines in L1.
#define PREFETCH_ROW \
	PREFETCHT0 (R9) \
	ADDQ R8, R9

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

// SETROW512 stores the row of two registers r0, r1 at DX and steps DX to
// the next row.
#define SETROW512(r0, r1) \
	VMOVUPS r0, (DX) \
	VMOVUPS r1, 64(DX) \
	ADDQ R8, DX
