// Package convref is the reference 2-D convolution that the tests of the
// CPU and WebGPU backends check their kernels against: the direct
// definition, one multiply-add at a time.
package convref

import "github.com/wgtensor/wgtensor/device/backend"

// Taps calls fn(xi, wi, yi) for every multiply-add of the direct
// convolution p: input index, weight index and output index.
func Taps(p backend.Conv2DParams, fn func(xi, wi, yi int)) {
	cg, og := p.C/p.Groups, p.O/p.Groups
	for n := range p.N {
		for o := range p.O {
			g := o / og
			for oh := range p.OH {
				for ow := range p.OW {
					yi := ((n*p.O+o)*p.OH+oh)*p.OW + ow
					for c := range cg {
						for kh := range p.KH {
							ih := oh*p.StrideH - p.PadH + kh*p.DilH
							if ih < 0 || ih >= p.H {
								continue
							}
							for kw := range p.KW {
								iw := ow*p.StrideW - p.PadW + kw*p.DilW
								if iw < 0 || iw >= p.W {
									continue
								}
								xi := ((n*p.C+g*cg+c)*p.H+ih)*p.W + iw
								wi := ((o*cg+c)*p.KH+kh)*p.KW + kw
								fn(xi, wi, yi)
							}
						}
					}
				}
			}
		}
	}
}
