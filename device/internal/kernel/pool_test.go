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
