package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/internal/half"
)

// TestBgemm12x32: the kernel's tile is the float64 product of its packed
// bfloat16 slivers, stored or added, for odd and even pair counts, leaving
// the columns past the tile's 32 alone.
func TestBgemm12x32(t *testing.T) {
	if !HasBF16 {
		t.Skip("no AVX512-BF16 on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	bf := func() uint16 { return half.BFloat16FromFloat32(float32(rng.NormFloat64())) }
	for _, kp := range []int{1, 2, 7, 64} {
		for _, add := range []bool{false, true} {
			const ldc = 40
			a := make([]uint32, 12*kp)
			b := make([]uint32, 32*kp)
			for i := range a {
				a[i] = uint32(bf()) | uint32(bf())<<16
			}
			for i := range b {
				b[i] = uint32(bf()) | uint32(bf())<<16
			}
			c := make([]float32, 12*ldc)
			for i := range c {
				c[i] = float32(i % 7)
			}
			want := make([]float64, len(c))
			for r := range 12 {
				for j := range ldc {
					base := float64(c[r*ldc+j])
					if j >= 32 {
						want[r*ldc+j] = base
						continue
					}
					var s float64
					for p := range kp {
						wa, wb := a[p*12+r], b[p*32+j]
						s += float64(half.BFloat16ToFloat32(uint16(wa))) * float64(half.BFloat16ToFloat32(uint16(wb)))
						s += float64(half.BFloat16ToFloat32(uint16(wa>>16))) * float64(half.BFloat16ToFloat32(uint16(wb>>16)))
					}
					if add {
						s += base
					}
					want[r*ldc+j] = s
				}
			}
			Bgemm12x32AVX512BF16(kp, &a[0], &b[0], &c[0], ldc, add)
			for i, w := range want {
				require.InDelta(t, w, float64(c[i]), 1e-4*math.Sqrt(float64(2*kp))+1e-5, "kp %d add %v: row %d col %d", kp, add, i/ldc, i%ldc)
			}
		}
	}
}
