package kernel

import "math"

// Float32 elementwise functions shared by the CPU backend. Each slice
// function processes whole blocks of eight with AVX2 where the CPU has it
// and the rest with the scalar function of the same name, which computes
// the same approximation, so results do not depend on the path taken.

// Exp constants: Cephes' expf, e^x = 2^n · e^r with r in [-ln2/2, ln2/2].
const (
	expHi = 88.72283905206835 // above: e^x overflows float32
	expLo = -87.33654475055310
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
	expP0 = 1.9875691500e-4
	expP1 = 1.3981999507e-3
	expP2 = 8.3334519073e-3
	expP3 = 4.1665795894e-2
	expP4 = 1.6666665459e-1
	expP5 = 5.0000001201e-1
)

// ExpF is e^x with a relative error of about one ulp; +Inf above 88.72, 0
// below -87.34, NaN for NaN.
func ExpF(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > expHi:
		return float32(math.Inf(1))
	case x < expLo:
		return 0
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2Hi - n*ln2Lo
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	y := p*r*r + r + 1
	// 2^n as 2·2^(n-1), so that n = 128 (x just below the overflow point)
	// still has an exponent field.
	return y * math.Float32frombits(uint32(int32(n)+126)<<23) * 2
}

// Tanh constants: Eigen's rational approximation of tanh on [-7.9, 7.9].
// Beyond the clamp the approximation stays at its value there, 1 - 2⁻²²
// with FMA; from tanhSat on, where float32 tanh rounds to ±1, the result
// is ±1 exactly.
const (
	tanhSat   = 9.010913848876953 // float32 0x41102cb4: tanh(x) > 1 - 2⁻²⁵
	tanhClamp = 7.90531110763549805
	tanhSmall = 0.0004
	tanhA1    = 4.89352455891786e-03
	tanhA3    = 6.37261928875436e-04
	tanhA5    = 1.48572235717979e-05
	tanhA7    = 5.12229709037114e-08
	tanhA9    = -8.60467152213735e-11
	tanhA11   = 2.00018790482477e-13
	tanhA13   = -2.76076847742355e-16
	tanhB0    = 4.89352518554385e-03
	tanhB2    = 2.26843463243900e-03
	tanhB4    = 1.18534705686654e-04
	tanhB6    = 1.19825839466702e-06
)

// TanhF is tanh(x) with an error of a few ulp, exactly ±1 from ±9.0109 on
// (as float32 tanh) and x itself near zero.
func TanhF(x float32) float32 {
	if x != x {
		return x
	}
	if x < tanhSmall && x > -tanhSmall {
		return x
	}
	if x >= tanhSat {
		return 1
	}
	if x <= -tanhSat {
		return -1
	}
	x = max(-tanhClamp, min(x, tanhClamp))
	x2 := x * x
	p := ((((((tanhA13*x2+tanhA11)*x2+tanhA9)*x2+tanhA7)*x2+tanhA5)*x2+tanhA3)*x2 + tanhA1) * x
	q := ((tanhB6*x2+tanhB4)*x2+tanhB2)*x2 + tanhB0
	return p / q
}

// Erf constants: a rational approximation of erf on [-4, 4], x·p(x²)/q(x²)
// (odd numerator, even denominator), whose error is below 5e-7; beyond 4
// float32 erf is ±1 to within an ulp.
const (
	erfClamp = 4
	erfA1    = -1.60960333262415e-02
	erfA3    = -2.95459980854025e-03
	erfA5    = -7.34990630326855e-04
	erfA7    = -5.69250639462346e-05
	erfA9    = -2.10102402082508e-06
	erfA11   = 2.77068142495902e-08
	erfA13   = -2.72614225801306e-10
	erfB0    = -1.42647390514189e-02
	erfB2    = -7.37332916720468e-03
	erfB4    = -1.68282697438203e-03
	erfB6    = -2.13374055278905e-04
	erfB8    = -1.45660718464996e-05
)

// ErfF is the error function of x to within 5e-7, NaN for NaN.
func ErfF(x float32) float32 {
	if x != x {
		return x
	}
	x = max(-erfClamp, min(x, erfClamp))
	x2 := x * x
	p := ((((((erfA13*x2+erfA11)*x2+erfA9)*x2+erfA7)*x2+erfA5)*x2+erfA3)*x2 + erfA1) * x
	q := (((erfB8*x2+erfB6)*x2+erfB4)*x2+erfB2)*x2 + erfB0
	return p / q
}

// Erf sets dst[i] = ErfF(src[i]).
func Erf(dst, src []float32) {
	n := vectorized(erfAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = ErfF(src[i])
	}
}

// SigmoidF is 1/(1+e^-x), without overflow for any x.
func SigmoidF(x float32) float32 {
	if x != x {
		return x
	}
	return 1 / (1 + ExpF(-x))
}

// Exp sets dst[i] = ExpF(src[i]); dst and src have the same length and may
// be the same slice.
func Exp(dst, src []float32) {
	n := vectorized(expAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = ExpF(src[i])
	}
}

// Tanh sets dst[i] = TanhF(src[i]).
func Tanh(dst, src []float32) {
	n := vectorized(tanhAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = TanhF(src[i])
	}
}

// Sigmoid sets dst[i] = SigmoidF(src[i]).
func Sigmoid(dst, src []float32) {
	n := vectorized(sigmoidAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = SigmoidF(src[i])
	}
}

// Sqrt sets dst[i] to the square root of src[i], correctly rounded: the
// same as float32(math.Sqrt(float64(src[i]))), since rounding the double
// square root to float32 cannot round twice wrongly.
func Sqrt(dst, src []float32) {
	n := vectorized(sqrtAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = float32(math.Sqrt(float64(src[i])))
	}
}

// ReLUF is x, or 0 where x <= 0: NaN stays NaN and -0 becomes 0.
func ReLUF(x float32) float32 {
	bits := math.Float32bits(x)
	if x <= 0 {
		bits = 0 // a conditional move: random signs would mispredict a branch
	}
	return math.Float32frombits(bits)
}

// ReLU sets dst[i] = ReLUF(src[i]).
func ReLU(dst, src []float32) {
	n := vectorized(reluAVX2, dst, src)
	for i := n; i < len(dst); i++ {
		dst[i] = ReLUF(src[i])
	}
}
