package cpu

import (
	"sync"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuPackKey names one derived form of a frozen buffer: the kind of form
// and the layout and block it was derived for.
type cpuPackKey struct {
	kind                      byte // 'a', 'b': GEMM panels; 't', 'i': conv weights
	off, rs, cs, r0, c0, h, w int
	tile                      int
}

// cpuPacks holds the derived forms of one frozen buffer.
type cpuPacks struct {
	mu sync.Mutex
	m  map[cpuPackKey][]float32
}

// get returns the form key names, deriving it with make (which fills a
// slice of n floats) on first use. Two goroutines may both derive a form
// the first time; one result is kept.
func (p *cpuPacks) get(key cpuPackKey, n int, make func(dst []float32) []float32) []float32 {
	p.mu.Lock()
	f, ok := p.m[key]
	p.mu.Unlock()
	if ok {
		return f
	}
	f = make(newFloats(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.m[key]; ok {
		return old
	}
	if p.m == nil {
		p.m = map[cpuPackKey][]float32{}
	}
	p.m[key] = f
	return f
}

// newFloats returns n zeroed floats; a function so that get's parameter
// named make does not hide the builtin where it is needed.
func newFloats(n int) []float32 { return make([]float32, n) }

// Freeze marks b as frozen: matrix products and convolutions keep their
// packed forms of it (see cpuPacks) until it is freed.
func (d *cpuDevice) Freeze(b backend.Buffer) {
	if cb, ok := b.(*cpuBuffer); ok && cb != nil && cb.dt == backend.Float32 {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !cb.freed && cb.packs.Load() == nil {
			cb.packs.Store(new(cpuPacks))
		}
	}
}

// cpuFrozen returns the derived forms of b when it is a frozen CPU buffer,
// else nil.
func cpuFrozen(b backend.Buffer) *cpuPacks {
	if cb, ok := b.(*cpuBuffer); ok && cb != nil {
		return cb.packs.Load()
	}
	return nil
}
