package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
	"github.com/wgtensor/wgtensor/internal/half"
)

// TestBF16MatMul compares the AVX512-BF16 product with the float64 product
// of the same bfloat16 values: odd K and K past one block, edges in every
// direction, a transposed B and a broadcast batch.
func TestBF16MatMul(t *testing.T) {
	if !kernel.HasBF16 {
		t.Skip("no AVX512-BF16 on this CPU")
	}
	d := newCPUDevice()
	require.True(t, d.MatMulHalf(backend.BFloat16))
	require.False(t, d.MatMulHalf(backend.Float16))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{1, 1, 1}, {12, 2, 32}, {13, 3, 33}, {100, 515, 70}, {37, 1201, 290}} {
		m, k, n := s[0], s[1], s[2]
		for _, transposed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dx%dx%d/transposed=%v", m, k, n, transposed), func(t *testing.T) {
				const batch = 2
				av := make([]uint16, batch*m*k)
				bv := make([]uint16, k*n)
				for i := range av {
					av[i] = half.BFloat16FromFloat32(float32(rng.NormFloat64()))
				}
				for i := range bv {
					bv[i] = half.BFloat16FromFloat32(float32(rng.NormFloat64()))
				}
				ab, _ := d.Alloc(backend.BFloat16, len(av))
				bb, _ := d.Alloc(backend.BFloat16, len(bv))
				cb, _ := d.Alloc(backend.Float32, batch*m*n)
				require.NoError(t, d.Write(ab, av))
				require.NoError(t, d.Write(bb, bv))
				a := backend.View{Buf: ab, Shape: []int{batch, m, k}, Strides: []int{m * k, k, 1}}
				b := backend.View{Buf: bb, Shape: []int{batch, k, n}, Strides: []int{0, n, 1}} // shared by the batch
				bAt := func(p, j int) uint16 { return bv[p*n+j] }
				if transposed { // stored [n, k]
					b.Strides = []int{0, 1, k}
					bAt = func(p, j int) uint16 { return bv[j*k+p] }
				}
				d.MatMul(cb, a, b)
				c := cpuFloats(cb)
				for l := range batch {
					for i := range m {
						for j := range n {
							var want, mag float64
							for p := range k {
								v := float64(half.BFloat16ToFloat32(av[l*m*k+i*k+p])) * float64(half.BFloat16ToFloat32(bAt(p, j)))
								want += v
								mag += math.Abs(v)
							}
							got := float64(c[l*m*n+i*n+j])
							if math.Abs(got-want) > 1e-5*mag+1e-6 {
								t.Fatalf("batch %d (%d, %d): got %v, want %v", l, i, j, got, want)
							}
						}
					}
				}
			})
		}
	}
}
