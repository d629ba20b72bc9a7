// Package cpu is wgtensor's CPU backend: a backend.Device that computes
// on the host, keeping buffers as Go slices, splitting loops across a pool
// of worker goroutines, and running the assembly kernels of
// device/internal/kernel (GEMM micro-kernels, convolutions, pooling,
// elementwise math) where the processor has AVX2 or AVX-512.
//
// Programs reach it through package device (device.CPU); its errors and
// panics begin with "device:", the package they see.
package cpu

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuMaxElements is the largest buffer the CPU device allocates: int32
// indices must be able to address every element.
const cpuMaxElements = math.MaxInt32

// cpuPoolLimit is the number of bytes of freed buffers the CPU device keeps
// for reuse; buffers freed beyond it are left to the garbage collector.
const cpuPoolLimit = 1 << 30

// cpuClasses is the number of power-of-two capacity classes of the pool.
const cpuClasses = 32

// The process-wide CPU device, created on first use.
var (
	cpuOnce   sync.Once
	cpuSingle *cpuDevice
)

// Default returns the process-wide CPU device, which runs primitives on the
// host with as many goroutines as runtime.GOMAXPROCS allows; device.CPU
// returns it.
func Default() backend.Device {
	cpuOnce.Do(func() { cpuSingle = newCPUDevice() })
	return cpuSingle
}

// New returns a CPU device of its own, with its own buffer pool, counters
// and memory limit; its parallel loops share the process's workers with
// every other CPU device.
func New() backend.Device { return newCPUDevice() }

// newCPUDevice returns a CPU device with its own pool and counters.
func newCPUDevice() *cpuDevice {
	return &cpuDevice{poolLimit: cpuPoolLimit}
}

// cpuDevice is the Device that computes on the host CPU. Its work is done by
// the time a primitive returns; only the pending index error is deferred.
type cpuDevice struct {
	backend.MemoryCap
	mu         sync.Mutex
	freeFloats [cpuClasses][][]float32 // free float32 slices by capacity class
	freeInts   [cpuClasses][][]int32   // free int32 slices by capacity class
	freeHalves [cpuClasses][][]uint16  // free 16-bit slices by capacity class
	stats      backend.Stats           // all but Dispatches and Readbacks
	pending    error                   // first error since the last Sync or Read
	poolLimit  int64                   // bytes of freed buffers kept for reuse at most

	dispatches atomic.Int64
	readbacks  atomic.Int64
}

// cpuBuffer is a buffer of the CPU device: a Go slice of its element type.
type cpuBuffer struct {
	dt    backend.DType
	f     []float32 // the elements when dt is Float32
	i     []int32   // the elements when dt is Int32
	h     []uint16  // the elements' bits when dt is Float16 or BFloat16
	n     int
	freed bool                     // guarded by the device's mutex
	packs atomic.Pointer[cpuPacks] // derived forms of a frozen buffer (see Freeze), or nil
}

// Len is the number of elements.
func (b *cpuBuffer) Len() int { return b.n }

// DType is the element type.
func (b *cpuBuffer) DType() backend.DType { return b.dt }

// capBytes is the number of bytes the buffer's backing array holds.
func (b *cpuBuffer) capBytes() int64 {
	return int64(max(cap(b.f), cap(b.i))*4 + cap(b.h)*2)
}

// Name describes the device and the number of goroutines it uses.
func (d *cpuDevice) Name() string {
	n := runtime.GOMAXPROCS(0)
	if n == 1 {
		return "cpu (1 thread)"
	}
	return fmt.Sprintf("cpu (%d threads)", n)
}

// Kind returns KindCPU.
func (d *cpuDevice) Kind() backend.Kind { return backend.KindCPU }

// cpuSizeClass returns the capacity class of a buffer of n > 0 elements: its
// backing array holds 1<<class elements.
func cpuSizeClass(n int) int { return bits.Len(uint(n - 1)) }

// Alloc returns a buffer of n elements, reusing a freed one of the same
// capacity class when the pool has one.
func (d *cpuDevice) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	switch {
	case dt != backend.Float32 && dt != backend.Int32 && !dt.IsHalf():
		return nil, fmt.Errorf("device: Alloc: unsupported type %v", dt)
	case n < 0:
		return nil, fmt.Errorf("device: Alloc: negative size %d", n)
	case n > cpuMaxElements:
		return nil, fmt.Errorf("device: Alloc: %d elements of %v exceed the CPU limit of %d elements", n, dt, cpuMaxElements)
	}
	bytes := int64(n) * int64(dt.Size())
	if err := d.Admit(bytes, d.liveBytes); err != nil {
		return nil, err
	}
	b := &cpuBuffer{dt: dt, n: n}
	hit := n == 0 || d.takeFromPool(b)
	if !hit {
		backend.Reclaim(false)
		hit = d.takeFromPool(b)
	}
	if !hit {
		c := 1 << cpuSizeClass(n)
		switch {
		case dt == backend.Float32:
			b.f = make([]float32, n, c)
		case dt == backend.Int32:
			b.i = make([]int32, n, c)
		default:
			b.h = make([]uint16, n, c)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !hit {
		d.stats.Created++
	}
	d.stats.LiveBuffers++
	d.stats.LiveBytes += bytes
	d.stats.PeakLiveByte = max(d.stats.PeakLiveByte, d.stats.LiveBytes)
	return b, nil
}

// liveBytes returns the bytes of the live buffers.
func (d *cpuDevice) liveBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats.LiveBytes
}

// takeFromPool gives b a pooled backing array of its class, reporting
// whether the pool had one.
func (d *cpuDevice) takeFromPool(b *cpuBuffer) bool {
	c := cpuSizeClass(b.n)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case b.dt == backend.Float32:
		if b.f = takeFree(&d.freeFloats[c], b.n); b.f == nil {
			return false
		}
	case b.dt == backend.Int32:
		if b.i = takeFree(&d.freeInts[c], b.n); b.i == nil {
			return false
		}
	default:
		if b.h = takeFree(&d.freeHalves[c], b.n); b.h == nil {
			return false
		}
	}
	d.stats.PoolBuffers--
	d.stats.PoolBytes -= b.capBytes()
	return true
}

// takeFree pops a slice from a free list and gives it length n, or returns
// nil when the list is empty.
func takeFree[T float32 | int32 | uint16](free *[][]T, n int) []T {
	l := *free
	if len(l) == 0 {
		return nil
	}
	*free = l[:len(l)-1]
	return l[len(l)-1][:n]
}

// Free returns b's memory to the pool, or drops it when the pool is full.
// Buffers of other devices and buffers already freed are ignored.
func (d *cpuDevice) Free(b backend.Buffer) {
	cb, ok := b.(*cpuBuffer)
	if !ok || cb == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cb.freed {
		return
	}
	cb.freed = true
	d.stats.LiveBuffers--
	d.stats.LiveBytes -= int64(cb.n) * int64(cb.dt.Size())
	size := cb.capBytes()
	if cb.n > 0 && d.stats.PoolBytes+size <= d.poolLimit {
		c := cpuSizeClass(cb.n)
		switch {
		case cb.dt == backend.Float32:
			d.freeFloats[c] = append(d.freeFloats[c], cb.f[:0])
		case cb.dt == backend.Int32:
			d.freeInts[c] = append(d.freeInts[c], cb.i[:0])
		default:
			d.freeHalves[c] = append(d.freeHalves[c], cb.h[:0])
		}
		d.stats.PoolBuffers++
		d.stats.PoolBytes += size
	}
	cb.f, cb.i, cb.h = nil, nil, nil
	cb.packs.Store(nil)
}

// Write copies src, a []float32, []int32 or []uint16 (the bits of a 16-bit
// float) of dst's type and length, into dst.
func (d *cpuDevice) Write(dst backend.Buffer, src any) error {
	b, err := cpuHostMatch("Write", dst, src)
	if err != nil {
		return err
	}
	if b.packs.Load() != nil {
		return errors.New("device: Write: the buffer is frozen (Freeze)")
	}
	switch s := src.(type) {
	case []float32:
		copy(b.f, s)
	case []int32:
		copy(b.i, s)
	case []uint16:
		copy(b.h, s)
	}
	return nil
}

// Read copies src into dst, a []float32, []int32 or []uint16 of src's type
// and length,
// and returns the pending error, if any, clearing it.
func (d *cpuDevice) Read(src backend.Buffer, dst any) error {
	b, err := cpuHostMatch("Read", src, dst)
	if err != nil {
		return err
	}
	d.readbacks.Add(1)
	switch s := dst.(type) {
	case []float32:
		copy(s, b.f)
	case []int32:
		copy(s, b.i)
	case []uint16:
		copy(s, b.h)
	}
	return d.Sync()
}

// cpuHostMatch checks that host is a slice of b's type and length, and returns
// b as a CPU buffer.
func cpuHostMatch(method string, b backend.Buffer, host any) (*cpuBuffer, error) {
	cb, ok := b.(*cpuBuffer)
	if !ok || cb == nil {
		return nil, fmt.Errorf("device: %s: %T is not a CPU buffer", method, b)
	}
	if cb.freed {
		return nil, fmt.Errorf("device: %s: buffer was freed", method)
	}
	n := -1
	switch s := host.(type) {
	case []float32:
		if cb.dt == backend.Float32 {
			n = len(s)
		}
	case []int32:
		if cb.dt == backend.Int32 {
			n = len(s)
		}
	case []uint16:
		if cb.dt.IsHalf() {
			n = len(s)
		}
	default:
		return nil, fmt.Errorf("device: %s: got %T, want []%v of length %d", method, host, cb.dt, cb.n)
	}
	if n != cb.n {
		return nil, fmt.Errorf("device: %s: got %T of length %d for a %v buffer of %d elements",
			method, host, backend.HostLen(host), cb.dt, cb.n)
	}
	return cb, nil
}

// Sync returns the first error met since the last Sync or Read, clearing it.
func (d *cpuDevice) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.pending
	d.pending = nil
	return err
}

// fail records err as the pending error unless one is already pending.
func (d *cpuDevice) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = err
	}
}

// Stats returns the device's counters.
func (d *cpuDevice) Stats() backend.Stats {
	d.mu.Lock()
	s := d.stats
	d.mu.Unlock()
	s.Dispatches = d.dispatches.Load()
	s.Readbacks = d.readbacks.Load()
	return s
}

// dispatch counts one primitive call.
func (d *cpuDevice) dispatch() { d.dispatches.Add(1) }

// cpuElem is the set of element types of the CPU buffers that the
// primitives compute on.
type cpuElem interface {
	float32 | int32
}

// cpuElems returns the elements of the CPU buffer b, which must hold T.
func cpuElems[T cpuElem | uint16](b backend.Buffer) []T {
	cb := b.(*cpuBuffer)
	var zero T
	var s any
	switch any(zero).(type) {
	case uint16:
		if cb.dt.IsHalf() {
			s = cb.h
		}
	case float32:
		if cb.dt == backend.Float32 {
			s = cb.f
		}
	case int32:
		if cb.dt == backend.Int32 {
			s = cb.i
		}
	}
	if s == nil {
		panic(fmt.Sprintf("device: %v buffer used as %T", cb.dt, zero))
	}
	return s.([]T)
}

// cpuFloats returns the elements of the float32 CPU buffer b.
func cpuFloats(b backend.Buffer) []float32 { return cpuElems[float32](b) }

// cpuInts returns the elements of the int32 CPU buffer b.
func cpuInts(b backend.Buffer) []int32 { return cpuElems[int32](b) }

// Fill sets every element of dst to v converted to dst's type.
func (d *cpuDevice) Fill(dst backend.Buffer, v float64) {
	d.dispatch()
	switch dt := dst.DType(); {
	case dt == backend.Float32:
		cpuFill(cpuFloats(dst), float32(v))
	case dt == backend.Int32:
		cpuFill(cpuInts(dst), int32(v))
	default:
		cpuFill(cpuHalves(dst), encodeHalf(float32(v), dt))
	}
}

// cpuFill sets every element of x to v.
func cpuFill[T cpuElem | uint16](x []T, v T) {
	cpuParallel(len(x), 1, func(lo, hi int) {
		s := x[lo:hi]
		for i := range s {
			s[i] = v
		}
	})
}
