package cpu

import (
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// TestCPUConv2DPair checks Conv2DPair against two Conv2D calls: ResNet's
// basic block (3×3 then 3×3 with a residual), pairs on the rows kernel
// (either or both), a strided first convolution
// (its stores land in rows of another width), a 5×5 second one (padding of
// two), several images (the padded planes' border must stay zero from one
// image to the next), slivers outside, epilogues the kernel leaves to
// cpuEpilogue (hard swish), frozen weights, NaN and Inf in the input,
// the kept padded planes' padding still zero after the calls, and pairs it
// refuses.
func TestCPUConv2DPair(t *testing.T) {
	defer func(b int) { cpuSliversOutsideBytes = b }(cpuSliversOutsideBytes)
	relu := backend.Epilogue{Clamp: true, Lo: 0, Hi: float32(math.Inf(1))}
	for _, c := range []struct {
		name          string
		first, second backend.Conv2DParams
		e1, e2        backend.Epilogue
		residual      bool
		outside       int // cpuSliversOutsideBytes
		takes         bool
	}{
		{"basic-block", cpuConvCase(1, 8, 19, 17, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 16, 19, 17, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, true, 0, true},
		{"strided-first", cpuConvCase(1, 8, 23, 20, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1), cpuConvCase(1, 16, 12, 10, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, false, 0, true},
		{"5x5-second", cpuConvCase(1, 4, 14, 15, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 9, 14, 15, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1), backend.Epilogue{}, relu, true, 0, true},
		{"two-images", cpuConvCase(2, 6, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(2, 16, 13, 11, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, true, 0, true},
		{"slivers-outside", cpuConvCase(1, 8, 12, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 32, 12, 12, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, false, 64, true},
		// 3×3 over 256 channels at 7×7 takes the rows kernel: its runs'
		// stores move into the second's planes, or the second reads them.
		{"rows-kernels", cpuConvCase(1, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 256, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, true, 0, true},
		{"rows-first", cpuConvCase(1, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 256, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, backend.Epilogue{}, false, 0, true},
		{"rows-second", cpuConvCase(2, 16, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(2, 256, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, true, 0, true},
		{"hard-swish-second", cpuConvCase(1, 5, 10, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 8, 10, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, backend.Epilogue{HardSwish: true}, true, 0, true},
		{"unpadded-second", cpuConvCase(1, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 256, 7, 7, 256, 1, 1, 1, 1, 0, 0, 1, 1, 1), relu, relu, false, 0, false},
		{"hard-swish-first", cpuConvCase(1, 5, 10, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 8, 10, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), backend.Epilogue{HardSwish: true}, relu, false, 0, false},
		{"strided-second", cpuConvCase(1, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 8, 12, 12, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1), relu, relu, false, 0, false},
		{"groups", cpuConvCase(1, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2), relu, relu, false, 0, false},
		{"other-shape", cpuConvCase(1, 8, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 8, 12, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), relu, relu, false, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuSliversOutsideBytes = c.outside
			h := newCPUHarness(t)
			d := h.d.(*cpuDevice)
			p, q := c.first, c.second
			xs := h.randF(p.N * p.C * p.H * p.W)
			xs[3], xs[len(xs)/2] = float32(math.NaN()), float32(math.Inf(-1))
			x := h.f32(xs)
			first := backend.ConvLink{W: h.f32(h.randF(p.O * p.C / p.Groups * p.KH * p.KW)), P: p, E: c.e1}
			second := backend.ConvLink{W: h.f32(h.randF(q.O * q.C / q.Groups * q.KH * q.KW)), P: q, E: c.e2}
			first.E.Bias, second.E.Bias = h.f32(h.randF(p.O)), h.f32(h.randF(q.O))
			size := q.N * q.O * q.OH * q.OW
			if c.residual {
				second.E.Residual = h.f32(h.randF(size))
			}
			require.Equal(t, c.takes && kernel.HasAVX512, d.Conv2DPairs(first, second))
			if strings.HasPrefix(c.name, "rows") && kernel.HasAVX512 {
				require.NotNil(t, newCPUConv(map[bool]backend.Conv2DParams{true: p, false: q}[c.name != "rows-second"]).indirectPlan().runs, "the rows kernel")
			}
			if !d.Conv2DPairs(first, second) {
				require.Panics(t, func() { d.Conv2DPair(h.dirty(backend.Float32, size), x, first, second) })
				return
			}
			y := h.dirty(backend.Float32, p.N*p.O*p.OH*p.OW)
			d.Conv2D(y, x, first.W, p, first.E)
			want := h.dirty(backend.Float32, size)
			d.Conv2D(want, y, second.W, q, second.E)
			for _, frozen := range []bool{false, true, true} {
				if frozen {
					d.Freeze(first.W)
					d.Freeze(second.W)
				}
				// Scratch space left dirty by another op: the padded
				// planes' border must be zeroed, not taken as it is.
				dirty := cpuGetScratch(2, 1<<16)
				for i := range dirty.buf {
					dirty.buf[i] = float32(math.NaN())
				}
				cpuScratchFree.put(dirty)
				got := h.dirty(backend.Float32, size)
				d.Conv2DPair(got, x, first, second)
				require.InDeltaSlice(t, h.readF(want), h.readF(got), 1e-4, "frozen %v", frozen)
			}
			// The kept planes' padding is still zero: the first
			// convolution stored into their interior only.
			ic2 := newCPUConv(q).indirectPlan()
			planes := cpuPaddedPlanes.get(ic2)
			defer cpuPaddedPlanes.put(ic2, planes)
			inside := map[int]bool{}
			for ch := range q.C {
				for i := range q.H {
					for j := range q.W {
						inside[ch*ic2.planeP+(i+q.PadH)*ic2.wp+q.PadW+j] = true
					}
				}
			}
			for i, v := range planes {
				if !inside[i] {
					require.Zero(t, v, "padding element %d", i)
				}
			}
		})
	}
}

// TestCPUConv2DPairConcurrent: pairs of one layout computed at the same
// time from several goroutines each get padded planes of their own.
func TestCPUConv2DPairConcurrent(t *testing.T) {
	if !kernel.HasAVX512 {
		t.Skip("no AVX-512: the CPU refuses pairs")
	}
	relu := backend.Epilogue{Clamp: true, Lo: 0, Hi: float32(math.Inf(1))}
	h := newCPUHarness(t)
	d := h.d.(*cpuDevice)
	p, q := cpuConvCase(1, 8, 21, 19, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), cpuConvCase(1, 16, 21, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1)
	first := backend.ConvLink{W: h.f32(h.randF(p.O * p.C * 9)), P: p, E: relu}
	second := backend.ConvLink{W: h.f32(h.randF(q.O * q.C * 9)), P: q, E: relu}
	size := q.N * q.O * q.OH * q.OW
	const workers = 4
	var xs, wants [workers]backend.Buffer
	for i := range workers {
		xs[i] = h.f32(h.randF(p.N * p.C * p.H * p.W))
		y := h.dirty(backend.Float32, p.N*p.O*p.OH*p.OW)
		d.Conv2D(y, xs[i], first.W, p, first.E)
		wants[i] = h.dirty(backend.Float32, size)
		d.Conv2D(wants[i], y, second.W, q, second.E)
	}
	var outs [workers]backend.Buffer
	for i := range outs {
		outs[i] = h.dirty(backend.Float32, size)
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range 5 {
				d.Conv2DPair(outs[i], xs[i], first, second)
			}
		})
	}
	wg.Wait()
	for i := range workers {
		require.InDeltaSlice(t, h.readF(wants[i]), h.readF(outs[i]), 1e-4, "goroutine %d", i)
	}
}
