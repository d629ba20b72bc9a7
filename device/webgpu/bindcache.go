//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// slotCapacity is the size of the uniform buffer that holds the parameters
// of the cached bind groups, a slot each (tests lower it).
var slotCapacity = 1 << 20

// bindCache captures steps: it keeps the bind groups of recorded
// dispatches, keyed by what they bind (the pipeline, each storage
// binding's buffer, offset and size, and the size of the parameters), each
// with a slot of its own for its parameters in a uniform buffer. A
// training step after warm-up repeats its kernels over the same pooled
// buffers, so its bind groups are found here instead of being created
// again; their parameters are copied into their slots, and the slots
// written to the device once a batch, with the batch. A group used twice
// in one batch with other parameters is not reused the second time (its
// slot holds one value a batch). The groups that bind a buffer go when the
// buffer is released.
type bindCache struct {
	entries map[string]*bindEntry
	byBuf   map[*wgpu.Buffer][]string
	key     []byte
	buf     *wgpu.Buffer // the slots
	mirror  []byte       // the host copy of buf's used part
	dirty   bool         // mirror differs from buf
	full    bool         // a slot was refused: clear after the batch
	hits    int64
}

// bindEntry is a cached bind group, its parameter slot and the batch that
// last set the slot.
type bindEntry struct {
	bg          *wgpu.BindGroup
	slot, size  int
	batch       int64
	initialized bool
}

func (c *bindCache) init(g *gpuDevice) (err error) {
	c.buf, err = g.createFixed("captured parameter buffer", wgpu.BufferUsageUniform|wgpu.BufferUsageCopyDst, uint64(slotCapacity))
	return err
}

// lookup returns the key of pipeline id binding args with size bytes of
// parameters, and its cached entry or nil.
func (c *bindCache) lookup(id, size int, args []gpuArg) (*bindEntry, string) {
	k := binary.LittleEndian.AppendUint32(c.key[:0], uint32(id))
	k = binary.LittleEndian.AppendUint32(k, uint32(size))
	for _, a := range args {
		k = binary.LittleEndian.AppendUint32(k, a.slot)
		k = binary.LittleEndian.AppendUint64(k, uint64(bufferID(a.buf)))
		k = binary.LittleEndian.AppendUint64(k, a.offset)
		k = binary.LittleEndian.AppendUint64(k, a.size)
	}
	c.key = k
	e := c.entries[string(k)]
	if e != nil {
		c.hits++
	}
	return e, string(k)
}

// slot reserves a slot of size bytes aligned to align, or reports false
// when the buffer is full (the cache is then cleared after the batch).
func (c *bindCache) slot(size, align int) (int, bool) {
	off := (len(c.mirror) + align - 1) / align * align
	if off+size > slotCapacity {
		c.full = true
		return 0, false
	}
	c.mirror = append(c.mirror, make([]byte, off+size-len(c.mirror))...)
	return off, true
}

// store caches e under key, indexing it by the buffers of args.
func (c *bindCache) store(key string, e *bindEntry, args []gpuArg) {
	if c.entries == nil {
		c.entries, c.byBuf = map[string]*bindEntry{}, map[*wgpu.Buffer][]string{}
	}
	c.entries[key] = e
	for _, a := range args {
		keys := c.byBuf[a.buf]
		if len(keys) >= 64 && len(keys)&(len(keys)-1) == 0 {
			// Drop the keys of groups evicted with another buffer, so
			// that a long-lived buffer's list stays bounded.
			keys = slices.DeleteFunc(keys, func(k string) bool { _, ok := c.entries[k]; return !ok })
		}
		c.byBuf[a.buf] = append(keys, key)
	}
}

// set puts params in e's slot for batch; it reports false when the slot
// already holds other parameters for this batch.
func (c *bindCache) set(e *bindEntry, params []byte, batch int64) bool {
	s := c.mirror[e.slot : e.slot+e.size]
	if e.initialized && bytes.Equal(s[:len(params)], params) {
		e.batch = batch
		return true
	}
	if e.initialized && e.batch == batch {
		return false
	}
	clear(s[copy(s, params):])
	e.batch, e.initialized, c.dirty = batch, true, true
	return true
}

// upload writes the slots to the device if they changed.
func (c *bindCache) upload(q *wgpu.Queue) error {
	if !c.dirty || len(c.mirror) == 0 {
		return nil
	}
	if err := q.TryWriteBuffer(c.buf, 0, c.mirror); err != nil {
		return fmt.Errorf("device: writing captured kernel parameters: %w", err)
	}
	c.dirty = false
	return nil
}

// evict forgets the groups that bind buf and returns them, for the caller
// to release once no recorded work uses them.
func (c *bindCache) evict(buf *wgpu.Buffer, into []*wgpu.BindGroup) []*wgpu.BindGroup {
	for _, k := range c.byBuf[buf] {
		if e, ok := c.entries[k]; ok {
			into = append(into, e.bg)
			delete(c.entries, k)
		}
	}
	delete(c.byBuf, buf)
	return into
}

// clear forgets every group, frees every slot and returns the groups. The
// caller has submitted the work that uses the slots, and writes nothing
// into them before the next batch.
func (c *bindCache) clear(into []*wgpu.BindGroup) []*wgpu.BindGroup {
	for _, e := range c.entries {
		into = append(into, e.bg)
	}
	c.entries, c.byBuf, c.mirror, c.full = nil, nil, c.mirror[:0], false
	return into
}

// bufferID identifies a buffer in a key: its handle's address, which no
// other buffer takes while the groups that bind it are cached (they go
// when it is released).
func bufferID(b *wgpu.Buffer) uintptr { return uintptr(unsafe.Pointer(b)) }
