package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/internal/half"
)

// isNaN16 reports whether h is a NaN of the 16-bit format.
func isNaN16(h uint16, bf16 bool) bool { return math.IsNaN(float64(half.Value(h, bf16))) }

// TestDecodeHalf: every bit pattern of both formats converts as
// internal/half converts it (NaN to a NaN).
func TestDecodeHalf(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	for _, bf16 := range []bool{false, true} {
		dst := make([]float32, len(src))
		n := DecodeHalf(dst, src, bf16)
		if !HasAVX2 || !bf16 && !HasF16C {
			assert.Zero(t, n)
			continue
		}
		require.Equal(t, len(src), n)
		for i, h := range src {
			want := half.Value(h, bf16)
			if math.IsNaN(float64(want)) {
				assert.True(t, math.IsNaN(float64(dst[i])), "bf16 %v %#04x", bf16, h)
			} else if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("bf16 %v %#04x: got %v, want %v", bf16, h, dst[i], want)
			}
		}
	}
}

// TestEncodeHalf: random float32 bit patterns, the values of every 16-bit
// pattern and the midpoints between neighbours (ties) round as
// internal/half rounds them; NaN gives a NaN. A length that is not a
// multiple of 16 leaves the rest to the caller.
func TestEncodeHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var src []float32
	for range 1 << 16 {
		src = append(src, math.Float32frombits(rng.Uint32()))
	}
	for _, bf16 := range []bool{false, true} {
		for h := range 1 << 16 {
			v := half.Value(uint16(h), bf16)
			next := half.Value(uint16(h+1), bf16)
			src = append(src, v, (v+next)/2, math.Nextafter32(v, next))
		}
	}
	src = append(src, 1e-40, -1e-40, 65519, 65520, float32(math.Inf(-1)), 0)
	for _, bf16 := range []bool{false, true} {
		dst := make([]uint16, len(src)+5)
		n := EncodeHalf(dst, src[:len(src)-3], bf16)
		if !HasAVX2 || !bf16 && !HasF16C {
			assert.Zero(t, n)
			continue
		}
		require.Equal(t, (len(src)-3)&^15, n)
		for i, f := range src[:n] {
			want := half.Round(f, bf16)
			if math.IsNaN(float64(f)) {
				assert.True(t, isNaN16(dst[i], bf16), "bf16 %v NaN %#08x gave %#04x", bf16, math.Float32bits(f), dst[i])
			} else if dst[i] != want {
				t.Fatalf("bf16 %v: %v (%#08x): got %#04x, want %#04x", bf16, f, math.Float32bits(f), dst[i], want)
			}
		}
		assert.Equal(t, make([]uint16, len(dst)-n), dst[n:], "nothing written past the prefix")
	}
}
