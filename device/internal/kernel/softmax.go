package kernel

import (
	"math"
	"unsafe"
)

// Softmax writes the softmax, or with log set the log-softmax, of the row
// x into dst (the same length; they may not overlap unless equal). The row
// maximum is subtracted first so that large values cannot overflow; a NaN
// anywhere makes the whole row NaN, as in PyTorch.
func Softmax(dst, x []float32, log bool) {
	n := len(x)
	if n == 0 {
		return
	}
	dst = dst[:n]
	v := 0
	if HasAVX2 {
		v = n &^ 7
	}
	m := rowMax(x[:v])
	for _, e := range x[v:] {
		m = max(m, e)
	}
	sum := expSum(dst[:v], x[:v], m)
	for i := v; i < n; i++ {
		dst[i] = ExpF(x[i] - m)
		sum += dst[i]
	}
	if log {
		lse := float32(math.Log(float64(sum)))
		if v > 0 {
			shiftAVX2(unsafe.SliceData(dst), unsafe.SliceData(x), v, m, lse)
		}
		for i := v; i < n; i++ {
			dst[i] = (x[i] - m) - lse
		}
		return
	}
	inv := 1 / sum
	scale(dst[:v], inv)
	for i := v; i < n; i++ {
		dst[i] *= inv
	}
}

// expSum writes dst = e^(x-m) and returns its sum, for a length that is a
// multiple of 8 and with AVX2 (with AVX-512 for the multiple of 16 it
// holds).
func expSum(dst, x []float32, m float32) float32 {
	var sum float32
	done := 0
	if HasAVX512 {
		done = len(x) &^ 15
		if done > 0 {
			sum = expSumAVX512(unsafe.SliceData(dst), unsafe.SliceData(x), done, m)
		}
	}
	if done < len(x) {
		sum += expSumAVX2(&dst[done], &x[done], len(x)-done, m)
	}
	return sum
}

// rowMax returns the largest element of x (-Inf when empty), whose length
// is a multiple of 8, with AVX2 or AVX-512. A NaN may or may not win; the
// softmax turns any NaN into a NaN row regardless.
func rowMax(x []float32) float32 {
	m := float32(math.Inf(-1))
	done := 0
	if HasAVX512 && len(x) >= 16 {
		done = len(x) &^ 15
		m = maxAVX512(unsafe.SliceData(x), done)
	}
	if done < len(x) {
		m = max(m, maxAVX2(&x[done], len(x)-done))
	}
	return m
}

// scale multiplies dst, whose length is a multiple of 8, by s with AVX2 or
// AVX-512.
func scale(dst []float32, s float32) {
	done := 0
	if HasAVX512 {
		done = len(dst) &^ 15
		if done > 0 {
			scaleAVX512(unsafe.SliceData(dst), done, s)
		}
	}
	if done < len(dst) {
		scaleAVX2(&dst[done], len(dst)-done, s)
	}
}
