//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/convref"
)

// convReference computes the three convolution passes of p in float64.
func convReference(p backend.Conv2DParams, x, w, dy []float32) (y, dx, dw []float64) {
	y = make([]float64, p.N*p.O*p.OH*p.OW)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	convref.Taps(p, func(xi, wi, yi int) {
		y[yi] += float64(x[xi]) * float64(w[wi])
		dx[xi] += float64(w[wi]) * float64(dy[yi])
		dw[wi] += float64(dy[yi]) * float64(x[xi])
	})
	return y, dx, dw
}

func requireClose(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	require.Len(t, got, len(want), name)
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-3+1e-4*math.Abs(want[i]) {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// TestGPUConvSplits runs the convolution passes with the adapter's
// workgroup-per-dimension limit and the weight gradient's scratch bound
// lowered, so that the grid is cut in every dimension and the weight
// gradient's slices take several dispatches adding into their partial sums.
func TestGPUConvSplits(t *testing.T) {
	g := testGPU(t)
	p := backend.Conv2DParams{N: 24, C: 6, H: 15, W: 13, O: 780, KH: 3, KW: 3, StrideH: 1, StrideW: 2,
		PadH: 1, PadW: 2, DilH: 2, DilW: 1, Groups: 3}
	check := convPasses(t, g, p)
	g.mu.Lock()
	saved, savedBytes, savedGroups := g.limits.MaxComputeWorkgroupsPerDimension, convPartialBytes, convSoftwareGroups
	// 2 workgroups a dimension cut the 3 row tiles of the 260 output
	// channels per group, the columns and the 3 groups; 4 KiB of partial
	// sums hold less than one slice of dw (14,040 weights), so each slice
	// of its K of 24·13·8 is a dispatch of its own, adding into the first
	// (on a software adapter too, which is made to want a GPU's slices).
	g.limits.MaxComputeWorkgroupsPerDimension, convPartialBytes = 2, 4<<10
	convSoftwareGroups = convTargetGroups
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.limits.MaxComputeWorkgroupsPerDimension, convPartialBytes, convSoftwareGroups = saved, savedBytes, savedGroups
		g.mu.Unlock()
	}()
	check()
}

// convPasses returns a check that runs the three convolution passes of p
// on g and compares them with the reference.
func convPasses(t *testing.T, g *gpuDevice, p backend.Conv2DParams) (check func()) {
	t.Helper()
	p.OH = (p.H+2*p.PadH-p.DilH*(p.KH-1)-1)/p.StrideH + 1
	p.OW = (p.W+2*p.PadW-p.DilW*(p.KW-1)-1)/p.StrideW + 1
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	x, w := gen(p.N*p.C*p.H*p.W), gen(p.O*p.C/p.Groups*p.KH*p.KW)
	dy := gen(p.N * p.O * p.OH * p.OW)
	wantY, wantDX, wantDW := convReference(p, x, w, dy)

	buf := func(data []float32) backend.Buffer {
		b, err := g.Alloc(backend.Float32, len(data))
		require.NoError(t, err)
		require.NoError(t, g.Write(b, data))
		return b
	}
	read := func(b backend.Buffer) []float32 {
		out := make([]float32, b.Len())
		require.NoError(t, g.Read(b, out))
		return out
	}
	bx, bw, bdy := buf(x), buf(w), buf(dy)
	by, bdx, bdw := buf(make([]float32, len(wantY))), buf(make([]float32, len(x))), buf(make([]float32, len(w)))
	t.Cleanup(func() {
		for _, b := range []backend.Buffer{bx, bw, bdy, by, bdx, bdw} {
			g.Free(b)
		}
	})

	return func() {
		t.Helper()
		g.Conv2D(by, bx, bw, p, backend.Epilogue{})
		g.Conv2DInputGrad(bdx, bdy, bw, p)
		g.Conv2DWeightGrad(bdw, bx, bdy, p)
		require.NoError(t, g.Sync())
		requireClose(t, "y", read(by), wantY)
		requireClose(t, "dx", read(bdx), wantDX)
		requireClose(t, "dw", read(bdw), wantDW)
	}
}

// TestGPUConvLoadsColumnQuads: tiles whose threads load one, two or four
// K rows of B at a time (a software adapter's 32×256, 64×128 and 128×256
// tiles of 8×16 blocks; a GPU's have other shapes) compute the three
// passes as the reference does.
func TestGPUConvLoadsColumnQuads(t *testing.T) {
	g := testGPU(t)
	tests := []struct {
		name string
		p    backend.Conv2DParams
		rows int // K rows loaded at a time in the forward pass, on a software adapter
	}{
		{"32 rows", backend.Conv2DParams{N: 4, C: 5, H: 20, W: 20, O: 24, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}, 1},
		{"64 rows, strided", backend.Conv2DParams{N: 6, C: 40, H: 21, W: 19, O: 96, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilH: 1, DilW: 2, Groups: 2}, 2},
		{"128 rows", backend.Conv2DParams{N: 3, C: 3, H: 16, W: 22, O: 100, KH: 1, KW: 1, StrideH: 1, StrideW: 1, PadH: 1, DilH: 1, DilW: 1, Groups: 1}, 4}, // padded: not a product (convPointwise)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := convPasses(t, g, tt.p)
			if g.software {
				p := tt.p
				p.OH = (p.H+2*p.PadH-p.DilH*(p.KH-1)-1)/p.StrideH + 1
				p.OW = (p.W+2*p.PadW-p.DilW*(p.KW-1)-1)/p.StrideW + 1
				tile := g.convTile(p.O/p.Groups, p.N*p.OH*p.OW, p.Groups)
				assert.Equal(t, tt.rows, tile.wx*tile.wy/(tile.cols()/4), "tile %+v", tile)
			}
			check()
		})
	}
}

// TestGPUConvDirect: convolutions whose groups read one input channel
// each and write few (depthwise, with one or more outputs a channel) take
// the direct kernels, with padding, strides, dilations and batches, and
// give the reference's three passes, also with the grid cut to two
// workgroups a dimension.
func TestGPUConvDirect(t *testing.T) {
	g := testGPU(t)
	tests := []struct {
		name string
		p    backend.Conv2DParams
	}{
		{"3x3 padded", backend.Conv2DParams{N: 1, C: 16, H: 14, W: 14, O: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 16}},
		{"3x3 stride 2, odd plane", backend.Conv2DParams{N: 3, C: 8, H: 15, W: 13, O: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 8}},
		{"5x3 dilated, uneven padding", backend.Conv2DParams{N: 2, C: 5, H: 11, W: 9, O: 5, KH: 5, KW: 3, StrideH: 1, StrideW: 2, PadH: 2, PadW: 0, DilH: 2, DilW: 1, Groups: 5}},
		{"two outputs a channel", backend.Conv2DParams{N: 2, C: 6, H: 7, W: 7, O: 12, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 6}},
		{"one channel", backend.Conv2DParams{N: 4, C: 1, H: 9, W: 10, O: 3, KH: 2, KW: 2, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			for _, entry := range []string{"forward", "input_grad", "weight_grad"} {
				require.NotEmpty(t, convDirectEntry(p, convGEMM{entry: entry}), entry)
			}
			check := convPasses(t, g, p)
			check()
			g.mu.Lock()
			saved := g.limits.MaxComputeWorkgroupsPerDimension
			g.limits.MaxComputeWorkgroupsPerDimension = 2
			g.mu.Unlock()
			defer func() {
				g.mu.Lock()
				g.limits.MaxComputeWorkgroupsPerDimension = saved
				g.mu.Unlock()
			}()
			check()
		})
	}
	assert.Empty(t, convDirectEntry(backend.Conv2DParams{C: 6, O: 6, KH: 3, KW: 3, Groups: 3}, convGEMM{entry: "forward", k: 18}), "two channels a group")
	assert.Empty(t, convDirectEntry(backend.Conv2DParams{C: 1, O: 32, KH: 3, KW: 3, Groups: 1}, convGEMM{entry: "input_grad", k: 288}), "32 outputs a channel")
	assert.Empty(t, convDirectEntry(backend.Conv2DParams{C: 4, O: 4, KH: 17, KW: 17, Groups: 4}, convGEMM{entry: "weight_grad"}), "more taps than threads")
}

// TestGPUConvPointwise: 1×1 convolutions of stride 1 take the matrix
// product for the forward pass and the input gradient, and give the
// reference's three passes; padded or strided ones stay convolutions.
func TestGPUConvPointwise(t *testing.T) {
	g := testGPU(t)
	p := backend.Conv2DParams{N: 3, C: 12, H: 7, W: 9, O: 20, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}
	check := convPasses(t, g, p)
	p.OH, p.OW = p.H, p.W
	require.True(t, convPointwise(p))
	check()
	for _, q := range []backend.Conv2DParams{
		{C: 12, H: 7, W: 9, O: 20, KH: 1, KW: 1, OH: 4, OW: 5, StrideH: 2, StrideW: 2, Groups: 1},
		{C: 12, H: 7, W: 9, O: 20, KH: 1, KW: 1, OH: 9, OW: 11, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1},
		{C: 12, H: 7, W: 9, O: 20, KH: 1, KW: 1, OH: 7, OW: 9, StrideH: 1, StrideW: 1, Groups: 2},
	} {
		assert.False(t, convPointwise(q), "%+v", q)
	}
}

// TestConvTileShapesFitTheLoaders: every tile convTile can pick has a
// thread count that is a multiple of its K depth and of its columns / 4,
// and K rows per load step that divide its K depth, as conv2d.wgsl's
// loaders assume.
func TestConvTileShapesFitTheLoaders(t *testing.T) {
	for _, software := range []bool{false, true} {
		for tm := 32; tm <= 128; tm *= 2 {
			for tn := 16; tn <= 256; tn *= 2 {
				tile := convTileShape(tm, tn, software)
				threads, quads := tile.wx*tile.wy, tile.cols()/4
				assert.Equal(t, [2]int{tm, tn}, [2]int{tile.rows(), tile.cols()}, "software %v", software)
				assert.Zero(t, threads%tile.tk, "tile %+v", tile)
				assert.Zero(t, threads%quads, "tile %+v", tile)
				assert.Zero(t, tile.tk%(threads/quads), "tile %+v", tile)
			}
		}
	}
}
