package cpu

import (
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuEpilogue is an Epilogue bound to the CPU buffers of one convolution
// whose output planes are l elements long, O of them per image.
type cpuEpilogue struct {
	bias, res []float32 // nil when absent
	args      kernel.EpilogueArgs
	o, l      int
}

// newCPUEpilogue binds e to a convolution with p's output, or returns nil
// when e leaves the sums as they are.
func newCPUEpilogue(e backend.Epilogue, p backend.Conv2DParams) *cpuEpilogue {
	if e.IsZero() {
		return nil
	}
	ce := &cpuEpilogue{args: kernel.NewEpilogueArgs(0, float32(math.Inf(-1)), float32(math.Inf(1))), o: p.O, l: p.OH * p.OW}
	if e.Bias != nil {
		ce.bias = cpuFloats(e.Bias)
	}
	if e.Residual != nil {
		ce.res = cpuFloats(e.Residual)
	}
	if e.Clamp {
		ce.args.Lo, ce.args.Hi = e.Lo, e.Hi
	}
	if e.HardSwish {
		ce.args.Flags |= kernel.EpilogueHardSwish
	}
	if e.Affine {
		ce.args.Flags |= kernel.EpilogueAffine
		ce.args.Scale, ce.args.Shift = e.Scale, e.Shift
	}
	return ce
}

// plane applies the epilogue to the elements [lo, hi) of channel c of
// image n of out, while they are still in cache.
func (ce *cpuEpilogue) plane(out []float32, n, c, lo, hi int) {
	at := (n*ce.o + c) * ce.l
	dst := out[at+lo : at+hi]
	if ce.res == nil {
		ce.row(dst, c)
		return
	}
	res := ce.res[at+lo : at+hi]
	args := ce.args // a copy per call: calls run in parallel
	if ce.bias != nil {
		args.Bias = ce.bias[c]
	}
	for i := kernel.Epilogue(dst, res, &args); i < len(dst); i++ {
		dst[i] = args.Step(dst[i], res[i])
	}
}

// row applies the epilogue, but for its residual, to dst, values of
// channel c.
func (ce *cpuEpilogue) row(dst []float32, c int) {
	args := ce.args
	if ce.bias != nil {
		args.Bias = ce.bias[c]
	}
	for i := kernel.Epilogue(dst, nil, &args); i < len(dst); i++ {
		dst[i] = args.Step(dst[i], 0)
	}
}

// image applies the epilogue to the elements [lo, hi) of every channel of
// image n of out.
func (ce *cpuEpilogue) image(out []float32, n, lo, hi int) {
	for c := range ce.o {
		ce.plane(out, n, c, lo, hi)
	}
}

// tiles returns the epilogue as GEMM kernels apply it to the tiles of a
// convolution's output, whose rows are its channels, the product of group
// g holding channels g·step on, or nil when there is none or it adds a
// residual, which they do not read.
func (ce *cpuEpilogue) tiles(step int) *cpuGemmEpilogue {
	if ce == nil || ce.res != nil {
		return nil
	}
	bias := ce.bias
	if bias == nil {
		bias = make([]float32, ce.o)
	}
	return &cpuGemmEpilogue{bias: bias, step: step, args: ce.args}
}
