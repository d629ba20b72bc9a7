//go:build amd64 && !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGemmEpilogue checks the AVX-512 GEMM kernels' epilogue against
// EpilogueArgs.Step, with and without adding to C, with each step of the
// epilogue, per-row biases, and a NaN in the sums.
func TestGemmEpilogue(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kern := range []struct {
		name   string
		mr, nr int
		f      func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs)
	}{{"12x32", 12, 32, func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs) {
		Sgemm12x32AVX512(k, a, b, c, ldc, add, bias, epi, 32)
	}}, {"16x16", 16, 16, func(k int, a, b, c *float32, ldc int, add bool, bias *float32, epi *EpilogueArgs) {
		Sgemm16x16AVX512(k, a, b, c, ldc, add, bias, epi, 16)
	}}} {
		for _, flags := range []uint32{0, EpilogueHardSwish, EpilogueAffine, EpilogueHardSwish | EpilogueAffine} {
			for _, add := range []bool{false, true} {
				const k, ldc = 5, 40
				a, b := make([]float32, kern.mr*k), make([]float32, kern.nr*k)
				for i := range a {
					a[i] = rng.Float32()*4 - 2
				}
				for i := range b {
					b[i] = rng.Float32()*4 - 2
				}
				a[3] = float32(math.NaN()) // row 3's sums are NaN
				bias := make([]float32, kern.mr)
				for i := range bias {
					bias[i] = rng.Float32() - 0.5
				}
				c := make([]float32, kern.mr*ldc)
				for i := range c {
					c[i] = rng.Float32() - 0.5
				}
				before := append([]float32(nil), c...)
				args := NewEpilogueArgs(0, -1.5, 2.5)
				args.Flags, args.Scale, args.Shift = flags, 1.25, -0.5
				kern.f(k, &a[0], &b[0], &c[0], ldc, add, &bias[0], &args)
				for r := range kern.mr {
					for j := range ldc {
						got := c[r*ldc+j]
						if j >= kern.nr {
							require.Equal(t, before[r*ldc+j], got, "%s: wrote past the tile", kern.name)
							continue
						}
						var sum float32
						for p := range k {
							sum += a[p*kern.mr+r] * b[p*kern.nr+j]
						}
						if add {
							sum += before[r*ldc+j]
						}
						e := args
						e.Bias = bias[r]
						want := e.Step(sum, 0)
						if math.IsNaN(float64(want)) {
							require.True(t, math.IsNaN(float64(got)), "%s flags %d add %v (%d, %d): got %v, want NaN", kern.name, flags, add, r, j, got)
							continue
						}
						require.InDelta(t, want, got, 1e-5, "%s flags %d add %v (%d, %d)", kern.name, flags, add, r, j)
					}
				}
			}
		}
	}
}

// TestSgemmStridedB: the 12×32 and 16×16 kernels read b as a block of a
// row-major matrix, rows ldb floats apart, for even and odd k, storing and
// adding, against float64.
func TestSgemmStridedB(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, kern := range []struct {
		name   string
		mr, nr int
		f      func(k int, a, b, c *float32, ldc int, add bool, ldb int)
	}{{"12x32", 12, 32, func(k int, a, b, c *float32, ldc int, add bool, ldb int) {
		Sgemm12x32AVX512(k, a, b, c, ldc, add, nil, nil, ldb)
	}}, {"16x16", 16, 16, func(k int, a, b, c *float32, ldc int, add bool, ldb int) {
		Sgemm16x16AVX512(k, a, b, c, ldc, add, nil, nil, ldb)
	}}} {
		mr, nr := kern.mr, kern.nr
		for _, k := range []int{1, 2, 7, 64} {
			for _, add := range []bool{false, true} {
				const ldb, ldc = 53, 37
				a, b := make([]float32, mr*k), make([]float32, (k-1)*ldb+nr)
				for i := range a {
					a[i] = rng.Float32()*2 - 1
				}
				for i := range b {
					b[i] = rng.Float32()*2 - 1
				}
				c := make([]float32, (mr-1)*ldc+nr)
				for i := range c {
					c[i] = rng.Float32()
				}
				want := make([]float64, len(c))
				for i := range mr {
					for j := range nr {
						var s float64
						if add {
							s = float64(c[i*ldc+j])
						}
						for p := range k {
							s += float64(a[p*mr+i]) * float64(b[p*ldb+j])
						}
						want[i*ldc+j] = s
					}
				}
				kern.f(k, &a[0], &b[0], &c[0], ldc, add, ldb)
				for i := range mr {
					for j := range nr {
						require.InDelta(t, want[i*ldc+j], c[i*ldc+j], 1e-4, "%s k=%d add=%v (%d, %d)", kern.name, k, add, i, j)
					}
				}
			}
		}
	}
}
