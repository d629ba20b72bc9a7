package cpu

import (
	"fmt"
	"testing"

	"github.com/wgtensor/wgtensor/device/backend"
)

// benchmarkCPUMatMul times an n×n×n product and reports GFLOP/s.
func benchmarkCPUMatMul(b *testing.B, n int, transposeB bool) {
	d := Default()
	x, _ := d.Alloc(backend.Float32, n*n)
	y, _ := d.Alloc(backend.Float32, n*n)
	z, _ := d.Alloc(backend.Float32, n*n)
	defer d.Free(x)
	defer d.Free(y)
	defer d.Free(z)
	d.Fill(x, 0.5)
	d.Fill(y, 0.25)
	yv := backend.Dense(y, 1, n, n)
	if transposeB {
		yv.Strides = []int{n * n, 1, n}
	}
	d.MatMul(z, backend.Dense(x, 1, n, n), yv) // tunes the product's class
	for b.Loop() {
		d.MatMul(z, backend.Dense(x, 1, n, n), yv)
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
	d := Default()
	p := backend.Conv2DParams{N: 8, C: 64, H: 56, W: 56, O: 64, KH: 3, KW: 3, OH: 56, OW: 56,
		StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}
	x, _ := d.Alloc(backend.Float32, p.N*p.C*p.H*p.W)
	w, _ := d.Alloc(backend.Float32, p.O*p.C*p.KH*p.KW)
	y, _ := d.Alloc(backend.Float32, p.N*p.O*p.OH*p.OW)
	d.Fill(x, 0.5)
	d.Fill(w, 0.25)
	d.Fill(y, 1)
	flops := 2 * float64(p.N*p.O*p.OH*p.OW*p.C*p.KH*p.KW)
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"forward", func() { d.Conv2D(y, x, w, p, backend.Epilogue{}) }},
		{"input-grad", func() { d.Conv2DInputGrad(x, y, w, p) }},
		{"weight-grad", func() { d.Conv2DWeightGrad(w, x, y, p) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.run() // tunes the products' classes
			for b.Loop() {
				c.run()
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkCPUConvInference times single-image convolutions of inference
// (MobileNetV2's and ResNet-18's shapes), with their epilogues and frozen
// weights, as the ONNX importer runs them.
func BenchmarkCPUConvInference(b *testing.B) {
	d := Default()
	for _, c := range []struct {
		name string
		p    backend.Conv2DParams
	}{
		{"pointwise-96x56x56-to-24", backend.Conv2DParams{N: 1, C: 96, H: 56, W: 56, O: 24, KH: 1, KW: 1, OH: 56, OW: 56, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-32x112x112-to-16", backend.Conv2DParams{N: 1, C: 32, H: 112, W: 112, O: 16, KH: 1, KW: 1, OH: 112, OW: 112, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-384x14x14-to-64", backend.Conv2DParams{N: 1, C: 384, H: 14, W: 14, O: 64, KH: 1, KW: 1, OH: 14, OW: 14, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-576x14x14-to-96", backend.Conv2DParams{N: 1, C: 576, H: 14, W: 14, O: 96, KH: 1, KW: 1, OH: 14, OW: 14, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-960x7x7-to-160", backend.Conv2DParams{N: 1, C: 960, H: 7, W: 7, O: 160, KH: 1, KW: 1, OH: 7, OW: 7, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-96x14x14-to-576", backend.Conv2DParams{N: 1, C: 96, H: 14, W: 14, O: 576, KH: 1, KW: 1, OH: 14, OW: 14, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-16x112x112-to-96", backend.Conv2DParams{N: 1, C: 16, H: 112, W: 112, O: 96, KH: 1, KW: 1, OH: 112, OW: 112, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-160x7x7-to-960", backend.Conv2DParams{N: 1, C: 160, H: 7, W: 7, O: 960, KH: 1, KW: 1, OH: 7, OW: 7, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"pointwise-320x7x7-to-1280", backend.Conv2DParams{N: 1, C: 320, H: 7, W: 7, O: 1280, KH: 1, KW: 1, OH: 7, OW: 7, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"depthwise-96x112x112-s2", backend.Conv2DParams{N: 1, C: 96, H: 112, W: 112, O: 96, KH: 3, KW: 3, OH: 56, OW: 56, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 96}},
		{"depthwise-960x7x7", backend.Conv2DParams{N: 1, C: 960, H: 7, W: 7, O: 960, KH: 3, KW: 3, OH: 7, OW: 7, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 960}},
		{"depthwise-144x56x56", backend.Conv2DParams{N: 1, C: 144, H: 56, W: 56, O: 144, KH: 3, KW: 3, OH: 56, OW: 56, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 144}},
		{"depthwise-240x12x12-5x5", backend.Conv2DParams{N: 1, C: 240, H: 12, W: 12, O: 240, KH: 5, KW: 5, OH: 12, OW: 12, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 1, DilW: 1, Groups: 240}},
		{"3x3-64x56x56", backend.Conv2DParams{N: 1, C: 64, H: 56, W: 56, O: 64, KH: 3, KW: 3, OH: 56, OW: 56, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-64x56x56-s2", backend.Conv2DParams{N: 1, C: 64, H: 56, W: 56, O: 128, KH: 3, KW: 3, OH: 28, OW: 28, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"1x1-64x56x56-s2", backend.Conv2DParams{N: 1, C: 64, H: 56, W: 56, O: 128, KH: 1, KW: 1, OH: 28, OW: 28, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-64x32x14x14", backend.Conv2DParams{N: 64, C: 32, H: 14, W: 14, O: 64, KH: 3, KW: 3, OH: 14, OW: 14, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-3x224x224-s2", backend.Conv2DParams{N: 1, C: 3, H: 224, W: 224, O: 32, KH: 3, KW: 3, OH: 112, OW: 112, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"7x7-3x224x224-s2", backend.Conv2DParams{N: 1, C: 3, H: 224, W: 224, O: 64, KH: 7, KW: 7, OH: 112, OW: 112, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-128x28x28", backend.Conv2DParams{N: 1, C: 128, H: 28, W: 28, O: 128, KH: 3, KW: 3, OH: 28, OW: 28, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-256x14x14", backend.Conv2DParams{N: 1, C: 256, H: 14, W: 14, O: 256, KH: 3, KW: 3, OH: 14, OW: 14, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-128x28x28-s2", backend.Conv2DParams{N: 1, C: 128, H: 28, W: 28, O: 256, KH: 3, KW: 3, OH: 14, OW: 14, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-256x14x14-s2", backend.Conv2DParams{N: 1, C: 256, H: 14, W: 14, O: 512, KH: 3, KW: 3, OH: 7, OW: 7, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
		{"3x3-512x7x7", backend.Conv2DParams{N: 1, C: 512, H: 7, W: 7, O: 512, KH: 3, KW: 3, OH: 7, OW: 7, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}},
	} {
		p := c.p
		x, _ := d.Alloc(backend.Float32, p.N*p.C*p.H*p.W)
		w, _ := d.Alloc(backend.Float32, p.O*p.C/p.Groups*p.KH*p.KW)
		bias, _ := d.Alloc(backend.Float32, p.O)
		y, _ := d.Alloc(backend.Float32, p.N*p.O*p.OH*p.OW)
		d.Fill(x, 0.5)
		d.Fill(w, 0.25)
		d.(backend.Freezer).Freeze(w)
		flops := 2 * float64(p.N*p.O*p.OH*p.OW*p.C/p.Groups*p.KH*p.KW)
		b.Run(c.name, func(b *testing.B) {
			d.Conv2D(y, x, w, p, backend.Epilogue{Bias: bias, Clamp: true, Hi: 6}) // tunes the products' classes
			for b.Loop() {
				d.Conv2D(y, x, w, p, backend.Epilogue{Bias: bias, Clamp: true, Hi: 6})
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, buf := range []backend.Buffer{x, w, bias, y} {
			d.Free(buf)
		}
	}
}

// BenchmarkCPUMatMulTransformer times the products of a GPT-2-style layer
// for one sequence of 64 tokens (d 384), with frozen weights as an
// inference model has them.
func BenchmarkCPUMatMulTransformer(b *testing.B) {
	d := Default()
	for _, s := range [][3]int{{64, 384, 1152}, {64, 384, 1536}, {64, 1536, 384}, {64, 384, 8000}} {
		m, k, n := s[0], s[1], s[2]
		x, _ := d.Alloc(backend.Float32, m*k)
		w, _ := d.Alloc(backend.Float32, k*n)
		y, _ := d.Alloc(backend.Float32, m*n)
		d.Fill(x, 0.5)
		d.Fill(w, 0.25)
		d.(backend.Freezer).Freeze(w)
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			d.MatMul(y, backend.Dense(x, 1, m, k), backend.Dense(w, 1, k, n)) // tunes the product's class
			for b.Loop() {
				d.MatMul(y, backend.Dense(x, 1, m, k), backend.Dense(w, 1, k, n))
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, buf := range []backend.Buffer{x, w, y} {
			d.Free(buf)
		}
	}
}

// BenchmarkCPUMaxPool times ResNet-18's 3×3 max pooling of stride 2 over
// 64 channels of 112×112, as inference (values only) and as training
// (with the positions of the maxima).
func BenchmarkCPUMaxPool(b *testing.B) {
	d := Default()
	p := backend.Pool2DParams{N: 1, C: 64, H: 112, W: 112, KH: 3, KW: 3, OH: 56, OW: 56, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	x, _ := d.Alloc(backend.Float32, p.N*p.C*p.H*p.W)
	y, _ := d.Alloc(backend.Float32, p.N*p.C*p.OH*p.OW)
	idx, _ := d.Alloc(backend.Int32, p.N*p.C*p.OH*p.OW)
	xs := make([]float32, p.N*p.C*p.H*p.W)
	for i := range xs {
		xs[i] = float32((i*7919)%1000) / 1000
	}
	d.Write(x, xs)
	for _, c := range []struct {
		name string
		idx  backend.Buffer
	}{{"values", nil}, {"positions", idx}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				d.MaxPool2D(y, c.idx, x, p)
			}
		})
	}
}
