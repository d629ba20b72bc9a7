package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2x2 checks the vector pooling against a scalar reference on
// planes with ties and NaNs, widths below, at and above a chunk of 16
// windows, and odd input widths whose last column no window reads.
func TestMaxPool2x2(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	for _, ow := range []int{1, 3, 7, 14, 16, 17, 33, 40} {
		for _, extra := range []int{0, 1} {
			oh, w := 3, 2*ow+extra
			src := make([]float32, 2*oh*w)
			for i := range src {
				src[i] = float32(r.IntN(5)) // ties
				if r.IntN(20) == 0 {
					src[i] = nan
				}
			}
			dst := make([]float32, oh*ow+1)
			idx := make([]int32, oh*ow+1)
			dst[oh*ow], idx[oh*ow] = -7, -7
			if !MaxPool2x2(dst[:oh*ow], idx[:oh*ow], src, oh, ow, w) {
				t.Fatal("MaxPool2x2 refused")
			}
			if dst[oh*ow] != -7 || idx[oh*ow] != -7 {
				t.Fatalf("ow %d: wrote past the output", ow)
			}
			for y := range oh {
				for x := range ow {
					at := 2*y*w + 2*x
					best, bi := src[at], at
					for _, i := range []int{at + 1, at + w, at + w + 1} {
						if v := src[i]; v > best || v != v {
							best, bi = v, i
						}
					}
					o := y*ow + x
					if int(idx[o]) != bi || math.Float32bits(dst[o]) != math.Float32bits(best) {
						t.Fatalf("ow %d w %d window (%d, %d): got %v at %d, want %v at %d", ow, w, y, x, dst[o], idx[o], best, bi)
					}
				}
			}
		}
	}
}

// TestMaxPool3x3S2 checks the vector pooling against a scalar reference on
// planes with ties and NaNs (and a plane of NaNs alone): sizes below, at
// and above chunks of 16 outputs, odd and even, padding 0 to 2, and ceil
// mode's extra output whose window passes the plane's edge.
func TestMaxPool3x3S2(t *testing.T) {
	if !HasAVX512 {
		if MaxPool3x3S2(nil, nil, nil, 1, 1, 1, 1, 1, 0, 0) {
			t.Fatal("MaxPool3x3S2 ran without AVX-512")
		}
		return
	}
	r := rand.New(rand.NewPCG(7, 8))
	nan := float32(math.NaN())
	const planes = 3
	for _, c := range []struct{ h, wd, pad int }{
		{112, 112, 1}, {7, 7, 1}, {14, 14, 1}, {9, 75, 1}, {5, 64, 0}, {6, 33, 1}, {2, 2, 1}, {3, 3, 2}, {1, 40, 1}, {8, 31, 2}, {4, 4, 0},
	} {
		for _, ceil := range []int{0, 1} {
			oh, ow := (c.h+2*c.pad-3+ceil)/2+1, (c.wd+2*c.pad-3+ceil)/2+1
			src := make([]float32, planes*c.h*c.wd)
			for i := range src {
				src[i] = float32(r.IntN(7)) - 3 // ties
				if r.IntN(40) == 0 {
					src[i] = nan
				}
			}
			for i := range c.h * c.wd { // the last plane: NaN or −∞ alone
				src[(planes-1)*c.h*c.wd+i] = float32(math.Inf(-1))
			}
			src[len(src)-1] = nan
			dst := make([]float32, planes*oh*ow+1)
			dst[planes*oh*ow] = 42 // must stay
			if !MaxPool3x3S2(dst, src, DepthwiseS2Masks(c.wd, ow, c.pad), planes, c.h, c.wd, oh, ow, c.pad, c.pad) {
				t.Fatal("MaxPool3x3S2 refused")
			}
			if dst[planes*oh*ow] != 42 {
				t.Fatalf("%+v: wrote past the output", c)
			}
			for p := range planes {
				for y := range oh {
					for x := range ow {
						best := float32(math.Inf(-1))
						for ky := range 3 {
							for kx := range 3 {
								iy, ix := 2*y-c.pad+ky, 2*x-c.pad+kx
								if iy < 0 || iy >= c.h || ix < 0 || ix >= c.wd {
									continue
								}
								if v := src[(p*c.h+iy)*c.wd+ix]; v > best || v != v {
									best = v
								}
							}
						}
						got := dst[(p*oh+y)*ow+x]
						if got != best && !(got != got && best != best) {
							t.Fatalf("%+v ceil %d plane %d window (%d, %d): got %v, want %v", c, ceil, p, y, x, got, best)
						}
					}
				}
			}
		}
	}
}
