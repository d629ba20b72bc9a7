package device

import (
	"math"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// cpuEpilogue is an Epilogue bound to the CPU buffers of one convolution
// whose output planes are l elements long, O of them per image.
type cpuEpilogue struct {
	bias, res []float32 // nil when absent
	lo, hi    float32   // ±Inf without Clamp
	o, l      int
}

// newCPUEpilogue binds e to a convolution with p's output, or returns nil
// when e leaves the sums as they are.
func newCPUEpilogue(e Epilogue, p Conv2DParams) *cpuEpilogue {
	if e.IsZero() {
		return nil
	}
	ce := &cpuEpilogue{lo: float32(math.Inf(-1)), hi: float32(math.Inf(1)), o: p.O, l: p.OH * p.OW}
	if e.Bias != nil {
		ce.bias = cpuFloats(e.Bias)
	}
	if e.Residual != nil {
		ce.res = cpuFloats(e.Residual)
	}
	if e.Clamp {
		ce.lo, ce.hi = e.Lo, e.Hi
	}
	return ce
}

// plane applies the epilogue to the elements [lo, hi) of channel c of
// image n of out, while they are still in cache.
func (ce *cpuEpilogue) plane(out []float32, n, c, lo, hi int) {
	at := (n*ce.o + c) * ce.l
	dst := out[at+lo : at+hi]
	var res []float32
	if ce.res != nil {
		res = ce.res[at+lo : at+hi]
	}
	var b float32
	if ce.bias != nil {
		b = ce.bias[c]
	}
	for i := kernel.Epilogue(dst, res, b, ce.lo, ce.hi); i < len(dst); i++ {
		v := dst[i] + b
		if res != nil {
			v += res[i]
		}
		if v < ce.lo {
			v = ce.lo
		}
		if v > ce.hi {
			v = ce.hi
		}
		dst[i] = v
	}
}

// image applies the epilogue to the elements [lo, hi) of every channel of
// image n of out.
func (ce *cpuEpilogue) image(out []float32, n, lo, hi int) {
	for c := range ce.o {
		ce.plane(out, n, c, lo, hi)
	}
}
