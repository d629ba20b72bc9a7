package cpu

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuIndirectBands is an indirect convolution on the 8×32 kernel computed
// band by band of its output rows, each band into a buffer of its own that
// an op after it reads while it is in L2 (see Conv2DMaxPool and
// Conv2DChain): for each band of rows [c0, c1), the kernel's tiles that
// cover those rows, with their stores made relative to row c0 and those
// of other rows dropped. A tile that straddles two bands is computed in
// both, each storing its own rows.
type cpuIndirectBands struct {
	ic *cpuIndirectConv
	// per band: its first tile, and the stores of its tiles, those of
	// the i-th at segs[2·starts[i] : 2·starts[i+1]]
	tile0        []int
	segs, starts [][]int
}

// newCPUIndirectBands lays out the bands of output rows rows of ic.
func newCPUIndirectBands(ic *cpuIndirectConv, rows [][2]int) *cpuIndirectBands {
	ib := &cpuIndirectBands{ic: ic}
	ow := ic.p.OW
	for _, r := range rows {
		c0, c1 := r[0], r[1]
		t0, t1 := c0*ic.wp/cpuIndirectNR, cpuCeilDiv(c1*ic.wp, cpuIndirectNR)
		var segs []int
		starts := []int{0}
		for t := t0; t < t1; t++ {
			all := ic.segs[2*ic.starts[t] : 2*ic.starts[t+1]]
			for i := 0; i < len(all); i += 2 {
				at, mask := all[i], all[i+1]
				if r := (at + bits.TrailingZeros(uint(mask))) / ow; r >= c0 && r < c1 {
					segs = append(segs, at-c0*ow, mask)
				}
			}
			starts = append(starts, len(segs)/2)
		}
		ib.tile0 = append(ib.tile0, t0)
		ib.segs = append(ib.segs, segs)
		ib.starts = append(ib.starts, starts)
	}
	return ib
}

// convolve computes band b's rows of every output channel from the padded
// image pad (see cpuIndirectConv.pad) into dst, channels ldc apart, with
// the epilogue te.
func (ib *cpuIndirectBands) convolve(dst []float32, ldc int, pad, packed []float32, b int, te *cpuTileEpilogue) {
	ic, p := ib.ic, ib.ic.p
	per := ic.slivers * ic.rows * cpuIndirectMR
	_ = pad[ic.size-1]
	_ = packed[p.Groups*per-1]
	_ = dst[p.O*ldc-1]
	_ = te.bias[p.O-1]
	t0, segs, starts := ib.tile0[b], ib.segs[b], ib.starts[b]
	for i := range len(starts) - 1 {
		ts := segs[2*starts[i] : 2*starts[i+1]]
		if len(ts) == 0 {
			continue
		}
		t := t0 + i
		for g := range p.Groups {
			for s := range ic.slivers {
				o0 := g*ic.og + s*cpuIndirectMR
				kernel.ConvTile8x32AVX512(ic.rows, &packed[g*per+s*ic.rows*cpuIndirectMR], &pad[g*ic.cg*ic.planeP+t*cpuIndirectNR],
					unsafe.SliceData(ic.offs), &dst[o0*ldc], ldc, unsafe.SliceData(ts), len(ts)/2,
					min(cpuIndirectMR, ic.og-s*cpuIndirectMR), &te.bias[o0], nil, &te.args)
			}
		}
	}
}

// cpuShapeCache keeps what is made once per shape (a convolution's tap
// tables, the plan of its bands), so that steady-state calls allocate
// nothing; it forgets everything when it holds 64.
type cpuShapeCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// get returns the value of k, made by build the first time.
func (c *cpuShapeCache[K, V]) get(k K, build func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil || len(c.m) >= 64 {
		c.m = map[K]V{}
	}
	v := build()
	c.m[k] = v
	return v
}

// newCPUBandEpilogue returns the epilogue e of a bias and a clamp at most,
// over o output channels, as cpuIndirectBands applies it (a zero bias when
// there is none).
func newCPUBandEpilogue(e backend.Epilogue, o int) *cpuTileEpilogue {
	lo, hi, bias := cpuDepthwiseBounds(e, o)
	return &cpuTileEpilogue{bias: bias, args: kernel.NewEpilogueArgs(0, lo, hi)}
}
