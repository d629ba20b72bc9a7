package cpu

import (
	"runtime"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// The bfloat16 matrix product with AVX512-BF16: operands are packed as
// pairs of k steps, two bfloat16s a 32-bit word (the layout VDPBF16PS
// takes), A whole and B in blocks of bf16KC pairs × bf16NC columns, and
// the 12×32 kernel accumulates in float32, bf16MC rows of a block at a
// time.
const (
	bf16MR = 12
	bf16NR = 32
	bf16KC = 256 // pairs: a 32-column sliver of B is 32 KiB, in L1
	bf16MC = 96
	bf16NC = 256
)

// MatMulHalf reports whether MatMul takes operands of the 16-bit type dt
// natively: bfloat16 where the CPU has AVX512-BF16.
func (d *cpuDevice) MatMulHalf(dt backend.DType) bool {
	return dt == backend.BFloat16 && kernel.HasBF16
}

// Conv2DHalf reports that the convolutions take no 16-bit inputs: the
// tensor package converts them.
func (d *cpuDevice) Conv2DHalf(backend.DType) bool { return false }

// bf16Scratch is one goroutine's packing space for bf16MatMul.
type bf16Scratch struct {
	b    [bf16KC * bf16NC]uint32
	edge [bf16MR * bf16NR]float32 // the tile at the matrix's edges
}

// bf16Free keeps packing space between products.
var bf16Free = newCPUFreeList[bf16Scratch](8)

// bf16MatMul writes a @ b for bfloat16 views a [B, M, K] and b [B, K, N]
// into the float32 dst [B, M, N].
func bf16MatMul(dst []float32, a, b backend.View) {
	batch, m, k, n := a.Shape[0], a.Shape[1], a.Shape[2], b.Shape[2]
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(dst[:batch*m*n])
		return
	}
	x, y := cpuHalves(a.Buf), cpuHalves(b.Buf)
	kp := (k + 1) / 2
	// A is packed once, whole, as slivers of bf16MR rows by every pair of
	// k steps, and read by every panel of columns.
	slivers := cpuCeilDiv(m, bf16MR)
	apack := make([]uint32, batch*slivers*bf16MR*kp)
	cpuParallel(batch*slivers, bf16MR*k, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			l, sl := t/slivers, t%slivers
			dst := apack[(l*slivers+sl)*bf16MR*kp:]
			packBF16A(dst, x, a.Offset+l*a.Strides[0], a.Strides[1], a.Strides[2], k, 0, kp, sl*bf16MR, min(bf16MR, m-sl*bf16MR))
		}
	})
	// A task is a panel of bf16NC columns (of one batch element) for a
	// range of row blocks: it packs each block of B once for all its rows.
	// Rows are split between tasks only when the panels are too few to
	// keep every worker busy.
	mBlocks, nBlocks := cpuCeilDiv(m, bf16MC), cpuCeilDiv(n, bf16NC)
	splits := min(mBlocks, max(1, cpuCeilDiv(2*runtime.GOMAXPROCS(0), batch*nBlocks)))
	perSplit := cpuCeilDiv(mBlocks, splits)
	cpuParallel(batch*nBlocks*splits, 2*perSplit*bf16MC*min(n, bf16NC)*k, func(lo, hi int) {
		s := bf16Free.get(func() *bf16Scratch { return new(bf16Scratch) })
		defer bf16Free.put(s)
		for t := lo; t < hi; t++ {
			l, rest := t/(nBlocks*splits), t%(nBlocks*splits)
			j0 := rest / splits * bf16NC
			iLo := rest % splits * perSplit * bf16MC
			iHi := min(m, iLo+perSplit*bf16MC)
			nb := min(bf16NC, n-j0)
			c := dst[l*m*n:]
			al := apack[l*slivers*bf16MR*kp:]
			for p0 := 0; p0 < kp; p0 += bf16KC {
				pb := min(bf16KC, kp-p0)
				packBF16B(s.b[:], y, b.Offset+l*b.Strides[0], b.Strides[1], b.Strides[2], k, 2*p0, pb, j0, nb)
				for i0 := iLo; i0 < iHi; i0 += bf16MC {
					s.block(c[i0*n+j0:], al[i0*kp+p0*bf16MR:], n, kp, pb, min(bf16MC, iHi-i0), nb, p0 > 0)
				}
			}
		}
	})
}

// block computes the mb×nb block of C at c (rows ldc apart) from pb pairs
// of k steps of the packed A at a (slivers of bf16MR rows kp pairs long)
// and the packed block of B, adding to it when add is set; tiles cut by
// the block's edges go through the edge tile.
func (s *bf16Scratch) block(c []float32, a []uint32, ldc, kp, pb, mb, nb int, add bool) {
	for i := 0; i < mb; i += bf16MR {
		as := &a[i*kp]
		rows := min(bf16MR, mb-i)
		for j := 0; j < nb; j += bf16NR {
			bs := &s.b[j*pb]
			cols := min(bf16NR, nb-j)
			ci := i*ldc + j
			if rows == bf16MR && cols == bf16NR {
				kernel.Bgemm12x32AVX512BF16(pb, as, bs, &c[ci], ldc, add)
				continue
			}
			kernel.Bgemm12x32AVX512BF16(pb, as, bs, &s.edge[0], bf16NR, false)
			for r := range rows {
				row, e := c[ci+r*ldc:ci+r*ldc+cols], s.edge[r*bf16NR:]
				for q := range row {
					if add {
						row[q] += e[q]
					} else {
						row[q] = e[q]
					}
				}
			}
		}
	}
}

// packBF16A packs the rows i0…i0+mb of A (elements at off + i·rs + p·cs,
// k columns) for pairs p0/2… (pb of them) as slivers of bf16MR rows: per
// pair, one word a row, the earlier k in the low half; rows and k steps
// past the matrix are zeros.
func packBF16A(dst []uint32, x []uint16, off, rs, cs, k, k0, pb, i0, mb int) {
	for s := 0; s < mb; s += bf16MR {
		sl := dst[s*pb : (s+bf16MR)*pb]
		for r := range bf16MR {
			i := s + r
			if i >= mb {
				for p := range pb {
					sl[p*bf16MR+r] = 0
				}
				continue
			}
			base := off + (i0+i)*rs
			for p := range pb {
				kk := k0 + 2*p
				w := uint32(x[base+kk*cs])
				if kk+1 < k {
					w |= uint32(x[base+(kk+1)*cs]) << 16
				}
				sl[p*bf16MR+r] = w
			}
		}
	}
}

// packBF16B packs the columns j0…j0+nb of B (elements at off + p·rs +
// j·cs, k rows) for pairs k0/2… (pb of them) as slivers of bf16NR columns:
// per pair, one word a column; columns and k steps past the matrix are
// zeros.
func packBF16B(dst []uint32, y []uint16, off, rs, cs, k, k0, pb, j0, nb int) {
	for s := 0; s < nb; s += bf16NR {
		sl := dst[s*pb : (s+bf16NR)*pb]
		for p := range pb {
			kk := k0 + 2*p
			lo := y[off+kk*rs:]
			row := sl[p*bf16NR : (p+1)*bf16NR]
			cols := min(bf16NR, nb-s)
			if kk+1 < k {
				hi := y[off+(kk+1)*rs:]
				for q := range cols {
					jj := (j0 + s + q) * cs
					row[q] = uint32(lo[jj]) | uint32(hi[jj])<<16
				}
			} else {
				for q := range cols {
					row[q] = uint32(lo[(j0+s+q)*cs])
				}
			}
			clear(row[cols:])
		}
	}
}
