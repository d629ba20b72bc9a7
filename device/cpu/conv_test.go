package cpu

import (
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/convref"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuConvCase returns the parameters of a convolution, computing OH and OW.
func cpuConvCase(n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, g int) backend.Conv2DParams {
	return backend.Conv2DParams{N: n, C: c, H: h, W: w, O: o, KH: kh, KW: kw,
		OH: (h+2*ph-dh*(kh-1)-1)/sh + 1, OW: (w+2*pw-dw*(kw-1)-1)/sw + 1,
		StrideH: sh, StrideW: sw, PadH: ph, PadW: pw, DilH: dh, DilW: dw, Groups: g}
}

// cpuCheckMag compares got with want within 1e-5 of the magnitude sums.
func cpuCheckMag(t *testing.T, name string, want, mag []float64, got []float32) {
	t.Helper()
	require.Len(t, got, len(want), name)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5*mag[i]+1e-30 {
			t.Fatalf("%s: element %d: got %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestCPUConv2D(t *testing.T) {
	h := newCPUHarness(t)
	cases := map[string]backend.Conv2DParams{
		"basic":            cpuConvCase(2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"stride":           cpuConvCase(1, 2, 9, 8, 3, 3, 2, 2, 3, 1, 0, 1, 1, 1),
		"dilation":         cpuConvCase(2, 3, 11, 11, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1),
		"groups":           cpuConvCase(3, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2),
		"depthwise":        cpuConvCase(2, 5, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5),
		"1x1":              cpuConvCase(3, 8, 5, 7, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1),
		"1x1-groups":       cpuConvCase(2, 8, 5, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2),
		"1x1-stride":       cpuConvCase(1, 3, 7, 7, 2, 1, 1, 2, 2, 0, 0, 1, 1, 1),
		"1x1-wide":         cpuConvCase(2, 24, 9, 9, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1), // full tiles and edges
		"1x1-groups-wide":  cpuConvCase(1, 32, 8, 8, 48, 1, 1, 1, 1, 0, 0, 1, 1, 2),
		"big-padding":      cpuConvCase(1, 2, 4, 5, 3, 3, 3, 1, 2, 2, 2, 1, 1, 1),
		"same-width":       cpuConvCase(2, 3, 7, 6, 4, 5, 3, 1, 1, 1, 1, 1, 1, 1),
		"same-dilated":     cpuConvCase(1, 2, 5, 9, 3, 3, 3, 1, 1, 0, 4, 1, 2, 1),
		"kernel>input":     cpuConvCase(2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"batch-parallel":   cpuConvCase(4, 16, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"batch-even":       cpuConvCase(2, 6, 17, 13, 4, 5, 3, 2, 1, 2, 1, 1, 2, 2),
		"gemm-parallel":    cpuConvCase(1, 32, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"odd-batch":        cpuConvCase(3, 16, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 4),
		"parallel-strided": cpuConvCase(4, 6, 11, 9, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1),
		"parallel-dilated": cpuConvCase(2, 8, 13, 13, 16, 3, 3, 1, 1, 2, 2, 2, 2, 1),
		"parallel-deep":    cpuConvCase(2, 32, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"empty-batch":      cpuConvCase(0, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"no-channels":      cpuConvCase(1, 0, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"no-outputs":       cpuConvCase(2, 3, 5, 5, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"no-kernel":        cpuConvCase(1, 2, 4, 4, 3, 0, 3, 1, 1, 1, 1, 1, 1, 1),
		// Cases for the indirect kernel: output channels in several slivers
		// and a partial one, rows wider than a tile (and than two), rows so narrow that a
		// tile spans several, uneven padding, dilation with groups, and
		// padding beyond the kernel's reach (no indirect input gradient).
		"indirect-slivers": cpuConvCase(3, 5, 9, 37, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"indirect-narrow":  cpuConvCase(2, 3, 6, 3, 17, 1, 3, 1, 1, 0, 0, 1, 1, 1),
		"indirect-uneven":  cpuConvCase(1, 4, 11, 10, 8, 5, 3, 1, 1, 2, 0, 1, 1, 1),
		"indirect-groups":  cpuConvCase(2, 6, 12, 9, 34, 3, 3, 1, 1, 2, 2, 2, 2, 2),
		"indirect-farpad":  cpuConvCase(2, 3, 5, 6, 4, 3, 3, 1, 1, 3, 3, 1, 1, 1),
		"indirect-wide":    cpuConvCase(1, 2, 5, 70, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"indirect-strided": cpuConvCase(2, 40, 11, 13, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1),
		"indirect-single":  cpuConvCase(1, 5, 9, 37, 43, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		// Weight gradients tap by tap: groups of 16 input channels with
		// dilation and uneven padding, a partial block of input channels
		// and of output channels, and a single image (its calls split over
		// the cores).
		"taps-groups":  cpuConvCase(2, 32, 9, 11, 20, 3, 3, 1, 1, 1, 2, 2, 1, 2),
		"taps-partial": cpuConvCase(3, 24, 7, 6, 17, 5, 3, 1, 1, 2, 1, 1, 1, 1),
		"taps-single":  cpuConvCase(1, 32, 10, 10, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		// Depthwise convolutions (cpuDepthwise): strides 2 and 3 (row
		// phases), dilation, uneven and far padding, rows longer than a
		// vector step, a 5×5 kernel, and many channels split over the cores.
		"depthwise-stride2":  cpuConvCase(2, 6, 13, 21, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6),
		"depthwise-5x5-wide": cpuConvCase(2, 7, 9, 20, 7, 5, 5, 1, 1, 2, 2, 1, 1, 7),
		"depthwise-wide":     cpuConvCase(1, 3, 5, 40, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3),
		"depthwise-uneven1":  cpuConvCase(1, 4, 6, 9, 4, 3, 5, 1, 1, 0, 2, 1, 1, 4),
		"depthwise-stride3":  cpuConvCase(1, 3, 10, 17, 3, 3, 3, 3, 3, 1, 1, 1, 1, 3),
		"depthwise-dilated":  cpuConvCase(2, 4, 12, 19, 4, 3, 3, 1, 1, 2, 2, 2, 2, 4),
		"depthwise-uneven":   cpuConvCase(1, 5, 9, 33, 5, 5, 3, 2, 1, 2, 0, 1, 2, 5),
		"depthwise-farpad":   cpuConvCase(2, 3, 4, 5, 3, 3, 3, 1, 2, 3, 3, 1, 1, 3),
		"depthwise-5x5":      cpuConvCase(1, 8, 14, 14, 8, 5, 5, 1, 1, 2, 2, 1, 1, 8),
		"depthwise-parallel": cpuConvCase(1, 96, 28, 28, 96, 3, 3, 2, 2, 1, 1, 1, 1, 96),
		// One image of stride 2 whose output rows are split over the
		// cores in bands (odd sizes, no padding, padding past the taps).
		"depthwise-bands":        cpuConvCase(1, 16, 61, 59, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16),
		"depthwise-bands-nopad":  cpuConvCase(1, 16, 64, 58, 16, 3, 3, 2, 2, 0, 0, 1, 1, 16),
		"depthwise-bands-farpad": cpuConvCase(1, 16, 60, 57, 16, 3, 3, 2, 2, 2, 2, 1, 1, 16),
		// Strided convolutions on the indirect kernel, through the stride
		// phases: ResNet's 7×7 stem, dilation with groups and unequal
		// strides, stride 3 with padding on one side only.
		"indirect-strided-7x7":            cpuConvCase(1, 3, 30, 27, 20, 7, 7, 2, 2, 3, 3, 1, 1, 1),
		"indirect-strided-dilated-groups": cpuConvCase(2, 8, 17, 19, 36, 3, 3, 2, 3, 2, 1, 2, 2, 2),
		"indirect-stride3-uneven":         cpuConvCase(1, 5, 14, 16, 17, 3, 2, 3, 2, 0, 1, 1, 1, 1),
		// The rows kernel (conv_rows.go): a 7×7 plane (an odd number of
		// runs) whose input gradient takes it too, runs of 7 and 5 over
		// two images, stride 2 through the phases.
		"rows-7x7":     cpuConvCase(1, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"rows-partial": cpuConvCase(2, 230, 10, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1),
		"rows-strided": cpuConvCase(1, 256, 14, 14, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1),
		"rows-1x1":     cpuConvCase(2, 320, 7, 7, 320, 1, 1, 1, 1, 0, 0, 1, 1, 1),
		"rows-1x1-one": cpuConvCase(1, 320, 7, 7, 320, 1, 1, 1, 1, 0, 0, 1, 1, 1), // read in place, no copy
		// A 1×1 convolution of one image split over its input channels
		// (splitK), an odd number of them.
		"split-k": cpuConvCase(1, 193, 28, 28, 32, 1, 1, 1, 1, 0, 0, 1, 1, 1),
		// Stride 2 along rows on the GEMM path (evenColumns): 1×1 with
		// padding (zero rows and columns around the valid ones, rows of
		// 20 outputs: a whole vector step and part of one), stride 1
		// down the columns, and a 3×3 too deep for the indirect kernel
		// and too large for tap tables.
		"1x1-stride-padded":  cpuConvCase(2, 5, 9, 37, 6, 1, 1, 2, 2, 1, 1, 1, 1, 1),
		"1x1-stride-rows":    cpuConvCase(1, 4, 6, 50, 3, 1, 1, 1, 2, 0, 0, 1, 1, 1),
		"strided-deep-large": cpuConvCase(1, 129, 122, 121, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1),
		// One output channel, and one output position: products with a
		// single row or column (cpuGemm.vector), strided.
		"one-channel":  cpuConvCase(2, 3, 7, 7, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1),
		"one-position": cpuConvCase(2, 3, 5, 5, 4, 5, 5, 2, 2, 0, 0, 1, 1, 1),
	}
	// Single images run again with every weight size counted as outgrowing
	// L2 (see sliversOutside), their slivers split over the cores.
	defer func() { cpuSliversOutsideBytes = 0 }()
	for _, limit := range []int{0, 1} {
		cpuSliversOutsideBytes = limit
		for name, p := range cases {
			if limit != 0 && p.N != 1 {
				continue
			}
			if limit != 0 {
				name += "/slivers-outside"
			}
			t.Run(name, func(t *testing.T) { cpuCheckConv(t, h, p) })
		}
	}
}

// cpuCheckConv checks convolution p, its epilogues and its gradients
// against convref.Taps in float64.
func cpuCheckConv(t *testing.T, h *cpuHarness, p backend.Conv2DParams) {
	xs, ws, ys := p.N*p.C*p.H*p.W, p.O*p.C/p.Groups*p.KH*p.KW, p.N*p.O*p.OH*p.OW
	xd, wd, dyd := h.randF(xs), h.randF(ws), h.randF(ys)
	x, w, dy := h.f32(xd), h.f32(wd), h.f32(dyd)

	y, ymag := make([]float64, ys), make([]float64, ys)
	dx, dxmag := make([]float64, xs), make([]float64, xs)
	dw, dwmag := make([]float64, ws), make([]float64, ws)
	convref.Taps(p, func(xi, wi, yi int) {
		v := float64(xd[xi]) * float64(wd[wi])
		y[yi] += v
		ymag[yi] += math.Abs(v)
		v = float64(wd[wi]) * float64(dyd[yi])
		dx[xi] += v
		dxmag[xi] += math.Abs(v)
		v = float64(xd[xi]) * float64(dyd[yi])
		dw[wi] += v
		dwmag[wi] += math.Abs(v)
	})

	out := h.dirty(backend.Float32, ys)
	h.d.Conv2D(out, x, w, p, backend.Epilogue{})
	cpuCheckMag(t, "forward", y, ymag, h.readF(out))
	// The same with every part of the epilogue: each part of the
	// output is biased, added to and clamped where it is computed.
	bd, rd := h.randF(p.O), h.randF(ys)
	fused, fmag := make([]float64, ys), make([]float64, ys)
	for i := range fused {
		v := y[i] + float64(bd[i/(p.OH*p.OW)%p.O]) + float64(rd[i])
		fused[i], fmag[i] = min(max(v, -0.5), 0.75), ymag[i]+2
	}
	h.d.Conv2D(out, x, w, p, backend.Epilogue{Bias: h.f32(bd), Residual: h.f32(rd), Clamp: true, Lo: -0.5, Hi: 0.75})
	cpuCheckMag(t, "forward with epilogue", fused, fmag, h.readF(out))
	for i := range fused {
		v := y[i] + float64(bd[i/(p.OH*p.OW)%p.O])
		fused[i], fmag[i] = (v*min(max(v/6+0.5, 0), 1))*1.5-0.25, 2*(ymag[i]+1)
	}
	h.d.Conv2D(out, x, w, p, backend.Epilogue{Bias: h.f32(bd), HardSwish: true, Affine: true, Scale: 1.5, Shift: -0.25})
	cpuCheckMag(t, "forward with hard swish and affine epilogue", fused, fmag, h.readF(out))
	// A bias and a clamp alone (which a depthwise kernel applies
	// as it stores).
	for i := range fused {
		v := y[i] + float64(bd[i/(p.OH*p.OW)%p.O])
		fused[i], fmag[i] = min(max(v, 0), 0.5), ymag[i]+1
	}
	h.d.Conv2D(out, x, w, p, backend.Epilogue{Bias: h.f32(bd), Clamp: true, Lo: 0, Hi: 0.5})
	cpuCheckMag(t, "forward with bias and clamp", fused, fmag, h.readF(out))
	// Frozen weights: their packed or transposed forms are kept.
	frozen := h.f32(wd)
	h.d.(backend.Freezer).Freeze(frozen)
	for range 2 {
		out := h.dirty(backend.Float32, ys)
		h.d.Conv2D(out, x, frozen, p, backend.Epilogue{})
		cpuCheckMag(t, "forward with frozen weights", y, ymag, h.readF(out))
	}
	gx := h.dirty(backend.Float32, xs)
	h.d.Conv2DInputGrad(gx, dy, w, p)
	cpuCheckMag(t, "input grad", dx, dxmag, h.readF(gx))
	gw := h.dirty(backend.Float32, ws)
	h.d.Conv2DWeightGrad(gw, x, dy, p)
	cpuCheckMag(t, "weight grad", dw, dwmag, h.readF(gw))
}

// TestCPUIndirectConvChosen checks which convolutions run on the indirect
// kernel where the CPU has it, so that the cases above test it.
func TestCPUIndirectConvChosen(t *testing.T) {
	if !kernel.HasAVX512 {
		t.Skip("no AVX-512: the indirect kernel is not built in")
	}
	cases := []struct {
		p                      backend.Conv2DParams
		forward, gradIn, gradW bool
	}{
		{cpuConvCase(3, 5, 9, 37, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true, false},
		{cpuConvCase(2, 6, 12, 9, 34, 3, 3, 1, 1, 2, 2, 2, 2, 2), true, true, false},
		{cpuConvCase(2, 3, 5, 6, 4, 3, 3, 1, 1, 3, 3, 1, 1, 1), true, false, false},
		{cpuConvCase(1, 2, 9, 8, 3, 3, 2, 2, 3, 1, 0, 1, 1, 1), true, false, false}, // strided: its phases
		{cpuConvCase(3, 8, 5, 7, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1), false, false, false},
		{cpuConvCase(2, 8, 9, 8, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1), false, false, false},   // 1×1 of stride 2
		{cpuConvCase(1, 30, 9, 9, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1), true, false, false},   // strided, 270 rows
		{cpuConvCase(1, 130, 9, 9, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1), false, false, false}, // strided, 1170 rows
		{cpuConvCase(2, 32, 9, 11, 20, 3, 3, 1, 1, 1, 2, 2, 1, 2), true, true, true},
		{cpuConvCase(3, 24, 7, 6, 17, 5, 3, 1, 1, 2, 1, 1, 1, 1), true, true, true},
		{cpuConvCase(1, 32, 10, 10, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true, true},
		{cpuConvCase(2, 20, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true, false}, // 20 of 32
	}
	for _, c := range cases {
		cv := newCPUConv(c.p)
		_, gradIn := cv.indirectInputGrad()
		require.Equal(t, c.forward, cv.indirectPlan() != nil, "forward of %+v", c.p)
		require.Equal(t, c.gradIn, gradIn, "input gradient of %+v", c.p)
		require.Equal(t, c.gradW, cv.tapGrad() != nil, "weight gradient of %+v", c.p)
	}
}

// TestCPURowsKernelChosen checks which convolutions take the rows kernel,
// so that the cases above test it: whole blocks of 32 output channels, one
// group, columns of 2048 rows or more (1×1 kernels: 128, and enough work),
// and less padded work than the 8×32 kernel's (which strided convolutions
// over such columns do not take, nor 1×1 kernels outside the rows kernel).
func TestCPURowsKernelChosen(t *testing.T) {
	if !kernel.HasAVX512 {
		t.Skip("no AVX-512: the indirect kernel is not built in")
	}
	cases := []struct {
		p    backend.Conv2DParams
		rows bool
	}{
		{cpuConvCase(1, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), true}, // and its input gradient
		{cpuConvCase(2, 230, 10, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},
		{cpuConvCase(1, 256, 14, 14, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1), true},
		{cpuConvCase(1, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},  // ResNet-18's layer3
		{cpuConvCase(1, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1), false}, // layer2: 1152 rows
		{cpuConvCase(1, 256, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},  // 8×32 tiles waste 2%
		{cpuConvCase(1, 256, 7, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},    // 48 outputs
		{cpuConvCase(1, 256, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 2), false},    // groups
		{cpuConvCase(1, 256, 5, 5, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},    // rows shorter than a run
		// 1×1 kernels: at 7×7, from 128 rows and 2^22 multiply-adds.
		{cpuConvCase(2, 320, 7, 7, 320, 1, 1, 1, 1, 0, 0, 1, 1, 1), true},
		{cpuConvCase(1, 160, 7, 7, 960, 1, 1, 1, 1, 0, 0, 1, 1, 1), true},
		{cpuConvCase(1, 96, 7, 7, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1), false},    // small
		{cpuConvCase(1, 576, 14, 14, 96, 1, 1, 1, 1, 0, 0, 1, 1, 1), false}, // 196 positions in 224
	}
	for _, c := range cases {
		ic := newCPUConv(c.p).indirectPlan()
		if c.p.StrideH == 1 && c.p.KH > 1 {
			require.NotNil(t, ic, "%+v", c.p)
		}
		require.Equal(t, c.rows, ic != nil && ic.runs != nil, "%+v", c.p)
	}
	// A deep strided convolution that the rows kernel does not take is
	// left to the GEMM path.
	require.Nil(t, newCPUConv(cpuConvCase(1, 256, 14, 14, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1)).indirectPlan())
}

// TestCPUSplitKChosen: the split-k case above splits its input channels
// where there are several cores, and larger planes, more outputs and
// batches do not.
func TestCPUSplitKChosen(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: nothing to split")
	}
	require.True(t, newCPUConv(cpuConvCase(1, 193, 28, 28, 32, 1, 1, 1, 1, 0, 0, 1, 1, 1)).splitsK())
	require.False(t, newCPUConv(cpuConvCase(1, 144, 56, 56, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1)).splitsK(), "56×56")
	require.False(t, newCPUConv(cpuConvCase(1, 960, 7, 7, 160, 1, 1, 1, 1, 0, 0, 1, 1, 1)).splitsK(), "160 outputs")
	require.False(t, newCPUConv(cpuConvCase(2, 193, 28, 28, 32, 1, 1, 1, 1, 0, 0, 1, 1, 1)).splitsK(), "two images")
	require.False(t, newCPUConv(cpuConvCase(1, 193, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1)).splitsK(), "3×3")
}

// TestCPUDepthwiseChosen: the depthwise cases above take cpuDepthwise, and
// grouped convolutions with several channels per group do not.
func TestCPUDepthwiseChosen(t *testing.T) {
	require.True(t, cpuIsDepthwise(cpuConvCase(2, 6, 13, 21, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6)))
	require.False(t, cpuIsDepthwise(cpuConvCase(2, 6, 13, 21, 12, 3, 3, 2, 2, 1, 1, 1, 1, 6)), "two outputs per channel")
	require.False(t, cpuIsDepthwise(cpuConvCase(3, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2)), "two channels per group")
	require.False(t, cpuIsDepthwise(cpuConvCase(1, 1, 6, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1)), "one channel: an ordinary convolution")
}
