package device

import (
	"testing"
)

// benchmarkCPUMatMul times an n×n×n product and reports GFLOP/s.
func benchmarkCPUMatMul(b *testing.B, n int, transposeB bool) {
	d := CPU()
	x, _ := d.Alloc(Float32, n*n)
	y, _ := d.Alloc(Float32, n*n)
	z, _ := d.Alloc(Float32, n*n)
	defer d.Free(x)
	defer d.Free(y)
	defer d.Free(z)
	d.Fill(x, 0.5)
	d.Fill(y, 0.25)
	yv := Dense(y, 1, n, n)
	if transposeB {
		yv.Strides = []int{n * n, 1, n}
	}
	b.ResetTimer()
	for b.Loop() {
		d.MatMul(z, Dense(x, 1, n, n), yv)
	}
	b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkCPUMatMul64(b *testing.B)    { benchmarkCPUMatMul(b, 64, false) }
func BenchmarkCPUMatMul256(b *testing.B)   { benchmarkCPUMatMul(b, 256, false) }
func BenchmarkCPUMatMul1024(b *testing.B)  { benchmarkCPUMatMul(b, 1024, false) }
func BenchmarkCPUMatMul1024T(b *testing.B) { benchmarkCPUMatMul(b, 1024, true) }

// BenchmarkCPUConv2D times a ResNet-style 3×3 convolution of a batch of 8
// 64-channel 56×56 images, forward and both gradients.
func BenchmarkCPUConv2D(b *testing.B) {
	d := CPU()
	p := Conv2DParams{N: 8, C: 64, H: 56, W: 56, O: 64, KH: 3, KW: 3, OH: 56, OW: 56,
		StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}
	x, _ := d.Alloc(Float32, p.N*p.C*p.H*p.W)
	w, _ := d.Alloc(Float32, p.O*p.C*p.KH*p.KW)
	y, _ := d.Alloc(Float32, p.N*p.O*p.OH*p.OW)
	d.Fill(x, 0.5)
	d.Fill(w, 0.25)
	d.Fill(y, 1)
	flops := 2 * float64(p.N*p.O*p.OH*p.OW*p.C*p.KH*p.KW)
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"forward", func() { d.Conv2D(y, x, w, p, Epilogue{}) }},
		{"input-grad", func() { d.Conv2DInputGrad(x, y, w, p) }},
		{"weight-grad", func() { d.Conv2DWeightGrad(w, x, y, p) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.run()
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
