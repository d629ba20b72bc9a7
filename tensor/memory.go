package tensor

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/wgtensor/wgtensor/device"
)

// Tensor memory is given back to its device's pool when the garbage
// collector finds the tensor unreachable. That memory lives outside the Go
// heap (on a GPU) or is kept in a pool, so the collector's own pacing does
// not see it: a training loop would allocate new device buffers faster than
// collections return old ones. So the package paces collections itself, as
// GOGC does for the heap: it collects once the tensor bytes allocated since
// the last collection exceed those that were live after it, or when a
// device's pool runs out of a size, and waits for the freed buffers to reach
// their pools. In a steady training loop every buffer then comes from a
// pool.
var memory struct {
	live        atomic.Int64 // bytes held by reachable (or not yet collected) tensors
	sinceGC     atomic.Int64 // bytes allocated since the last collection
	liveAfterGC atomic.Int64 // live bytes right after the last collection
	collecting  atomic.Bool
	collections atomic.Int64
}

// minGCBudget keeps small programs from collecting all the time. A forced
// collection costs about 0.2 ms even with little to do, so a larger budget
// helps loops of large tensors (a 1 MB softmax 66 → 53 µs at 64 MB), but
// small tensors then cycle through more memory than the caches hold (100
// chained adds of 4 KB 68 → 84 µs, an MLP training step 0.63 → 0.70 ms);
// collecting also after a number of tensors recovered only half of that.
const minGCBudget = 32 << 20

// minReclaim is how many bytes must have been allocated since the last
// collection for a pool miss to trigger one. A lower bound collects too
// often when each op frees a large buffer (a loop of 1 MB softmaxes
// collected every second op with 1 MB); with 16 MB the pools hold at most
// that much garbage more than the live tensors.
const minReclaim = 16 << 20

func init() { device.SetReclaim(reclaimFor) }

// reclaimFor runs for a device whose pool has no buffer of a size, or,
// with force, whose memory limit an allocation would pass: if enough has
// been allocated since the last collection, or memory is short, collecting
// first returns the buffers of unreachable tensors to the pools.
func reclaimFor(force bool) {
	if (!force && memory.sinceGC.Load() < minReclaim) || !memory.collecting.CompareAndSwap(false, true) {
		return
	}
	defer memory.collecting.Store(false)
	collect()
	// Short of memory, collect again while that frees more: collect waits
	// for the cleanups only briefly, and they can lag (much, under the
	// race detector).
	for i := 0; force && i < 2; i++ {
		before := memory.live.Load()
		collect()
		if memory.live.Load() >= before {
			break
		}
	}
}

// bufferRef is what a storage's cleanup needs: the buffer and its size,
// and whether Release already gave it back.
type bufferRef struct {
	dev   device.Device
	buf   device.Buffer
	bytes int64
	epoch int64 // memory.collections when it was allocated
	freed atomic.Bool
}

// release gives the buffer back by hand: memory freed that way is not
// garbage for the next collection to find, so when it was allocated since
// the last collection it no longer counts toward the next one.
func (r *bufferRef) release() {
	if r.free() && r.epoch == memory.collections.Load() {
		memory.sinceGC.Add(-r.bytes)
	}
}

// free gives the buffer back once, from Release or from the cleanup, and
// reports whether this call did.
func (r *bufferRef) free() bool {
	if !r.freed.CompareAndSwap(false, true) {
		return false
	}
	r.dev.Free(r.buf)
	memory.live.Add(-r.bytes)
	return true
}

// newStorage allocates n elements on dev and arranges for them to be freed
// when the storage becomes unreachable.
func newStorage(dev device.Device, dt DType, n int) (*storage, error) {
	bytes := int64(n) * int64(dt.Size())
	pace(bytes)
	buf, err := dev.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	ref := &bufferRef{dev: dev, buf: buf, bytes: bytes, epoch: memory.collections.Load()}
	memory.live.Add(bytes)
	s := &storage{buf: buf, ref: ref}
	runtime.AddCleanup(s, func(r *bufferRef) { r.free() }, ref)
	return s, nil
}

// pace counts an allocation and collects when the budget is spent.
func pace(bytes int64) {
	budget := max(minGCBudget, memory.liveAfterGC.Load())
	if memory.sinceGC.Add(bytes) < budget || !memory.collecting.CompareAndSwap(false, true) {
		return
	}
	defer memory.collecting.Store(false)
	collect()
}

// collect runs a collection and waits (briefly) until the cleanups it
// queued have returned their buffers. The runtime runs cleanups on several
// goroutines in no set order, so a sentinel's cleanup having run does not
// mean the others have: collect then waits until the live bytes stop
// falling.
func collect() {
	done := make(chan struct{})
	sentinel := new([16]byte)
	runtime.AddCleanup(sentinel, func(ch chan struct{}) { close(ch) }, done)
	sentinel = nil
	runtime.GC()
	deadline := time.After(20 * time.Millisecond)
	select {
	case <-done:
		waitForCleanups(deadline)
	case <-deadline:
	}
	memory.sinceGC.Store(0)
	memory.liveAfterGC.Store(memory.live.Load())
	memory.collections.Add(1)
}

// waitForCleanups returns once the live bytes have not changed for a few
// rounds of yielding to the cleanup goroutines, or at the deadline.
func waitForCleanups(deadline <-chan time.Time) {
	last, still := memory.live.Load(), 0
	for still < 8 {
		select {
		case <-deadline:
			return
		default:
		}
		runtime.Gosched()
		if now := memory.live.Load(); now != last {
			last, still = now, 0
		} else {
			still++
		}
	}
}

// Collect runs a garbage collection and waits, briefly, until the device
// memory of the tensors it found unreachable is back in the pools, so that
// device statistics read afterwards count only reachable tensors. Training
// loops need not call it: the package collects by itself as tensors are
// allocated.
func Collect() {
	for !memory.collecting.CompareAndSwap(false, true) {
		runtime.Gosched()
	}
	defer memory.collecting.Store(false)
	collect()
}

// MemoryStats describes the tensor memory the package tracks.
type MemoryStats struct {
	LiveBytes   int64 // bytes of tensors not yet freed
	Collections int64 // collections the package triggered
}

// ReadMemoryStats returns the package's memory counters.
func ReadMemoryStats() MemoryStats {
	return MemoryStats{LiveBytes: memory.live.Load(), Collections: memory.collections.Load()}
}
