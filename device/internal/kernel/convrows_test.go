//go:build amd64 && !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConvRows14x32 checks ConvRows14x32AVX512 against a scalar sum over
// the offset table: runs of every length up to 7 and none, without an
// epilogue, with a bias and clamp, and with a residual too; stores land
// only where the runs' positions are.
func TestConvRows14x32(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const k, ldc, plane = 19, 50, 400
	a := make([]float32, 32*k)
	for i := range a {
		a[i] = rng.Float32()*2 - 1
	}
	b := make([]float32, plane)
	for i := range b {
		b[i] = rng.Float32()*2 - 1
	}
	offs := make([]int, k)
	for i := range offs {
		offs[i] = rng.IntN(plane - 200)
	}
	idx := make([]int32, 16)
	for j := range idx {
		idx[j] = int32(j * ldc)
	}
	bias := make([]float32, 32)
	for j := range bias {
		bias[j] = rng.Float32() - 0.5
	}
	res := make([]float32, 32*ldc)
	for i := range res {
		res[i] = rng.Float32()*2 - 1
	}
	sum := func(start, i, ch int) float32 {
		var s float32
		for st := range k {
			s += a[32*st+ch] * b[start+offs[st]+i]
		}
		return s
	}
	for _, runs := range [][2]int{{7, 7}, {7, 0}, {1, 0}, {3, 5}, {7, 1}, {2, 7}} {
		for _, mode := range []string{"plain", "clamp", "residual"} {
			t.Run(fmt.Sprintf("%dx%d-%s", runs[0], runs[1], mode), func(t *testing.T) {
				const s0, s1, o0, o1 = 11, 90, 3, 30 // the runs' inputs and outputs
				c := make([]float32, 32*ldc)
				for i := range c {
					c[i] = -7
				}
				tile := ConvRowsTile{B0: &b[s0], B1: &b[s1], C0: &c[o0], C1: &c[o1], N0: runs[0], N1: runs[1]}
				var epi *EpilogueArgs
				if mode != "plain" {
					epi = &EpilogueArgs{Lo: -0.5, Hi: 0.75}
				}
				if mode == "residual" {
					tile.R0, tile.R1 = &res[o0], &res[o1]
				}
				ConvRows14x32AVX512(k, &a[0], &offs[0], &tile, &idx[0], ldc, &bias[0], epi, &a[0])
				want := make([]float32, len(c))
				for i := range want {
					want[i] = -7
				}
				for _, run := range [][3]int{{s0, o0, runs[0]}, {s1, o1, runs[1]}} {
					for i := range run[2] {
						for ch := range 32 {
							v := sum(run[0], i, ch)
							at := ch*ldc + run[1] + i
							if epi != nil {
								v += bias[ch]
								if mode == "residual" {
									v += res[at]
								}
								v = min(max(v, epi.Lo), epi.Hi)
							}
							want[at] = v
						}
					}
				}
				for i := range want {
					require.InDelta(t, want[i], c[i], 1e-4, "element %d (channel %d, position %d)", i, i/ldc, i%ldc)
				}
			})
		}
	}
}
