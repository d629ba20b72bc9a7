package half

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKnownValues(t *testing.T) {
	for _, c := range []struct {
		bits uint16
		f    float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x03ff, 6.097555160522461e-05}, {0x0400, 6.103515625e-05}, {0x3555, 0.333251953125},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	} {
		assert.Equal(t, c.f, ToFloat32(c.bits), "%#04x", c.bits)
		assert.Equal(t, c.bits, FromFloat32(c.f), "%v", c.f)
	}
	assert.True(t, math.IsNaN(float64(ToFloat32(0x7e00))))
	assert.Equal(t, uint16(0x7e00), FromFloat32(float32(math.NaN())))
	assert.Equal(t, uint16(0x8000), FromFloat32(float32(math.Copysign(0, -1))))
	assert.Equal(t, uint16(0x7c00), FromFloat32(65520), "rounds up into infinity")
	assert.Equal(t, uint16(0x3c00), FromFloat32(1+1.0/2048), "a tie rounds to even")
	assert.Equal(t, uint16(0x3c01), FromFloat32(1+3.0/4096), "above the tie rounds up")
	assert.Equal(t, float32(1.5), BFloat16ToFloat32(0x3fc0))
}

// TestRoundTrip: every binary16 value survives a trip through float32.
func TestRoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		assert.Equal(t, uint16(h), FromFloat32(f), "%#04x", h)
	}
}

func TestBFloat16Rounding(t *testing.T) {
	for _, c := range []struct {
		f    float32
		bits uint16
		why  string
	}{
		{1, 0x3f80, "exact"},
		{-2.5, 0xc020, "exact negative"},
		{math.Float32frombits(0x3f808000), 0x3f80, "a tie rounds to even (down)"},
		{math.Float32frombits(0x3f818000), 0x3f82, "a tie rounds to even (up)"},
		{math.Float32frombits(0x3f808001), 0x3f81, "above the tie rounds up"},
		{math.Float32frombits(0x7f7fffff), 0x7f80, "the largest float32 rounds to infinity"},
		{float32(math.Inf(-1)), 0xff80, "infinity stays"},
		{math.Float32frombits(0x00000001), 0x0000, "the smallest subnormal rounds to zero"},
		{float32(math.Copysign(0, -1)), 0x8000, "negative zero"},
	} {
		assert.Equal(t, c.bits, BFloat16FromFloat32(c.f), c.why)
	}
	assert.Equal(t, uint16(0x7fc0), BFloat16FromFloat32(float32(math.NaN())))
	assert.Equal(t, uint16(0xffc0), BFloat16FromFloat32(math.Float32frombits(0xff800001)), "a NaN keeps its sign")
}

// TestBFloat16RoundTrip: every bfloat16 value survives a trip through
// float32, and Encode and Decode agree with the scalar conversions.
func TestBFloat16RoundTrip(t *testing.T) {
	src := make([]uint16, 1<<16)
	for h := range src {
		src[h] = uint16(h)
	}
	for _, bf16 := range []bool{false, true} {
		f := make([]float32, len(src))
		Decode(f, src, bf16)
		back := make([]uint16, len(src))
		Encode(back, f, bf16)
		for h, v := range f {
			if math.IsNaN(float64(v)) {
				continue
			}
			if bf16 {
				assert.Equal(t, BFloat16ToFloat32(uint16(h)), v)
			} else {
				assert.Equal(t, ToFloat32(uint16(h)), v)
			}
			if back[h] != uint16(h) {
				t.Fatalf("bf16 %v: %#04x came back as %#04x", bf16, h, back[h])
			}
		}
	}
}
