package nn_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

// memoryFigures is what TestLongTrainingRunIsFlat compares between two
// points of a run.
type memoryFigures struct {
	buffers int
	bytes   int64
	heap    uint64
}

// measureMemory collects garbage and reads the device's live buffers and
// bytes and the Go heap, less the CPU device's pool: freed buffers kept
// for reuse live on the Go heap, and how many the last collection has
// just handed back depends on when it ran (a CI run saw the heap 11 MiB
// larger at step 2,000 with the same live tensors).
func measureMemory(t *testing.T, dev device.Device) memoryFigures {
	require.NoError(t, dev.Sync())
	tensor.Collect()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := dev.Stats()
	heap := ms.HeapAlloc
	if dev.Kind() == device.KindCPU {
		heap -= uint64(s.PoolBytes)
	}
	return memoryFigures{buffers: s.LiveBuffers, bytes: s.LiveBytes, heap: heap}
}

// TestLongTrainingRunIsFlat trains the MNIST MLP (784-256-10, batches of
// 64, SGD with momentum) for 2,000 steps on each device: from step 100 to
// step 2,000 the live device buffers, their bytes and the Go heap (less
// the CPU's pool of freed buffers) stay flat, and the model learns.
func TestLongTrainingRunIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2,000-step run; skipped with -short")
	}
	if raceEnabled {
		t.Skip("the race detector makes the run too slow; the other tests cover races")
	}
	dir, err := data.FindMNIST()
	require.NoError(t, err)
	train, err := data.MNIST(dir, true)
	require.NoError(t, err)
	const steps, early = 2000, 100
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			nn.Seed(1)
			net := nn.NewSequential(nn.NewFlatten(), nn.NewLinear(dev, 784, 256), nn.ReLU{}, nn.NewLinear(dev, 256, 10))
			opt := optim.NewSGD(nn.Parameters(net), 0.05, optim.Momentum(0.9))
			loader := data.NewLoader(train, dev, data.LoaderOptions{BatchSize: 64, Shuffle: true, Seed: 1, DropLast: true, Prefetch: 2, Mean: 0.1307, Std: 0.3081})
			var at100, at2000 memoryFigures
			var firstLoss, lastLoss float32
			step := 0
			for epoch := 0; step < steps; epoch++ {
				for b := range loader.Batches(epoch) {
					opt.ZeroGrad()
					loss := nn.CrossEntropyLoss(net.Forward(autograd.Const(b.Input)), b.Target)
					loss.Backward()
					opt.Step()
					if step++; step == 1 || step == steps {
						v, err := loss.Value().Item()
						require.NoError(t, err)
						if step == 1 {
							firstLoss = v
						} else {
							lastLoss = v
						}
					}
					if step == early {
						at100 = measureMemory(t, dev)
					}
					if step == steps {
						break
					}
				}
			}
			at2000 = measureMemory(t, dev)
			runtime.KeepAlive(net) // the model and optimizer state are part of what is measured
			runtime.KeepAlive(opt)
			t.Logf("%s: step %d: %d live buffers, %d bytes, Go heap %.1f MiB; step %d: %d live buffers, %d bytes, Go heap %.1f MiB; loss %.3f -> %.3f",
				dev.Name(), early, at100.buffers, at100.bytes, float64(at100.heap)/(1<<20),
				steps, at2000.buffers, at2000.bytes, float64(at2000.heap)/(1<<20), firstLoss, lastLoss)
			assert.LessOrEqual(t, at2000.buffers, at100.buffers+2, "live buffers grow")
			assert.LessOrEqual(t, at2000.bytes, at100.bytes+64<<10, "live bytes grow")
			assert.LessOrEqual(t, at2000.heap, at100.heap+8<<20, "the Go heap grows")
			assert.Less(t, lastLoss, firstLoss/3, "the model learns")
		})
	}
}
