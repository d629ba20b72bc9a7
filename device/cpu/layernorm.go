package cpu

import (
	"math"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

var _ backend.LayerNormer = (*cpuDevice)(nil)

// LayerNorm normalizes each of rows rows of cols elements of x into dst:
// (x − mean)/√(var + eps)·weight + bias, weight and bias nil for 1 and 0.
// A row's mean is summed in float64 and its variance taken from the
// centred row, in vector steps; rows are split over the cores.
func (d *cpuDevice) LayerNorm(dst, x, weight, bias backend.Buffer, rows, cols int, eps float32) {
	d.dispatch()
	od, xd := cpuFloats(dst), cpuFloats(x)
	var w, b []float32
	if weight != nil {
		w = cpuFloats(weight)[:cols]
	}
	if bias != nil {
		b = cpuFloats(bias)[:cols]
	}
	cpuRange(rows, 6*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			cpuLayerNormRow(od[r*cols:(r+1)*cols], xd[r*cols:(r+1)*cols], w, b, eps)
		}
	})
}

// cpuLayerNormRow normalizes the row x into y (see LayerNorm): six vector
// passes over the row, the centring and the scaling by 1/√(var + eps)
// as epilogues (kernel.Epilogue: + bias, then · scale).
func cpuLayerNormRow(y, x, w, b []float32, eps float32) {
	n := len(x)
	sum, done := kernel.SumF64(x)
	for _, v := range x[done:] {
		sum += float64(v)
	}
	inf := float32(math.Inf(1))
	e := kernel.NewEpilogueArgs(-float32(sum/float64(n)), -inf, inf)
	copy(y, x)
	for i := kernel.Epilogue(y, nil, &e); i < n; i++ {
		y[i] = e.Step(y[i], 0)
	}
	sq, done := kernel.Dot(y, y)
	for _, v := range y[done:] {
		sq += v * v
	}
	e = kernel.NewEpilogueArgs(0, -inf, inf)
	e.Flags, e.Scale = kernel.EpilogueAffine, float32(1/math.Sqrt(float64(sq)/float64(n)+float64(eps)))
	for i := kernel.Epilogue(y, nil, &e); i < n; i++ {
		y[i] = e.Step(y[i], 0)
	}
	if w != nil {
		for i := kernel.Arith(kernel.MulOp, y, y, w); i < n; i++ {
			y[i] *= w[i]
		}
	}
	if b != nil {
		for i := kernel.Arith(kernel.AddOp, y, y, b); i < n; i++ {
			y[i] += b[i]
		}
	}
}
