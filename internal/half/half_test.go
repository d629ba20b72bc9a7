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
