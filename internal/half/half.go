// Package half converts between float32 and the 16-bit floating-point
// formats that model files and NumPy arrays use: IEEE 754 binary16
// (float16) and bfloat16.
package half

import "math"

// ToFloat32 converts binary16 bits to the float32 of the same value.
func ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0: // zero, subnormal: frac·2^-24
		f := float32(frac) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// FromFloat32 rounds f to the nearest binary16, ties to even; values beyond
// its range become infinities and NaN stays NaN.
func FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23)&0xff - 127
	frac := b & 0x7fffff
	switch {
	case exp == 128: // Inf, NaN
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= -14: // normal, or rounding up into infinity
		h := uint32(exp+15)<<10 | frac>>13
		rest := frac & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++
		}
		if h >= 0x7c00 {
			return sign | 0x7c00
		}
		return sign | uint16(h)
	case exp >= -25: // subnormal
		m := frac | 0x800000
		shift := uint(-14-exp) + 13
		h := m >> shift
		rest := m & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rest > halfway || (rest == halfway && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign
}

// BFloat16ToFloat32 converts bfloat16 bits to a float32.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// BFloat16FromFloat32 rounds f to the nearest bfloat16, ties to even, as
// PyTorch does; NaN becomes the quiet NaN 0x7fc0 with f's sign.
func BFloat16FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16)&0x8000 | 0x7fc0
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// Value is the float32 of the bits of a 16-bit float: binary16, or
// bfloat16 when bf16 is set.
func Value(h uint16, bf16 bool) float32 {
	if bf16 {
		return BFloat16ToFloat32(h)
	}
	return ToFloat32(h)
}

// Round rounds f to the bits of a 16-bit float: binary16, or bfloat16 when
// bf16 is set.
func Round(f float32, bf16 bool) uint16 {
	if bf16 {
		return BFloat16FromFloat32(f)
	}
	return FromFloat32(f)
}

// Decode converts the bits of a 16-bit float, binary16 unless bf16 is set,
// into dst, which is at least as long as src.
func Decode(dst []float32, src []uint16, bf16 bool) {
	dst = dst[:len(src)]
	if bf16 {
		for i, h := range src {
			dst[i] = math.Float32frombits(uint32(h) << 16)
		}
		return
	}
	for i, h := range src {
		dst[i] = ToFloat32(h)
	}
}

// Encode rounds src to 16-bit floats, binary16 unless bf16 is set, into
// dst, which is at least as long as src.
func Encode(dst []uint16, src []float32, bf16 bool) {
	dst = dst[:len(src)]
	if bf16 {
		for i, f := range src {
			dst[i] = BFloat16FromFloat32(f)
		}
		return
	}
	for i, f := range src {
		dst[i] = FromFloat32(f)
	}
}
