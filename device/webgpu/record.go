//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"
	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/kernels/wgsl"
)

// paramsCapacity is the size of the uniform buffer holding the parameters
// of one batch of dispatches; a batch is submitted when it fills.
const paramsCapacity = 256 << 10

// uploadCapacity is the size of the buffer that carries one batch's small
// host writes (see uploadLocked), and uploadMax the largest write it takes.
const (
	uploadCapacity = 1 << 20
	uploadMax      = 64 << 10
)

// recorder accumulates dispatches and copies into one command encoder.
// Parameters of the dispatches whose bind groups are not captured (see
// bindCache) go into one uniform buffer, written just before the batch is
// submitted, as the captured groups' slots are; the queue orders those
// writes after the previous batch has run.
type recorder struct {
	g         *gpuDevice
	enc       *wgpu.CommandEncoder
	pass      *wgpu.ComputePassEncoder
	groups    []*wgpu.BindGroup
	params    []byte
	paramsBuf *wgpu.Buffer
	batch     int64 // counts the batches submitted
	// uploads holds the batch's small host writes, copied from uploadBuf
	// into their buffers in the order they were recorded.
	uploads   []byte
	uploadBuf *wgpu.Buffer
	align     int
	// uses lists the buffers the recorded work reads or writes, checked
	// against the destroyed ones before the work is submitted.
	uses []*wgpu.Buffer
}

// use notes that the recorded work uses bufs.
func (r *recorder) use(bufs ...*wgpu.Buffer) { r.uses = append(r.uses, bufs...) }

func (r *recorder) init(g *gpuDevice) error {
	r.g = g
	r.align = int(max(g.limits.MinUniformBufferOffsetAlignment, 16))
	var err error
	if r.paramsBuf, err = g.createFixed("parameter buffer", wgpu.BufferUsageUniform|wgpu.BufferUsageCopyDst, paramsCapacity); err != nil {
		return err
	}
	r.params = make([]byte, 0, paramsCapacity)
	r.uploadBuf, err = g.createFixed("upload buffer", wgpu.BufferUsageCopySrc|wgpu.BufferUsageCopyDst, uploadCapacity)
	return err
}

// createFixed creates one of the device's own buffers, which live as long
// as it does; name says which, in errors.
func (g *gpuDevice) createFixed(name string, usage wgpu.BufferUsage, size uint64) (*wgpu.Buffer, error) {
	buf, err := g.dev.TryCreateBuffer(&wgpu.BufferDescriptor{Label: "wgtensor " + name, Usage: usage, Size: size})
	if err != nil {
		return nil, fmt.Errorf("device: creating the %s: %w", name, err)
	}
	return buf, nil
}

func (r *recorder) encoder() (*wgpu.CommandEncoder, error) {
	if r.enc == nil {
		enc, err := r.g.dev.TryCreateCommandEncoder(nil)
		if err != nil {
			return nil, fmt.Errorf("device: creating a command encoder: %w", err)
		}
		r.enc = enc
	}
	return r.enc, nil
}

// copyEncoder returns the encoder with no compute pass open, ready for
// buffer copies.
func (r *recorder) copyEncoder() (*wgpu.CommandEncoder, error) {
	if err := r.endPass(); err != nil {
		return nil, err
	}
	return r.encoder()
}

func (r *recorder) computePass() (*wgpu.ComputePassEncoder, error) {
	if r.pass != nil {
		return r.pass, nil
	}
	enc, err := r.encoder()
	if err != nil {
		return nil, err
	}
	r.pass = enc.BeginComputePass(nil)
	return r.pass, nil
}

func (r *recorder) endPass() error {
	if r.pass == nil {
		return nil
	}
	err := r.pass.TryEnd()
	r.pass.Release()
	r.pass = nil
	if err != nil {
		return fmt.Errorf("device: ending a compute pass: %w", err)
	}
	return nil
}

// flushLocked submits the recorded work. A failure here means recorded work
// was lost, so it becomes the device's sticky fault.
func (g *gpuDevice) flushLocked() error {
	r := &g.rec
	err := g.submitLocked()
	r.batch++
	for _, bg := range r.groups {
		bg.Release()
	}
	r.groups = r.groups[:0]
	r.params = r.params[:0]
	r.uploads = r.uploads[:0]
	r.uses = r.uses[:0]
	for _, b := range g.doomed {
		r.groups = g.binds.evict(b, r.groups)
		b.Release()
	}
	if g.binds.full {
		r.groups = g.binds.clear(r.groups)
	}
	for _, bg := range r.groups { // the evicted groups
		bg.Release()
	}
	r.groups = r.groups[:0]
	g.doomed = g.doomed[:0]
	if err != nil {
		g.setFault(err)
	}
	return g.faulted()
}

func (g *gpuDevice) submitLocked() error {
	r := &g.rec
	if r.enc == nil {
		return nil
	}
	enc := r.enc
	r.enc = nil
	defer enc.Release()
	if err := r.endPass(); err != nil {
		return err
	}
	// wgpu-native aborts the process when it rejects a submission, whatever
	// callbacks are installed, so work on a destroyed buffer never reaches
	// it: it is dropped, and the device faults.
	for _, b := range r.uses {
		if len(g.destroyed) > 0 && g.destroyed[b] {
			return errors.New("device: recorded work uses a buffer that was destroyed; it was not submitted")
		}
	}
	if len(r.params) > 0 {
		if err := g.queue.TryWriteBuffer(r.paramsBuf, 0, r.params); err != nil {
			return fmt.Errorf("device: writing kernel parameters: %w", err)
		}
	}
	if err := g.binds.upload(g.queue); err != nil {
		return err
	}
	if len(r.uploads) > 0 {
		if err := g.queue.TryWriteBuffer(r.uploadBuf, 0, r.uploads); err != nil {
			return fmt.Errorf("device: writing host data: %w", err)
		}
	}
	staging, class, err := g.resolveProfileLocked(enc)
	if err != nil {
		return err
	}
	cmd, err := enc.TryFinish(nil)
	if err != nil {
		return fmt.Errorf("device: finishing a command buffer: %w", err)
	}
	defer cmd.Release()
	start := time.Now()
	g.queue.Submit(cmd)
	g.stats.Submits++
	if p := g.prof; p != nil {
		p.submit += time.Since(start)
	}
	if staging != nil {
		return g.readProfileLocked(staging, class)
	}
	return nil
}

// uploadLocked records a copy of host data into dst at its place among the
// recorded work, so that a small write (a scalar, a batch of labels) needs
// no submit: the data rides in the batch's upload buffer, written just
// before the batch is submitted. It reports false when the data is too
// large for that; the caller then submits and writes directly.
func (g *gpuDevice) uploadLocked(dst *wgpu.Buffer, data []byte) (bool, error) {
	r := &g.rec
	if len(data) > uploadMax || len(data)%4 != 0 {
		return false, nil
	}
	if len(r.uploads)+len(data) > uploadCapacity {
		if err := g.flushLocked(); err != nil {
			return false, err
		}
	}
	enc, err := r.copyEncoder()
	if err != nil {
		return false, err
	}
	off := len(r.uploads)
	r.uploads = append(r.uploads, data...)
	r.use(dst)
	if err := enc.TryCopyBufferToBuffer(r.uploadBuf, uint64(off), dst, 0, uint64(len(data))); err != nil {
		return false, fmt.Errorf("device: Write: %w", err)
	}
	return true, nil
}

// pipeline is a compiled kernel entry point with its bind group layout.
type pipeline struct {
	id     int // its number, in bind group keys
	pipe   *wgpu.ComputePipeline
	layout *wgpu.BindGroupLayout
	name   string // family.entry
}

// spec is a kernel specialisation: the template values of a family's source.
type kernelSpec map[string]any

// specKey, in a spec, is a key that names the specialisation as printing
// it would: generated kernels build one as they are generated, which is
// cheaper than printing theirs.
const specKey = "Key"

// pipelineLocked returns the cached pipeline of family's entry point for the
// specialisation s, compiling it on first use.
func (g *gpuDevice) pipelineLocked(family, entry string, s kernelSpec) (*pipeline, error) {
	specKey, ok := s[specKey].(string)
	if !ok {
		specKey = fmt.Sprint(map[string]any(s)) // fmt sorts map keys
	}
	key := family + "|" + entry + "|" + specKey
	if p, ok := g.pipelines[key]; ok {
		return p, nil
	}
	modKey := family + "|" + specKey
	mod, ok := g.modules[modKey]
	if !ok {
		src, err := expandKernel(family, s)
		if err != nil {
			return nil, err
		}
		mod, err = g.dev.TryCreateShaderModule(&wgpu.ShaderModuleDescriptor{
			Label:      family,
			WGSLSource: &wgpu.ShaderSourceWGSL{Code: src},
		})
		if err != nil {
			return nil, fmt.Errorf("device: compiling kernel %s %v: %w", family, specKey, err)
		}
		g.modules[modKey] = mod
	}
	pipe, err := g.dev.TryCreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Label:   family + "." + entry,
		Compute: wgpu.ProgrammableStageDescriptor{Module: mod, EntryPoint: entry},
	})
	if err != nil {
		return nil, fmt.Errorf("device: creating pipeline %s.%s %v: %w", family, entry, specKey, err)
	}
	p := &pipeline{id: len(g.pipelines), pipe: pipe, layout: pipe.GetBindGroupLayout(0), name: family + "." + entry}
	g.pipelines[key] = p
	return p, nil
}

// expandKernel renders a family's template with common.wgsl in front.
func expandKernel(family string, s kernelSpec) (string, error) {
	src, err := wgsl.Source(family)
	if err != nil {
		return "", err
	}
	t, err := template.New(family).Option("missingkey=error").Parse(wgsl.Common + "\n" + src)
	if err != nil {
		return "", fmt.Errorf("device: parsing kernel %s: %w", family, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, map[string]any(s)); err != nil {
		return "", fmt.Errorf("device: expanding kernel %s: %w", family, err)
	}
	return b.String(), nil
}

// arg binds size bytes of a buffer, from byte offset on, to a kernel's
// binding slot.
type gpuArg struct {
	slot   uint32
	gb     *gpuBuffer // nil for the device's own buffers
	buf    *wgpu.Buffer
	offset uint64
	size   uint64
	write  bool
	// view is k+1 when an elementwise kernel addresses the buffer through
	// its operand k's offset and strides, 0 when through the linear index.
	view int
	// asIs binds the buffer's contents without computing its pending
	// value first (a fused kernel's leaf; see fuse.go).
	asIs bool
}

// of returns a addressed through operand k of an elementwise kernel.
func (a gpuArg) of(k int) gpuArg {
	a.view = k + 1
	return a
}

func gpuIn(slot uint32, b backend.Buffer) gpuArg {
	gb := b.(*gpuBuffer)
	return gpuArg{slot: slot, gb: gb, buf: gb.buf, size: gb.bytes()}
}

func gpuOut(slot uint32, b backend.Buffer) gpuArg {
	a := gpuIn(slot, b)
	a.write = true
	return a
}

// gpuGrid describes how many workgroups to launch.
type gpuGrid struct{ x, y, z uint32 }

// linearGrid folds n workgroups into two dimensions when n exceeds the
// per-dimension limit; kernels recover the linear id as x + y*countX.
func (g *gpuDevice) linearGrid(n int) gpuGrid {
	limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
	if n <= limit {
		return gpuGrid{uint32(n), 1, 1}
	}
	return gpuGrid{uint32(limit), uint32((n + limit - 1) / limit), 1}
}

// threads returns the gpuGrid for one thread per element in workgroups of 256.
func (g *gpuDevice) threads(n int) gpuGrid { return g.linearGrid((n + 255) / 256) }

// launchLocked records one dispatch. When a buffer is bound for writing and
// also for reading (an in-place update), the kernel writes a copy that is
// copied back afterwards, since WebGPU forbids such aliasing in a dispatch.
func (g *gpuDevice) launchLocked(p *pipeline, params []byte, gr gpuGrid, args ...gpuArg) error {
	// Pending values the kernel reads are computed first, and so are
	// those that read what it writes (see fuse.go).
	for _, a := range args {
		if a.gb == nil || a.asIs {
			continue
		}
		if err := g.materializeLocked(a.gb); err != nil {
			return err
		}
		if a.write {
			if err := g.computeUsersLocked(a.gb); err != nil {
				return err
			}
		}
	}
	for _, a := range args {
		if a.gb != nil && !a.write {
			if r := a.gb.refused.Load(); r != nil {
				return r
			}
		}
	}
	for i, a := range args {
		if a.gb != nil && a.buf == nil {
			if err := g.realizeLocked(a.gb); err != nil {
				return err
			}
			args[i].buf = a.gb.buf
		}
	}
	if gr.x == 0 || gr.y == 0 || gr.z == 0 {
		return nil
	}
	for _, a := range args {
		if a.size > g.bindLimit {
			return refuse("%s binds %d bytes of a buffer, more than the adapter's maxStorageBufferBindingSize of %d bytes, and cannot split its work",
				p.name, a.size, g.bindLimit)
		}
	}
	for i, a := range args {
		if !a.write || !aliased(a, args) {
			continue
		}
		tmp, err := g.scratchLocked(backend.Float32, int(a.size/4))
		if err != nil {
			return err
		}
		enc, err := g.rec.copyEncoder()
		if err != nil {
			return err
		}
		g.rec.use(a.buf, tmp.buf)
		if err := enc.TryCopyBufferToBuffer(a.buf, a.offset, tmp.buf, 0, a.size); err != nil {
			return fmt.Errorf("device: copying an aliased output: %w", err)
		}
		args[i].buf, args[i].offset = tmp.buf, 0
		if err := g.launchLocked(p, params, gr, args...); err != nil {
			return err
		}
		if enc, err = g.rec.copyEncoder(); err != nil {
			return err
		}
		if err := enc.TryCopyBufferToBuffer(tmp.buf, 0, a.buf, a.offset, a.size); err != nil {
			return fmt.Errorf("device: copying an aliased output back: %w", err)
		}
		g.releaseScratchLocked(tmp)
		return nil
	}

	r := &g.rec
	size := (len(params) + 15) / 16 * 16
	bg, err := g.bindLocked(p, params, size, args) // may submit the batch
	if err != nil {
		return err
	}
	for _, a := range args {
		r.use(a.buf)
	}
	// A profile times each dispatch in a pass of its own, ended at once.
	var pass *wgpu.ComputePassEncoder
	if g.prof != nil {
		pass, err = g.profiledPassLocked(fmt.Sprintf("%s: %s %d×%d×%d", g.op, p.name, gr.x, gr.y, gr.z))
	} else {
		pass, err = r.computePass()
	}
	if err != nil {
		return err
	}
	pass.SetPipeline(p.pipe)
	pass.SetBindGroup(0, bg, nil)
	pass.DispatchWorkgroups(gr.x, gr.y, gr.z)
	g.stats.Dispatches++
	if g.prof != nil {
		return r.endPass()
	}
	return nil
}

// bindLocked returns the bind group of a dispatch of p over args with
// params (size bytes once padded): the captured one, its slot set to
// params, or else (a full cache, or a group already used in this batch
// with other parameters) a new one with params among the batch's.
func (g *gpuDevice) bindLocked(p *pipeline, params []byte, size int, args []gpuArg) (*wgpu.BindGroup, error) {
	r := &g.rec
	e, key := g.binds.lookup(p.id, size, args)
	if e != nil && g.binds.set(e, params, r.batch) {
		return e.bg, nil
	}
	entries := make([]wgpu.BindGroupEntry, 0, len(args)+1)
	entries = append(entries, wgpu.BindGroupEntry{Binding: 0})
	for _, a := range args {
		entries = append(entries, wgpu.BindGroupEntry{Binding: a.slot, Buffer: a.buf, Offset: a.offset, Size: a.size})
	}
	create := func() (*wgpu.BindGroup, error) {
		bg, err := g.dev.TryCreateBindGroup(&wgpu.BindGroupDescriptor{Layout: p.layout, Entries: entries})
		if err != nil {
			return nil, fmt.Errorf("device: binding kernel arguments: %w", err)
		}
		g.stats.BindGroups++
		return bg, nil
	}
	if e == nil {
		// When the slots are full, the group is not captured, and the
		// cache starts again once this batch is submitted.
		if slot, ok := g.binds.slot(size, r.align); ok {
			entries[0] = wgpu.BindGroupEntry{Binding: 0, Buffer: g.binds.buf, Offset: uint64(slot), Size: uint64(size)}
			bg, err := create()
			if err != nil {
				return nil, err
			}
			e = &bindEntry{bg: bg, slot: slot, size: size}
			g.binds.store(key, e, args)
			g.binds.set(e, params, r.batch)
			return bg, nil
		}
	}
	// Uncaptured: the parameters go among the batch's.
	offset := (len(r.params) + r.align - 1) / r.align * r.align
	if offset+size > paramsCapacity || len(r.groups) >= 4096 {
		if err := g.flushLocked(); err != nil {
			return nil, err
		}
		offset = 0
	}
	r.params = append(r.params, make([]byte, offset+size-len(r.params))...)
	copy(r.params[offset:], params)
	entries[0] = wgpu.BindGroupEntry{Binding: 0, Buffer: r.paramsBuf, Offset: uint64(offset), Size: uint64(size)}
	bg, err := create()
	if err != nil {
		return nil, err
	}
	r.groups = append(r.groups, bg)
	return bg, nil
}

func aliased(w gpuArg, args []gpuArg) bool {
	for _, a := range args {
		if !a.write && a.buf == w.buf {
			return true
		}
	}
	return false
}

// scratchLocked takes a temporary buffer from the pool; release it with
// releaseScratchLocked once the work using it is recorded (later work that
// reuses the memory is recorded after it, so it runs after it).
func (g *gpuDevice) scratchLocked(dt backend.DType, n int) (*gpuBuffer, error) {
	b, err := g.createPooledLocked(uint64(max(n, 1)) * 4)
	if errors.Is(err, backend.ErrOutOfMemory) {
		return nil, &refusal{err: err}
	}
	if err != nil {
		return nil, err
	}
	b.n, b.dt = n, dt
	return b, nil
}

func (g *gpuDevice) releaseScratchLocked(b *gpuBuffer) {
	g.pushPoolLocked(b.size, b.buf)
}

// createPooledLocked takes a scratch buffer of at least size bytes from the
// pool; the caller returns it to the pool.
func (g *gpuDevice) createPooledLocked(size uint64) (*gpuBuffer, error) {
	class := gpuSizeClass(size, g.limits.MaxBufferSize)
	if buf, ok := g.popPoolLocked(class); ok {
		return &gpuBuffer{buf: buf, size: class}, nil
	}
	buf, err := g.createLocked(class, wgpu.BufferUsageStorage|wgpu.BufferUsageCopySrc|wgpu.BufferUsageCopyDst)
	if err != nil {
		return nil, fmt.Errorf("device: scratch buffer of %d bytes: %w", class, err)
	}
	return &gpuBuffer{buf: buf, size: class}, nil
}

// params builds a kernel's uniform block: 32-bit words in declaration order.
type gpuParams struct{ b []byte }

func (p *gpuParams) u32(vs ...uint32) *gpuParams {
	for _, v := range vs {
		p.b = binary.LittleEndian.AppendUint32(p.b, v)
	}
	return p
}

func (p *gpuParams) ints(vs ...int) *gpuParams {
	for _, v := range vs {
		p.u32(uint32(v))
	}
	return p
}

func (p *gpuParams) f32(v float32) *gpuParams { return p.u32(math.Float32bits(v)) }

// array8 writes an array<vec4<u32>, 2> holding vs padded with zeros.
func (p *gpuParams) array8(vs []int) *gpuParams {
	var a [backend.MaxRank]int
	copy(a[:], vs)
	return p.ints(a[:]...)
}
