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

// setFusion turns g's fusion on or off and returns the function that
// restores it.
func setFusion(g *gpuDevice, fuse bool) (restore func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	saved := g.fuse
	g.fuse = fuse
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.fuse = saved
	}
}

// runChain runs a random chain of elementwise ops on g with fusion on or
// off and returns every result. The chain draws its inputs from earlier
// results (read densely, so that fusion takes their expressions in) and
// from leaves seen through broadcasting, transposing and offset views;
// the leaves hold NaN, ±Inf and zeros among random values. Ops: unary,
// binary (comparisons among them), scalar on either side, where, copies,
// fills and products (whose consumers fuse into them as epilogues); some
// results are reduced (fusing the pending ones as prologues) and some
// realized together midway.
func runChain(t *testing.T, g *gpuDevice, fuse bool, seed uint64) [][]float32 {
	t.Helper()
	defer setFusion(g, fuse)()
	rng := rand.New(rand.NewPCG(seed, 7))
	const a, b, c = 3, 4, 5
	n := a * b * c
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, -0.5, 2}
	leaf := func(m int) backend.Buffer {
		data := make([]float32, m)
		for i := range data {
			if rng.IntN(8) == 0 {
				data[i] = special[rng.IntN(len(special))]
			} else {
				data[i] = float32(rng.NormFloat64())
			}
		}
		buf, err := g.Alloc(backend.Float32, m)
		require.NoError(t, err)
		require.NoError(t, g.Write(buf, data))
		return buf
	}
	shape := []int{a, b, c}
	full, row, col, wide := leaf(n), leaf(c), leaf(a), leaf(2*n+3)
	const k = 6 // products [a, b, k] @ [a, k, c]
	lhs, rhs := leaf(a*b*k), leaf(a*k*c)
	views := []backend.View{
		backend.Dense(full, a, b, c),
		{Buf: row, Shape: shape, Strides: []int{0, 0, 1}},                         // broadcast along the leading dims
		{Buf: col, Shape: shape, Strides: []int{1, 0, 0}},                         // broadcast along the trailing dims
		{Buf: full, Shape: shape, Strides: []int{1, a, a * b}},                    // transposed
		{Buf: wide, Offset: 3, Shape: shape, Strides: []int{2 * b * c, 2 * c, 2}}, // strided with an offset
	}
	// A pending value of one row, read broadcast over the others.
	rowExp, err := g.Alloc(backend.Float32, c)
	require.NoError(t, err)
	g.Unary(backend.Exp, rowExp, backend.Dense(row, c))
	views = append(views, backend.View{Buf: rowExp, Shape: shape, Strides: []int{0, 0, 1}})
	unary := []backend.UnaryOp{backend.Neg, backend.Abs, backend.Exp, backend.Log, backend.Sqrt, backend.Tanh, backend.Sigmoid, backend.ReLU, backend.Sin, backend.Recip, backend.GELU}
	binary := []backend.BinaryOp{backend.Add, backend.Sub, backend.Mul, backend.Div, backend.Maximum, backend.Minimum, backend.Pow, backend.Lt, backend.Ge, backend.Eq, backend.Ne, backend.TanhGrad, backend.SigmoidGrad}
	var results []backend.Buffer
	pick := func() backend.View {
		if len(results) > 0 && rng.IntN(3) > 0 {
			return backend.Dense(results[len(results)-1-rng.IntN(min(3, len(results)))], a, b, c)
		}
		return views[rng.IntN(len(views))]
	}
	for range 40 {
		out, err := g.Alloc(backend.Float32, n)
		require.NoError(t, err)
		switch rng.IntN(7) {
		case 6: // a product, whose consumers become its epilogue
			g.MatMul(out, backend.Dense(lhs, a, b, k), backend.View{Buf: rhs, Shape: []int{a, k, c}, Strides: []int{k * c, 1, k}})
		case 4:
			g.Copy(backend.Dense(out, a, b, c), pick())
		case 5:
			g.Fill(out, float64(special[rng.IntN(len(special))]))
		case 0:
			g.Unary(unary[rng.IntN(len(unary))], out, pick())
		case 1:
			g.Binary(binary[rng.IntN(len(binary))], out, pick(), pick())
		case 2:
			g.Where(out, pick(), pick(), pick())
		default:
			g.BinaryScalar(binary[rng.IntN(len(binary))], out, pick(), rng.NormFloat64()*3, rng.IntN(2) == 0)
		}
		results = append(results, out)
	}
	// Reductions of results, which evaluate pending ones as they load them.
	var reduced []backend.Buffer
	for _, op := range []backend.ReduceOp{backend.ReduceSum, backend.ReduceMax, backend.ReduceMean} {
		out, err := g.Alloc(backend.Float32, a*b)
		require.NoError(t, err)
		g.Reduce(op, out, backend.Dense(results[rng.IntN(len(results))], a, b, c), 1)
		reduced = append(reduced, out)
	}
	// Some results computed together, as optimizers ask.
	from := rng.IntN(len(results) - 5)
	g.Realize(results[from : from+5]...)
	// In-place updates of a leaf, as optimizers do.
	g.BinaryScalar(backend.Mul, full, backend.Dense(full, n), 0.5, false)
	g.Binary(backend.Add, full, backend.Dense(full, n), backend.Dense(results[len(results)-1], n))
	results = append(results, full)
	var got [][]float32
	for _, r := range append(results, reduced...) {
		data := make([]float32, r.Len())
		require.NoError(t, g.Read(r, data))
		got = append(got, data)
	}
	for _, r := range append(append(results, reduced...), row, col, wide, lhs, rhs, rowExp) {
		g.Free(r)
	}
	return got
}

// TestGPUFusedChainsMatchUnfused: random chains of elementwise ops give the
// same results fused as dispatched op by op, in fewer dispatches: finite
// values within float rounding, NaN as NaN, and infinities as the same
// infinity or NaN (see below).
func TestGPUFusedChainsMatchUnfused(t *testing.T) {
	g := testGPU(t)
	for seed := range uint64(10) {
		before := g.Stats().Dispatches
		want := runChain(t, g, false, seed)
		unfused := g.Stats().Dispatches - before
		before = g.Stats().Dispatches
		got := runChain(t, g, true, seed)
		fused := g.Stats().Dispatches - before
		assert.Less(t, fused, unfused, "seed %d: fusion saves dispatches", seed)
		for r := range want {
			for i := range want[r] {
				w, v := float64(want[r][i]), float64(got[r][i])
				switch {
				case math.IsNaN(w) || math.IsInf(w, 0):
					// The shader compiler may simplify across ops the
					// fused kernel brings together (log(1/x) to -log(x)),
					// which can turn an infinity into NaN at the edges.
					require.True(t, math.IsNaN(v) || v == w, "seed %d result %d[%d] = %v, want %v", seed, r, i, v, w)
				default:
					require.InDelta(t, w, v, 1e-5*max(1, math.Abs(w)), "seed %d result %d[%d]", seed, r, i)
				}
			}
		}
	}
}

// TestGPURealizeComputesTogether: values realized together share a
// kernel, which computes a node they share once: values of one shape, and
// dense values of any shapes; a value of another shape that reads a
// broadcast view takes its own. Reading them afterwards dispatches nothing.
func TestGPURealizeComputesTogether(t *testing.T) {
	g := testGPU(t)
	alloc := func(data ...float32) backend.Buffer {
		b, err := g.Alloc(backend.Float32, len(data))
		require.NoError(t, err)
		if len(data) > 0 && data[0] != 0 {
			require.NoError(t, g.Write(b, data))
		}
		return b
	}
	x, y, z := alloc(1, 2, 3), alloc(4, 5, 6), alloc(1, 2)
	m, v, p, q, r := alloc(0, 0, 0), alloc(0, 0, 0), alloc(0, 0, 0), alloc(0, 0), alloc(0, 0, 0, 0)
	record := func() {
		g.BinaryScalar(backend.Mul, m, backend.Dense(x, 3), 2, false)      // m = 2x
		g.Binary(backend.Mul, v, backend.Dense(y, 3), backend.Dense(y, 3)) // v = y²
		g.Binary(backend.Add, p, backend.Dense(m, 3), backend.Dense(v, 3)) // p = m + v, taking both in
		g.Unary(backend.Neg, q, backend.Dense(z, 2))                       // another shape, dense
		g.Unary(backend.Neg, r, backend.View{Buf: z, Shape: []int{2, 2}, Strides: []int{0, 1}})
	}
	record()
	require.NoError(t, g.Sync())
	before := g.Stats().Dispatches
	record()
	g.Realize(m, v, p, q, r)
	assert.Equal(t, int64(2), g.Stats().Dispatches-before, "m, v, p and q in one kernel, r in another")
	read := func(b backend.Buffer) []float32 {
		out := make([]float32, b.Len())
		require.NoError(t, g.Read(b, out))
		return out
	}
	assert.Equal(t, []float32{2, 4, 6}, read(m))
	assert.Equal(t, []float32{16, 25, 36}, read(v))
	assert.Equal(t, []float32{18, 29, 42}, read(p))
	assert.Equal(t, []float32{-1, -2}, read(q))
	assert.Equal(t, []float32{-1, -2, -1, -2}, read(r))
	assert.Equal(t, int64(2), g.Stats().Dispatches-before, "nothing left to compute")
	for _, b := range []backend.Buffer{x, y, z, m, v, p, q, r} {
		g.Free(b)
	}
}

// TestGPURealizeSeparatesFarLengthsOnSoftware: dense values of different
// lengths share a kernel, except on a software adapter when their lengths
// differ by more than softwareClusterSlack (it would run the shorter
// value's code, masked, for every thread of the longer).
func TestGPURealizeSeparatesFarLengthsOnSoftware(t *testing.T) {
	g := testGPU(t)
	for _, tt := range []struct {
		name        string
		short, long int
		software    int64 // kernels on a software adapter
	}{
		{"near", 8, 8 + softwareClusterSlack, 1},
		{"far", 8, 9 + softwareClusterSlack, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var bufs []backend.Buffer
			for _, n := range []int{tt.short, tt.long} {
				x, err := g.Alloc(backend.Float32, n)
				require.NoError(t, err)
				y, err := g.Alloc(backend.Float32, n)
				require.NoError(t, err)
				data := make([]float32, n)
				for i := range data {
					data[i] = float32(i)
				}
				require.NoError(t, g.Write(x, data))
				bufs = append(bufs, x, y)
			}
			defer func() {
				for _, b := range bufs {
					g.Free(b)
				}
			}()
			require.NoError(t, g.Sync())
			before := g.Stats().Dispatches
			g.BinaryScalar(backend.Mul, bufs[1], backend.Dense(bufs[0], tt.short), 2, false)
			g.BinaryScalar(backend.Mul, bufs[3], backend.Dense(bufs[2], tt.long), 3, false)
			g.Realize(bufs[1], bufs[3])
			want := int64(1)
			if g.software {
				want = tt.software
			}
			assert.Equal(t, want, g.Stats().Dispatches-before)
			got := make([]float32, tt.long)
			require.NoError(t, g.Read(bufs[3], got))
			assert.Equal(t, float32(3*(tt.long-1)), got[tt.long-1])
			require.NoError(t, g.Read(bufs[1], got[:tt.short]))
			assert.Equal(t, float32(2*(tt.short-1)), got[tt.short-1])
		})
	}
}

// TestGPUReduceTakesPendingInput: a reduction of a pending value evaluates
// its expression as it loads it, in its one kernel, and the value stays
// pending for other readers; a product with ops after it is one kernel,
// and so is a reduction.
func TestGPUReduceTakesPendingInput(t *testing.T) {
	g := testGPU(t)
	x, err := g.Alloc(backend.Float32, 6)
	require.NoError(t, err)
	require.NoError(t, g.Write(x, []float32{1, 2, 3, 4, 5, 6}))
	sq, sum, prod, relu := allocFloats(t, g, 6), allocFloats(t, g, 2), allocFloats(t, g, 4), allocFloats(t, g, 4)
	require.NoError(t, g.Sync())
	before := g.Stats().Dispatches
	g.Binary(backend.Mul, sq, backend.Dense(x, 2, 3), backend.Dense(x, 2, 3)) // pending
	g.Reduce(backend.ReduceSum, sum, backend.Dense(sq, 2, 3), 1)
	out := make([]float32, 2)
	require.NoError(t, g.Read(sum, out))
	assert.Equal(t, []float32{14, 77}, out)
	assert.Equal(t, int64(1), g.Stats().Dispatches-before, "the reduction alone")
	full := make([]float32, 6)
	require.NoError(t, g.Read(sq, full))
	assert.Equal(t, []float32{1, 4, 9, 16, 25, 36}, full)

	before = g.Stats().Dispatches
	g.MatMul(prod, backend.Dense(x, 1, 2, 3), backend.View{Buf: x, Shape: []int{1, 3, 2}, Strides: []int{6, 1, 3}}) // x·xᵀ
	g.BinaryScalar(backend.Sub, relu, backend.Dense(prod, 4), 20, false)
	g.Unary(backend.ReLU, relu, backend.Dense(relu, 4))
	got := make([]float32, 4)
	require.NoError(t, g.Read(relu, got))
	assert.Equal(t, []float32{0, 12, 12, 57}, got)
	assert.Equal(t, int64(1), g.Stats().Dispatches-before, "the product with its epilogue")

	before = g.Stats().Dispatches
	g.Reduce(backend.ReduceMax, sum, backend.Dense(x, 2, 3), 1)       // 3, 6
	g.BinaryScalar(backend.Mul, sum, backend.Dense(sum, 2), 2, false) // in place: 6, 12
	g.Unary(backend.Sqrt, sum, backend.Dense(sum, 2))
	require.NoError(t, g.Read(sum, out))
	assert.InDeltaSlice(t, []float32{float32(math.Sqrt(6)), float32(math.Sqrt(12))}, out, 1e-6)
	assert.Equal(t, int64(1), g.Stats().Dispatches-before, "the reduction with its epilogue")
	for _, b := range []backend.Buffer{x, sq, sum, prod, relu} {
		g.Free(b)
	}
}

// TestGPUProductReadsThroughCopy: a product of the contiguous copies of
// head-split views (attention's [B, S, H, D] seen as [B, H, S, D]) reads
// the views themselves, with two batch dimensions, in one kernel; the
// result is the one computed with copies.
func TestGPUProductReadsThroughCopy(t *testing.T) {
	g := testGPU(t)
	const bs, s, h, d = 2, 3, 2, 4
	data := make([]float32, bs*s*h*d)
	for i := range data {
		data[i] = float32(i%7) - 3
	}
	x := allocFloats(t, g, len(data))
	require.NoError(t, g.Write(x, data))
	heads := backend.View{Buf: x, Shape: []int{bs, h, s, d}, Strides: []int{s * h * d, d, h * d, 1}}
	keysT := backend.View{Buf: x, Shape: []int{bs, h, d, s}, Strides: []int{s * h * d, d, 1, h * d}}
	run := func(fuse bool) ([]float32, int64) {
		defer setFusion(g, fuse)()
		require.NoError(t, g.Sync())
		before := g.Stats().Dispatches
		q, kt, out := allocFloats(t, g, len(data)), allocFloats(t, g, len(data)), allocFloats(t, g, bs*h*s*s)
		g.Copy(backend.Dense(q, bs, h, s, d), heads)
		g.Copy(backend.Dense(kt, bs, h, d, s), keysT)
		g.MatMul(out, backend.Dense(q, bs*h, s, d), backend.Dense(kt, bs*h, d, s)) // scores q·kᵀ
		// Heads merged back, [B, S, H, D] as [B·S, H·D], multiplied by
		// its own transpose: rows and columns of two levels each.
		merged, gram := allocFloats(t, g, len(data)), allocFloats(t, g, h*d*h*d)
		g.Copy(backend.Dense(merged, bs, s, h, d), backend.View{Buf: q, Shape: []int{bs, s, h, d}, Strides: []int{h * s * d, d, s * d, 1}})
		g.MatMul(gram, backend.View{Buf: merged, Shape: []int{1, h * d, bs * s}, Strides: []int{0, 1, h * d}}, backend.Dense(merged, 1, bs*s, h*d))
		got := make([]float32, out.Len()+gram.Len())
		require.NoError(t, g.Read(out, got[:out.Len()]))
		require.NoError(t, g.Read(gram, got[out.Len():]))
		n := g.Stats().Dispatches - before
		for _, b := range []backend.Buffer{q, kt, out, merged, gram} {
			g.Free(b)
		}
		return got, n
	}
	want, _ := run(false)
	got, n := run(true)
	assert.Equal(t, want, got)
	// q is computed for merged's copy to read it (a copy of a copy).
	assert.Equal(t, int64(3), n, "the products and q, no other copies")
	g.Free(x)
}

// TestGPUConvolutionTakesEpilogue: a convolution followed by its bias
// (broadcast per channel, every other element of its buffer), a vector
// broadcast over the planes' rows and a ReLU is one kernel, and gives what
// the ops give one by one: with several images, one (whose dimension the
// expression drops), one output channel, groups, and the direct and
// product paths. The bias is loaded at the output channel (rowLeaves), the
// other leaf through at.
func TestGPUConvolutionTakesEpilogue(t *testing.T) {
	g := testGPU(t)
	for _, p := range []backend.Conv2DParams{
		{N: 2, C: 3, H: 5, W: 5, O: 4, KH: 3, KW: 3, OH: 5, OW: 5, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1},
		{N: 1, C: 3, H: 6, W: 5, O: 7, KH: 3, KW: 3, OH: 6, OW: 5, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1},
		{N: 3, C: 2, H: 5, W: 4, O: 1, KH: 3, KW: 3, OH: 5, OW: 4, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1},
		{N: 2, C: 4, H: 5, W: 5, O: 6, KH: 3, KW: 3, OH: 5, OW: 5, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 2},
		// depthwise: the direct kernel (see convDirectEntry)
		{N: 2, C: 4, H: 5, W: 5, O: 4, KH: 3, KW: 3, OH: 3, OW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 4},
		// 1×1: a matrix product (see convPointwise)
		{N: 3, C: 8, H: 5, W: 6, O: 12, KH: 1, KW: 1, OH: 5, OW: 6, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1},
	} {
		t.Run(fmt.Sprintf("%d images %d channels %dx%d groups %d", p.N, p.O, p.KH, p.KW, p.Groups), func(t *testing.T) { convolutionTakesEpilogue(t, g, p) })
	}
}

// convolutionTakesEpilogue is TestGPUConvolutionTakesEpilogue for p.
func convolutionTakesEpilogue(t *testing.T, g *gpuDevice, p backend.Conv2DParams) {
	fill := func(n int, f func(i int) float32) backend.Buffer {
		data := make([]float32, n)
		for i := range data {
			data[i] = f(i)
		}
		b := allocFloats(t, g, n)
		require.NoError(t, g.Write(b, data))
		return b
	}
	x := fill(p.N*p.C*p.H*p.W, func(i int) float32 { return float32(i%7) - 3 })
	w := fill(p.O*p.C/p.Groups*p.KH*p.KW, func(i int) float32 { return float32(i%5)/4 - 0.5 })
	bias := fill(2*p.O, func(i int) float32 { return float32(i) - 1.5 })
	rows := fill(p.OH, func(i int) float32 { return float32(i%3) - 0.75 })
	shape := []int{p.N, p.O, p.OH, p.OW}
	want, got, n := fusedAndNot(t, g, p.N*p.O*p.OH*p.OW, func(y, z backend.Buffer) {
		g.Conv2D(y, x, w, p, backend.Epilogue{})
		g.Binary(backend.Add, z, backend.Dense(y, shape...),
			backend.View{Buf: bias, Shape: shape, Strides: []int{0, 2, 0, 0}})
		g.Binary(backend.Add, z, backend.Dense(z, shape...),
			backend.View{Buf: rows, Shape: shape, Strides: []int{0, 0, 1, 0}})
		g.Unary(backend.ReLU, z, backend.Dense(z, shape...))
	})
	assert.InDeltaSlice(t, want, got, 1e-5)
	assert.Equal(t, int64(1), n, "the convolution with its epilogue")
	for _, b := range []backend.Buffer{x, w, bias, rows} {
		g.Free(b)
	}
}

// TestGPUProductTakesLineLeaves: a product followed by the addition of a
// column vector (a linear layer's bias, every other element of its
// buffer), of a row vector and of a full leaf, for one and for two batch
// elements and for a product of three rows (the thin kernel), is one kernel
// and gives what the ops give one by one. The vectors are loaded at the
// stored row and column (rowLeaves), the full leaf through at.
func TestGPUProductTakesLineLeaves(t *testing.T) {
	g := testGPU(t)
	rng := rand.New(rand.NewPCG(21, 22))
	up := func(n int) backend.Buffer {
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.IntN(9)) - 4
		}
		b := allocFloats(t, g, n)
		require.NoError(t, g.Write(b, data))
		return b
	}
	for _, c := range []struct{ batch, m, k, n int }{{1, 37, 19, 45}, {2, 20, 8, 33}, {1, 3, 24, 66}} {
		t.Run(fmt.Sprintf("%dx%dx%dx%d", c.batch, c.m, c.k, c.n), func(t *testing.T) {
			shape := []int{c.batch, c.m, c.n}
			a, b := up(c.batch*c.m*c.k), up(c.batch*c.k*c.n)
			colv, rowv, full := up(2*c.n), up(c.m), up(c.batch*c.m*c.n)
			want, got, n := fusedAndNot(t, g, c.batch*c.m*c.n, func(y, z backend.Buffer) {
				g.MatMul(y, backend.Dense(a, c.batch, c.m, c.k), backend.Dense(b, c.batch, c.k, c.n))
				g.Binary(backend.Add, z, backend.Dense(y, shape...), backend.View{Buf: colv, Shape: shape, Strides: []int{0, 0, 2}})
				g.Binary(backend.Mul, z, backend.Dense(z, shape...), backend.View{Buf: rowv, Shape: shape, Strides: []int{0, 1, 0}})
				g.Binary(backend.Sub, z, backend.Dense(z, shape...), backend.Dense(full, shape...))
			})
			assert.Equal(t, want, got)
			assert.Equal(t, int64(1), n, "the product with its epilogue")
			for _, buf := range []backend.Buffer{a, b, colv, rowv, full} {
				g.Free(buf)
			}
		})
	}
}

// TestChannelStride: which views over a convolution's output (its shape
// as an expression sees it, dimensions of size 1 dropped) read one element
// per output channel, and their stride between channels.
func TestChannelStride(t *testing.T) {
	for _, c := range []struct {
		name           string
		shape, strides []int
		o, plane       int
		stride         int
		ok             bool
	}{
		{"bias", []int{2, 4, 5, 5}, []int{0, 1, 0, 0}, 4, 25, 1, true},
		{"strided bias", []int{2, 4, 5, 5}, []int{0, 3, 0, 0}, 4, 25, 3, true},
		{"one image", []int{4, 5, 5}, []int{1, 0, 0}, 4, 25, 1, true},
		{"plane coalesced", []int{2, 4, 25}, []int{0, 2, 0}, 4, 25, 2, true},
		{"one channel", []int{3, 5, 4}, []int{0, 0, 0}, 1, 20, 0, true},
		{"per image", []int{2, 4, 5, 5}, []int{1, 0, 0, 0}, 4, 25, 0, false},
		{"per position", []int{2, 4, 5, 5}, []int{0, 0, 5, 1}, 4, 25, 0, false},
		{"channel and image", []int{2, 4, 5, 5}, []int{4, 1, 0, 0}, 4, 25, 0, false},
		{"across channels", []int{2, 100}, []int{0, 1}, 4, 25, 0, false},
	} {
		stride, ok := channelStride(c.shape, c.strides, c.o, c.plane)
		assert.Equal(t, c.ok, ok, c.name)
		if c.ok {
			assert.Equal(t, c.stride, stride, c.name)
		}
	}
}

// fusedAndNot runs ops, which write z of size elements from a producer's
// output y, with fusion off and then on, and returns z's values each time
// and the dispatches the fused run made.
func fusedAndNot(t *testing.T, g *gpuDevice, size int, ops func(y, z backend.Buffer)) (want, got []float32, dispatches int64) {
	run := func(fuse bool) ([]float32, int64) {
		defer setFusion(g, fuse)()
		require.NoError(t, g.Sync())
		before := g.Stats().Dispatches
		y, z := allocFloats(t, g, size), allocFloats(t, g, size)
		ops(y, z)
		out := make([]float32, size)
		require.NoError(t, g.Read(z, out))
		g.Free(y)
		g.Free(z)
		return out, g.Stats().Dispatches - before
	}
	want, _ = run(false)
	got, dispatches = run(true)
	return want, got, dispatches
}

// allocFloats allocates n float32 elements.
func allocFloats(t *testing.T, g *gpuDevice, n int) backend.Buffer {
	b, err := g.Alloc(backend.Float32, n)
	require.NoError(t, err)
	return b
}

// TestGPUFusionKeepsOrder: a pending value reads its leaves as they were
// when its ops were called, whatever happens to them afterwards: a host
// write, an op writing them in place, a kernel writing them, or freeing
// them.
func TestGPUFusionKeepsOrder(t *testing.T) {
	g := testGPU(t)
	up := func(v ...float32) backend.Buffer {
		b, err := g.Alloc(backend.Float32, len(v))
		require.NoError(t, err)
		require.NoError(t, g.Write(b, v))
		return b
	}
	read := func(b backend.Buffer) []float32 {
		out := make([]float32, b.Len())
		require.NoError(t, g.Read(b, out))
		return out
	}
	x := up(1, 2, 3)
	y, err := g.Alloc(backend.Float32, 3)
	require.NoError(t, err)
	g.BinaryScalar(backend.Mul, y, backend.Dense(x, 3), 10, false) // pending, reads x
	require.NoError(t, g.Write(x, []float32{7, 7, 7}))
	assert.Equal(t, []float32{10, 20, 30}, read(y), "computed before the host write")

	z, err := g.Alloc(backend.Float32, 3)
	require.NoError(t, err)
	g.BinaryScalar(backend.Add, z, backend.Dense(x, 3), 1, false) // z = x + 1 = 8
	g.Copy(backend.Dense(x, 3), backend.Dense(y, 3))              // a kernel overwrites x
	g.BinaryScalar(backend.Mul, x, backend.Dense(x, 3), 2, false) // x = 2·y = 20, 40, 60 (pending, in place)
	assert.Equal(t, []float32{8, 8, 8}, read(z), "z read x before the copy")
	assert.Equal(t, []float32{20, 40, 60}, read(x))

	w, err := g.Alloc(backend.Float32, 3)
	require.NoError(t, err)
	g.Unary(backend.Neg, w, backend.Dense(z, 3))
	g.Free(z)            // w still needs z's values
	other := up(5, 5, 5) // may reuse z's memory
	assert.Equal(t, []float32{-8, -8, -8}, read(w))
	assert.Equal(t, []float32{5, 5, 5}, read(other))
	for _, b := range []backend.Buffer{x, y, w, other} {
		g.Free(b)
	}
}

// TestGPUFusionBoundsLeaves: a chain over more distinct views than one
// kernel binds (ten offsets into one buffer) is computed in several
// kernels, correctly, and the device keeps working.
func TestGPUFusionBoundsLeaves(t *testing.T) {
	g := testGPU(t)
	views := g.fuseBindings + 3 // more than one kernel binds
	data := make([]float32, views+10)
	for i := range data {
		data[i] = float32(i)
	}
	x, err := g.Alloc(backend.Float32, len(data))
	require.NoError(t, err)
	require.NoError(t, g.Write(x, data))
	acc, err := g.Alloc(backend.Float32, 10)
	require.NoError(t, err)
	g.Unary(backend.Neg, acc, backend.View{Buf: x, Shape: []int{10}, Strides: []int{1}})
	before := g.Stats().Dispatches
	for off := 1; off < views; off++ {
		next, err := g.Alloc(backend.Float32, 10)
		require.NoError(t, err)
		g.Binary(backend.Add, next, backend.Dense(acc, 10), backend.View{Buf: x, Offset: off, Shape: []int{10}, Strides: []int{1}})
		acc = next
	}
	got := make([]float32, 10)
	require.NoError(t, g.Read(acc, got))
	assert.Greater(t, g.Stats().Dispatches-before, int64(1), "the chain is cut")
	for i, v := range got {
		want := float32(-i)
		for off := 1; off < views; off++ {
			want += float32(i + off)
		}
		assert.Equal(t, want, v, "element %d", i)
	}
	require.NoError(t, g.Sync())
}

// TestFusedKernelLoadsDenseLeavesDirectly: a kernel addresses a leaf that
// is a contiguous view as large as its iteration space by the linear index
// (no divisions); a transposed, broadcast or smaller leaf goes through at.
func TestFusedKernelLoadsDenseLeavesDirectly(t *testing.T) {
	var buf gpuBuffer
	leaf := func(shape, strides []int, offset int) *ewNode {
		return &ewNode{leaf: &backend.View{Buf: &buf, Shape: shape, Strides: strides, Offset: offset}, own: true, t: "f32"}
	}
	add := binaryFn(backend.Add, backend.Float32)
	tests := []struct {
		name  string
		leaf  *ewNode
		dense bool
	}{
		{"contiguous", leaf([]int{4, 6}, []int{6, 1}, 0), true},
		{"contiguous at an offset", leaf([]int{4, 6}, []int{6, 1}, 12), true},
		{"size-1 dimension", leaf([]int{4, 1, 6}, []int{6, 99, 1}, 0), true},
		{"transposed", leaf([]int{4, 6}, []int{1, 4}, 0), false},
		{"broadcast rows", leaf([]int{4, 6}, []int{0, 1}, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := leaf([]int{4, 6}, []int{6, 1}, 0)
			root := &ewNode{fn: add, kids: []*ewNode{x, tt.leaf}, t: "f32", nodes: 1}
			k := fusedKernel([]*ewPending{{shape: []int{4, 6}, root: root}}, 1)
			loads := k.spec["Clusters"].([]fusedCluster)[0].Loads
			require.Len(t, loads, 2)
			assert.True(t, loads[0].Dense)
			assert.Equal(t, tt.dense, loads[1].Dense)
		})
	}
}

// TestGPUIndexDivision: the kernels' index arithmetic (divmod, which
// divides by a float reciprocal below 2^23) finds every element of views
// whose iteration space crosses 2^23 elements, through the elementwise
// kernels' offsets (a copy, unfused) and the fused kernels' leaves (a
// negation, fused), in both orders of two uneven dimensions.
func TestGPUIndexDivision(t *testing.T) {
	g := testGPU(t)
	for _, dims := range [][2]int{{3, 2796203}, {2796203, 3}, {4099, 2047}} {
		a, b := dims[0], dims[1]
		n := a * b
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i)
		}
		x, err := g.Alloc(backend.Float32, n)
		require.NoError(t, err)
		require.NoError(t, g.Write(x, src))
		out, err := g.Alloc(backend.Float32, n)
		require.NoError(t, err)
		transposed := backend.View{Buf: x, Shape: []int{a, b}, Strides: []int{1, a}}
		for _, fuse := range []bool{false, true} {
			restore := setFusion(g, fuse)
			sign := float32(1)
			if fuse {
				g.Unary(backend.Neg, out, transposed)
				sign = -1
			} else {
				g.Copy(backend.Dense(out, a, b), transposed)
			}
			got := make([]float32, n)
			require.NoError(t, g.Read(out, got))
			restore()
			for i := range a {
				for j := range b {
					if want := sign * float32(j*a+i); got[i*b+j] != want {
						t.Fatalf("%d×%d fused=%v: element (%d, %d) is %v, want %v", a, b, fuse, i, j, got[i*b+j], want)
					}
				}
			}
		}
		g.Free(x)
		g.Free(out)
	}
}

// TestGPUSoftmaxTakesPrologue: a softmax of an elementwise chain (a scale
// and a bias broadcast over the rows, with NaN and ±Inf among the inputs)
// evaluates the chain as it reads its input, one kernel in all, and gives
// what the ops give one by one, for short and long rows and log-softmax.
func TestGPUSoftmaxTakesPrologue(t *testing.T) {
	g := testGPU(t)
	for _, cols := range []int{7, 300} {
		for _, log := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d columns, log %v", cols, log), func(t *testing.T) {
				rows := 5
				data := make([]float32, rows*cols)
				for i := range data {
					data[i] = float32(i%11) - 4
				}
				data[3] = float32(math.NaN())
				data[cols+1] = float32(math.Inf(1))
				data[2*cols+2] = float32(math.Inf(-1))
				x, bias := allocFloats(t, g, rows*cols), allocFloats(t, g, cols)
				require.NoError(t, g.Write(x, data))
				bv := make([]float32, cols)
				for j := range bv {
					bv[j] = float32(j%3) * 0.5
				}
				require.NoError(t, g.Write(bias, bv))
				run := func(fuse bool) ([]float32, int64) {
					defer setFusion(g, fuse)()
					require.NoError(t, g.Sync())
					before := g.Stats().Dispatches
					z, y := allocFloats(t, g, rows*cols), allocFloats(t, g, rows*cols)
					shape := []int{rows, cols}
					g.BinaryScalar(backend.Mul, z, backend.Dense(x, shape...), 0.5, false)
					g.Binary(backend.Add, z, backend.Dense(z, shape...), backend.View{Buf: bias, Shape: shape, Strides: []int{0, 1}})
					g.Softmax(y, z, rows, cols, log)
					got := make([]float32, rows*cols)
					require.NoError(t, g.Read(y, got))
					g.Free(z)
					g.Free(y)
					return got, g.Stats().Dispatches - before
				}
				want, n := run(false)
				assert.Equal(t, int64(3), n, "unfused: the scale, the bias, the softmax")
				got, n := run(true)
				assert.Equal(t, int64(1), n, "the softmax with its prologue")
				require.Len(t, got, len(want))
				for i := range want {
					if math.IsNaN(float64(want[i])) {
						assert.True(t, math.IsNaN(float64(got[i])), "y[%d] = %v, want NaN", i, got[i])
						continue
					}
					assert.InDelta(t, want[i], got[i], 1e-6, "y[%d]", i)
				}
				g.Free(x)
				g.Free(bias)
			})
		}
	}
}
