package device

import "github.com/wgtensor/wgtensor/device/internal/kernel"

// cpuIsDepthwise reports whether p is a depthwise convolution, one input
// and one output channel per group (MobileNet's 3×3 layers), which
// cpuDepthwise computes directly: as a GEMM each group would be a 1×K·K
// product, a sixteenth of a tile.
func cpuIsDepthwise(p Conv2DParams) bool { return p.C > 1 && p.Groups == p.C && p.O == p.C }

// cpuDepthwise writes the depthwise convolution of x with w into out: each
// output row is the sum over the kernel taps of the tap's weight times a
// row of the input, an axpy of contiguous rows; with a stride s the input
// row is first split into its s phases (elements j·s + r), so that the
// strided row is a contiguous phase.
func cpuDepthwise(out, x, w []float32, p Conv2DParams) {
	plane, oplane, taps := p.H*p.W, p.OH*p.OW, p.KH*p.KW
	sw := p.StrideW
	cpuParallel(p.N*p.C, oplane*taps, func(lo, hi int) {
		var phases []float32
		if sw > 1 {
			phases = make([]float32, sw*((p.W+sw-1)/sw))
		}
		for nc := lo; nc < hi; nc++ {
			src := x[nc*plane : (nc+1)*plane]
			dst := out[nc*oplane : (nc+1)*oplane]
			wc := w[(nc%p.C)*taps : (nc%p.C+1)*taps]
			clear(dst)
			for oy := range p.OH {
				row := dst[oy*p.OW : (oy+1)*p.OW]
				for ky := range p.KH {
					iy := oy*p.StrideH - p.PadH + ky*p.DilH
					if iy < 0 || iy >= p.H {
						continue
					}
					in := src[iy*p.W : (iy+1)*p.W]
					stride := (p.W + sw - 1) / sw // length of a phase
					if sw > 1 {
						for j, v := range in {
							phases[(j%sw)*stride+j/sw] = v
						}
					}
					for kx := range p.KW {
						// Output ox reads input ox·s + off; keep 0 <= ix < W.
						off := kx*p.DilW - p.PadW
						first := 0
						if off < 0 {
							first = (-off + sw - 1) / sw
						}
						last := 0
						if p.W-1-off >= 0 {
							last = min(p.OW, (p.W-1-off)/sw+1)
						}
						if first >= last {
							continue
						}
						a := wc[ky*p.KW+kx]
						var seg []float32
						if sw == 1 {
							seg = in[first+off : last+off]
						} else {
							r, q := ((off%sw)+sw)%sw, floorDiv(off, sw)
							seg = phases[r*stride+first+q : r*stride+last+q]
						}
						acc := row[first:last]
						for i := kernel.Axpy(acc, seg, a); i < len(acc); i++ {
							acc[i] += a * seg[i]
						}
					}
				}
			}
		}
	})
}

// floorDiv is a/b rounded toward minus infinity, for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
