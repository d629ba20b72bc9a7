//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// TestSoftwareTileWeighsWavesAgainstSpeed: on a software adapter a product
// gets the tile with the least estimated time, counting the waves of
// workgroups the cores run, padding included, over the tile's speed; the
// picks are the fastest measured on llvmpipe with 2 cores.
func TestSoftwareTileWeighsWavesAgainstSpeed(t *testing.T) {
	all := func(gemmTile) bool { return true }
	tests := []struct {
		name           string
		batch, m, n, c int
		want           gemmTile
	}{
		{"large product: the fastest tile", 1, 1024, 1024, 2, gemmTile{16, 4, 32, 16, 16}},
		{"MLP layer: two 128×128 tiles beat one 128×256 on two cores", 1, 128, 256, 2, gemmTile{8, 4, 32, 16, 16}},
		{"MLP layer on one core: one 128×256 tile", 1, 128, 256, 1, gemmTile{16, 4, 32, 16, 16}},
		{"MLP weight gradient: 7 waves of 128×128 beat 4 of 128×256", 1, 256, 784, 2, gemmTile{8, 4, 32, 16, 16}},
		{"64 rows", 1, 64, 3136, 2, gemmTile{16, 2, 32, 16, 16}},
		{"attention heads", 128, 64, 64, 2, gemmTile{8, 4, 16, 8, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, softwareTile(matmulTilesSoftware, tt.batch, tt.m, tt.n, tt.c, all))
		})
	}
	t.Run("skips tiles that do not fit", func(t *testing.T) {
		small := func(t gemmTile) bool { return t.wx*t.wy < 64 }
		assert.Equal(t, gemmTile{8, 4, 32, 16, 16}, softwareTile(matmulTilesSoftware, 1, 1024, 1024, 2, small))
	})
	t.Run("operands read element by element", func(t *testing.T) {
		assert.Equal(t, gemmTile{16, 16, 8, 16, 16}, softwareTile(matmulTilesSoftwareScalar, 1, 1024, 1024, 2, all))
	})
}

// TestGPUBroadcastsAOnLavapipe: on llvmpipe (a software adapter with
// subgroups of 8) the tiles of 8-, 16- and 32-row blocks take A's values
// by subgroup broadcast, and products with partial tiles on every edge,
// read by vectors or element by element (K = 37, or A or B a transposed
// view), equal the float64 reference.
func TestGPUBroadcastsAOnLavapipe(t *testing.T) {
	g := testGPU(t)
	if !g.llvmpipe() || g.subgroupSize != 8 {
		t.Skipf("broadcasts are llvmpipe's (%s, subgroups of %d)", g.name, g.subgroupSize)
	}
	assert.Equal(t, 32, g.matmulTile(1, 1024, 1024, true).rm)
	assert.True(t, g.broadcastsA(g.matmulTile(1, 1024, 1024, true)))
	assert.True(t, g.broadcastsA(g.matmulTile(1, 1024, 1024, false)))
	assert.False(t, g.broadcastsA(gemmTile{8, 8, 4, 4, 16}), "4-row blocks read A themselves")
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{37, 40} {
		m, n := 150, 300
		av, bv := make([]float32, m*k), make([]float32, k*n)
		for _, v := range [][]float32{av, bv} {
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		a, b, c := gpuBuf(t, g, av), gpuBuf(t, g, bv), gpuBuf(t, g, make([]float32, m*n))
		dense := backend.View{Buf: a, Shape: []int{1, m, k}, Strides: []int{0, k, 1}}
		denseB := backend.View{Buf: b, Shape: []int{1, k, n}, Strides: []int{0, n, 1}}
		for _, tt := range []struct {
			name string
			a, b backend.View
			aAt  func(i, p int) float32
			bAt  func(p, j int) float32
		}{
			{"dense", dense, denseB, func(i, p int) float32 { return av[i*k+p] }, func(p, j int) float32 { return bv[p*n+j] }},
			{"A transposed", backend.View{Buf: a, Shape: []int{1, m, k}, Strides: []int{0, 1, m}}, denseB,
				func(i, p int) float32 { return av[p*m+i] }, func(p, j int) float32 { return bv[p*n+j] }},
			{"B transposed", dense, backend.View{Buf: b, Shape: []int{1, k, n}, Strides: []int{0, 1, k}},
				func(i, p int) float32 { return av[i*k+p] }, func(p, j int) float32 { return bv[j*k+p] }},
		} {
			t.Run(fmt.Sprintf("K %d, %s", k, tt.name), func(t *testing.T) {
				g.MatMul(c, tt.a, tt.b)
				got := make([]float32, m*n)
				require.NoError(t, g.Read(c, got))
				for i := range m {
					for j := range n {
						var want float64
						for p := range k {
							want += float64(tt.aAt(i, p)) * float64(tt.bAt(p, j))
						}
						if d := math.Abs(want - float64(got[i*n+j])); d > 1e-4*(1+math.Abs(want)) {
							t.Fatalf("c[%d, %d] = %v, want %v", i, j, got[i*n+j], want)
						}
					}
				}
			})
		}
	}
}

// gpuBuf returns a buffer of g holding data, freed when the test ends.
func gpuBuf(t *testing.T, g *gpuDevice, data []float32) backend.Buffer {
	t.Helper()
	b, err := g.Alloc(backend.Float32, len(data))
	require.NoError(t, err)
	require.NoError(t, g.Write(b, data))
	t.Cleanup(func() { g.Free(b) })
	return b
}

// TestGPUThinProducts: products of at most four rows (the thin kernel,
// with and without vectors along K) and of five (tiles) over a batch of
// two give the reference's results, B transposed or dense, A broadcast
// over the batch or not.
func TestGPUThinProducts(t *testing.T) {
	g := testGPU(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const batch, n = 2, 130
	for _, m := range []int{1, 3, 4, 5} {
		for _, k := range []int{37, 40} {
			av, bv := make([]float32, batch*m*k), make([]float32, batch*k*n)
			for _, v := range [][]float32{av, bv} {
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
			}
			a, b, c := gpuBuf(t, g, av), gpuBuf(t, g, bv), gpuBuf(t, g, make([]float32, batch*m*n))
			for _, tt := range []struct {
				name string
				a, b backend.View
				aAt  func(l, i, p int) float32
				bAt  func(l, p, j int) float32
			}{
				{"B transposed", backend.View{Buf: a, Shape: []int{batch, m, k}, Strides: []int{m * k, k, 1}},
					backend.View{Buf: b, Shape: []int{batch, k, n}, Strides: []int{k * n, 1, k}},
					func(l, i, p int) float32 { return av[l*m*k+i*k+p] }, func(l, p, j int) float32 { return bv[l*k*n+j*k+p] }},
				{"B dense, A broadcast", backend.View{Buf: a, Shape: []int{batch, m, k}, Strides: []int{0, k, 1}},
					backend.View{Buf: b, Shape: []int{batch, k, n}, Strides: []int{k * n, n, 1}},
					func(l, i, p int) float32 { return av[i*k+p] }, func(l, p, j int) float32 { return bv[l*k*n+p*n+j] }},
			} {
				t.Run(fmt.Sprintf("%d rows, K %d, %s", m, k, tt.name), func(t *testing.T) {
					g.MatMul(c, tt.a, tt.b)
					got := make([]float32, batch*m*n)
					require.NoError(t, g.Read(c, got))
					for l := range batch {
						for i := range m {
							for j := range n {
								var want float64
								for p := range k {
									want += float64(tt.aAt(l, i, p)) * float64(tt.bAt(l, p, j))
								}
								at := (l*m+i)*n + j
								if d := math.Abs(want - float64(got[at])); d > 1e-4*(1+math.Abs(want)) {
									t.Fatalf("c[%d, %d, %d] = %v, want %v", l, i, j, got[at], want)
								}
							}
						}
					}
				})
			}
		}
	}
}
