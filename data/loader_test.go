package data

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// hostBatchData is a batch read back from the device.
type hostBatchData struct {
	input   []float32
	inShape []int
	target  any // []float32 or []int32
	tgShape []int
	indices []int
}

// readBatch reads b back to the host.
func readBatch(t testing.TB, b Batch) hostBatchData {
	t.Helper()
	in, err := b.Input.Data()
	require.NoError(t, err)
	require.Equal(t, tensor.Float32, b.Input.DType())
	out := hostBatchData{input: in, inShape: b.Input.Shape(), tgShape: b.Target.Shape(), indices: b.Indices}
	switch b.Target.DType() {
	case tensor.Int32:
		out.target, err = b.Target.Ints()
	default:
		out.target, err = b.Target.Data()
	}
	require.NoError(t, err)
	return out
}

// collect runs one epoch of l and reads every batch back.
func collect(t testing.TB, l *Loader, epoch int) []hostBatchData {
	t.Helper()
	var out []hostBatchData
	for b := range l.Batches(epoch) {
		out = append(out, readBatch(t, b))
	}
	return out
}

func TestLoaderBatchCounts(t *testing.T) {
	dev := device.CPU()
	cases := []struct {
		n        int
		dropLast bool
		sizes    []int
	}{
		{1, false, []int{1}},
		{1, true, nil},
		{7, false, []int{3, 3, 1}},
		{7, true, []int{3, 3}},
		{10, false, []int{3, 3, 3, 1}},
		{10, true, []int{3, 3, 3}},
		{9, false, []int{3, 3, 3}},
		{9, true, []int{3, 3, 3}},
		{0, false, nil},
	}
	for _, c := range cases {
		for _, prefetch := range []int{0, 2} {
			t.Run(fmt.Sprintf("n=%d/dropLast=%v/prefetch=%d", c.n, c.dropLast, prefetch), func(t *testing.T) {
				l := NewLoader(seqMemory(t, c.n), dev, LoaderOptions{BatchSize: 3, DropLast: c.dropLast, Prefetch: prefetch})
				assert.Equal(t, len(c.sizes), l.Len())
				var sizes []int
				next := 0
				for _, b := range collect(t, l, 0) {
					sizes = append(sizes, len(b.indices))
					assert.Equal(t, []int{len(b.indices), 2}, b.inShape)
					assert.Equal(t, []int{len(b.indices)}, b.tgShape)
					for k, i := range b.indices {
						// Without Shuffle the examples come in order.
						assert.Equal(t, next, i)
						next++
						assert.Equal(t, []float32{float32(10 * i), float32(10*i + 1)}, b.input[2*k:2*k+2])
						assert.Equal(t, int32(i%3), b.target.([]int32)[k])
					}
				}
				assert.Equal(t, c.sizes, sizes)
			})
		}
	}
}

func TestLoaderShuffle(t *testing.T) {
	dev := device.CPU()
	m := seqMemory(t, 100)
	opt := LoaderOptions{BatchSize: 7, Shuffle: true, Seed: 42}
	l := NewLoader(m, dev, opt)
	order := func(l *Loader, epoch int) []int {
		var idx []int
		for _, b := range collect(t, l, epoch) {
			idx = append(idx, b.indices...)
			for k, i := range b.indices {
				assert.Equal(t, float32(10*i), b.input[2*k], "input of example %d", i)
				assert.Equal(t, int32(i%3), b.target.([]int32)[k], "target of example %d", i)
			}
		}
		return idx
	}
	e0 := order(l, 0)
	// Every example exactly once.
	sorted := slices.Sorted(slices.Values(e0))
	for i, v := range sorted {
		require.Equal(t, i, v, "epoch 0 visits every example once")
	}
	assert.NotEqual(t, sorted, e0, "shuffled")
	assert.Equal(t, e0, l.Order(0))

	// Same seed and epoch: same order, even from another loader.
	assert.Equal(t, e0, order(NewLoader(m, dev, opt), 0))
	// Other epochs and seeds differ, and are permutations too.
	seen := map[string]bool{fmt.Sprint(e0): true}
	for _, o := range [][]int{order(l, 1), order(l, 2), order(l, -1), NewLoader(m, dev, LoaderOptions{BatchSize: 7, Shuffle: true, Seed: 43}).Order(0)} {
		assert.ElementsMatch(t, sorted, o)
		assert.False(t, seen[fmt.Sprint(o)], "orders repeat")
		seen[fmt.Sprint(o)] = true
	}
	// The order is fixed for a seed: a change in math/rand/v2 or in the
	// loader's shuffle would change every experiment's results.
	small := NewLoader(seqMemory(t, 10), dev, LoaderOptions{BatchSize: 3, Shuffle: true, Seed: 1})
	assert.Equal(t, []int{3, 8, 6, 5, 1, 9, 0, 2, 4, 7}, small.Order(0))
}

func TestLoaderNormalise(t *testing.T) {
	dev := device.CPU()
	m := seqMemory(t, 4)
	cases := []struct {
		name      string
		mean, std float64
		want      func(x float32) float32
	}{
		{"off", 0, 0, func(x float32) float32 { return x }},
		{"mean only is ignored", 5, 0, func(x float32) float32 { return x }},
		{"mean and std", 0.5, 2, func(x float32) float32 { return float32((float64(x) - 0.5) / 2) }},
		{"mnist", 0.1307, 0.3081, func(x float32) float32 { return float32((float64(x) - 0.1307) / 0.3081) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLoader(m, dev, LoaderOptions{BatchSize: 4, Mean: c.mean, Std: c.std})
			b := collect(t, l, 0)
			require.Len(t, b, 1)
			for j, x := range m.Inputs {
				assert.InDelta(t, c.want(x), b[0].input[j], 1e-5*math.Max(1, math.Abs(float64(c.want(x)))))
			}
			// Targets are not normalised.
			assert.Equal(t, []int32{0, 1, 2, 0}, b[0].target)
		})
	}
}

func TestLoaderTargetType(t *testing.T) {
	dev := device.CPU()
	// Sequence targets [3] with fractional values.
	in := []float32{1, 2}
	tg := []float32{0.5, 1, 2.9, -1.5, 7, 0}
	m, err := NewMemory(in, tg, []int{1}, []int{3})
	require.NoError(t, err)
	cases := []struct {
		name string
		typ  tensor.DType
		want any
	}{
		{"default", 0, []int32{0, 1, 2, -1, 7, 0}},
		{"int32", tensor.Int32, []int32{0, 1, 2, -1, 7, 0}},
		{"float32", tensor.Float32, []float32{0.5, 1, 2.9, -1.5, 7, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, prefetch := range []int{0, 1} {
				b := collect(t, NewLoader(m, dev, LoaderOptions{BatchSize: 2, TargetType: c.typ, Prefetch: prefetch}), 0)
				require.Len(t, b, 1)
				assert.Equal(t, []int{2, 3}, b[0].tgShape)
				assert.Equal(t, []int{2, 1}, b[0].inShape)
				assert.Equal(t, c.want, b[0].target)
			}
		})
	}
}

func TestLoaderPrefetchSame(t *testing.T) {
	dev := device.CPU()
	m := seqMemory(t, 50)
	for _, opt := range []LoaderOptions{
		{BatchSize: 4, Shuffle: true, Seed: 9, Mean: 1, Std: 3},
		{BatchSize: 5, DropLast: true, TargetType: tensor.Float32},
		{BatchSize: 64, Shuffle: true},
	} {
		want := [][]hostBatchData{collect(t, NewLoader(m, dev, opt), 0), collect(t, NewLoader(m, dev, opt), 3)}
		for _, prefetch := range []int{1, 2, 8, 100} {
			opt.Prefetch = prefetch
			l := NewLoader(m, dev, opt)
			assert.Equal(t, want[0], collect(t, l, 0), "prefetch %d, %+v", prefetch, opt)
			assert.Equal(t, want[1], collect(t, l, 3), "prefetch %d, %+v", prefetch, opt)
		}
	}
}

// baseGoroutines returns the number of goroutines once it has stopped
// changing for a moment.
func baseGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(5 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n
}

// settledGoroutines waits up to a second for the number of goroutines to
// fall to at most want and returns the last count.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

func TestLoaderBreakStopsPrefetch(t *testing.T) {
	dev := device.CPU()
	m := seqMemory(t, 1000)
	// Warm up whatever goroutines the device starts.
	collect(t, NewLoader(m, dev, LoaderOptions{BatchSize: 10}), 0)
	before := baseGoroutines()

	for _, prefetch := range []int{1, 3, 50} {
		l := NewLoader(m, dev, LoaderOptions{BatchSize: 10, Shuffle: true, Prefetch: prefetch})
		for range 20 {
			got := 0
			for b := range l.Batches(1) {
				got++
				require.NoError(t, b.Input.Err())
				if got == 2 {
					break
				}
			}
			assert.Equal(t, 2, got)
		}
		// Batches waits for its goroutine to end before the loop statement
		// ends; the short wait is for the runtime's own goroutines (a
		// cleanup freeing tensor memory counts while it runs).
		assert.LessOrEqual(t, settledGoroutines(before), before, "prefetch %d", prefetch)
	}
	// A full epoch and a loop left by a panic leave nothing behind either.
	l := NewLoader(m, dev, LoaderOptions{BatchSize: 10, Prefetch: 4})
	assert.Len(t, collect(t, l, 0), 100)
	assert.PanicsWithValue(t, "stop", func() {
		for range l.Batches(0) {
			panic("stop")
		}
	})
	assert.LessOrEqual(t, settledGoroutines(before), before)
}

// panicky is a dataset whose Sample panics at one index.
type panicky struct {
	*Memory
	at int
}

func (p panicky) Sample(i int, in, tg []float32) {
	if i == p.at {
		panic(fmt.Sprintf("bad example %d", i))
	}
	p.Memory.Sample(i, in, tg)
}

func TestLoaderSamplePanic(t *testing.T) {
	dev := device.CPU()
	before := baseGoroutines()
	for _, prefetch := range []int{0, 2} {
		l := NewLoader(panicky{seqMemory(t, 20), 13}, dev, LoaderOptions{BatchSize: 4, Prefetch: prefetch})
		seen := 0
		assert.PanicsWithValue(t, "bad example 13", func() {
			for range l.Batches(0) {
				seen++
			}
		})
		assert.Equal(t, 3, seen, "the batches before the bad one arrive")
	}
	assert.LessOrEqual(t, settledGoroutines(before), before)
}

func TestNewLoaderPanics(t *testing.T) {
	m := seqMemory(t, 3)
	dev := device.CPU()
	cases := []struct {
		opt  LoaderOptions
		want string
	}{
		{LoaderOptions{}, "data: NewLoader: BatchSize is 0; it must be at least 1"},
		{LoaderOptions{BatchSize: 1, Prefetch: -1}, "data: NewLoader: Prefetch is -1; it must be 0 or more"},
		{LoaderOptions{BatchSize: 1, TargetType: 9}, "data: NewLoader: TargetType is DType(9); it must be tensor.Int32 or tensor.Float32"},
		{LoaderOptions{BatchSize: 1, Std: math.Inf(1)}, "data: NewLoader: Mean 0 and Std +Inf must be finite"},
	}
	for _, c := range cases {
		assert.PanicsWithValue(t, c.want, func() { NewLoader(m, dev, c.opt) })
	}
}

// TestLoaderMNISTEpoch times one epoch of MNIST in batches of 64 on the CPU
// device, with and without prefetching, and checks what arrives.
func TestLoaderMNISTEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	train := loadMNISTTrain(t)
	dev := device.CPU()
	for _, prefetch := range []int{0, 2} {
		l := NewLoader(train, dev, LoaderOptions{BatchSize: 64, Shuffle: true, Seed: 1, Prefetch: prefetch, Mean: 0.1307, Std: 0.3081})
		require.Equal(t, 938, l.Len())
		start := time.Now()
		n, batches := 0, 0
		var first Batch
		for b := range l.Batches(0) {
			if batches == 0 {
				first = b
			}
			n += b.Input.Shape()[0]
			batches++
		}
		t.Logf("one epoch of MNIST, batch 64, prefetch %d, on %s: %v", prefetch, dev.Name(), time.Since(start))
		assert.Equal(t, 60000, n)
		assert.Equal(t, 938, batches)
		assert.Equal(t, []int{64, 1, 28, 28}, first.Input.Shape())
		assert.Equal(t, []int{64}, first.Target.Shape())
		assert.Equal(t, tensor.Int32, first.Target.DType())
		// The normalised pixels of the first example, and its label.
		in, err := first.Input.Data()
		require.NoError(t, err)
		labels, err := first.Target.Ints()
		require.NoError(t, err)
		i := first.Indices[0]
		assert.InDelta(t, (train.Inputs[i*784+400]-0.1307)/0.3081, in[400], 1e-5)
		assert.Equal(t, int32(train.Targets[i]), labels[0])
	}
}

// TestLoaderDevices uploads batches to every device here and reads them back
// only after the epoch, so that a device keeping a reference to the
// loader's reused host buffers instead of copying them would show.
func TestLoaderDevices(t *testing.T) {
	m := seqMemory(t, 50)
	for _, dev := range devicetest.Devices(t) {
		for _, prefetch := range []int{0, 2} {
			l := NewLoader(m, dev, LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 5, Prefetch: prefetch, TargetType: tensor.Int32})
			var batches []Batch
			for b := range l.Batches(0) {
				batches = append(batches, b)
			}
			require.Len(t, batches, 7)
			for _, b := range batches {
				got := readBatch(t, b)
				for k, i := range got.indices {
					assert.Equal(t, []float32{float32(10 * i), float32(10*i + 1)}, got.input[2*k:2*k+2], "%s: example %d", dev.Name(), i)
					assert.Equal(t, int32(i%3), got.target.([]int32)[k], "%s: example %d", dev.Name(), i)
				}
			}
		}
	}
}
