//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// bindCacheMax bounds the bind groups a device keeps.
const bindCacheMax = 4096

// bindCache keeps the bind groups of recorded dispatches, keyed by what
// they bind: the pipeline, and each binding's buffer, offset and size. A
// training step after warm-up repeats its kernels over the same pooled
// buffers, and its parameters land at the same offsets of the parameter
// buffer, so its bind groups are found here instead of being created again
// (the step is captured). The groups that bind a buffer go when the buffer
// is released.
type bindCache struct {
	groups map[string]*wgpu.BindGroup
	byBuf  map[*wgpu.Buffer][]string
	key    []byte
	hits   int64
}

// lookup returns the cached group of pipeline id binding entries, or nil
// and the key to store it under.
func (c *bindCache) lookup(id int, entries []wgpu.BindGroupEntry) (*wgpu.BindGroup, string) {
	k := binary.LittleEndian.AppendUint32(c.key[:0], uint32(id))
	for _, e := range entries {
		k = binary.LittleEndian.AppendUint32(k, e.Binding)
		k = binary.LittleEndian.AppendUint64(k, uint64(bufferID(e.Buffer)))
		k = binary.LittleEndian.AppendUint64(k, e.Offset)
		k = binary.LittleEndian.AppendUint64(k, e.Size)
	}
	c.key = k
	if bg, ok := c.groups[string(k)]; ok {
		c.hits++
		return bg, ""
	}
	return nil, string(k)
}

// store caches bg under key, unless the cache is full; it reports whether
// the cache owns bg now. The permanent buffer (the parameters') outlives
// the cache and is not indexed.
func (c *bindCache) store(key string, bg *wgpu.BindGroup, entries []wgpu.BindGroupEntry, permanent *wgpu.Buffer) bool {
	if len(c.groups) >= bindCacheMax {
		return false
	}
	if c.groups == nil {
		c.groups, c.byBuf = map[string]*wgpu.BindGroup{}, map[*wgpu.Buffer][]string{}
	}
	c.groups[key] = bg
	for _, e := range entries {
		if e.Buffer == permanent {
			continue
		}
		keys := c.byBuf[e.Buffer]
		if len(keys) >= 64 && len(keys)&(len(keys)-1) == 0 {
			// Drop the keys of groups evicted with another buffer, so
			// that a long-lived buffer's list stays bounded.
			keys = slices.DeleteFunc(keys, func(k string) bool { _, ok := c.groups[k]; return !ok })
		}
		c.byBuf[e.Buffer] = append(keys, key)
	}
	return true
}

// evict forgets the groups that bind buf and returns them, for the caller
// to release once no recorded work uses them.
func (c *bindCache) evict(buf *wgpu.Buffer, into []*wgpu.BindGroup) []*wgpu.BindGroup {
	for _, k := range c.byBuf[buf] {
		if bg, ok := c.groups[k]; ok {
			into = append(into, bg)
			delete(c.groups, k)
		}
	}
	delete(c.byBuf, buf)
	return into
}

// clear forgets every group and returns them.
func (c *bindCache) clear(into []*wgpu.BindGroup) []*wgpu.BindGroup {
	for _, bg := range c.groups {
		into = append(into, bg)
	}
	c.groups, c.byBuf = nil, nil
	return into
}

// bufferID identifies a buffer in a key: its handle's address, which no
// other buffer takes while the groups that bind it are cached (they go
// when it is released).
func bufferID(b *wgpu.Buffer) uintptr { return uintptr(unsafe.Pointer(b)) }
