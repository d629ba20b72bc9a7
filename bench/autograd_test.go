package bench

import (
	"testing"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// BenchmarkAutograd measures autograd's bookkeeping on the CPU with tensors
// of 16 elements, where the arithmetic itself costs little: a chain of 100
// ops computed with plain tensors, the same chain recorded for
// differentiation, and recorded then differentiated. The ns/op metric is
// per op of the chain.
func BenchmarkAutograd(b *testing.B) {
	dev := device.CPU()
	rng := tensor.NewRNG(6)
	x, y := tensor.Randn(dev, rng, 16), tensor.Randn(dev, rng, 16)
	const ops = 100
	perOp := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ops, "ns/recorded-op")
	}
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			z := x
			for i := range ops {
				if i%2 == 0 {
					z = z.Mul(y)
				} else {
					z = z.Add(y)
				}
			}
		}
		perOp(b)
	})
	b.Run("recorded", func(b *testing.B) {
		w, c := autograd.Param(x), autograd.Const(y)
		for b.Loop() {
			z := w
			for i := range ops {
				if i%2 == 0 {
					z = z.Mul(c)
				} else {
					z = z.Add(c)
				}
			}
		}
		perOp(b)
	})
	b.Run("recorded+backward", func(b *testing.B) {
		w, c := autograd.Param(x), autograd.Const(y)
		for b.Loop() {
			z := w
			for i := range ops {
				if i%2 == 0 {
					z = z.Mul(c)
				} else {
					z = z.Add(c)
				}
			}
			z.Sum().Backward()
			w.ZeroGrad()
		}
		perOp(b)
	})
}
