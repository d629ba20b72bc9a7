//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
		{"large product: the fastest tile", 1, 1024, 1024, 2, gemmTile{16, 16, 8, 16, 16}},
		{"MLP layer: two 128×128 tiles beat one 128×256 on two cores", 1, 128, 256, 2, gemmTile{8, 16, 8, 16, 16}},
		{"MLP layer on one core: one 128×256 tile", 1, 128, 256, 1, gemmTile{16, 16, 8, 16, 16}},
		{"MLP weight gradient: 7 waves of 128×128 beat 4 of 128×256", 1, 256, 784, 2, gemmTile{8, 16, 8, 16, 16}},
		{"64 rows", 1, 64, 3136, 2, gemmTile{16, 8, 8, 16, 16}},
		{"attention heads", 128, 64, 64, 2, gemmTile{8, 8, 8, 8, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, softwareTile(matmulTilesSoftware, tt.batch, tt.m, tt.n, tt.c, all))
		})
	}
	t.Run("skips tiles that do not fit", func(t *testing.T) {
		small := func(t gemmTile) bool { return t.wx*t.wy <= 64 }
		assert.Equal(t, gemmTile{8, 8, 8, 16, 16}, softwareTile(matmulTilesSoftware, 1, 1024, 1024, 2, small))
	})
}
