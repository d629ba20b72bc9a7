//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"

	"github.com/wgtensor/wgtensor/device/backend"
)

// gpuProfileDispatches is how many dispatches one batch times; a batch
// that reaches it is submitted and its timestamps read.
const gpuProfileDispatches = 1024

// gpuProfile gathers a profile (see Profiler). While it runs every dispatch
// gets a compute pass of its own whose beginning and end write timestamps,
// and each submission resolves them and waits to read them back: profiling
// costs time, which is why it is not always on.
type gpuProfile struct {
	start   time.Time
	queries *wgpu.QuerySet // two timestamps per dispatch of a batch
	resolve *wgpu.Buffer   // where the batch's timestamps are resolved
	labels  []string       // the kernel of each dispatch of the batch
	kernels map[string]*backend.KernelTime
	record  time.Duration
	submit  time.Duration
	wait    time.Duration
}

// StartProfile begins timing the device's kernels; it needs the adapter's
// timestamp-query feature.
func (g *gpuDevice) StartProfile() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.timestamps {
		return fmt.Errorf("device: %s has no timestamp-query feature: its kernels cannot be timed", g.name)
	}
	if g.prof != nil {
		return errors.New("device: StartProfile: a profile is already running")
	}
	if err := g.flushLocked(); err != nil {
		return err
	}
	if err := g.waitIdleLocked(); err != nil {
		return err
	}
	p := &gpuProfile{start: time.Now(), kernels: map[string]*backend.KernelTime{}}
	var err error
	p.queries, err = g.dev.TryCreateQuerySet(&wgpu.QuerySetDescriptor{Label: "wgtensor profile", Type: wgpu.QueryTypeTimestamp, Count: 2 * gpuProfileDispatches})
	if err != nil {
		return fmt.Errorf("device: StartProfile: %w", err)
	}
	p.resolve, err = g.createLocked(16*gpuProfileDispatches, wgpu.BufferUsageQueryResolve|wgpu.BufferUsageCopySrc)
	if err != nil {
		p.queries.Release()
		return fmt.Errorf("device: StartProfile: %w", err)
	}
	g.prof = p
	return nil
}

// StopProfile waits for the profiled work and returns its times.
func (g *gpuDevice) StopProfile() (*backend.Profile, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.prof
	if p == nil {
		return nil, errors.New("device: StopProfile: no profile is running")
	}
	err := g.materializeAllLocked() // pending values are work of the region
	if err == nil {
		err = g.flushLocked()
	}
	if err == nil {
		err = g.waitIdleLocked()
	}
	g.prof = nil
	p.queries.Release()
	g.doomed = append(g.doomed, p.resolve)
	if err != nil {
		return nil, err
	}
	out := &backend.Profile{Device: g.name, Wall: time.Since(p.start), Record: p.record, Submit: p.submit, Wait: p.wait}
	for _, k := range p.kernels {
		out.Kernels = append(out.Kernels, *k)
	}
	sortKernels(out)
	return out, nil
}

// profiledPassLocked returns a compute pass of its own for the next
// dispatch, kernel, whose start and end it times; ending it is the
// caller's (endPass) once the dispatch is recorded.
func (g *gpuDevice) profiledPassLocked(kernel string) (*wgpu.ComputePassEncoder, error) {
	p, r := g.prof, &g.rec
	if len(p.labels) == gpuProfileDispatches {
		if err := g.flushLocked(); err != nil {
			return nil, err
		}
	}
	if err := r.endPass(); err != nil {
		return nil, err
	}
	enc, err := r.encoder()
	if err != nil {
		return nil, err
	}
	i := uint32(len(p.labels))
	r.pass = enc.BeginComputePass(&wgpu.ComputePassDescriptor{TimestampWrites: &wgpu.PassTimestampWrites{
		QuerySet: p.queries, BeginningOfPassWriteIndex: 2 * i, EndOfPassWriteIndex: 2*i + 1}})
	p.labels = append(p.labels, kernel)
	return r.pass, nil
}

// resolveProfileLocked records, into enc before it is finished, the
// resolution of the batch's timestamps and their copy into a mappable
// buffer, which it returns (nil when the batch timed nothing).
func (g *gpuDevice) resolveProfileLocked(enc *wgpu.CommandEncoder) (*wgpu.Buffer, uint64, error) {
	p := g.prof
	if p == nil || len(p.labels) == 0 {
		return nil, 0, nil
	}
	n := uint32(2 * len(p.labels))
	if err := enc.TryResolveQuerySet(p.queries, 0, n, p.resolve, 0); err != nil {
		return nil, 0, fmt.Errorf("device: resolving the profile's timestamps: %w", err)
	}
	class := gpuSizeClass(uint64(8*n), g.limits.MaxBufferSize)
	staging, err := g.stagingLocked(class)
	if err != nil {
		return nil, 0, err
	}
	g.rec.use(p.resolve, staging)
	if err := enc.TryCopyBufferToBuffer(p.resolve, 0, staging, 0, uint64(8*n)); err != nil {
		return nil, 0, fmt.Errorf("device: copying the profile's timestamps: %w", err)
	}
	return staging, class, nil
}

// readProfileLocked waits for the submitted batch, reads its timestamps
// from staging and adds each dispatch's time to its kernel.
func (g *gpuDevice) readProfileLocked(staging *wgpu.Buffer, class uint64) error {
	p := g.prof
	defer func() { p.labels = p.labels[:0] }()
	done := false
	var status wgpu.MapAsyncStatus
	if err := staging.TryMapAsync(wgpu.MapModeRead, 0, class, func(s wgpu.MapAsyncStatus) { status, done = s, true }); err != nil {
		return fmt.Errorf("device: reading the profile's timestamps: %w", err)
	}
	if err := g.pollUntil(func() bool { return done }, nil); err != nil {
		return err
	}
	if status != wgpu.MapAsyncStatusSuccess {
		return fmt.Errorf("device: reading the profile's timestamps: mapping failed: %v", status)
	}
	n := 2 * len(p.labels)
	data := staging.GetMappedRange(0, uint(8*n))
	period := float64(g.queue.GetTimestampPeriod())
	for i, label := range p.labels {
		begin, end := binary.LittleEndian.Uint64(data[16*i:]), binary.LittleEndian.Uint64(data[16*i+8:])
		k := p.kernels[label]
		if k == nil {
			k = &backend.KernelTime{Kernel: label}
			p.kernels[label] = k
		}
		k.Count++
		if end > begin {
			k.Total += time.Duration(float64(end-begin) * period)
		}
	}
	if err := staging.TryUnmap(); err != nil {
		return fmt.Errorf("device: reading the profile's timestamps: %w", err)
	}
	g.staging[class] = append(g.staging[class], staging)
	return nil
}

// sortKernels orders p's kernels by total time, longest first.
func sortKernels(p *backend.Profile) {
	slices.SortFunc(p.Kernels, func(a, b backend.KernelTime) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), cmp.Compare(a.Kernel, b.Kernel))
	})
}
