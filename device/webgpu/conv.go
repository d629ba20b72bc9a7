//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"math"
	"runtime"
	"slices"

	"github.com/wgtensor/wgtensor/device/backend"
)

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

// convSoftwareGroups is how many workgroups per core the weight gradient
// aims for on a software adapter, whose cores run one workgroup at a time:
// enough to balance them, few enough that writing and adding up the
// partial sums stays cheap (a variable so that tests can raise it).
var convSoftwareGroups = 4

// convPartialBytes bounds the scratch memory of the weight gradient's
// partial sums (a variable so that tests can make it bind).
var convPartialBytes = 64 << 20

// convGEMM is one convolution pass as a GEMM per group: an m×n output from
// a K of k, reading in0 and in1 and writing out. When used[i] is set, the
// pass reads (or writes) only elements base[i]… base[i]+used[i]-1 of
// operand i (in0, in1, out), and binds just those.
type convGEMM struct {
	entry         string
	m, n, k       int
	in0, in1, out backend.Buffer
	base, used    [3]int
}

// batchMajor lists, per pass, which of in0, in1 and out are [N, …] tensors
// that a part of the batch reads or writes a slice of.
var batchMajor = map[string][3]bool{
	"forward":     {true, false, true},
	"input_grad":  {true, false, true},
	"weight_grad": {true, true, false},
}

// batchParts calls f for parts of the batch (first image, images) whose
// slices of the pass's batch-major operands fit half a binding each, or
// once for the whole batch when every operand fits a binding.
func (g *gpuDevice) batchParts(p backend.Conv2DParams, gm convGEMM, f func(p backend.Conv2DParams, gm convGEMM, first bool) error) error {
	bufs := [3]backend.Buffer{gm.in0, gm.in1, gm.out}
	if !g.oversized([]gpuArg{gpuIn(1, gm.in0), gpuIn(2, gm.in1), gpuOut(3, gm.out)}) || p.N == 0 {
		return f(p, gm, true)
	}
	if gm.in0.DType().IsHalf() || gm.in1.DType().IsHalf() { // windows would cut words of two elements
		return refuse("a convolution of 16-bit operands larger than one binding (%d bytes) is not supported", g.bindLimit)
	}
	perImage := 1
	for i, b := range bufs {
		if batchMajor[gm.entry][i] {
			perImage = max(perImage, b.Len()/p.N)
		}
	}
	step := g.passRows(perImage)
	for n0 := 0; n0 < p.N; n0 += step {
		q, part := p, gm
		q.N = min(step, p.N-n0)
		for i, b := range bufs {
			if batchMajor[gm.entry][i] {
				img := b.Len() / p.N
				part.base[i], part.used[i] = n0*img, q.N*img
			}
		}
		switch gm.entry {
		case "forward":
			part.n = q.N * p.OH * p.OW
		case "input_grad":
			part.n = q.N * p.H * p.W
		case "weight_grad":
			part.k = q.N * p.OH * p.OW
		}
		if err := f(q, part, n0 == 0); err != nil {
			return err
		}
	}
	return nil
}

// convRange is the K range of one recording of a pass: slices slices of kc
// each from k0, slice s writing at outOff + s·sliceStride, adding into the
// output when accumulate is set.
type convRange struct {
	k0, kc, slices      int
	sliceStride, outOff int
	accumulate          bool
}

// convTile returns the tile of an m×n convolution GEMM (z of them side by
// side): rows the fewest of 32, 64 or 128 that cover m; on a software
// adapter, the columns that minimise the estimated time (as softwareTile
// does for matmul); on a GPU, whose register blocks stay at 8×8, the widest
// of 128 to 16 that pad n by at most a quarter, narrowed while the grid has
// fewer than minWorkgroups workgroups. Each tile's threads are a multiple
// of its K depth, and a multiple or a divisor of its columns, as
// conv2d.wgsl's loaders need.
func (g *gpuDevice) convTile(m, n, z int) gemmTile {
	tm := 32
	for tm < min(m, 128) {
		tm *= 2
	}
	if g.software {
		var tiles []softTile
		for tn := 256; tn >= 16; tn /= 2 {
			t := convTileShape(tm, tn, true)
			tiles = append(tiles, softTile{t, blockSpeed(t)})
		}
		return softwareTile(tiles, z, m, n, runtime.NumCPU(), g.tileFits)
	}
	// The widest columns that pad n by at most a quarter.
	tn := 128
	for tn > 16 && ceilDiv(n, tn)*tn*4 > n*5 {
		tn /= 2
	}
	for tn > 64 && ceilDiv(m, tm)*ceilDiv(n, tn)*z < minWorkgroups {
		tn /= 2
	}
	for {
		t := convTileShape(tm, tn, false)
		if t.fits(g) || tn == 16 {
			return t
		}
		tn /= 2
	}
}

// convTileShape gives the threads and register blocks of a tm×tn tile; a
// software adapter's tiles of 128 columns or more have 8×16 blocks, as its
// matmul's.
func convTileShape(tm, tn int, software bool) gemmTile {
	if software && tn >= 128 {
		return gemmTile{wx: tn / 16, wy: tm / 8, rm: 8, rn: 16, tk: 16}
	}
	rm := 8
	if tm == 32 {
		rm = 4
	}
	rn := 8
	if tn <= 16 || (tm == 32 && tn == 64) {
		rn = 4
	}
	return gemmTile{wx: tn / rn, wy: tm / rm, rm: rm, rn: rn, tk: 16}
}

// blockSpeed is the relative speed of a software adapter's tile by its
// register block (matmulTilesSoftware's measurements).
func blockSpeed(t gemmTile) float64 {
	switch {
	case t.rm*t.rn >= 128:
		return 15
	case t.rm*t.rn >= 64:
		return 10.2
	case t.rm*t.rn >= 32:
		return 7.5
	}
	return 5
}

// convPipeline compiles entry of conv2d.wgsl for tile t, with the
// epilogue epi.spec if any; the input gradient has a variant for strides
// above 1.
func (g *gpuDevice) convPipeline(gm convGEMM, p backend.Conv2DParams, t gemmTile, epi *fused) (*pipeline, error) {
	entry := gm.entry
	direct := convDirectEntry(p, gm)
	if direct != "" {
		entry = direct
	}
	s := t.spec(false, false)
	s["Entry"], s["Epi"], s["SgA"], s["Direct"] = entry, nil, g.broadcastsA(t), direct != ""
	s["Unit"] = direct != "" && p.StrideH == 1 && p.StrideW == 1
	s["Half0"], s["Half1"] = "", ""
	if dt := gm.in0.DType(); dt.IsHalf() {
		s["Half0"] = halfKind(dt)
	}
	if dt := gm.in1.DType(); dt.IsHalf() {
		s["Half1"] = halfKind(dt)
	}
	if epi != nil && epi.spec != nil {
		if entry == "forward" && p.Groups == 1 {
			epi.rowLeaves(p.O, p.OH*p.OW, false) // a GEMM row is then an output channel
		}
		s["Epi"] = epi.epilogue()
	}
	s["Strided"] = entry == "input_grad" && (p.StrideH > 1 || p.StrideW > 1)
	return g.pipelineLocked("conv2d", entry, s)
}

// convDirectEntry returns the direct kernel's entry for the pass gm of p,
// or "" for the GEMM's: a convolution whose groups read one input channel
// each and write fewer than convDirectOutputs channels (a depthwise one)
// runs its passes directly, the forward pass and the input gradient four
// elements of a row a thread, the weight gradient a workgroup an output
// channel. As GEMMs, the forward pass's and the input gradient's tiles,
// of at least 32 rows, would have O/groups and one row of work, and the
// weight gradient's O/groups rows and KH·KW columns (MobileNetV2's 3×3
// layer over 144 channels of 56×56 took 75 ms on lavapipe, 10 ms
// direct). With more outputs a channel the GEMM's reuse of each input
// catches up: over 16 channels of 16 images of 28×28 on lavapipe, 4
// outputs a channel took 30 ms as a GEMM and 7.6 ms direct, 7 outputs 30
// and 13.5 ms, 16 outputs 32 and 31 ms; the MNIST CNN's first layer (1
// to 32 channels, 64 images) 21–22 ms as a GEMM, 26–28 ms direct.
func convDirectEntry(p backend.Conv2DParams, gm convGEMM) string {
	if p.C != p.Groups || p.O/p.Groups >= convDirectOutputs {
		return ""
	}
	switch {
	case gm.entry == "forward" && gm.k <= maxLoop:
		return "direct"
	case gm.entry == "input_grad" && gm.k <= maxLoop:
		return "direct_input_grad"
	case gm.entry == "weight_grad" && p.KH*p.KW <= 256:
		return "direct_weight_grad"
	}
	return ""
}

// convPointwise reports whether p is a 1×1 convolution of stride 1, no
// padding and one group, which Conv2D computes as a matrix product per
// image: on lavapipe 960 to 320 channels over 7×7 took 11.2 ms as a
// convolution and 3.6 ms as a product, 16 to 96 over 112×112 10–11 and
// 6.3 ms, 64 to 128 over 16 images of 28×28 19–20 and 12–13 ms.
func convPointwise(p backend.Conv2DParams) bool {
	return p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0 &&
		p.Groups == 1 && p.OH == p.H && p.OW == p.W
}

// convDirectOutputs bounds the output channels per group of the direct
// kernels (see convDirectEntry).
const convDirectOutputs = 16

// convRecordLocked records the dispatches of one K range of a pass, cutting
// the workgroup grid where it exceeds the adapter's per-dimension limit.
func (g *gpuDevice) convRecordLocked(pl *pipeline, t gemmTile, p backend.Conv2DParams, gm convGEMM, r convRange, epi *fused) error {
	limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
	rowTiles, colTiles := ceilDiv(gm.m, t.rows()), ceilDiv(gm.n, t.cols())
	groupsPer := max(1, limit/r.slices)
	args := []gpuArg{gpuIn(1, gm.in0), gpuIn(2, gm.in1), gpuOut(3, gm.out)}
	if epi != nil { // a deferred pass reads its inputs as they were
		args[0].asIs, args[1].asIs = true, true
	}
	var offs [3]int
	for i, n := range gm.used {
		if n > 0 {
			var start int
			args[i], start = g.window(args[i], gm.base[i], gm.base[i]+n-1)
			offs[i] = gm.base[i] - start
		}
	}
	direct := convDirectEntry(p, gm)
	if direct != "" {
		rowTiles, colTiles, groupsPer = 1, 1, p.Groups
	}
	for g0 := 0; g0 < p.Groups; g0 += groupsPer {
		for r0 := 0; r0 < rowTiles; r0 += limit {
			for c0 := 0; c0 < colTiles; c0 += limit {
				var pr gpuParams
				pr.ints(p.N, p.C, p.H, p.W, p.O, p.KH, p.KW, p.OH, p.OW, p.StrideH, p.StrideW,
					p.PadH, p.PadW, p.DilH, p.DilW, p.Groups,
					gm.m, gm.n, gm.k, r.k0, r.kc, r0, c0, g0, r.slices, r.sliceStride, r.outOff, gpuBool(r.accumulate))
				pr.ints(offs[:]...)
				if epi != nil && epi.spec != nil {
					pr.ints(gpuBool(r.k0+r.kc >= gm.k), 0)
					epi.params(&pr, epi.shape, epi.leafStrides())
				}
				gr := gpuGrid{uint32(min(limit, colTiles-c0)), uint32(min(limit, rowTiles-r0)), uint32(min(groupsPer, p.Groups-g0) * r.slices)}
				switch direct {
				case "direct": // four outputs of a row a thread
					gr = g.threads(p.N * p.O * p.OH * ceilDiv(p.OW, 4))
				case "direct_input_grad": // four elements of a row of dx a thread
					gr = g.threads(p.N * p.C * p.H * ceilDiv(p.W, 4))
				case "direct_weight_grad": // a workgroup an output channel
					gr = g.linearGrid(p.O)
				}
				all := args
				if epi != nil && epi.spec != nil {
					all = append(slices.Clone(args), epi.leafArgs(4)...)
				}
				if err := g.launchLocked(pl, pr.b, gr, all...); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// convSerial records a pass, in parts of the batch when its tensors are
// larger than a binding.
func (g *gpuDevice) convSerial(p backend.Conv2DParams, gm convGEMM) {
	g.do("Conv2D."+gm.entry, []backend.Buffer{gm.out}, func() error {
		t := g.convTile(gm.m, gm.n, p.Groups)
		pl, err := g.convPipeline(gm, p, t, nil)
		if err != nil {
			return err
		}
		return g.batchParts(p, gm, func(p backend.Conv2DParams, gm convGEMM, _ bool) error {
			return g.convKLocked(pl, t, p, gm, false, nil)
		})
	})
}

// convKLocked records a pass whose K is cut into dispatches of at most
// maxLoop, those after the first (and the first too, with accumulate) adding
// into the output; K = 0 still runs once to write zeros.
func (g *gpuDevice) convKLocked(pl *pipeline, t gemmTile, p backend.Conv2DParams, gm convGEMM, accumulate bool, epi *fused) error {
	for k0 := 0; k0 == 0 || k0 < gm.k; k0 += maxLoop {
		if err := g.convRecordLocked(pl, t, p, gm, convRange{k0: k0, kc: maxLoop, slices: 1, accumulate: accumulate || k0 > 0}, epi); err != nil {
			return err
		}
	}
	return nil
}

func (g *gpuDevice) Conv2D(dst, x, w backend.Buffer, p backend.Conv2DParams, e backend.Epilogue) {
	if convPointwise(p) {
		// The product of w [O, C] and each image [C, H·W]: the matrix
		// product's kernels load vectors where the convolution's gather.
		g.do("Conv2D.forward", []backend.Buffer{dst}, func() error {
			hw := p.H * p.W
			a := backend.View{Buf: w, Shape: []int{p.N, p.O, p.C}, Strides: []int{0, p.C, 1}}
			b := backend.View{Buf: x, Shape: []int{p.N, p.C, hw}, Strides: []int{p.C * hw, hw, 1}}
			return g.matMulOpLocked(dst, a, b)
		})
		if !e.IsZero() {
			g.epilogue(dst, []int{p.N, p.O, p.OH, p.OW}, e)
		}
		return
	}
	if e.IsZero() {
		deferred := false
		g.do("Conv2D.forward", []backend.Buffer{dst}, func() (err error) {
			deferred, err = g.deferConvLocked(dst, x, w, p)
			return err
		})
		if deferred {
			return
		}
	}
	g.convSerial(p, convForward(dst, x, w, p))
	if !e.IsZero() {
		g.epilogue(dst, []int{p.N, p.O, p.OH, p.OW}, e)
	}
}

// convForward is the forward pass of a convolution of x by w into dst.
func convForward(dst, x, w backend.Buffer, p backend.Conv2DParams) convGEMM {
	return convGEMM{entry: "forward", m: p.O / p.Groups, n: p.N * p.OH * p.OW,
		k: p.C / p.Groups * p.KH * p.KW, in0: x, in1: w, out: dst}
}

// recordConvLocked records a deferred convolution into its dense output
// out, with the epilogue epi.spec if any.
func (g *gpuDevice) recordConvLocked(c *ewConv, out *gpuBuffer, epi *fused) error {
	gm := convForward(out, c.x, c.w, c.p)
	t := g.convTile(gm.m, gm.n, c.p.Groups)
	pl, err := g.convPipeline(gm, c.p, t, epi)
	if err != nil {
		return err
	}
	return g.convKLocked(pl, t, c.p, gm, false, epi)
}

// epilogue applies e in place to the dense output dst [N, O, …] of a
// convolution: one more dispatch, instead of one per step and a temporary
// each.
func (g *gpuDevice) epilogue(dst backend.Buffer, shape []int, e backend.Epilogue) {
	g.do("Conv2D.epilogue", []backend.Buffer{dst}, func() error {
		pl, err := g.pipelineLocked("epilogue", "main", kernelSpec{"Bias": e.Bias != nil, "Res": e.Residual != nil,
			"Clamp": e.Clamp, "HardSwish": e.HardSwish, "Affine": e.Affine})
		if err != nil {
			return err
		}
		bias := backend.View{Buf: e.Bias, Shape: shape, Strides: make([]int, len(shape))}
		res := backend.View{Buf: e.Residual, Shape: shape, Strides: make([]int, len(shape))}
		args := []gpuArg{gpuOut(1, dst)}
		if e.Bias != nil {
			bias.Strides[1] = 1
			args = append(args, gpuIn(2, e.Bias).of(0))
		}
		if e.Residual != nil {
			res.Strides = backend.ContiguousStrides(shape)
			args = append(args, gpuIn(3, e.Residual).of(1))
		}
		extra := []uint32{math.Float32bits(e.Lo), math.Float32bits(e.Hi), math.Float32bits(e.Scale), math.Float32bits(e.Shift)}
		return g.elementwiseExtra(pl, shape, []backend.View{bias, res}, 0, 0, extra, args...)
	})
}

func (g *gpuDevice) Conv2DInputGrad(dx, dy, w backend.Buffer, p backend.Conv2DParams) {
	if convPointwise(p) {
		// wᵀ [C, O] times each image's dy [O, H·W]: on lavapipe, the
		// forward pass and input gradient of 64 to 128 channels over 16
		// images of 28×28 took 33–34 ms with the convolution's, 26–28 ms
		// with the product; 144 to 24 over 56×56 8.6–8.9 and 4.7–7.0 ms.
		g.do("Conv2D.input_grad", []backend.Buffer{dx}, func() error {
			hw := p.H * p.W
			a := backend.View{Buf: w, Shape: []int{p.N, p.C, p.O}, Strides: []int{0, 1, p.C}}
			b := backend.View{Buf: dy, Shape: []int{p.N, p.O, hw}, Strides: []int{p.O * hw, hw, 1}}
			return g.matMulOpLocked(dx, a, b)
		})
		return
	}
	g.convSerial(p, convGEMM{entry: "input_grad", m: p.C / p.Groups, n: p.N * p.H * p.W,
		k: p.O / p.Groups * p.KH * p.KW, in0: dy, in1: w, out: dx})
}

// Conv2DWeightGrad sums over batch·OH·OW, usually far longer than the
// weights are many, so it cuts that K into slices that run side by side,
// each writing partial sums for every weight, and a reduction adds them up.
// When the slices would need too much scratch memory, several dispatches
// add into the same partial sums.
func (g *gpuDevice) Conv2DWeightGrad(dw, x, dy backend.Buffer, p backend.Conv2DParams) {
	g.do("Conv2D.weight_grad", []backend.Buffer{dw}, func() error {
		og, cols := p.O/p.Groups, p.C/p.Groups*p.KH*p.KW
		// The slices give the weight gradient its parallelism: its tile
		// need not be narrowed for it.
		t := g.convTile(og, cols, 1<<20)
		k := p.N * p.OH * p.OW
		total := p.O * cols
		gm := convGEMM{entry: "weight_grad", m: og, n: cols, k: k, in0: x, in1: dy, out: dw}
		pl, err := g.convPipeline(gm, p, t, nil)
		if err != nil {
			return err
		}
		if convDirectEntry(p, gm) != "" {
			// One dispatch a part of the batch, each adding into dw.
			return g.batchParts(p, gm, func(p backend.Conv2DParams, gm convGEMM, first bool) error {
				return g.convRecordLocked(pl, t, p, gm, convRange{kc: gm.k, slices: 1, accumulate: !first}, nil)
			})
		}
		if g.oversized([]gpuArg{gpuIn(1, x), gpuIn(2, dy), gpuOut(3, dw)}) {
			// Parts of the batch one after the other, each adding into dw.
			return g.batchParts(p, gm, func(p backend.Conv2DParams, gm convGEMM, first bool) error {
				return g.convKLocked(pl, t, p, gm, !first, nil)
			})
		}
		tiles := ceilDiv(og, t.rows()) * ceilDiv(cols, t.cols()) * p.Groups
		target := convTargetGroups
		if g.software {
			target = convSoftwareGroups * runtime.NumCPU()
		}
		kc := min(maxLoop, max(convSliceMin, ceilDiv(k, max(1, target/max(tiles, 1)))))
		kc = ceilDiv(kc, 16) * 16
		slices := ceilDiv(k, kc)
		if slices <= 1 || total == 0 {
			return g.convRecordLocked(pl, t, p, gm, convRange{kc: max(k, 1), slices: 1}, nil)
		}
		limit := int(g.limits.MaxComputeWorkgroupsPerDimension)
		per := min(slices, limit, max(1, convPartialBytes/(4*total)))
		part, err := g.scratchLocked(backend.Float32, total*per)
		if err != nil {
			return err
		}
		defer g.releaseScratchLocked(part)
		gm.out = part
		for k0 := 0; k0 < k; k0 += per * kc {
			r := convRange{k0: k0, kc: kc, slices: min(per, ceilDiv(k-k0, kc)), sliceStride: total, accumulate: k0 > 0}
			if err := g.convRecordLocked(pl, t, p, gm, r, nil); err != nil {
				return err
			}
		}
		sum := backend.View{Buf: part, Shape: []int{total, per}, Strides: []int{1, total}}
		outShape, outStrides, redShape, redStrides, _ := splitView(sum, 1)
		return g.reduceLocked(backend.ReduceSum, dw, 0, sum, outShape, outStrides, redShape, redStrides, 1, 1, nil, nil)
	})
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
