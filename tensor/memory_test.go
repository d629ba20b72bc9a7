package tensor_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestOutOfMemory exhausts each device's memory (a limit set with
// device.SetMemoryLimit stands in for a full GPU): allocations and ops
// then carry an error that wraps device.ErrOutOfMemory, nothing crashes,
// and once memory is freed, or its tensors become unreachable, the device
// works again.
func TestOutOfMemory(t *testing.T) {
	const mib = 1 << 20
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			require.NoError(t, dev.Sync())
			base := settledLiveBytes(dev)
			require.NoError(t, device.SetMemoryLimit(dev, base+8*mib))
			defer func() { require.NoError(t, device.SetMemoryLimit(dev, 0)) }()

			var held []*tensor.Tensor
			var err error
			for range 100 {
				x := tensor.Full(dev, 1, mib/4)
				if err = x.Err(); err != nil {
					break
				}
				held = append(held, x)
			}
			require.ErrorIs(t, err, device.ErrOutOfMemory)
			assert.ErrorContains(t, err, "set with SetMemoryLimit")
			assert.InDelta(t, 8, len(held), 1, "1 MiB tensors under an 8 MiB limit")

			// An op that needs memory fails the same way.
			sum := held[0].Add(held[1])
			assert.ErrorIs(t, sum.Err(), device.ErrOutOfMemory)
			_, err = sum.Data()
			assert.ErrorIs(t, err, device.ErrOutOfMemory)

			// Freeing memory makes the device usable again.
			for _, h := range held[2:] {
				h.Release()
			}
			v, err := held[0].Add(held[1]).Sum().Item()
			require.NoError(t, err)
			assert.Equal(t, float32(mib/2), v)

			// Unreachable tensors are collected before an allocation fails:
			// a loop that drops each result runs to the end.
			held = nil
			for i := range 40 {
				x := tensor.Full(dev, float64(i), mib/4)
				require.NoError(t, x.Err(), "allocation %d", i)
			}
		})
	}
}

// TestReleasedMemoryIsNotGarbage checks that tensors given back with
// Release do not count toward the next collection: a loop that releases
// what it allocates (here 200 MB, in 1 MB tensors) never collects.
func TestReleasedMemoryIsNotGarbage(t *testing.T) {
	dev := device.CPU()
	x := tensor.Zeros(dev, 256, 1024)
	before := tensor.ReadMemoryStats().Collections
	for range 200 {
		x.AddScalar(1).Release()
	}
	assert.Equal(t, before, tensor.ReadMemoryStats().Collections, "collections during the loop")
}

// TestReleasingOldTensorsKeepsPace checks that releasing a tensor from
// before the last collection does not put off the next one: 40 MB of
// garbage after releasing a 64 MB tensor still collects.
func TestReleasingOldTensorsKeepsPace(t *testing.T) {
	dev := device.CPU()
	big := tensor.Zeros(dev, 16<<20)
	tensor.Collect()
	big.Release()
	before := tensor.ReadMemoryStats().Collections
	for range 40 {
		tensor.Zeros(dev, 256<<10) // 1 MB of garbage each
	}
	assert.Greater(t, tensor.ReadMemoryStats().Collections, before, "collections after 40 MB of garbage")
}

// settledLiveBytes collects garbage until the tensors earlier tests left
// unreachable have given their memory back, and returns what stays live:
// memory freed during a measurement would make room for more.
func settledLiveBytes(dev device.Device) int64 {
	live := dev.Stats().LiveBytes
	for range 50 {
		runtime.GC()
		time.Sleep(2 * time.Millisecond)
		now := dev.Stats().LiveBytes
		if now == live {
			break
		}
		live = now
	}
	return live
}

// TestMemoryID: views of one memory share its ID, other tensors do not,
// and a released tensor has none. (IDs compare with ==: testify's deep
// equality would compare the memories' contents.)
func TestMemoryID(t *testing.T) {
	dev := device.CPU()
	x := tensor.Zeros(dev, 4, 6)
	views := map[string]*tensor.Tensor{
		"reshape":   x.Reshape(6, 4),
		"transpose": x.Transpose(0, 1),
		"slice":     x.Slice(1, 2, 5),
		"flatten":   x.Flatten(0, -1),
	}
	for name, v := range views {
		assert.True(t, x.MemoryID() == v.MemoryID(), name)
	}
	assert.False(t, x.MemoryID() == x.Clone().MemoryID(), "clone")
	assert.False(t, x.MemoryID() == x.AddScalar(1).MemoryID(), "result")
	y := x.Reshape(24)
	x.Release()
	assert.True(t, x.MemoryID() == tensor.MemoryID{}, "released")
	assert.True(t, y.MemoryID() == tensor.MemoryID{}, "a view of released memory")
}
