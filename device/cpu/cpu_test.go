package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuHarness wraps the CPU device with helpers that move data in and out
// and fail the test on errors.
type cpuHarness struct {
	t   *testing.T
	d   backend.Device
	rng *rand.Rand
}

// newCPUHarness returns a harness with a random source seeded by the test.
func newCPUHarness(t *testing.T) *cpuHarness {
	t.Helper()
	return &cpuHarness{t: t, d: Default(), rng: rand.New(rand.NewPCG(1, uint64(len(t.Name()))))}
}

// f32 uploads data as a float32 buffer.
func (h *cpuHarness) f32(data []float32) backend.Buffer {
	h.t.Helper()
	b, err := h.d.Alloc(backend.Float32, len(data))
	require.NoError(h.t, err)
	require.NoError(h.t, h.d.Write(b, data))
	return b
}

// i32 uploads data as an int32 buffer.
func (h *cpuHarness) i32(data []int32) backend.Buffer {
	h.t.Helper()
	b, err := h.d.Alloc(backend.Int32, len(data))
	require.NoError(h.t, err)
	require.NoError(h.t, h.d.Write(b, data))
	return b
}

// dirty allocates a buffer of n elements filled with garbage, so that a
// primitive that forgets to write an element is caught.
func (h *cpuHarness) dirty(dt backend.DType, n int) backend.Buffer {
	h.t.Helper()
	b, err := h.d.Alloc(dt, n)
	require.NoError(h.t, err)
	h.d.Fill(b, 12345)
	return b
}

// readF downloads a float32 buffer.
func (h *cpuHarness) readF(b backend.Buffer) []float32 {
	h.t.Helper()
	out := make([]float32, b.Len())
	require.NoError(h.t, h.d.Read(b, out))
	return out
}

// readI downloads an int32 buffer.
func (h *cpuHarness) readI(b backend.Buffer) []int32 {
	h.t.Helper()
	out := make([]int32, b.Len())
	require.NoError(h.t, h.d.Read(b, out))
	return out
}

// randF returns n values uniform in [-2, 2).
func (h *cpuHarness) randF(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(h.rng.Float64()*4 - 2)
	}
	return s
}

// randI returns n values uniform in [-50, 50).
func (h *cpuHarness) randI(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(h.rng.IntN(100) - 50)
	}
	return s
}

// cpuLayout describes a view for tests: a shape, strides and offset.
type cpuLayout struct {
	name    string
	shape   []int
	strides []int // nil means contiguous
	offset  int
}

// span returns the number of elements a buffer needs to hold the view.
func (l cpuLayout) span() int {
	if backend.Numel(l.shape) == 0 {
		return l.offset
	}
	end := l.offset + 1
	for d, n := range l.shape {
		end += (n - 1) * l.strideList()[d]
	}
	return end
}

// strideList returns the layout's strides, computing contiguous ones.
func (l cpuLayout) strideList() []int {
	if l.strides == nil {
		return backend.ContiguousStrides(l.shape)
	}
	return l.strides
}

// view returns the view of b with this layout.
func (l cpuLayout) view(b backend.Buffer) backend.View {
	return backend.View{Buf: b, Shape: l.shape, Strides: l.strideList(), Offset: l.offset}
}

// cpuRefElems returns the view's elements in row-major order, walking its
// indices one by one (independently of Coalesce).
func cpuRefElems[T any](data []T, l cpuLayout) []T {
	n := backend.Numel(l.shape)
	out := make([]T, 0, n)
	idx := make([]int, len(l.shape))
	st := l.strideList()
	for range n {
		off := l.offset
		for d := range idx {
			off += idx[d] * st[d]
		}
		out = append(out, data[off])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < l.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// cpuLayouts returns layouts of the given shape: contiguous, with an offset,
// and permuted, stepped and broadcast variants; the shape must be 2-D.
func cpuLayouts(r, c int) []cpuLayout {
	return []cpuLayout{
		{name: "contiguous", shape: []int{r, c}},
		{name: "offset", shape: []int{r, c}, offset: 7},
		{name: "transposed", shape: []int{r, c}, strides: []int{1, r}},
		{name: "stepped", shape: []int{r, c}, strides: []int{2*c + 3, 2}, offset: 5},
		{name: "row-broadcast", shape: []int{r, c}, strides: []int{0, 1}, offset: 1},
		{name: "col-broadcast", shape: []int{r, c}, strides: []int{1, 0}},
		{name: "scalar-broadcast", shape: []int{r, c}, strides: []int{0, 0}, offset: 3},
	}
}

// cpuClose asserts that got matches want within atol + rtol·|want|, with
// NaN matching NaN and infinities matching exactly.
func cpuClose(t *testing.T, want []float64, got []float32, rtol, atol float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	bad := 0
	for i, w := range want {
		g := float64(got[i])
		ok := false
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(w, 0):
			ok = g == w
		default:
			ok = math.Abs(g-w) <= atol+rtol*math.Abs(w)
		}
		if !ok {
			bad++
			if bad <= 5 {
				t.Errorf("%s: element %d: got %v, want %v", msg, i, g, w)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d elements differ", msg, bad)
	}
}

// cpuF64 converts float32s to float64s.
func cpuF64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestCPUDevice(t *testing.T) {
	d := Default()
	assert.Same(t, d, Default())
	assert.Equal(t, backend.KindCPU, d.Kind())
	assert.Contains(t, d.Name(), "cpu (")
	assert.Contains(t, d.Name(), fmt.Sprint(runtime.GOMAXPROCS(0)))
}

func TestCPUAllocErrors(t *testing.T) {
	d := Default()
	_, err := d.Alloc(backend.Float32, -1)
	require.ErrorContains(t, err, "negative size -1")
	_, err = d.Alloc(backend.Int32, math.MaxInt32+1)
	require.ErrorContains(t, err, "2147483648 elements of int32 exceed")
	_, err = d.Alloc(backend.DType(9), 1)
	require.Error(t, err)

	b, err := d.Alloc(backend.Float32, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, b.Len())
	require.NoError(t, d.Write(b, []float32{}))
	require.NoError(t, d.Read(b, []float32(nil)))
	d.Free(b)
}

func TestCPUPoolAndStats(t *testing.T) {
	d := newCPUDevice() // a private device, so that other tests don't disturb the counters
	a, err := d.Alloc(backend.Float32, 1000)
	require.NoError(t, err)
	s := d.Stats()
	assert.Equal(t, 1, s.LiveBuffers)
	assert.Equal(t, int64(4000), s.LiveBytes)
	assert.Equal(t, int64(1), s.Created)
	assert.Equal(t, int64(4000), s.PeakLiveByte)

	d.Free(a)
	s = d.Stats()
	assert.Equal(t, 0, s.LiveBuffers)
	assert.Equal(t, int64(0), s.LiveBytes)
	assert.Equal(t, 1, s.PoolBuffers)
	assert.Equal(t, int64(1024*4), s.PoolBytes)

	d.Free(a) // double free: ignored
	d.Free(nil)
	d.Free(cpuFakeBuffer{})
	assert.Equal(t, 1, d.Stats().PoolBuffers)

	b, err := d.Alloc(backend.Float32, 600) // same class as 1000: reused
	require.NoError(t, err)
	assert.Equal(t, 600, b.Len())
	s = d.Stats()
	assert.Equal(t, int64(1), s.Created)
	assert.Equal(t, 0, s.PoolBuffers)
	assert.Equal(t, int64(2400), s.LiveBytes)

	c, err := d.Alloc(backend.Int32, 600) // int32 buffers have their own pool
	require.NoError(t, err)
	assert.Equal(t, backend.Int32, c.DType())
	assert.Equal(t, int64(2), d.Stats().Created)

	d.Fill(b, 1)
	out := make([]float32, 600)
	require.NoError(t, d.Read(b, out))
	assert.Equal(t, int64(1), d.Stats().Dispatches)
	assert.Equal(t, int64(1), d.Stats().Readbacks)
	assert.Equal(t, int64(0), d.Stats().Submits)
	d.Free(b)
	d.Free(c)
	s = d.Stats()
	assert.Equal(t, 2, s.PoolBuffers)
	assert.Equal(t, int64(4800), s.PeakLiveByte)
}

func TestCPUPoolLimit(t *testing.T) {
	d := &cpuDevice{poolLimit: 8192}
	var bufs []backend.Buffer
	for range 3 {
		b, err := d.Alloc(backend.Int32, 1024) // two of these fill the pool
		require.NoError(t, err)
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		d.Free(b)
	}
	s := d.Stats()
	assert.Equal(t, 2, s.PoolBuffers)
	assert.Equal(t, int64(8192), s.PoolBytes)
	assert.Equal(t, 0, s.LiveBuffers)
}

// cpuFakeBuffer is a buffer of some other device.
type cpuFakeBuffer struct{}

func (cpuFakeBuffer) Len() int             { return 1 }
func (cpuFakeBuffer) DType() backend.DType { return backend.Float32 }

func TestCPUWriteReadErrors(t *testing.T) {
	h := newCPUHarness(t)
	b := h.f32([]float32{1, 2, 3, 4})
	err := h.d.Write(b, []int32{1, 2, 3})
	require.EqualError(t, err, "device: Write: got []int32 of length 3 for a float32 buffer of 4 elements")
	err = h.d.Read(b, make([]float32, 2))
	require.EqualError(t, err, "device: Read: got []float32 of length 2 for a float32 buffer of 4 elements")
	err = h.d.Write(b, "hello")
	require.EqualError(t, err, "device: Write: got string, want []float32 of length 4")
	require.Error(t, h.d.Write(cpuFakeBuffer{}, []float32{1}))

	src := []float32{5, 6, 7, 8}
	require.NoError(t, h.d.Write(b, src))
	src[0] = 100 // Write copied
	out := h.readF(b)
	assert.Equal(t, []float32{5, 6, 7, 8}, out)
	out[1] = 100 // Read copied
	assert.Equal(t, []float32{5, 6, 7, 8}, h.readF(b))

	h.d.Free(b)
	require.ErrorContains(t, h.d.Read(b, make([]float32, 4)), "freed")
}

func TestCPUFill(t *testing.T) {
	h := newCPUHarness(t)
	f := h.dirty(backend.Float32, 100_003)
	h.d.Fill(f, 2.5)
	for _, v := range h.readF(f) {
		require.Equal(t, float32(2.5), v)
	}
	i := h.dirty(backend.Int32, 5)
	h.d.Fill(i, -7.9)
	assert.Equal(t, []int32{-7, -7, -7, -7, -7}, h.readI(i))
	h.d.Fill(h.dirty(backend.Float32, 0), 1)
}

func TestCPUConcurrentUse(t *testing.T) {
	h := newCPUHarness(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				b, err := h.d.Alloc(backend.Float32, 100+i*g)
				if !assert.NoError(t, err) {
					return
				}
				h.d.Fill(b, float64(g))
				x := backend.View{Buf: b, Shape: []int{b.Len()}, Strides: []int{1}}
				h.d.Unary(backend.Square, b, x)
				out := make([]float32, b.Len())
				assert.NoError(t, h.d.Read(b, out))
				assert.Equal(t, float32(g*g), out[len(out)-1])
				h.d.Free(b)
			}
		})
	}
	wg.Wait()
}

func TestCPUParallelHelpers(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000, 1 << 18} {
		seen := make([]int32, n)
		var mu sync.Mutex
		cpuParallel(n, 1, func(lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			require.Equal(t, int32(1), c, "n=%d i=%d", n, i)
		}
		tasks := make([]int32, n)
		cpuTasks(n, 3, func(_, i int) { tasks[i]++ })
		for i, c := range tasks {
			require.Equal(t, int32(1), c, "tasks n=%d i=%d", n, i)
		}
	}
	assert.Equal(t, 1, cpuChunks(1000, 1))
	assert.Equal(t, min(runtime.GOMAXPROCS(0), 2), min(cpuChunks(1<<18, 1), 2))
}

// TestCPUTasksShares: cpuTasks runs every task once whatever the tasks
// cost, the calling goroutine starting at the first task of its share and
// going up through it, helpers taking what is left from the shares' ends.
func TestCPUTasksShares(t *testing.T) {
	for _, workers := range []int{2, 3, 4} {
		for _, n := range []int{1, 2, 5, 64} {
			counts := make([]atomic.Int32, n)
			var mu sync.Mutex
			var mine []int // the tasks worker 0 ran, in order
			// Helpers wait until worker 0 has started, so that they cannot
			// take its whole share before the calling goroutine gets to it.
			started := make(chan struct{})
			var once sync.Once
			cpuTasks(n, workers, func(w, i int) {
				if w == 0 {
					once.Do(func() { close(started) })
				} else {
					select {
					case <-started:
					case <-time.After(10 * time.Second):
						t.Errorf("workers %d n %d: worker 0 never started", workers, n)
					}
				}
				if i%7 == 3 { // uneven costs
					time.Sleep(200 * time.Microsecond)
				}
				counts[i].Add(1)
				if w == 0 {
					mu.Lock()
					mine = append(mine, i)
					mu.Unlock()
				}
			})
			for i := range counts {
				require.Equal(t, int32(1), counts[i].Load(), "workers %d n %d task %d", workers, n, i)
			}
			require.NotEmpty(t, mine)
			share := n / min(workers, n)
			for k, i := range mine[:min(len(mine), share)] {
				assert.Equal(t, k, i, "workers %d n %d: worker 0 takes its share in order", workers, n)
			}
		}
	}
}

// TestCPUForkNestedAndConcurrent: loops inside loops, and loops started by
// several goroutines at once, run every chunk exactly once and finish (a
// loop that finds every worker busy runs its chunks itself).
func TestCPUForkNestedAndConcurrent(t *testing.T) {
	const outer, inner = 6, 5
	var counts [outer * inner]atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			cpuParallelChunks(outer, outer, func(c, _, _ int) {
				cpuTasks(inner, 3, func(_, i int) { counts[c*inner+i].Add(1) })
			})
		})
	}
	wg.Wait()
	for i := range counts {
		require.Equal(t, int32(4), counts[i].Load(), "chunk %d", i)
	}
}
