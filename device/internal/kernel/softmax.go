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
	m := float32(math.Inf(-1))
	if v > 0 {
		m = maxAVX2(unsafe.SliceData(x), v)
	}
	for _, e := range x[v:] {
		m = max(m, e)
	}
	var sum float32
	if v > 0 {
		sum = expSumAVX2(unsafe.SliceData(dst), unsafe.SliceData(x), v, m)
	}
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
	if v > 0 {
		scaleAVX2(unsafe.SliceData(dst), v, inv)
	}
	for i := v; i < n; i++ {
		dst[i] *= inv
	}
}
