//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/cpu"
)

// windowCase runs ops on a device and returns the buffers to compare.
type windowCase struct {
	name string
	run  func(h *windowHarness) []backend.Buffer
}

// windowHarness makes the same deterministic inputs on any device.
type windowHarness struct {
	t   *testing.T
	d   backend.Device
	rng *rand.Rand
}

func (h *windowHarness) rand(n int) backend.Buffer {
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(h.rng.NormFloat64())
	}
	return h.up(data)
}

func (h *windowHarness) up(data any) backend.Buffer {
	h.t.Helper()
	var b backend.Buffer
	var err error
	switch v := data.(type) {
	case []float32:
		b, err = h.d.Alloc(backend.Float32, len(v))
	case []int32:
		b, err = h.d.Alloc(backend.Int32, len(v))
	}
	require.NoError(h.t, err)
	require.NoError(h.t, h.d.Write(b, data))
	return b
}

func (h *windowHarness) out(dt backend.DType, n int) backend.Buffer {
	h.t.Helper()
	b, err := h.d.Alloc(dt, n)
	require.NoError(h.t, err)
	h.d.Fill(b, 7)
	return b
}

func (h *windowHarness) read(b backend.Buffer) []float32 {
	h.t.Helper()
	out := make([]float32, b.Len())
	if b.DType() == backend.Int32 {
		ints := make([]int32, b.Len())
		require.NoError(h.t, h.d.Read(b, ints))
		for i, v := range ints {
			out[i] = float32(v)
		}
		return out
	}
	require.NoError(h.t, h.d.Read(b, out))
	return out
}

func view(b backend.Buffer, offset int, shape, strides []int) backend.View {
	return backend.View{Buf: b, Offset: offset, Shape: shape, Strides: strides}
}

// windowCases cover every kernel that splits its work when an operand is
// larger than one binding: with a binding of 4 KiB (1024 elements) each
// of them runs in several parts.
var windowCases = []windowCase{
	{"unary", func(h *windowHarness) []backend.Buffer {
		x, y := h.rand(5000), h.out(backend.Float32, 5000)
		h.d.Unary(backend.Exp, y, backend.Dense(x, 5000))
		return []backend.Buffer{y}
	}},
	{"binary broadcast", func(h *windowHarness) []backend.Buffer {
		a, b, y := h.rand(40*300), h.rand(300), h.out(backend.Float32, 40*300)
		h.d.Binary(backend.Sub, y, backend.Dense(a, 40, 300), view(b, 0, []int{40, 300}, []int{0, 1}))
		return []backend.Buffer{y}
	}},
	{"binary transposed", func(h *windowHarness) []backend.Buffer {
		a, b, y := h.rand(40*300), h.rand(300*40), h.out(backend.Float32, 40*300)
		h.d.Binary(backend.Mul, y, view(a, 0, []int{40, 300}, []int{1, 40}), backend.Dense(b, 40, 300))
		return []backend.Buffer{y}
	}},
	{"scalar in place", func(h *windowHarness) []backend.Buffer {
		x := h.rand(6000)
		h.d.BinaryScalar(backend.Mul, x, backend.Dense(x, 6000), 3, false)
		h.d.BinaryScalar(backend.Sub, x, backend.Dense(x, 6000), 1, true)
		return []backend.Buffer{x}
	}},
	{"where", func(h *windowHarness) []backend.Buffer {
		c, a, b, y := h.rand(300), h.rand(30*300), h.rand(30), h.out(backend.Float32, 30*300)
		cond := h.out(backend.Float32, 300)
		h.d.BinaryScalar(backend.Gt, cond, backend.Dense(c, 300), 0, false)
		h.d.Where(y, view(cond, 0, []int{30, 300}, []int{0, 1}), backend.Dense(a, 30, 300), view(b, 0, []int{30, 300}, []int{1, 0}))
		return []backend.Buffer{y}
	}},
	{"copy strided", func(h *windowHarness) []backend.Buffer {
		x, y := h.rand(70*90), h.out(backend.Float32, 2*70*90+5)
		h.d.Copy(view(y, 5, []int{90, 70}, []int{140, 2}), view(x, 0, []int{90, 70}, []int{1, 90}))
		return []backend.Buffer{y}
	}},
	{"copy int to float", func(h *windowHarness) []backend.Buffer {
		ints := make([]int32, 3000)
		for i := range ints {
			ints[i] = int32(i*7 - 5000)
		}
		x, y := h.up(ints), h.out(backend.Float32, 3000)
		h.d.Copy(backend.Dense(y, 3000), backend.Dense(x, 3000))
		return []backend.Buffer{y}
	}},
	{"reduce rows", func(h *windowHarness) []backend.Buffer {
		x := h.rand(50 * 400)
		sum, mx, mean := h.out(backend.Float32, 50), h.out(backend.Float32, 50), h.out(backend.Float32, 400)
		h.d.Reduce(backend.ReduceSum, sum, backend.Dense(x, 50, 400), 1)
		h.d.Reduce(backend.ReduceMax, mx, backend.Dense(x, 50, 400), 1)
		h.d.Reduce(backend.ReduceMean, mean, view(x, 0, []int{400, 50}, []int{1, 400}), 1) // strided: over the rows
		return []backend.Buffer{sum, mx, mean}
	}},
	{"reduce long rows", func(h *windowHarness) []backend.Buffer {
		x := h.rand(3 * 30000)
		all, rows, mn := h.out(backend.Float32, 1), h.out(backend.Float32, 3), h.out(backend.Float32, 3)
		h.d.Reduce(backend.ReduceMean, all, backend.Dense(x, 3*30000), 1)
		h.d.Reduce(backend.ReduceSum, rows, backend.Dense(x, 3, 30000), 1)
		h.d.Reduce(backend.ReduceMin, mn, backend.Dense(x, 3, 30000), 1)
		return []backend.Buffer{all, rows, mn}
	}},
	{"reduce into a large output", func(h *windowHarness) []backend.Buffer {
		x, y := h.rand(3000*3), h.out(backend.Float32, 3000)
		h.d.Reduce(backend.ReduceSum, y, backend.Dense(x, 3000, 3), 1)
		return []backend.Buffer{y}
	}},
	{"argmax", func(h *windowHarness) []backend.Buffer {
		x, y, z := h.rand(60*500), h.out(backend.Int32, 60), h.out(backend.Int32, 500)
		h.d.ArgReduce(backend.ReduceMax, y, backend.Dense(x, 60, 500))
		h.d.ArgReduce(backend.ReduceMin, z, view(x, 0, []int{500, 60}, []int{1, 500}))
		return []backend.Buffer{y, z}
	}},
	{"softmax", func(h *windowHarness) []backend.Buffer {
		x, y, z := h.rand(30*700), h.out(backend.Float32, 30*700), h.out(backend.Float32, 30*700)
		h.d.Softmax(y, x, 30, 700, false)
		h.d.Softmax(z, x, 30, 700, true)
		short := h.out(backend.Float32, 30*700)
		h.d.Softmax(short, x, 700, 30, false) // a thread per row
		return []backend.Buffer{y, z, short}
	}},
	{"matmul", func(h *windowHarness) []backend.Buffer {
		a, b, c := h.rand(200*300), h.rand(300*150), h.out(backend.Float32, 200*150)
		h.d.MatMul(c, backend.Dense(a, 1, 200, 300), backend.Dense(b, 1, 300, 150))
		return []backend.Buffer{c}
	}},
	{"matmul transposed", func(h *windowHarness) []backend.Buffer {
		// a @ bᵀ with b [N, K], as a tied output layer reads its embedding.
		a, b, c := h.rand(6*64), h.rand(3000*64), h.out(backend.Float32, 6*3000)
		h.d.MatMul(c, backend.Dense(a, 1, 6, 64), view(b, 0, []int{1, 64, 3000}, []int{0, 1, 64}))
		return []backend.Buffer{c}
	}},
	{"matmul batched long K", func(h *windowHarness) []backend.Buffer {
		a, b, c := h.rand(3*8*5000), h.rand(3*5000*4), h.out(backend.Float32, 3*8*4)
		h.d.MatMul(c, backend.Dense(a, 3, 8, 5000), backend.Dense(b, 3, 5000, 4))
		return []backend.Buffer{c}
	}},
	{"index", func(h *windowHarness) []backend.Buffer {
		table := h.rand(2000 * 16)
		ids := make([]int32, 50)
		for i := range ids {
			ids[i] = int32((i * 397) % 2000)
		}
		ids[7] = ids[3] // a repeat
		idx := h.up(ids)
		sh := backend.GatherShape{Outer: 1, N: 2000, M: 50, Inner: 16}
		rows, grad := h.out(backend.Float32, 50*16), h.out(backend.Float32, 2000*16)
		h.d.IndexSelect(rows, table, idx, sh)
		h.d.Fill(grad, 0)
		h.d.IndexAdd(grad, idx, rows, sh)
		return []backend.Buffer{rows, grad}
	}},
	{"gather and scatter", func(h *windowHarness) []backend.Buffer {
		x := h.rand(4 * 600 * 3)
		ids := make([]int32, 4*20*3)
		for i := range ids {
			ids[i] = int32((i * 131) % 600)
		}
		idx := h.up(ids)
		sh := backend.GatherShape{Outer: 4, N: 600, M: 20, Inner: 3}
		y, back := h.out(backend.Float32, 4*20*3), h.out(backend.Float32, 4*600*3)
		h.d.Gather(y, x, idx, sh)
		h.d.Fill(back, 1)
		h.d.ScatterAdd(back, idx, y, sh)
		return []backend.Buffer{y, back}
	}},
	{"pooling", func(h *windowHarness) []backend.Buffer {
		p := backend.Pool2DParams{N: 6, C: 5, H: 12, W: 12, KH: 3, KW: 3, OH: 6, OW: 6, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
		x, dy := h.rand(6*5*144), h.rand(6*5*36)
		y, idx, dx := h.out(backend.Float32, 6*5*36), h.out(backend.Int32, 6*5*36), h.out(backend.Float32, 6*5*144)
		avg, davg := h.out(backend.Float32, 6*5*36), h.out(backend.Float32, 6*5*144)
		h.d.MaxPool2D(y, idx, x, p)
		h.d.MaxPool2DGrad(dx, dy, idx, p)
		h.d.AvgPool2D(avg, x, p)
		h.d.AvgPool2DGrad(davg, dy, p)
		// Windows that tile the input: max_backward_tiled.
		q := backend.Pool2DParams{N: 6, C: 5, H: 12, W: 12, KH: 2, KW: 2, OH: 6, OW: 6, StrideH: 2, StrideW: 2}
		y2, idx2, dx2 := h.out(backend.Float32, 6*5*36), h.out(backend.Int32, 6*5*36), h.out(backend.Float32, 6*5*144)
		h.d.MaxPool2D(y2, idx2, x, q)
		h.d.MaxPool2DGrad(dx2, dy, idx2, q)
		return []backend.Buffer{y, idx, dx, avg, davg, y2, idx2, dx2}
	}},
	{"conv2d", func(h *windowHarness) []backend.Buffer {
		p := backend.Conv2DParams{N: 12, C: 3, H: 10, W: 10, O: 4, KH: 3, KW: 3, OH: 8, OW: 8,
			StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}
		x, w, bias := h.rand(12*3*100), h.rand(4*3*9), h.rand(4)
		res, dy := h.rand(12*4*64), h.rand(12*4*64)
		y, dx, dw := h.out(backend.Float32, 12*4*64), h.out(backend.Float32, 12*3*100), h.out(backend.Float32, 4*3*9)
		h.d.Conv2D(y, x, w, p, backend.Epilogue{Bias: bias, Residual: res, Clamp: true, Lo: -1, Hi: 2})
		h.d.Conv2DInputGrad(dx, dy, w, p)
		h.d.Conv2DWeightGrad(dw, x, dy, p)
		return []backend.Buffer{y, dx, dw}
	}},
	{"depthwise conv2d", func(h *windowHarness) []backend.Buffer { // the direct kernels
		p := backend.Conv2DParams{N: 12, C: 4, H: 10, W: 10, O: 8, KH: 3, KW: 3, OH: 5, OW: 5,
			StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 4}
		x, w, bias := h.rand(12*4*100), h.rand(8*9), h.rand(8)
		dy := h.rand(12 * 8 * 25)
		y, dx, dw := h.out(backend.Float32, 12*8*25), h.out(backend.Float32, 12*4*100), h.out(backend.Float32, 8*9)
		h.d.Conv2D(y, x, w, p, backend.Epilogue{Bias: bias, Clamp: true, Lo: -1, Hi: 2})
		h.d.Conv2DInputGrad(dx, dy, w, p)
		h.d.Conv2DWeightGrad(dw, x, dy, p)
		return []backend.Buffer{y, dx, dw}
	}},
	{"pointwise conv2d", func(h *windowHarness) []backend.Buffer { // a matrix product
		p := backend.Conv2DParams{N: 12, C: 6, H: 8, W: 8, O: 5, KH: 1, KW: 1, OH: 8, OW: 8,
			StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}
		x, w, res, dy := h.rand(12*6*64), h.rand(5*6), h.rand(12*5*64), h.rand(12*5*64)
		y, dx := h.out(backend.Float32, 12*5*64), h.out(backend.Float32, 12*6*64)
		h.d.Conv2D(y, x, w, p, backend.Epilogue{Residual: res})
		h.d.Conv2DInputGrad(dx, dy, w, p)
		return []backend.Buffer{y, dx}
	}},
}

// TestGPUSplitsLargeOperands runs every kernel that splits its work with
// a binding limit of 4 KiB, so that each takes its split path on small
// tensors, and compares the results with the CPU's.
func TestGPUSplitsLargeOperands(t *testing.T) {
	g := testGPU(t)
	lowerBindLimit(t, g, 4096)
	for _, c := range windowCases {
		t.Run(c.name, func(t *testing.T) {
			want := c.run(&windowHarness{t: t, d: cpu.Default(), rng: rand.New(rand.NewPCG(3, 4))})
			h := &windowHarness{t: t, d: g, rng: rand.New(rand.NewPCG(3, 4))}
			dispatches := g.Stats().Dispatches
			got := c.run(h)
			require.Len(t, got, len(want))
			for i := range got {
				w := (&windowHarness{t: t, d: cpu.Default()}).read(want[i])
				requireNear(t, h.read(got[i]), w)
			}
			assert.Greater(t, g.Stats().Dispatches-dispatches, int64(2*len(got)), "the work was split")
		})
	}
}

// requireNear fails unless got and want agree to float32 rounding.
func requireNear(t *testing.T, got, want []float32) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range got {
		d := float64(got[i] - want[i])
		if d < 0 {
			d = -d
		}
		w := float64(want[i])
		if w < 0 {
			w = -w
		}
		if d > 1e-4+1e-4*w {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestGPUSplitIndexErrors: an index out of range is reported by a split
// index op as by a whole one, and the invalid rows read as zeros.
func TestGPUSplitIndexErrors(t *testing.T) {
	g := testGPU(t)
	lowerBindLimit(t, g, 4096)
	h := &windowHarness{t: t, d: g, rng: rand.New(rand.NewPCG(5, 6))}
	table := h.rand(3000 * 4)
	idx := h.up([]int32{5, 2999, 3000, 1})
	rows := h.out(backend.Float32, 16)
	g.IndexSelect(rows, table, idx, backend.GatherShape{Outer: 1, N: 3000, M: 4, Inner: 4})
	err := g.Sync()
	require.Error(t, err)
	assert.ErrorContains(t, err, "3000")
	require.NoError(t, g.Sync(), "the error is reported once and the device works")
	got := h.read(rows)
	assert.Equal(t, []float32{0, 0, 0, 0}, got[8:12])
}

// lowerBindLimit makes g bind at most limit bytes at a time until the test
// ends, so that small tensors take the split paths.
func lowerBindLimit(t *testing.T, g *gpuDevice, limit uint64) {
	g.mu.Lock()
	saved := g.bindLimit
	g.bindLimit = limit
	g.mu.Unlock()
	t.Cleanup(func() {
		g.mu.Lock()
		g.bindLimit = saved
		g.mu.Unlock()
	})
}
