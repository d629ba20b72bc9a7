//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package device

import "math"

// The convolution passes run as implicit GEMMs per group (see
// kernels/wgsl/conv2d.wgsl): each workgroup computes a tile of one group's
// output, gathering the im2col operand while it loads.

const (
	// convSliceMin is the shortest K slice the weight gradient is cut
	// into: shorter slices would spend more on partial sums than they gain
	// in parallelism.
	convSliceMin = 256
	// convTargetGroups is how many workgroups the weight gradient aims
	// for when it splits its long K, enough to fill a GPU's cores.
	convTargetGroups = 256
)

// convPartialBytes bounds the scratch memory of the weight gradient's
// partial sums (a variable so that tests can make it bind).
var convPartialBytes = 64 << 20

// convGEMM is one convolution pass as a GEMM per group: an m×n output from
// a K of k, reading in0 and in1 and writing out.
type convGEMM struct {
	entry         string
	m, n, k       int
	in0, in1, out Buffer
}

// convRange is the K range of one recording of a pass: slices slices of kc
// each from k0, slice s writing at outOff + s·sliceStride, adding into the
// output when accumulate is set.
type convRange struct {
	k0, kc, slices      int
	sliceStride, outOff int
	accumulate          bool
}

// convTile returns the tile of an m×n convolution GEMM: rows the fewest of
// 32, 64 or 128 that cover m, columns the widest of 256 (128 on a GPU,
// whose register blocks stay at 8×8) to 16 that pad n by at most a
// quarter, narrowed while the grid has fewer than minWorkgroups
// workgroups. Each tile's threads
// are a multiple of its K depth and of its columns, as conv2d.wgsl's
// loaders need.
func (g *gpuDevice) convTile(m, n, z int) gemmTile {
	tm := 32
	for tm < min(m, 128) {
		tm *= 2
	}
	maxTN := 128
	if g.software {
		maxTN = 256
	}
	// The widest columns that pad n by at most a quarter.
	tn := maxTN
	for tn > 16 && ceilDiv(n, tn)*tn*4 > n*5 {
		tn /= 2
	}
	for tn > 64 && ceilDiv(m, tm)*ceilDiv(n, tn)*z < g.minWorkgroups() {
		tn /= 2
	}
	for {
		t := convTileShape(tm, tn)
		if t.fits(g) || tn == 16 {
			return t
		}
		tn /= 2
	}
}

// convTileShape gives the threads and register blocks of a tm×tn tile.
func convTileShape(tm, tn int) gemmTile {
	rm := 8
	if tm == 32 {
		rm = 4
	}
	rn := 8
	switch {
	case tn <= 16 || (tm == 32 && tn == 64):
		rn = 4
	case tm >= 64 && tn == 256:
		rn = 16
		if tm == 64 {
			rn = 8
		}
	}
	return gemmTile{wx: tn / rn, wy: tm / rm, rm: rm, rn: rn, tk: 16}
}

// convPipeline compiles entry of conv2d.wgsl for tile t; the input
// gradient has a variant for strides above 1.
func (g *gpuDevice) convPipeline(entry string, p Conv2DParams, t gemmTile) (*pipeline, error) {
	s := t.spec(false, false)
	s["Entry"] = entry
	s["Strided"] = entry == "input_grad" && (p.StrideH > 1 || p.StrideW > 1)
	return g.pipelineLocked("conv2d", entry, s)
}

// convRecordLocked records the dispatches of one K range of a pass, cutting
// the workgroup grid where it exceeds the adapter's per-dimension limit.
func (g *gpuDevice) convRecordLocked(pl *pipeline, t gemmTile, p Conv2DParams, gm convGEMM, r convRange) error {
	limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
	rowTiles, colTiles := ceilDiv(gm.m, t.rows()), ceilDiv(gm.n, t.cols())
	groupsPer := max(1, limit/r.slices)
	for g0 := 0; g0 < p.Groups; g0 += groupsPer {
		for r0 := 0; r0 < rowTiles; r0 += limit {
			for c0 := 0; c0 < colTiles; c0 += limit {
				var pr gpuParams
				pr.ints(p.N, p.C, p.H, p.W, p.O, p.KH, p.KW, p.OH, p.OW, p.StrideH, p.StrideW,
					p.PadH, p.PadW, p.DilH, p.DilW, p.Groups,
					gm.m, gm.n, gm.k, r.k0, r.kc, r0, c0, g0, r.slices, r.sliceStride, r.outOff, gpuBool(r.accumulate))
				gr := gpuGrid{uint32(min(limit, colTiles-c0)), uint32(min(limit, rowTiles-r0)), uint32(min(groupsPer, p.Groups-g0) * r.slices)}
				if err := g.launchLocked(pl, pr.b, gr, gpuIn(1, gm.in0), gpuIn(2, gm.in1), gpuOut(3, gm.out)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// convSerial records a pass whose K is cut into dispatches of at most
// maxLoop, the dispatches after the first adding into the output; K = 0
// still runs once to write zeros.
func (g *gpuDevice) convSerial(p Conv2DParams, gm convGEMM) {
	g.do("Conv2D."+gm.entry, []Buffer{gm.out}, func() error {
		t := g.convTile(gm.m, gm.n, p.Groups)
		pl, err := g.convPipeline(gm.entry, p, t)
		if err != nil {
			return err
		}
		for k0 := 0; k0 == 0 || k0 < gm.k; k0 += maxLoop {
			if err := g.convRecordLocked(pl, t, p, gm, convRange{k0: k0, kc: maxLoop, slices: 1, accumulate: k0 > 0}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (g *gpuDevice) Conv2D(dst, x, w Buffer, p Conv2DParams, e Epilogue) {
	g.convSerial(p, convGEMM{entry: "forward", m: p.O / p.Groups, n: p.N * p.OH * p.OW,
		k: p.C / p.Groups * p.KH * p.KW, in0: x, in1: w, out: dst})
	if !e.IsZero() {
		g.epilogue(dst, []int{p.N, p.O, p.OH, p.OW}, e)
	}
}

// epilogue applies e in place to the dense output dst [N, O, …] of a
// convolution: one more dispatch, instead of one per step and a temporary
// each.
func (g *gpuDevice) epilogue(dst Buffer, shape []int, e Epilogue) {
	g.do("Conv2D.epilogue", []Buffer{dst}, func() error {
		pl, err := g.pipelineLocked("epilogue", "main", kernelSpec{"Bias": e.Bias != nil, "Res": e.Residual != nil,
			"Clamp": e.Clamp, "HardSwish": e.HardSwish, "Affine": e.Affine})
		if err != nil {
			return err
		}
		bias := View{Buf: e.Bias, Shape: shape, Strides: make([]int, len(shape))}
		res := View{Buf: e.Residual, Shape: shape, Strides: make([]int, len(shape))}
		args := []gpuArg{gpuOut(1, dst)}
		if e.Bias != nil {
			bias.Strides[1] = 1
			args = append(args, gpuIn(2, e.Bias))
		}
		if e.Residual != nil {
			res.Strides = ContiguousStrides(shape)
			args = append(args, gpuIn(3, e.Residual))
		}
		extra := []uint32{math.Float32bits(e.Lo), math.Float32bits(e.Hi), math.Float32bits(e.Scale), math.Float32bits(e.Shift)}
		return g.elementwiseExtra(pl, shape, []View{bias, res}, 0, 0, extra, args...)
	})
}

func (g *gpuDevice) Conv2DInputGrad(dx, dy, w Buffer, p Conv2DParams) {
	g.convSerial(p, convGEMM{entry: "input_grad", m: p.C / p.Groups, n: p.N * p.H * p.W,
		k: p.O / p.Groups * p.KH * p.KW, in0: dy, in1: w, out: dx})
}

// Conv2DWeightGrad sums over batch·OH·OW, usually far longer than the
// weights are many, so it cuts that K into slices that run side by side,
// each writing partial sums for every weight, and a reduction adds them up.
// When the slices would need too much scratch memory, several dispatches
// add into the same partial sums.
func (g *gpuDevice) Conv2DWeightGrad(dw, x, dy Buffer, p Conv2DParams) {
	g.do("Conv2D.weight_grad", []Buffer{dw}, func() error {
		og, cols := p.O/p.Groups, p.C/p.Groups*p.KH*p.KW
		// The slices give the weight gradient its parallelism: its tile
		// need not be narrowed for it.
		t := g.convTile(og, cols, 1<<20)
		pl, err := g.convPipeline("weight_grad", p, t)
		if err != nil {
			return err
		}
		k := p.N * p.OH * p.OW
		total := p.O * cols
		gm := convGEMM{entry: "weight_grad", m: og, n: cols, k: k, in0: x, in1: dy, out: dw}
		tiles := ceilDiv(og, t.rows()) * ceilDiv(cols, t.cols()) * p.Groups
		kc := min(maxLoop, max(convSliceMin, ceilDiv(k, max(1, convTargetGroups/max(tiles, 1)))))
		kc = ceilDiv(kc, 16) * 16
		slices := ceilDiv(k, kc)
		if slices <= 1 || total == 0 {
			return g.convRecordLocked(pl, t, p, gm, convRange{kc: max(k, 1), slices: 1})
		}
		limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
		per := min(slices, limit, max(1, convPartialBytes/(4*total)))
		part, err := g.scratchLocked(Float32, total*per)
		if err != nil {
			return err
		}
		defer g.releaseScratchLocked(part)
		gm.out = part
		for k0 := 0; k0 < k; k0 += per * kc {
			r := convRange{k0: k0, kc: kc, slices: min(per, ceilDiv(k-k0, kc)), sliceStride: total, accumulate: k0 > 0}
			if err := g.convRecordLocked(pl, t, p, gm, r); err != nil {
				return err
			}
		}
		sum := View{Buf: part, Shape: []int{total, per}, Strides: []int{1, total}}
		outShape, outStrides, redShape, redStrides, _ := splitView(sum, 1)
		return g.reduceLocked(ReduceSum, dw, sum, outShape, outStrides, redShape, redStrides, 1, 1)
	})
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
