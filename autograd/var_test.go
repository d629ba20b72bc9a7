package autograd_test

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

func values(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	require.NotNil(t, x)
	v, err := x.Data()
	require.NoError(t, err)
	return v
}

func TestBackwardAccumulatesAndZeroGrad(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		w := autograd.Param(tensor.New(dev, []float32{1, 2, 3}))
		x := autograd.Const(tensor.New(dev, []float32{4, 5, 6}))
		for range 2 {
			w.Mul(x).Sum().Backward()
		}
		assert.Equal(t, []float32{8, 10, 12}, values(t, w.Grad()), "two backward calls add up")
		assert.Nil(t, x.Grad(), "constants get no gradient")
		w.ZeroGrad()
		assert.Nil(t, w.Grad())
		w.Square().Sum().Backward()
		assert.Equal(t, []float32{2, 4, 6}, values(t, w.Grad()))
	}
}

func TestBackwardWithNonScalar(t *testing.T) {
	dev := device.CPU()
	w := autograd.Param(tensor.New(dev, []float32{1, 2, 3}))
	y := w.MulScalar(3)
	y.BackwardWith(tensor.New(dev, []float32{1, 0, -1}))
	assert.Equal(t, []float32{3, 0, -3}, values(t, w.Grad()))

	err := tensor.Maybe(func() { w.MulScalar(2).Backward() })
	assert.ErrorContains(t, err, "output of shape [3] has 3 elements")
	err = tensor.Maybe(func() { w.MulScalar(2).BackwardWith(tensor.Zeros(dev, 2)) })
	assert.ErrorContains(t, err, "gradient of shape [2] for an output of shape [3]")
	err = tensor.Maybe(func() { autograd.Const(tensor.Zeros(dev, 1)).Backward() })
	assert.ErrorContains(t, err, "does not require a gradient")
}

func TestGraphIsReleased(t *testing.T) {
	dev := device.CPU()
	w := autograd.Param(tensor.New(dev, []float32{1, 2}))
	h := w.Exp()
	loss := h.Sum()
	assert.False(t, h.IsLeaf())
	loss.Backward()
	err := tensor.Maybe(func() { loss.Backward() })
	assert.ErrorContains(t, err, "already released")
	err = tensor.Maybe(func() { h.MulScalar(2).Sum().Backward() })
	assert.ErrorContains(t, err, "already released")
	// The leaf itself is untouched and can be used again.
	w.ZeroGrad()
	w.Exp().Sum().Backward()
	assert.NotNil(t, w.Grad())
}

func TestDetach(t *testing.T) {
	dev := device.CPU()
	w := autograd.Param(tensor.New(dev, []float32{1, 2}))
	d := w.MulScalar(2).Detach()
	assert.False(t, d.RequiresGrad())
	assert.True(t, d.IsLeaf())
	y := w.Mul(d).Sum()
	y.Backward()
	assert.Equal(t, []float32{2, 4}, values(t, w.Grad()), "no gradient flows through the detached factor")
}

func TestNoGrad(t *testing.T) {
	dev := device.CPU()
	w := autograd.Param(tensor.New(dev, []float32{1, 2}))
	var y *autograd.Var
	autograd.NoGrad(func() {
		y = w.MulScalar(3).Exp()
		autograd.NoGrad(func() {}) // nested scopes
		assert.False(t, w.Add(w).RequiresGrad())
	})
	assert.False(t, y.RequiresGrad())
	assert.True(t, y.IsLeaf())
	assert.True(t, w.MulScalar(3).RequiresGrad(), "recording resumes after the scope")

	// A scope in one goroutine does not stop another from recording.
	inside := make(chan struct{})
	done := make(chan struct{})
	go autograd.NoGrad(func() {
		close(inside)
		<-done
	})
	<-inside
	assert.True(t, w.MulScalar(2).RequiresGrad(), "another goroutine's NoGrad must not affect this one")
	close(done)
}

// TestConcurrentGraphs records and differentiates graphs in several
// goroutines at once; run with -race.
func TestConcurrentGraphs(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := autograd.Param(tensor.Full(dev, float64(k), 8))
				for range 20 {
					w.ZeroGrad()
					w.Square().Sum().Backward()
				}
				v, err := w.Grad().Data()
				assert.NoError(t, err)
				assert.Equal(t, float32(2*k), v[0])
			}()
		}
		wg.Wait()
	}
}

// mlpStep runs one training step of a small MLP with cross-entropy and SGD.
func mlpStep(params []*autograd.Var, x, labels *tensor.Tensor) float32 {
	h := autograd.Const(x).MatMul(params[0]).Add(params[1]).ReLU()
	logits := h.MatMul(params[2]).Add(params[3])
	loss := crossEntropy(logits, labels)
	loss.Backward()
	for _, p := range params {
		p.SetValue(p.Value().Sub(p.Grad().MulScalar(0.1)))
		p.ZeroGrad()
	}
	v, _ := loss.Item()
	return v
}

// settle collects garbage until the cleanups of unreachable tensors have
// returned their buffers, and reports the live buffer count.
func settle(dev device.Device) int {
	last := -1
	for range 50 {
		// Collect waits for the cleanups that free the buffers of
		// unreachable tensors; a bare GC does not, and a slow cleanup
		// goroutine (the race detector, a loaded machine) left buffers
		// counted as live.
		tensor.Collect()
		n := dev.Stats().LiveBuffers
		if n == last {
			return n
		}
		last = n
	}
	return last
}

// TestTrainingMemoryIsFlat runs 1,000 MLP steps and checks that live
// buffers, their bytes and the Go heap do not grow after warm-up.
func TestTrainingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 training steps")
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			rng := tensor.NewRNG(1)
			params := []*autograd.Var{
				autograd.Param(tensor.Randn(dev, rng, 20, 32).MulScalar(0.2)),
				autograd.Param(tensor.Zeros(dev, 32)),
				autograd.Param(tensor.Randn(dev, rng, 32, 4).MulScalar(0.2)),
				autograd.Param(tensor.Zeros(dev, 4)),
			}
			x := tensor.Randn(dev, rng, 16, 20)
			labels := tensor.RandInt(dev, rng, 0, 4, 16)
			var first, last float32
			var warm device.Stats
			var warmHeap uint64
			for step := 1; step <= 1000; step++ {
				loss := mlpStep(params, x, labels)
				if step == 1 {
					first = loss
				}
				last = loss
				if step == 100 {
					settle(dev)
					warm = dev.Stats()
					warmHeap = heap()
				}
			}
			settle(dev)
			end := dev.Stats()
			runtime.KeepAlive(params)
			runtime.KeepAlive(x)
			runtime.KeepAlive(labels)
			t.Logf("%s: live buffers %d -> %d, live bytes %d -> %d, heap %d -> %d, pool %d -> %d bytes, loss %.3f -> %.3f",
				dev.Name(), warm.LiveBuffers, end.LiveBuffers, warm.LiveBytes, end.LiveBytes, warmHeap, heap(), warm.PoolBytes, end.PoolBytes, first, last)
			assert.LessOrEqual(t, end.LiveBuffers, warm.LiveBuffers, "live buffers grew")
			assert.LessOrEqual(t, end.LiveBytes, warm.LiveBytes, "live bytes grew")
			// The CPU's buffer pool lives in the Go heap; leave it out.
			pool := func(s device.Stats) uint64 {
				if dev.Kind() == device.KindCPU {
					return uint64(s.PoolBytes)
				}
				return 0
			}
			assert.Less(t, heap()-pool(end), warmHeap-pool(warm)+4<<20, "Go heap outside the buffer pool grew by more than 4 MiB")
			assert.Less(t, last, first/4, "the model should learn")
		})
	}
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBackwardReleasesItsPartialSums: the gradient of a weight used in 20
// products is summed term by term, and each partial sum the backward pass
// made is given back as soon as the next one exists, not left for the
// garbage collector; what the caller passed in (BackwardWith's gradient)
// and a sum an op's backward hands on unchanged (Add's) stay usable.
func TestBackwardReleasesItsPartialSums(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			rng := tensor.NewRNG(3)
			w := autograd.Param(tensor.Randn(dev, rng, 64, 64))
			x := autograd.Const(tensor.Randn(dev, rng, 4, 64))
			a, b := autograd.Param(tensor.Ones(dev, 4, 64)), autograd.Param(tensor.Ones(dev, 4, 64))
			u := a.Add(b) // used twice: its gradient is a sum that Add passes on to a and b
			var out *autograd.Var
			for range 20 {
				y := x.MatMul(w).Mul(u)
				if out == nil {
					out = y
				} else {
					out = out.Add(y)
				}
			}
			out = out.Add(u)
			g := tensor.Ones(dev, 4, 64)
			require.NoError(t, dev.Sync())
			tensor.Collect()
			defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection frees the terms meanwhile
			before := dev.Stats().LiveBuffers
			out.BackwardWith(g)
			require.NoError(t, dev.Sync())
			// The terms stay live until collected (62 buffers on the
			// CPU, 50 on the GPU), but the 19 partial sums of w's
			// gradient and the 20 of u's do not (99 and 84 without).
			live := dev.Stats().LiveBuffers - before
			t.Logf("%d buffers live after backward", live)
			assert.Less(t, live, map[device.Kind]int{device.KindCPU: 75, device.KindGPU: 65}[dev.Kind()], "live buffers after backward")
			assert.Equal(t, slices.Repeat([]float32{1}, 4*64), values(t, g), "the caller's gradient")

			want := x.Value().MatMul(w.Value()).MulScalar(20).AddScalar(1)
			for _, p := range []*autograd.Var{a, b} {
				assert.InDeltaSlice(t, values(t, want), values(t, p.Grad()), 1e-3)
			}
			wantW := x.Value().T().MatMul(tensor.Full(dev, 2, 4, 64)).MulScalar(20)
			assert.InDeltaSlice(t, values(t, wantW), values(t, w.Grad()), 1e-2)
		})
	}
}
