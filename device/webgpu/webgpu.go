//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

// Package webgpu is wgtensor's WebGPU backend: a backend.Device that runs
// primitives as WGSL compute shaders (the kernels of kernels/wgsl and the
// fused ones it generates) through wgpu-native, on Vulkan, Metal or D3D12.
// It needs cgo and one of the platforms wgpu-native ships for; other builds
// get a stub whose Open returns an error.
//
// Programs reach it through package device (device.GPU); its errors and
// panics begin with "device:", the package they see.
package webgpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/oliverbestmann/webgpu/wgpu"

	"github.com/wgtensor/wgtensor/device/backend"
)

// gpuBackends are the WebGPU backends the device is opened on: Vulkan,
// Metal and D3D12 (wgpu-native's "primary" ones, but for the browser's).
const gpuBackends = wgpu.InstanceBackend(1<<0 | 1<<2 | 1<<3)

// installHint tells a user without a WebGPU driver what to install.
const installHint = "wgtensor's GPU backend needs a Vulkan, Metal or D3D12 driver; " +
	"on Debian or Ubuntu without a GPU, `apt-get install mesa-vulkan-drivers libvulkan1` " +
	"provides lavapipe, a Vulkan driver that runs on the CPU"

var gpuOnce struct {
	sync.Once
	dev *gpuDevice
	err error
}

// Open returns the process's WebGPU device, opening it on first use on the
// best adapter available (discrete before integrated before software); later
// calls return the same device, or the same error. It returns an error, never
// panics, when no adapter answers. device.GPU returns it.
func Open() (backend.Device, error) {
	gpuOnce.Do(func() { gpuOnce.dev, gpuOnce.err = openGPU() })
	if gpuOnce.err != nil {
		return nil, gpuOnce.err
	}
	return gpuOnce.dev, nil
}

// gpuBuffer is a storage buffer of the WebGPU device.
type gpuBuffer struct {
	buf   *wgpu.Buffer
	n     int
	dt    backend.DType
	size  uint64 // bytes of the backing buffer (a pool size class)
	freed bool
	// refused is the refusal of the op that should have written the
	// buffer, if one was refused; Write clears it.
	refused atomic.Pointer[refusal]
	// pending is the buffer's value not computed yet, and users the
	// pending values that read the buffer as it is (see fuse.go).
	pending *ewPending
	users   map[*gpuBuffer]bool
	leaf    *ewNode // the leaf node of the last view read (see leafNode)
	held    bool    // freed, its memory kept for the pending values that read it
	// unrealized is set while the buffer is counted in the device's
	// unrealized: it has no memory yet and may want some.
	unrealized bool
}

// Err returns the error of the refused op that should have written the
// buffer, or nil (see BufferErr).
func (b *gpuBuffer) Err() error {
	if r := b.refused.Load(); r != nil {
		return r
	}
	return nil
}

func (b *gpuBuffer) Len() int             { return b.n }
func (b *gpuBuffer) DType() backend.DType { return b.dt }

// bytes is the size of the buffer's elements, at least 4 so that it can be
// bound.
func (b *gpuBuffer) bytes() uint64 { return elemBytes(b.dt, b.n) }

// elemBytes is the size of n elements of dt (at least one) in whole 32-bit
// words: kernels address 16-bit floats as words holding two.
func elemBytes(dt backend.DType, n int) uint64 {
	return (uint64(max(n, 1))*uint64(dt.Size()) + 3) &^ 3
}

// gpuDevice runs primitives as WGSL compute shaders. Work is recorded into
// one command encoder and submitted when a result is read, a host write needs
// ordering, or the batch fills.
type gpuDevice struct {
	backend.MemoryCap
	mu      sync.Mutex
	inst    *wgpu.Instance
	adapter *wgpu.Adapter
	dev     *wgpu.Device
	queue   *wgpu.Queue
	name    string
	limits  wgpu.Limits
	// bindLimit is the most bytes one binding covers: the adapter's
	// maxStorageBufferBindingSize (tests lower it). Larger buffers are
	// bound a window at a time (see window.go).
	bindLimit uint64
	software  bool // the adapter is a CPU rasteriser such as llvmpipe

	rec       recorder
	binds     bindCache
	pipelines map[string]*pipeline
	modules   map[string]*wgpu.ShaderModule

	pool       map[uint64][]*wgpu.Buffer // free storage buffers by size class
	poolBytes  int64
	staging    map[uint64][]*wgpu.Buffer // free map-read buffers by size class
	doomed     []*wgpu.Buffer            // released after the next submit
	status     *wgpu.Buffer              // index-error flags written by kernels
	destroyed  map[*wgpu.Buffer]bool     // buffers destroyed while handles remain (tests' faults)
	statusUsed bool                      // a kernel may have written status since the last check
	indexNames []string                  // GatherShape.Index names, numbered from 1 in status codes
	indexIDs   map[string]uint32

	stats backend.Stats

	fuse bool // elementwise ops are deferred and fused (see fuse.go)
	// roots are the buffers whose pending value no other pending value
	// has taken in: the results of the chains recorded so far.
	roots map[*gpuBuffer]bool
	// unrealized counts, by size class, the live buffers that have no
	// memory yet (see Alloc and realizeLocked).
	unrealized map[uint64]int
	seq        int64 // counts the deferred ops
	// fuseBindings bounds the storage buffers (leaves and outputs) of a
	// generated kernel: the adapter's maxStorageBuffersPerShaderStage, at
	// most 32.
	fuseBindings int
	epoch        int // counts the sync points (materializeAllLocked)

	timestamps bool // the device has the timestamp-query feature
	shaderF16  bool // the device has the shader-f16 feature
	backend    string
	caps       *backend.Capabilities // filled on first use
	subgroups  bool                  // kernels use subgroup operations (see useSubgroups)
	// subgroupSize is the lanes of a subgroup, measured at open when the
	// kernels use subgroups (0 when not, or when it could not be measured).
	subgroupSize int
	prof         *gpuProfile // the running profile, or nil
	op           string      // the op being recorded, for the profile's labels

	// fault holds the first error the driver reported outside any call
	// (uncaptured error, lost device); it is sticky. It has its own lock
	// because the driver reports while mu is held.
	faultMu sync.Mutex
	fault   error
	oom     atomic.Bool // an out-of-memory error arrived during an allocation
}

// maxPoolBytes caps the memory kept in the free pool.
const maxPoolBytes = 1 << 30

func openGPU() (*gpuDevice, error) {
	// Mesa's window-system code prints "XDG_RUNTIME_DIR is invalid" on
	// stderr when the variable is unset, as on servers and in CI. Compute
	// needs no window system; pointing it at the temporary directory
	// silences the warning.
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	level := wgpu.LogLevelOff
	if os.Getenv("WGTENSOR_WGPU_LOG") != "" {
		level = wgpu.LogLevelWarn
	}
	wgpu.SetLogLevel(level)

	inst := wgpu.CreateInstance(&wgpu.InstanceDescriptor{Backends: gpuBackends})
	adapter := bestAdapter(inst)
	if adapter == nil {
		inst.Release()
		return nil, fmt.Errorf("device: no WebGPU adapter found: %s", installHint)
	}
	info := adapter.GetInfo()
	limits := adapter.GetLimits()
	g := &gpuDevice{
		inst:       inst,
		adapter:    adapter,
		name:       fmt.Sprintf("gpu: %s on %s", info.Device, backendName(info.BackendType)),
		backend:    backendName(info.BackendType),
		limits:     limits,
		bindLimit:  limits.MaxStorageBufferBindingSize,
		software:   info.AdapterType == wgpu.AdapterTypeCPU,
		pipelines:  map[string]*pipeline{},
		indexIDs:   map[string]uint32{},
		modules:    map[string]*wgpu.ShaderModule{},
		pool:       map[uint64][]*wgpu.Buffer{},
		staging:    map[uint64][]*wgpu.Buffer{},
		fuse:       fusionEnabled(),
		roots:      map[*gpuBuffer]bool{},
		unrealized: map[uint64]int{},
		// WebGPU guarantees 8.
		fuseBindings: int(min(max(limits.MaxStorageBuffersPerShaderStage, 8), 32)),
	}
	var features []wgpu.FeatureName
	if adapter.HasFeature(wgpu.FeatureNameTimestampQuery) {
		features = append(features, wgpu.FeatureNameTimestampQuery)
		g.timestamps = true
	}
	if adapter.HasFeature(wgpu.FeatureNameShaderF16) {
		features = append(features, wgpu.FeatureNameShaderF16)
		g.shaderF16 = true
	}
	if useSubgroups(adapter) {
		features = append(features, wgpu.NativeFeatureSubgroup)
		g.subgroups = true
	}
	dev, err := requestDevice(adapter, features, g.uncapturedError, g.deviceLost)
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("device: opening %s: %w", g.name, err)
	}
	g.dev = dev
	g.queue = dev.GetQueue()
	if err := g.rec.init(g); err != nil {
		g.release()
		return nil, err
	}
	if err := g.binds.init(g); err != nil {
		g.release()
		return nil, err
	}
	g.status, err = dev.TryCreateBuffer(&wgpu.BufferDescriptor{
		Label: "wgtensor status",
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
		Size:  16,
	})
	if err != nil {
		g.release()
		return nil, fmt.Errorf("device: creating the status buffer: %w", err)
	}
	if err := g.queue.TryWriteBuffer(g.status, 0, make([]byte, 16)); err != nil {
		g.release()
		return nil, fmt.Errorf("device: clearing the status buffer: %w", err)
	}
	if g.subgroups {
		g.subgroupSize = g.subgroupSizeLocked()
	}
	return g, nil
}

// Capabilities describes the engine, the adapter and what the kernels use.
func (g *gpuDevice) Capabilities() backend.Capabilities {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.caps != nil {
		return *g.caps
	}
	v := uint32(wgpu.GetVersion())
	c := &backend.Capabilities{
		Engine:                    fmt.Sprintf("wgpu-native %d.%d.%d.%d", v>>24, v>>16&0xff, v>>8&0xff, v&0xff),
		Backend:                   g.backend,
		Adapter:                   strings.TrimPrefix(strings.TrimSuffix(g.name, " on "+g.backend), "gpu: "),
		ShaderF16:                 g.shaderF16,
		Timestamps:                g.timestamps,
		MaxStorageBufferBinding:   int64(g.limits.MaxStorageBufferBindingSize),
		MaxBuffer:                 int64(g.limits.MaxBufferSize),
		MaxWorkgroupsPerDimension: int(g.limits.MaxComputeWorkgroupsPerDimension),
	}
	if g.subgroups {
		c.SubgroupSize = g.subgroupSize
	}
	g.caps = c
	return *c
}

// subgroupSizeLocked runs a kernel that reports the subgroup size, or
// returns 0 when it cannot.
func (g *gpuDevice) subgroupSizeLocked() int {
	p, err := g.pipelineLocked("caps", "main", kernelSpec{})
	if err != nil {
		return 0
	}
	out, err := g.scratchLocked(backend.Int32, 4)
	if err != nil {
		return 0
	}
	defer g.releaseScratchLocked(out)
	var pr gpuParams
	pr.ints(0, 0, 0, 0)
	if err := g.launchLocked(p, pr.b, gpuGrid{1, 1, 1}, gpuOut(1, out)); err != nil {
		return 0
	}
	data, _, err := g.readbackLocked(out.buf, 4)
	if err != nil {
		return 0
	}
	return int(binary.LittleEndian.Uint32(data))
}

// useSubgroups reports whether the kernels use subgroup operations on
// adapter: where it has them, unless WGTENSOR_GPU_SUBGROUPS=0 asks for the
// kernels without them (the fallback, which tests run too).
func useSubgroups(adapter *wgpu.Adapter) bool {
	return os.Getenv("WGTENSOR_GPU_SUBGROUPS") != "0" && adapter.HasFeature(wgpu.NativeFeatureSubgroup)
}

// backendName is the usual spelling of a WebGPU backend's name.
func backendName(b wgpu.BackendType) string {
	switch b {
	case wgpu.BackendTypeVulkan:
		return "Vulkan"
	case wgpu.BackendTypeMetal:
		return "Metal"
	case wgpu.BackendTypeD3D12:
		return "D3D12"
	}
	return b.String()
}

// bestAdapter picks the most capable adapter of the primary backends
// (Vulkan, Metal, D3D12) and releases the others.
func bestAdapter(inst *wgpu.Instance) *wgpu.Adapter {
	rank := map[wgpu.AdapterType]int{
		wgpu.AdapterTypeDiscreteGPU:   4,
		wgpu.AdapterTypeIntegratedGPU: 3,
		wgpu.AdapterTypeUnknown:       2,
		wgpu.AdapterTypeCPU:           1,
	}
	var best *wgpu.Adapter
	bestRank := -1
	for _, a := range inst.EnumerateAdapters(&wgpu.InstanceEnumerateAdapterOptons{Backends: gpuBackends}) {
		r := rank[a.GetInfo().AdapterType]
		if r > bestRank {
			if best != nil {
				best.Release()
			}
			best, bestRank = a, r
			continue
		}
		a.Release()
	}
	return best
}

func (g *gpuDevice) release() {
	for _, bg := range g.binds.clear(nil) {
		bg.Release()
	}
	if g.dev != nil {
		g.dev.Release()
	}
	g.adapter.Release()
	g.inst.Release()
}

func (g *gpuDevice) uncapturedError(typ wgpu.ErrorType, message string) {
	if typ == wgpu.ErrorTypeOutOfMemory {
		g.oom.Store(true)
		return
	}
	g.setFault(fmt.Errorf("device: WebGPU %v error: %s", typ, message))
}

// deviceLost makes the loss of the device the sticky fault, in place of an
// error it caused that arrived first: every later call returns it.
func (g *gpuDevice) deviceLost(reason wgpu.DeviceLostReason, message string) {
	g.faultMu.Lock()
	defer g.faultMu.Unlock()
	g.fault = fmt.Errorf("device: the WebGPU device was lost (%v): %s", reason, message)
}

func (g *gpuDevice) setFault(err error) {
	g.faultMu.Lock()
	defer g.faultMu.Unlock()
	if g.fault == nil {
		g.fault = err
	}
}

func (g *gpuDevice) faulted() error {
	g.faultMu.Lock()
	defer g.faultMu.Unlock()
	return g.fault
}

func (g *gpuDevice) Name() string       { return g.name }
func (g *gpuDevice) Kind() backend.Kind { return backend.KindGPU }

// Software reports whether the adapter runs on the CPU (llvmpipe,
// SwiftShader, WARP): a real Vulkan device, but slower than the CPU backend.
func (g *gpuDevice) Software() bool { return g.software }

// MaxBufferBytes is the adapter's maxBufferSize, the largest buffer it
// creates.
func (g *gpuDevice) MaxBufferBytes() int64 { return int64(g.limits.MaxBufferSize) }

// gpuSizeClass rounds a byte count up to one of four classes per power of two,
// so pooled buffers waste at most a quarter of their size. The result never
// exceeds limit when n does not.
func gpuSizeClass(n, limit uint64) uint64 {
	if n <= 256 {
		return 256
	}
	shift := uint(bits.Len64(n-1)) - 3
	c := ((n-1)>>shift + 1) << shift
	return min(c, max(n, limit))
}

// Alloc returns a storage buffer whose memory, from the pool or new, is
// bound when the buffer is first written or read (see realizeLocked).
func (g *gpuDevice) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("device: Alloc: negative length %d", n)
	}
	want := elemBytes(dt, n)
	if want > g.limits.MaxBufferSize {
		return nil, fmt.Errorf("device: Alloc: %d %v elements need %d bytes, more than the adapter's maxBufferSize of %d bytes",
			n, dt, want, g.limits.MaxBufferSize)
	}
	size := gpuSizeClass(want, g.limits.MaxBufferSize)
	if err := g.Admit(int64(size), g.liveBytes); err != nil {
		return nil, err
	}
	g.mu.Lock()
	if len(g.pool[size]) <= g.unrealized[size] {
		// The pool cannot give memory to every buffer of this size
		// that will want some: let the caller collect garbage first,
		// here, since realizeLocked runs with the device locked.
		g.mu.Unlock()
		backend.Reclaim(false)
		g.mu.Lock()
	}
	defer g.mu.Unlock()
	if err := g.faulted(); err != nil {
		return nil, err
	}
	// Its memory is taken when first used (realizeLocked): a pending
	// value taken into another's expression and never computed needs
	// none.
	b := &gpuBuffer{n: n, dt: dt, size: size, unrealized: true}
	g.unrealized[size]++
	g.stats.LiveBuffers++
	g.stats.LiveBytes += int64(size)
	g.stats.PeakLiveByte = max(g.stats.PeakLiveByte, g.stats.LiveBytes)
	return b, nil
}

// realizeLocked gives b its memory, from the pool or new, if it has none
// yet.
func (g *gpuDevice) realizeLocked(b *gpuBuffer) error {
	if b.buf != nil {
		return nil
	}
	g.countRealizedLocked(b)
	if buf, ok := g.popPoolLocked(b.size); ok {
		b.buf = buf
		return nil
	}
	buf, err := g.createLocked(b.size, wgpu.BufferUsageStorage|wgpu.BufferUsageCopySrc|wgpu.BufferUsageCopyDst)
	if errors.Is(err, backend.ErrOutOfMemory) {
		return &refusal{err: fmt.Errorf("%d %v elements (%d bytes): %w", b.n, b.dt, b.size, err)}
	}
	if err != nil {
		return fmt.Errorf("device: a buffer of %d %v elements (%d bytes): %w", b.n, b.dt, b.size, err)
	}
	b.buf = buf
	return nil
}

// countRealizedLocked takes b out of the count of buffers that have no
// memory yet, once.
func (g *gpuDevice) countRealizedLocked(b *gpuBuffer) {
	if b.unrealized {
		b.unrealized = false
		g.unrealized[b.size]--
	}
}

// liveBytes returns the bytes of the live buffers.
func (g *gpuDevice) liveBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats.LiveBytes
}

// createLocked creates a buffer, turning an out-of-memory report into an
// error. When memory is short it first releases the pool and retries.
func (g *gpuDevice) createLocked(size uint64, usage wgpu.BufferUsage) (*wgpu.Buffer, error) {
	for attempt := 0; ; attempt++ {
		g.oom.Store(false)
		buf, err := g.dev.TryCreateBuffer(&wgpu.BufferDescriptor{Usage: usage, Size: size})
		if err == nil && !g.oom.Load() {
			g.stats.Created++
			return buf, nil
		}
		if buf != nil {
			buf.Release()
		}
		if err == nil {
			err = fmt.Errorf("the driver reported: %w", backend.ErrOutOfMemory)
		}
		if attempt > 0 || g.poolBytes == 0 {
			return nil, err
		}
		g.trimPoolLocked(0)
		if err := g.flushLocked(); err != nil {
			return nil, err
		}
	}
}

// Free returns b to the pool. Work already recorded that uses b runs before
// any later use of the same memory, because both are recorded in order.
func (g *gpuDevice) Free(buf backend.Buffer) {
	b, ok := buf.(*gpuBuffer)
	if !ok || b == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if b.freed {
		return
	}
	// Its own pending value is never needed. While pending values read
	// it, its memory is held back from the pool until they are computed
	// or dropped (most are temporaries freed soon after).
	g.dropPendingLocked(b, true)
	b.freed = true
	if b.buf == nil && len(b.users) == 0 {
		g.countRealizedLocked(b) // it will never want memory
	}
	g.stats.LiveBuffers--
	g.stats.LiveBytes -= int64(b.size)
	if len(b.users) > 0 {
		b.held = true
		return
	}
	g.poolLocked(b)
}

// poolLocked returns a freed buffer's memory, if it had any, to the pool.
func (g *gpuDevice) poolLocked(b *gpuBuffer) {
	if b.buf == nil {
		g.countRealizedLocked(b)
		return
	}
	g.pushPoolLocked(b.size, b.buf)
	if g.poolBytes > maxPoolBytes {
		g.trimPoolLocked(maxPoolBytes / 2)
	}
}

// pushPoolLocked returns buf, of size bytes, to the pool. Each size's free
// buffers form a heap ordered by address, and popPoolLocked takes the
// highest, so that the pool hands them out in an order that does not
// depend on the order the garbage collector freed them in: a steady
// training step then gets the same buffers, and finds its bind groups in
// the cache (bindCache), in every cycle of collections. Handed out last
// in, first out as they came, the MLP step created 8.6 of its 12 bind
// groups anew every step on lavapipe, and 0.6 so (the step 10% faster).
func (g *gpuDevice) pushPoolLocked(size uint64, buf *wgpu.Buffer) {
	h := append(g.pool[size], buf)
	for i := len(h) - 1; i > 0; {
		up := (i - 1) / 2
		if bufferID(h[up]) >= bufferID(h[i]) {
			break
		}
		h[up], h[i] = h[i], h[up]
		i = up
	}
	g.pool[size] = h
	g.poolBytes += int64(size)
}

// popPoolLocked takes the free buffer of size bytes with the highest
// address from the pool, or reports false when there is none.
func (g *gpuDevice) popPoolLocked(size uint64) (*wgpu.Buffer, bool) {
	h := g.pool[size]
	if len(h) == 0 {
		return nil, false
	}
	top, last := h[0], len(h)-1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		big, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && bufferID(h[l]) > bufferID(h[big]) {
			big = l
		}
		if r < len(h) && bufferID(h[r]) > bufferID(h[big]) {
			big = r
		}
		if big == i {
			break
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
	g.pool[size] = h
	g.poolBytes -= int64(size)
	return top, true
}

// trimPoolLocked releases pooled buffers until at most keep bytes remain.
// They may still be named by recorded work, so they are released only after
// the next submit.
func (g *gpuDevice) trimPoolLocked(keep int64) {
	for size, free := range g.pool {
		for len(free) > 0 && g.poolBytes > keep {
			g.doomed = append(g.doomed, free[len(free)-1])
			free = free[:len(free)-1]
			g.poolBytes -= int64(size)
		}
		g.pool[size] = free
	}
}

// Write copies host data into dst, after every earlier use of dst's memory:
// a small write is recorded among the work as a copy (see uploadLocked); a
// large one submits the recorded work first.
func (g *gpuDevice) Write(dst backend.Buffer, src any) error {
	b, err := g.own(dst, "Write")
	if err != nil {
		return err
	}
	data, err := hostBytes("Write", b.dt, b.n, src)
	if err != nil {
		return err
	}
	data = padWords(data)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.faulted(); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	if err := g.computeUsersLocked(b); err != nil {
		return err
	}
	g.dropPendingLocked(b, true)
	b.refused.Store(nil)
	if err := g.realizeLocked(b); err != nil {
		return fmt.Errorf("device: Write: %w", err)
	}
	if ok, err := g.uploadLocked(b.buf, data); ok || err != nil {
		return err
	}
	if err := g.flushLocked(); err != nil {
		return err
	}
	if err := g.queue.TryWriteBuffer(b.buf, 0, data); err != nil {
		return fmt.Errorf("device: Write: %w", err)
	}
	return nil
}

// Read waits for the recorded work and copies src into dst.
func (g *gpuDevice) Read(src backend.Buffer, dst any) error {
	b, err := g.own(src, "Read")
	if err != nil {
		return err
	}
	out, err := hostBytes("Read", b.dt, b.n, dst)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// A readback is a sync point (see materializeAllLocked), and b's own
	// value is computed even when it is on the way to another.
	if err := errors.Join(g.materializeAllLocked(), g.materializeLocked(b)); err != nil {
		g.setFault(err)
		return g.faulted()
	}
	if err := b.Err(); err != nil {
		return err
	}
	if err := g.realizeLocked(b); err != nil {
		return fmt.Errorf("device: Read: %w", err)
	}
	g.stats.Readbacks++
	data, status, err := g.readbackLocked(b.buf, (uint64(len(out))+3)&^3)
	if err != nil {
		return err
	}
	copy(out, data)
	return status
}

// Sync waits until the recorded work has run and reports the first error.
func (g *gpuDevice) Sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.materializeAllLocked(); err != nil {
		g.setFault(err)
		return g.faulted()
	}
	if g.statusUsed {
		_, status, err := g.readbackLocked(nil, 0)
		if err != nil {
			return err
		}
		return status
	}
	if err := g.flushLocked(); err != nil {
		return err
	}
	if err := g.waitIdleLocked(); err != nil {
		return err
	}
	return g.faulted()
}

// waitIdleLocked waits until the queue is empty.
func (g *gpuDevice) waitIdleLocked() error {
	empty := false
	return g.pollUntil(func() bool { return empty }, func(e bool) { empty = e })
}

// pollUntil lets wgpu wait for the submitted work (Poll(true) blocks until
// the queue is empty and runs the callbacks that are due, such as a map's)
// until done reports true. When the queue is empty and done still does not
// hold (a callback the driver has not run yet), it polls again after a
// short pause, a little longer each time.
func (g *gpuDevice) pollUntil(done func() bool, queueEmpty func(bool)) error {
	if p := g.prof; p != nil {
		defer func(t time.Time) { p.wait += time.Since(t) }(time.Now())
	}
	pause := time.Microsecond
	for {
		empty := g.dev.Poll(true, nil)
		if queueEmpty != nil {
			queueEmpty(empty)
		}
		if done() {
			return nil
		}
		if err := g.faulted(); err != nil {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Millisecond)
	}
}

// readbackLocked copies size bytes of src (when src is non-nil) and, when a
// kernel may have flagged a bad index, the status buffer into a mappable
// buffer, submits, and waits for the map callback. It returns the data (valid
// until the next readback), the index error found in status, and any failure.
func (g *gpuDevice) readbackLocked(src *wgpu.Buffer, size uint64) ([]byte, error, error) {
	if err := g.faulted(); err != nil {
		return nil, nil, err
	}
	checkStatus := g.statusUsed
	total := size
	if checkStatus {
		total += 16
	}
	if total == 0 {
		return nil, nil, nil
	}
	class := gpuSizeClass(total, g.limits.MaxBufferSize)
	staging, err := g.stagingLocked(class)
	if err != nil {
		return nil, nil, err
	}
	enc, err := g.rec.copyEncoder()
	if err != nil {
		return nil, nil, err
	}
	if size > 0 {
		g.rec.use(src, staging)
		if err := enc.TryCopyBufferToBuffer(src, 0, staging, 0, size); err != nil {
			return nil, nil, fmt.Errorf("device: Read: %w", err)
		}
	}
	if checkStatus {
		if err := enc.TryCopyBufferToBuffer(g.status, 0, staging, size, 16); err != nil {
			return nil, nil, fmt.Errorf("device: Read: %w", err)
		}
		if err := enc.TryClearBuffer(g.status, 0, 16); err != nil {
			return nil, nil, fmt.Errorf("device: Read: %w", err)
		}
		g.statusUsed = false
	}
	if err := g.flushLocked(); err != nil {
		return nil, nil, err
	}
	done := false
	var mapStatus wgpu.MapAsyncStatus
	if err := staging.TryMapAsync(wgpu.MapModeRead, 0, class, func(s wgpu.MapAsyncStatus) {
		mapStatus, done = s, true
	}); err != nil {
		return nil, nil, fmt.Errorf("device: Read: %w", err)
	}
	// The callback fires inside Poll, once the copy has run; poll until it
	// has fired.
	if err := g.pollUntil(func() bool { return done }, nil); err != nil {
		return nil, nil, err
	}
	if mapStatus != wgpu.MapAsyncStatusSuccess {
		return nil, nil, fmt.Errorf("device: Read: mapping the result failed: %v", mapStatus)
	}
	mapped := staging.GetMappedRange(0, uint(total))
	data := make([]byte, total)
	copy(data, mapped)
	if err := staging.TryUnmap(); err != nil {
		return nil, nil, fmt.Errorf("device: Read: %w", err)
	}
	g.staging[class] = append(g.staging[class], staging)
	var indexErr error
	if checkStatus {
		indexErr = g.statusError(data[size:])
	}
	return data[:size], indexErr, nil
}

func (g *gpuDevice) stagingLocked(class uint64) (*wgpu.Buffer, error) {
	if free := g.staging[class]; len(free) > 0 {
		g.staging[class] = free[:len(free)-1]
		return free[len(free)-1], nil
	}
	buf, err := g.createLocked(class, wgpu.BufferUsageMapRead|wgpu.BufferUsageCopyDst)
	if err != nil {
		return nil, fmt.Errorf("device: Read: staging buffer of %d bytes: %w", class, err)
	}
	return buf, nil
}

// statusError decodes the status words written by the index kernels: the
// op code, with the number of the name its indices were given (see
// indexCodeLocked) above its low byte, the index and the length.
func (g *gpuDevice) statusError(words []byte) error {
	u := unsafe.Slice((*uint32)(unsafe.Pointer(&words[0])), 3)
	if u[0] == 0 {
		return nil
	}
	name := indexOpName(u[0]&0xff) + ": index"
	if id := int(u[0] >> 8); id > 0 && id <= len(g.indexNames) {
		name = g.indexNames[id-1]
	}
	return fmt.Errorf("device: %s %d out of range [0, %d)", name, int32(u[1]), u[2])
}

// indexCodeLocked returns the status code an index kernel reports for the
// primitive code with indices named as sh says.
func (g *gpuDevice) indexCodeLocked(code uint32, sh backend.GatherShape) uint32 {
	if sh.Index == "" {
		return code
	}
	id, ok := g.indexIDs[sh.Index]
	if !ok && len(g.indexNames) < 1<<20 {
		g.indexNames = append(g.indexNames, sh.Index)
		id = uint32(len(g.indexNames))
		g.indexIDs[sh.Index] = id
	}
	return code | id<<8
}

// Stats returns the device's counters.
func (g *gpuDevice) Stats() backend.Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	for _, free := range g.pool {
		s.PoolBuffers += len(free)
	}
	s.PoolBytes = g.poolBytes
	return s
}

// own checks that b is a live buffer of this device.
func (g *gpuDevice) own(buf backend.Buffer, op string) (*gpuBuffer, error) {
	b, ok := buf.(*gpuBuffer)
	if !ok || b == nil {
		return nil, fmt.Errorf("device: %s: buffer %T does not belong to %s", op, buf, g.name)
	}
	if b.freed {
		return nil, fmt.Errorf("device: %s: buffer was freed", op)
	}
	return b, nil
}
