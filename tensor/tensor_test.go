package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

func data(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Data()
	require.NoError(t, err)
	return v
}

func TestCreation(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			assert.Equal(t, []float32{0, 0, 0, 0, 0, 0}, data(t, tensor.Zeros(dev, 2, 3)))
			assert.Equal(t, []float32{1, 1}, data(t, tensor.Ones(dev, 2)))
			assert.Equal(t, []float32{2.5, 2.5, 2.5}, data(t, tensor.Full(dev, 2.5, 3)))
			ints, err := tensor.Arange(dev, tensor.Int32, 1, 10, 3).Ints()
			require.NoError(t, err)
			assert.Equal(t, []int32{1, 4, 7}, ints)
			assert.Equal(t, []float32{0, 0.5, 1, 1.5}, data(t, tensor.Arange(dev, tensor.Float32, 0, 2, 0.5)))

			s := tensor.Scalar(dev, 4)
			assert.Equal(t, 0, s.Dim())
			v, err := s.Item()
			require.NoError(t, err)
			assert.Equal(t, float32(4), v)
			_, err = tensor.Zeros(dev, 2).Item()
			assert.ErrorContains(t, err, "2 elements, not 1")

			// The same seed gives the same numbers on every device.
			a := data(t, tensor.Randn(dev, tensor.NewRNG(3), 5))
			b := data(t, tensor.Randn(device.CPU(), tensor.NewRNG(3), 5))
			assert.Equal(t, b, a)
			u := data(t, tensor.Rand(dev, tensor.NewRNG(4), 1000))
			for _, x := range u {
				require.True(t, x >= 0 && x < 1, "Rand value %v outside [0, 1)", x)
			}
			r, err := tensor.RandInt(dev, tensor.NewRNG(5), 3, 6, 100).Ints()
			require.NoError(t, err)
			for _, x := range r {
				require.True(t, x >= 3 && x < 6, "RandInt value %v outside [3, 6)", x)
			}
		})
	}
}

func TestViewsShareMemory(t *testing.T) {
	dev := device.CPU()
	x := tensor.New(dev, []float32{0, 1, 2, 3, 4, 5}, 2, 3)

	tr := x.T()
	assert.Equal(t, []int{3, 2}, tr.Shape())
	assert.Equal(t, []int{1, 3}, tr.Strides())
	assert.False(t, tr.IsContiguous())
	assert.Equal(t, []float32{0, 3, 1, 4, 2, 5}, data(t, tr))

	// A reshape of a contiguous tensor is a view: same strides pattern, no copy.
	r := x.Reshape(3, -1)
	assert.Equal(t, []int{3, 2}, r.Shape())
	assert.Equal(t, []int{2, 1}, r.Strides())

	// Reshaping a transposed tensor must copy.
	rc := tr.Reshape(6)
	assert.Equal(t, []float32{0, 3, 1, 4, 2, 5}, data(t, rc))

	n := x.Narrow(1, 1, 2)
	assert.Equal(t, []int{3, 1}, n.Strides())
	assert.Equal(t, []float32{1, 2, 4, 5}, data(t, n))
	assert.Equal(t, []float32{4, 5}, data(t, x.Select(0, -1).Slice(0, 1, 100)))

	e := tensor.New(dev, []float32{7, 8}, 2, 1).Expand(2, 3)
	assert.Equal(t, []int{1, 0}, e.Strides())
	assert.Equal(t, []float32{7, 7, 7, 8, 8, 8}, data(t, e))

	u := x.Unsqueeze(0).Unsqueeze(-1)
	assert.Equal(t, []int{1, 2, 3, 1}, u.Shape())
	assert.Equal(t, []int{2, 3}, u.Squeeze().Shape())
	assert.Equal(t, []int{1, 2, 3}, u.Squeeze(3).Shape())
	assert.Equal(t, []int{6}, u.Flatten(0, -1).Shape())
	assert.Equal(t, []int{3, 2}, x.Permute(1, 0).Shape())

	parts := tensor.Arange(dev, tensor.Float32, 0, 7, 1).Split(3, 0)
	require.Len(t, parts, 3)
	assert.Equal(t, []float32{6}, data(t, parts[2]))
	assert.Len(t, tensor.Zeros(dev, 10).Chunk(3, 0), 3)
}

func TestPanicsNameOpAndShapes(t *testing.T) {
	dev := device.CPU()
	a, b := tensor.Zeros(dev, 2, 3), tensor.Zeros(dev, 4, 5)
	var y *tensor.Tensor
	err := tensor.Maybe(func() { y = a.MatMul(b) })
	require.Error(t, err)
	assert.Nil(t, y)
	assert.Equal(t, "tensor: MatMul: shapes [2 3] and [4 5] do not fit", err.Error())

	cases := map[string]func(){
		"tensor: Add: shapes [2 3] and [4 5] do not broadcast":        func() { a.Add(b) },
		"tensor: Reshape: cannot reshape [2 3] (6 elements) into [4]": func() { a.Reshape(4) },
		"tensor: Sum: axis 2 out of range for 2 dimensions":           func() { a.Sum(2) },
		"tensor: New: shape [2 2] holds 4 elements, data has 3":       func() { tensor.New(dev, []float32{1, 2, 3}, 2, 2) },
		"tensor: Max: cannot reduce the empty axis 1 of shape [2 0]":  func() { tensor.Zeros(dev, 2, 0).Max(1) },
		"tensor: Conv2D: input [1 3 5 5] and weight [2 4 3 3] do not fit: weight needs 3 input channels": func() {
			tensor.Conv2D(tensor.Zeros(dev, 1, 3, 5, 5), tensor.Zeros(dev, 2, 4, 3, 3), tensor.Conv2DOptions{})
		},
		"tensor: IndexSelect: index tensor must be int32, got float32 of shape [2]": func() { a.IndexSelect(0, tensor.Zeros(dev, 2)) },
		"tensor: Conv2D: bias of shape [3] for 2 output channels": func() {
			tensor.Conv2DFused(tensor.Zeros(dev, 1, 3, 5, 5), tensor.Zeros(dev, 2, 3, 3, 3), tensor.Conv2DOptions{}, tensor.ConvEpilogue{Bias: tensor.Zeros(dev, 3)})
		},
		"tensor: Conv2D: residual of shape [1 2 5 5] for an output of shape [1 2 3 3]": func() {
			tensor.Conv2DFused(tensor.Zeros(dev, 1, 3, 5, 5), tensor.Zeros(dev, 2, 3, 3, 3), tensor.Conv2DOptions{}, tensor.ConvEpilogue{Residual: tensor.Zeros(dev, 1, 2, 5, 5)})
		},
	}
	for want, f := range cases {
		err := tensor.Maybe(f)
		assert.EqualError(t, err, want)
	}
	// Other panics are not swallowed.
	assert.Panics(t, func() { _ = tensor.Maybe(func() { panic("boom") }) })
}

func TestDeviceMismatchPanics(t *testing.T) {
	gpu := devicetest.GPU(t)
	err := tensor.Maybe(func() { tensor.Zeros(device.CPU(), 2).Add(tensor.Zeros(gpu, 2)) })
	assert.ErrorContains(t, err, "tensor: Add: tensors on different devices")
}

func TestErrorsPropagate(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			x := tensor.Ones(dev, 4)
			y := x.MulScalar(2)
			x.Release()
			assert.ErrorIs(t, x.Err(), tensor.ErrReleased)
			z := x.Add(y).Exp().Sum()
			assert.ErrorIs(t, z.Err(), tensor.ErrReleased)
			_, err := z.Data()
			assert.ErrorIs(t, err, tensor.ErrReleased)
			// Unrelated tensors still work.
			assert.Equal(t, []float32{2, 2, 2, 2}, data(t, y))
			x.Release() // releasing twice is harmless
		})
	}
}

// TestGPULargeTensors: tensors larger than the adapter's
// maxStorageBufferBindingSize (128 MiB on lavapipe) work for elementwise
// ops, broadcasting, copies, reductions, softmax and matrix products,
// which split their work into parts that each bind a window of the
// buffer; one larger than maxBufferSize is an error that names the limit,
// and the device keeps working.
func TestGPULargeTensors(t *testing.T) {
	gpu := devicetest.GPU(t)
	caps := gpu.(device.Describer).Capabilities()
	n := int(caps.MaxStorageBufferBinding/4) + 3000 // just over one binding
	t.Logf("binding limit %d bytes, maxBufferSize %d: tensors of %d elements", caps.MaxStorageBufferBinding, caps.MaxBuffer, n)

	values := make([]float32, n)
	for i := range values {
		values[i] = float32(i % 7)
	}
	x := tensor.New(gpu, values, n)
	require.NoError(t, x.Err())
	doubled := x.MulScalar(2)
	tail, err := doubled.Slice(0, n-3, n).Data()
	require.NoError(t, err)
	want := func(i int) float32 { return float32(i % 7) }
	assert.Equal(t, []float32{2 * want(n-3), 2 * want(n-2), 2 * want(n-1)}, tail)
	doubled.Release()

	var total float64
	for i := 0; i < n; i++ {
		total += float64(i % 7)
	}
	sum, err := x.Sum().Item()
	require.NoError(t, err)
	assert.InDelta(t, total, float64(sum), total*1e-5)
	mx, err := x.Max().Item()
	require.NoError(t, err)
	assert.Equal(t, float32(6), mx)

	rows := n / 1000 * 1000
	m := x.Slice(0, 0, rows).Reshape(rows/1000, 1000)
	rowSums, err := m.Sum(1).Slice(0, rows/1000-2, rows/1000).Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{rowSum(want, rows-2000), rowSum(want, rows-1000)}, rowSums)
	colSums := m.Sum(0)
	cols, err := colSums.Slice(0, 0, 3).Data()
	require.NoError(t, err)
	for c, v := range cols {
		var w float32
		for r := 0; r < rows/1000; r++ {
			w += want(r*1000 + c)
		}
		assert.Equal(t, w, v, "column %d", c)
	}
	prod, err := m.MatMul(tensor.Ones(gpu, 1000, 2)).Slice(0, 0, 2).Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{rowSum(want, 0), rowSum(want, 0), rowSum(want, 1000), rowSum(want, 1000)}, prod)
	soft, err := m.Softmax(1).Sum(1).Slice(0, 0, 3).Data()
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float32{1, 1, 1}, soft, 1e-5)
	bcast, err := m.Add(tensor.Arange(gpu, tensor.Float32, 0, 1000, 1)).Slice(0, rows/1000-1, rows/1000).Slice(1, 997, 1000).Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{want(rows-3) + 997, want(rows-2) + 998, want(rows-1) + 999}, bcast)
	both := tensor.Concat([]*tensor.Tensor{x, x}, 0)
	ends, err := tensor.Concat([]*tensor.Tensor{both.Slice(0, n-1, n+1), both.Slice(0, 2*n-1, 2*n)}, 0).Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{want(n - 1), want(0), want(n - 1)}, ends)
	both.Release()

	// Refused: an input over maxBufferSize, and a result that would be.
	over := tensor.Zeros(gpu, int(caps.MaxBuffer/4)+1)
	require.Error(t, over.Err())
	assert.ErrorContains(t, over.Err(), "maxBufferSize")
	assert.ErrorContains(t, over.AddScalar(1).Err(), "maxBufferSize")
	assert.ErrorContains(t, m.MatMul(tensor.Ones(gpu, 1000, 20000)).Err(), "maxBufferSize")

	// The device is unharmed.
	x.Release()
	assert.Equal(t, []float32{3}, data(t, tensor.Full(gpu, 3, 1)))
	require.NoError(t, gpu.Sync())
}

// rowSum is the sum of the 1000 values want gives from index start on.
func rowSum(want func(int) float32, start int) float32 {
	var s float32
	for c := 0; c < 1000; c++ {
		s += want(start + c)
	}
	return s
}

// TestGPUEmbeddingTable: a GPT-2 sized embedding table (50257×768
// float32, 154 MB, over lavapipe's 128 MiB binding limit) works on the GPU
// as on the CPU: the lookup, the gradient's index-add into a table of the
// same size, and the tied output layer's product with the transposed
// table.
func TestGPUEmbeddingTable(t *testing.T) {
	gpu := devicetest.GPU(t)
	cpu := device.CPU()
	const vocab, dim = 50257, 768
	table := tensor.Randn(cpu, rand.New(rand.NewPCG(1, 2)), vocab, dim)
	ids := tensor.New(cpu, []int32{0, 50256, 17, 25000, 17, 49999, 3, 50000}, 8)
	h := tensor.Randn(cpu, rand.New(rand.NewPCG(3, 4)), 8, dim)
	gTable, gIDs, gH := table.To(gpu), ids.To(gpu), h.To(gpu)
	require.NoError(t, gTable.Err())

	lookup := func(table, ids *tensor.Tensor) *tensor.Tensor { return table.IndexSelect(0, ids) }
	assertClose(t, lookup(table, ids), lookup(gTable, gIDs), 0, "lookup")

	grad := func(table, ids, h *tensor.Tensor) *tensor.Tensor {
		return tensor.ZerosLike(table).IndexAdd(0, ids, h).Slice(0, 0, 50257).Sum(1)
	}
	assertClose(t, grad(table, ids, h), grad(gTable, gIDs, gH), 1e-5, "index add")

	logits := func(table, h *tensor.Tensor) *tensor.Tensor { return h.MatMul(table.T()) }
	assertClose(t, logits(table, h), logits(gTable, gH), 1e-4, "tied output layer")
	gTable.Release()
}

// assertClose compares a CPU result with a GPU one within tol of the
// largest magnitude.
func assertClose(t *testing.T, want, got *tensor.Tensor, tol float64, name string) {
	t.Helper()
	w, g := data(t, want), data(t, got)
	require.Len(t, g, len(w), name)
	var scale float64
	for _, v := range w {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > tol*scale {
			t.Fatalf("%s: element %d = %v, want %v", name, i, g[i], w[i])
		}
	}
}

// TestRefusedOpLeavesDeviceWorking: an op the GPU refuses (a softmax row
// longer than its kernel handles) fails that op and what is computed from
// it, with an error naming the op and the limit, while every other tensor
// and every later op on the device works. The CPU computes the same op.
func TestRefusedOpLeavesDeviceWorking(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			before := tensor.New(dev, []float32{1, 2}, 2)
			long := tensor.Zeros(dev, 1, 1<<20+1).Softmax(-1)
			next := long.MulScalar(2).Sum()
			if dev.Kind() == device.KindCPU {
				v, err := next.Item()
				require.NoError(t, err)
				assert.InDelta(t, 2, v, 1e-3)
				return
			}
			require.Error(t, long.Err(), "known when the op is issued")
			assert.ErrorContains(t, long.Err(), "Softmax")
			assert.ErrorContains(t, long.Err(), "longer than the GPU kernel handles")
			_, err := next.Data()
			assert.Equal(t, long.Err(), err, "results computed from a refused one carry its error")
			require.NoError(t, dev.Sync(), "a refused op is no device fault")
			assert.Equal(t, []float32{2, 3}, data(t, before.AddScalar(1)))
			assert.Equal(t, []float32{2, 3}, data(t, tensor.New(dev, []float32{1, 2}, 2).AddScalar(1)))
		})
	}
}

// TestHighRankViewsThenMore: a view of nine dimensions that coalesce to no
// fewer works on every device (the GPU kernels index eight: the GPU copies
// it in pieces), and the device works afterwards.
func TestHighRankViewsThenMore(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			z := tensor.Arange(dev, tensor.Float32, 0, 512, 1).Reshape(2, 2, 2, 2, 2, 2, 2, 2, 2)
			p := z.Permute(3, 2, 0, 5, 8, 4, 7, 1, 6).Contiguous()
			want := data(t, z.To(device.CPU()).Permute(3, 2, 0, 5, 8, 4, 7, 1, 6).Contiguous())
			assert.Equal(t, want, data(t, p))
			assert.Equal(t, []float32{2, 3}, data(t, tensor.New(dev, []float32{1, 2}, 2).AddScalar(1)))
		})
	}
}

func TestIndexOutOfRangeIsAnError(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			w := tensor.Ones(dev, 3, 2)
			y := w.IndexSelect(0, tensor.New(dev, []int32{0, 7}))
			_, err := y.Data()
			assert.ErrorContains(t, err, "IndexSelect: index 7 out of range [0, 3)")
			// Reported once: the device is fine afterwards.
			require.NoError(t, dev.Sync())
			assert.Equal(t, []float32{1, 1}, data(t, w.IndexSelect(0, tensor.New(dev, []int32{2}))))
		})
	}
}

func TestTo(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		x := tensor.New(device.CPU(), []float32{1, 2, 3, 4, 5, 6}, 2, 3).T()
		y := x.To(dev)
		assert.Equal(t, dev, y.Device())
		assert.Equal(t, []int{3, 2}, y.Shape())
		assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, data(t, y))
		back := y.To(device.CPU())
		assert.Equal(t, data(t, x), data(t, back))
		assert.Same(t, y, y.To(dev))
		i := tensor.New(dev, []int32{-3, 9}).To(device.CPU())
		v, err := i.Ints()
		require.NoError(t, err)
		assert.Equal(t, []int32{-3, 9}, v)
	}
}

func TestStringShowsValues(t *testing.T) {
	s := tensor.New(device.CPU(), []float32{1, 2}, 2).String()
	assert.Contains(t, s, "[2] float32 on cpu")
	assert.Contains(t, s, "[1 2]")
}

func TestNaNHandling(t *testing.T) {
	nan := float32(math.NaN())
	for _, dev := range devicetest.Devices(t) {
		x := tensor.New(dev, []float32{1, nan, -2})
		got := data(t, x.ReLU())
		assert.True(t, math.IsNaN(float64(got[1])), "ReLU(NaN) = %v on %s", got[1], dev.Name())
		got = data(t, x.Maximum(tensor.Zeros(dev, 3)))
		assert.True(t, math.IsNaN(float64(got[1])), "Maximum(NaN, 0) = %v on %s", got[1], dev.Name())
		am, err := x.ArgMax(0).Ints()
		require.NoError(t, err)
		assert.Equal(t, []int32{1}, am, "ArgMax with NaN on %s", dev.Name())
	}
}
